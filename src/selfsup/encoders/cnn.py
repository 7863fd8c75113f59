"""A small convolutional encoder that trains well on a CPU."""

from __future__ import annotations

from torch import Tensor, nn


class SmallCNN(nn.Module):
    """Four 3x3 conv layers with BatchNorm+ReLU, max-pool after the first three, global average pool.

    The default widths (32, 64, 128, 192) give 0.32 M parameters and a 192-d output,
    the encoder used by the LightlySSL comparison in ``benchmarks/``.
    """

    def __init__(self, in_channels: int = 3, widths: tuple[int, ...] = (32, 64, 128, 192)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i, w in enumerate(widths):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            c = w
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.out_dim = c

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.features(x)).flatten(1)
