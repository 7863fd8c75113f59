"""Heads: small MLPs that map representations into the space an objective compares."""

from __future__ import annotations

from torch import Tensor, nn


class MLPHead(nn.Module):
    """``num_layers`` linear layers; hidden layers use BatchNorm+ReLU, the last one optionally BatchNorm.

    Covers SimCLR's projector (2 layers), BYOL's projector and predictor (2 layers) and
    Barlow Twins' projector (3 layers).
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 2,
                 batch_norm: bool = True, last_batch_norm: bool = False) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError("MLPHead needs num_layers >= 1")
        layers: list[nn.Module] = []
        d = in_dim
        for _ in range(num_layers - 1):
            layers += [nn.Linear(d, hidden_dim, bias=not batch_norm)]
            if batch_norm:
                layers.append(nn.BatchNorm1d(hidden_dim))
            layers.append(nn.ReLU(inplace=True))
            d = hidden_dim
        layers.append(nn.Linear(d, out_dim, bias=not last_batch_norm))
        if last_batch_norm:
            layers.append(nn.BatchNorm1d(out_dim, affine=False))
        self.net = nn.Sequential(*layers)
        self.out_dim = out_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
