"""SimCLR — Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations"."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import Method, Params, encode_views
from selfsup.objectives import NTXentLoss


class SimCLR(Method):
    """h = f(x); z = g(h); NT-Xent between the projections of the views (two or more).

    The default temperature 0.2 beat the paper's CIFAR value 0.5 on both short CPU runs we
    measured (Fashion-MNIST and CIFAR-10 subsets); pass 0.5 to reproduce the paper.
    Subclasses (DCL, debiased, multi-view InfoNCE) keep this network and swap ``criterion``.
    """

    default_views = "simclr"

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 2048, proj_dim: int = 128,
                 temperature: float = 0.2) -> None:
        super().__init__(encoder)
        self.projector = MLPHead(encoder.out_dim, proj_hidden_dim, proj_dim)
        self.criterion: nn.Module = NTXentLoss(temperature)

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        h = encode_views(self.encoder, views)
        z = encode_views(self.projector, h)
        loss, logs = self.contrast(z, params)
        return {"loss": loss, "embedding": h[0].detach(), **logs}

    def contrast(self, z: list[Tensor], params: list[Params] | None) -> tuple[Tensor, dict[str, Tensor]]:
        return self.criterion(*z)
