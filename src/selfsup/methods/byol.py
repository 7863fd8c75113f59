"""BYOL — Grill et al. 2020, "Bootstrap Your Own Latent"."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import EMATeacher, Method, Params, cross_view_pairs, encode_views, mean_over_pairs, num_global
from selfsup.objectives import NegativeCosineLoss


class BYOL(Method):
    """Online network (encoder, projector, predictor) regresses an EMA target's projection.

    The target's momentum follows a cosine schedule from ``base_momentum`` to 1.
    """

    default_views = "byol"
    recommended_trainer = {"optimizer": "lars", "base_lr": 1.0}  # noqa: RUF012

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 4096, proj_dim: int = 256,
                 pred_hidden_dim: int = 4096, base_momentum: float = 0.99) -> None:
        super().__init__(encoder)
        self.projector = MLPHead(encoder.out_dim, proj_hidden_dim, proj_dim)
        self.predictor = MLPHead(proj_dim, pred_hidden_dim, proj_dim)
        self.online = nn.Sequential(self.encoder, self.projector)
        self.target = EMATeacher(self.online, base=base_momentum)
        self.criterion = NegativeCosineLoss()

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        h = encode_views(self.encoder, views)
        p = encode_views(self.predictor, encode_views(self.projector, h))
        t = encode_views(self.target, views[: num_global(views)])
        pairs = cross_view_pairs(views)
        loss, logs = mean_over_pairs(lambda s, g: self.criterion(p[s], t[g]), pairs)
        return {"loss": 2 * loss, "embedding": h[0].detach(), **logs}  # two views: the paper's symmetric sum

    def on_step_end(self, step: int, total_steps: int) -> None:
        self.target.update(self.online, step, total_steps)
