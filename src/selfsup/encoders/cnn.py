"""A small convolutional encoder that trains well on a CPU."""

from __future__ import annotations

import torch
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


class NatureCNN(nn.Module):
    """The DQN encoder (Mnih et al. 2015) that data-efficient Atari agents share (DER, DrQ, CURL, SPR): conv
    32 8x8/4, 64 4x4/2, 64 3x3/1 with ReLU on (B, frames, 84, 84) inputs scaled to 0..1 (uint8 frames are
    divided by 255). ``feature_map`` gives the (B, 64, 7, 7) map SPR's transition model runs on; ``forward``
    flattens it (3,136 features)."""

    def __init__(self, in_channels: int = 4, image_size: int = 84) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(in_channels, 32, 8, stride=4), nn.ReLU(inplace=True),
                                  nn.Conv2d(32, 64, 4, stride=2), nn.ReLU(inplace=True),
                                  nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(inplace=True))
        side = ((image_size - 8) // 4 + 1 - 4) // 2 + 1 - 2
        self.map_shape = (64, side, side)
        self.out_dim = 64 * side * side

    def feature_map(self, x: Tensor) -> Tensor:
        return self.conv(x.float() / 255.0 if x.dtype == torch.uint8 else x)

    def forward(self, x: Tensor) -> Tensor:
        return self.feature_map(x).flatten(1)
