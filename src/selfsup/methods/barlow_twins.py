"""Barlow Twins — Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via Redundancy Reduction"."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import Method, Params
from selfsup.objectives import BarlowTwinsLoss


class BarlowTwins(Method):
    """z = g(f(x)) for two views; the cross-correlation of z1 and z2 is pushed towards identity."""

    default_views = "byol"
    recommended_trainer = {"optimizer": "lars", "base_lr": 0.3}  # noqa: RUF012

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 2048, proj_dim: int = 2048,
                 proj_layers: int = 3, lambda_offdiag: float = 5e-3) -> None:
        super().__init__(encoder)
        self.projector = MLPHead(encoder.out_dim, proj_hidden_dim, proj_dim, num_layers=proj_layers)
        self.criterion = BarlowTwinsLoss(lambda_offdiag)

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        h1, h2 = self.encoder(views[0]), self.encoder(views[1])
        loss, logs = self.criterion(self.projector(h1), self.projector(h2))
        return {"loss": loss, "embedding": h1.detach(), **logs}
