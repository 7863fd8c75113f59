"""BGRL — Thakoor et al. 2022, "Large-Scale Representation Learning on Graphs via Bootstrapping"."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.methods.base import EMATeacher, Method, Params, cross_view_pairs, encode_views, mean_over_pairs
from selfsup.objectives import NegativeCosineLoss


class BGRL(Method):
    """BYOL on graphs without negatives: an online encoder plus predictor regresses a momentum target
    encoder's node representations of the other view (cosine), symmetrised; no projector.

    Predictor: Linear, BatchNorm, PReLU, Linear (512 hidden). Target momentum: cosine from 0.99 to 1.
    Trainer defaults: AdamW lr 5e-4 (cosine after a warm-up), weight decay 1e-5, full-graph steps.
    """

    default_views = "bgrl"
    default_encoder = "gcn"
    modalities = ("graph",)
    recommended_trainer = {"optimizer": "adamw", "lr": 5e-4, "weight_decay": 1e-5, "betas": (0.9, 0.999),  # noqa: RUF012
                           "warmup_epochs": 50, "epochs": 1000, "batch_size": 0}

    def __init__(self, encoder: nn.Module, pred_hidden_dim: int = 512, base_momentum: float = 0.99) -> None:
        super().__init__(encoder)
        d = encoder.out_dim
        self.predictor = nn.Sequential(nn.Linear(d, pred_hidden_dim), nn.BatchNorm1d(pred_hidden_dim), nn.PReLU(),
                                       nn.Linear(pred_hidden_dim, d))
        self.target = EMATeacher(encoder, base=base_momentum)
        self.criterion = NegativeCosineLoss()

    def forward(self, views: list, params: list[Params] | None = None) -> dict[str, Tensor]:
        h = encode_views(self.encoder, views)
        p = encode_views(self.predictor, h)
        t = encode_views(self.target, views)
        loss, logs = mean_over_pairs(lambda s, g: self.criterion(p[s], t[g]), cross_view_pairs(views))
        return {"loss": 2 * loss, "embedding": h[0].detach(), **logs}

    def on_step_end(self, step: int, total_steps: int) -> None:
        self.target.update(self.encoder, step, total_steps)
