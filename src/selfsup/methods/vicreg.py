"""VICReg — Bardes, Ponce & LeCun 2022, "VICReg: Variance-Invariance-Covariance Regularization"."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import Method, Params, cross_view_pairs, encode_views, mean_over_pairs
from selfsup.objectives import VICRegLoss


class VICReg(Method):
    """An expander maps both views; their embeddings agree (invariance) while each keeps its spread
    (variance) and decorrelated dimensions (covariance)."""

    default_views = "byol"
    recommended_trainer = {"optimizer": "lars", "base_lr": 0.3}  # noqa: RUF012

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 2048, proj_dim: int = 2048,
                 proj_layers: int = 3, lam: float = 25.0, mu: float = 25.0, nu: float = 1.0) -> None:
        super().__init__(encoder)
        self.projector = MLPHead(encoder.out_dim, proj_hidden_dim, proj_dim, num_layers=proj_layers)
        self.criterion = VICRegLoss(lam, mu, nu)

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        h = encode_views(self.encoder, views)
        z = encode_views(self.projector, h)
        pairs = [(s, t) for s, t in cross_view_pairs(views) if s > t]  # one term per pair
        loss, logs = mean_over_pairs(lambda s, t: self.criterion(z[s], z[t]), pairs)
        return {"loss": loss, "embedding": h[0].detach(), **logs}
