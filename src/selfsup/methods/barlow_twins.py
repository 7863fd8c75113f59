"""Barlow Twins — Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via Redundancy Reduction"."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import Method, Params, cross_view_pairs, encode_views, mean_over_pairs
from selfsup.objectives import BarlowTwinsLoss


class BarlowTwins(Method):
    """z = g(f(x)) for two views; the cross-correlation of z1 and z2 is pushed towards identity.

    With more views, the loss is averaged over (view, global view) pairs.
    """

    default_views = "byol"
    recommended_trainer = {"optimizer": "lars", "base_lr": 0.3}  # noqa: RUF012

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 2048, proj_dim: int = 2048,
                 proj_layers: int = 3, lambda_offdiag: float = 5e-3) -> None:
        super().__init__(encoder)
        self.projector = MLPHead(encoder.out_dim, proj_hidden_dim, proj_dim, num_layers=proj_layers)
        self.criterion = BarlowTwinsLoss(lambda_offdiag)

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        h = encode_views(self.encoder, views)
        z = encode_views(self.projector, h)
        pairs = [(s, t) for s, t in cross_view_pairs(views) if s > t]  # one term per pair
        loss, logs = mean_over_pairs(lambda s, t: self.criterion(z[t], z[s]), pairs)
        out = {"loss": loss, "embedding": h[0].detach(), **logs}
        return self.regularise(views, z, out)

    def regularise(self, views: list[Tensor], z: list[Tensor], out: dict[str, Tensor]) -> dict[str, Tensor]:
        """Hook for variants that add a term (Mixed Barlow Twins)."""
        return out
