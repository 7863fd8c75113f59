"""ScatNet front-end plus a small trainable adapter — the encoder of ScatSimCLR (Kinakh et al. 2021,
[000#3]).

A 2-D scattering transform (Morlet wavelets at ``J`` scales and ``L`` orientations, orders 0-2;
Mallat 2012, Bruna and Mallat 2013) is fixed, stable to small deformations and invariant to
translations up to 2^J pixels; only the adapter learns. The transform comes from the ``kymatio``
package (extra ``scattering``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _kymatio_scattering(scales: int, shape: tuple[int, int], orientations: int) -> nn.Module:
    try:
        # the 2-D torch front-end itself, not ``kymatio.torch``: that module also imports the 3-D
        # front-end, which needs ``scipy.special.sph_harm`` (removed in SciPy 1.15) as of kymatio 0.3.0
        from kymatio.scattering2d.frontend.torch_frontend import ScatteringTorch2D
    except ImportError as e:
        raise ImportError("the scattering encoder needs kymatio: pip install 'selfsup[scattering]'") from e
    return ScatteringTorch2D(J=scales, shape=shape, L=orientations)


class ScatteringEncoder(nn.Module):
    """Fixed scattering coefficients -> BatchNorm -> ``adapter_widths`` 3x3 conv blocks -> average pool.

    With J = ``scales`` and L = ``orientations``, a (B, C, S, S) image gives
    C x (1 + J L + L² J (J - 1) / 2) coefficient maps of side S / 2^J (243 maps of 8 x 8 for a CIFAR
    image with J=2, L=8); ``out_dim`` is the last adapter width. The transform runs without
    gradient and in float32; its filters are rebuilt from (image_size, scales, orientations), never saved.
    """

    def __init__(self, image_size: int = 32, in_channels: int = 3, scales: int = 2, orientations: int = 8,
                 adapter_widths: tuple[int, ...] = (128, 256)) -> None:
        super().__init__()
        J, L = scales, orientations  # noqa: N806 - the paper's names
        if image_size % (2**J):
            raise ValueError(f"scattering image_size {image_size} must be a multiple of 2^scales = {2**J}")
        if not adapter_widths:
            raise ValueError("adapter_widths needs at least one width")
        self.image_size, self.scales, self.orientations = image_size, J, L
        self.scattering = _kymatio_scattering(J, (image_size, image_size), L)
        self.scattering._non_persistent_buffers_set.update(self.scattering._buffers)  # derived, not learnt
        self.n_coefficients = in_channels * (1 + J * L + L * L * J * (J - 1) // 2)
        layers: list[nn.Module] = [nn.BatchNorm2d(self.n_coefficients)]
        c = self.n_coefficients
        for w in adapter_widths:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            c = w
        self.adapter = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = c

    def coefficients(self, x: Tensor) -> Tensor:
        """(B, C, S, S) images -> (B, n_coefficients, S / 2^J, S / 2^J) scattering maps (no gradient)."""
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"the scattering encoder was built for {self.image_size}x{self.image_size} input, got "
                             f"{x.shape[-2]}x{x.shape[-1]}; set encoder.image_size or the view size to match")
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
            s = self.scattering(x.float().contiguous())  # (B, C, K, S', S')
        return s.flatten(1, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.adapter(self.coefficients(x))).flatten(1)
