"""Random Field Augmentations — Mansfield et al. 2023, "Random Field Augmentations for Self-Supervised
Representation Learning" [000#4].

The parameters of the usual affine and colour transforms become smooth per-pixel functions:
each is an independent Gaussian random field (white noise low-passed by a Gaussian of
``length_scale``, standardised, times an amplitude). A pixel at position p is read from
``s(p) R(θ(p)) p + t(p)`` (local translation, rotation, scale), and its colour is scaled by
local brightness, contrast and saturation factors and its chroma rotated by a local hue angle.
Everything runs batched on the batch's device; the fields used are returned as params.
Strong fields tear an image apart (the paper's warning), hence the presets and the benchmark
``benchmarks/random_fields_cifar10.py`` that sweeps them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.views.base import Params, ViewOp
from selfsup.views.image import _RGB2YIQ, _YIQ2RGB, _gray, to_float


@dataclass(frozen=True)
class FieldStrength:
    """Amplitudes (standard deviations) of each per-pixel field; 0 switches a transform off.

    ``translate`` is in fractions of the image side, ``rotate`` in degrees, ``scale``,
    ``brightness``, ``contrast`` and ``saturation`` are log-factors (factor = exp(amplitude x field)),
    ``hue`` is in turns. ``length_scale`` is the fields' correlation length in fractions of the side.
    """

    translate: float = 0.0
    rotate: float = 0.0
    scale: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0
    length_scale: float = 0.25


#: from barely visible to strong enough to break some images' structure
RANDOM_FIELD_PRESETS: dict[str, FieldStrength] = {
    "mild": FieldStrength(translate=0.02, rotate=5.0, scale=0.05, brightness=0.1, contrast=0.1, saturation=0.1,
                          hue=0.02, length_scale=0.3),
    "medium": FieldStrength(translate=0.05, rotate=12.0, scale=0.1, brightness=0.2, contrast=0.2, saturation=0.25,
                            hue=0.05, length_scale=0.2),
    "strong": FieldStrength(translate=0.1, rotate=25.0, scale=0.2, brightness=0.35, contrast=0.35, saturation=0.5,
                            hue=0.1, length_scale=0.12),
}

def gaussian_random_fields(n: int, h: int, w: int, length_scale: float, g: torch.Generator,
                           device: torch.device | str = "cpu") -> Tensor:
    """``n`` independent stationary Gaussian random fields on an (h, w) grid; every pixel is N(0, 1).

    White noise filtered in the Fourier domain by a Gaussian of sd ``length_scale`` (in fractions of
    the shorter side): a squared-exponential covariance, periodic at the borders, scaled by its exact
    variance (not standardised per field, so a long length scale tends to one random constant: a
    global transform). The fields are
    smooth, so they are drawn on a grid with about 4 / ``length_scale`` points per side (the filter
    spans at least 4 of its points) and upsampled bilinearly: a 224-px image costs what a 16-px one does.
    """
    if length_scale <= 0:
        raise ValueError(f"length_scale must be > 0, got {length_scale}")
    f = min(1.0, max(8, math.ceil(4 / length_scale)) / min(h, w))
    hc, wc = max(2, round(h * f)), max(2, round(w * f))
    noise = torch.randn(n, hc, wc, generator=g, device=device)
    fy = torch.fft.fftfreq(hc, device=device).view(-1, 1)
    fx = torch.fft.rfftfreq(wc, device=device).view(1, -1)
    sigma = length_scale * min(hc, wc)  # in grid points
    transfer = torch.exp(-2 * (math.pi * sigma) ** 2 * (fx**2 + fy**2))  # Fourier transform of the Gaussian
    fx_full = torch.fft.fftfreq(wc, device=device).view(1, -1)
    variance = torch.exp(-4 * (math.pi * sigma) ** 2 * (fx_full**2 + fy**2)).mean()  # of filtered unit white noise
    field = torch.fft.irfft2(torch.fft.rfft2(noise) * (transfer / variance.sqrt()), s=(hc, wc))
    if (hc, wc) != (h, w):
        field = F.interpolate(field.unsqueeze(1), size=(h, w), mode="bilinear", align_corners=False).squeeze(1)
    return field


class RandomFieldAugment(ViewOp):
    """Per-pixel affine and colour transforms whose parameters are Gaussian random fields.

    ``strength`` is a preset name (``mild``, ``medium``, ``strong``) or a ``FieldStrength``;
    ``p`` the probability of applying it to an image. Params: ``rfa_geometry`` (B, 4, H, W):
    x and y shift (fractions of the half-side, grid_sample units), angle (radians), log-scale;
    ``rfa_colour`` (B, 4, H, W): log brightness, log contrast, log saturation, hue (turns).
    Fields are zero where the op was not applied and for transforms whose amplitude is 0; all
    amplitudes 0 give back the input exactly.
    """

    name = "random_fields"

    def __init__(self, strength: str | FieldStrength = "mild", p: float = 1.0) -> None:
        super().__init__()
        if isinstance(strength, str):
            if strength not in RANDOM_FIELD_PRESETS:
                raise ValueError(f"unknown random-field preset {strength!r}; choose one of "
                                 f"{', '.join(RANDOM_FIELD_PRESETS)} or pass a FieldStrength")
            strength = RANDOM_FIELD_PRESETS[strength]
        bad = {k: v for k, v in asdict(strength).items() if v < 0}
        if bad:
            raise ValueError(f"random-field amplitudes must be >= 0, got {bad}")
        self.strength, self.p = strength, p
        s = strength  # amplitudes per field, in the units local_affine / local_colour read
        self.geometry_amplitude = (2 * s.translate, 2 * s.translate, math.radians(s.rotate), s.scale)
        self.colour_amplitude = (s.brightness, s.contrast, s.saturation, s.hue)

    def _fields(self, amplitude: tuple[float, ...], x: Tensor, on: Tensor, g: torch.Generator) -> Tensor | None:
        """Fields (B, 4, H, W) times their amplitudes (zero where the op is off), or None if all amplitudes are 0."""
        if not any(amplitude):
            return None
        b, _, h, w = x.shape
        f = gaussian_random_fields(b * 4, h, w, self.strength.length_scale, g, x.device).view(b, 4, h, w)
        return f * torch.tensor(amplitude, device=x.device, dtype=x.dtype).view(1, 4, 1, 1) * on

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        x = to_float(x)
        b, _, h, w = x.shape
        on = (torch.rand(b, generator=g, device=x.device) < self.p).to(x.dtype).view(b, 1, 1, 1)
        geo = self._fields(self.geometry_amplitude, x, on, g)
        if geo is not None:
            x = local_affine(x, geo)
        col = self._fields(self.colour_amplitude, x, on, g)
        if col is not None:
            x = local_colour(x, col)
        zeros = x.new_zeros(b, 4, h, w)
        return x, {"rfa_geometry": zeros if geo is None else geo, "rfa_colour": zeros if col is None else col}


def local_affine(x: Tensor, fields: Tensor) -> Tensor:
    """Warp ``x`` with per-pixel (shift x, shift y, angle, log-scale) ``fields`` (B, 4, H, W).

    Output pixel p (in grid_sample's [-1, 1] coordinates about the centre) reads the input at
    ``exp(log_scale(p)) R(angle(p)) p + shift(p)``; borders are reflected.
    """
    h, w = x.shape[-2:]
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h, device=x.device, dtype=x.dtype)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w, device=x.device, dtype=x.dtype)
    py, px = torch.meshgrid(ys, xs, indexing="ij")
    tx, ty, angle, log_scale = fields.unbind(1)
    scale, cos, sin = log_scale.exp(), angle.cos(), angle.sin()
    gx = scale * (cos * px - sin * py) + tx
    gy = scale * (sin * px + cos * py) + ty
    return F.grid_sample(x, torch.stack([gx, gy], -1), mode="bilinear", padding_mode="reflection",
                         align_corners=False)


def local_colour(x: Tensor, fields: Tensor) -> Tensor:
    """Per-pixel brightness, contrast, saturation (log-factors) and hue (turns) from ``fields`` (B, 4, H, W).

    Saturation and hue act together in YIQ space, where luma is Y and the chroma (I, Q) is scaled
    by the saturation factor and rotated by the hue angle: the same as scaling RGB about the luma.
    """
    log_b, log_c, log_s, hue = fields.unbind(1)
    x = x * log_b.exp().unsqueeze(1)
    mean = _gray(x).mean((1, 2, 3), keepdim=True)
    x = (x - mean) * log_c.exp().unsqueeze(1) + mean
    if x.shape[1] == 3:
        b, _, h, w = x.shape
        yiq = (_RGB2YIQ.to(x.device, x.dtype) @ x.reshape(b, 3, h * w)).view(b, 3, h, w)
        a, sat = 2 * math.pi * hue, log_s.exp()
        cos, sin = sat * a.cos(), sat * a.sin()
        i, q = yiq[:, 1], yiq[:, 2]
        yiq = torch.stack([yiq[:, 0], cos * i - sin * q, sin * i + cos * q], 1)
        x = (_YIQ2RGB.to(x.device, x.dtype) @ yiq.view(b, 3, h * w)).view(b, 3, h, w)
    return x.clamp_(0, 1)
