"""SCARF — Bahri et al. 2022, "SCARF: Self-Supervised Contrastive Learning using Random Feature Corruption"."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.methods.base import Method, Params, encode_views
from selfsup.objectives import InfoNCELoss


class SCARF(Method):
    """Anchor x and a corrupted x~ (60 % of each row's features drawn from their marginals, the ``scarf``
    view preset); z = g(f(x)) with f a 4-layer ReLU MLP and g a 2-layer head; InfoNCE of each anchor
    against the batch's corrupted rows, temperature 1 (the paper's value).

    Defaults: the paper's (Adam lr 1e-3, batch 128).
    """

    default_views = "scarf"
    default_encoder = "tab_mlp"
    modalities = ("tabular",)
    recommended_trainer = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "betas": (0.9, 0.999),  # noqa: RUF012
                           "warmup_epochs": 0.0, "final_lr": 1e-3, "batch_size": 128}

    def __init__(self, encoder: nn.Module, head_dim: int = 256, temperature: float = 1.0) -> None:
        super().__init__(encoder)
        d = encoder.out_dim
        self.head = nn.Sequential(nn.Linear(d, head_dim), nn.ReLU(inplace=True), nn.Linear(head_dim, head_dim))
        self.criterion = InfoNCELoss(temperature)

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        h = encode_views(self.encoder, views[:2])
        anchor, corrupted = encode_views(self.head, h)
        loss, logs = self.criterion(anchor, corrupted)
        return {"loss": loss, "embedding": h[0].detach(), **logs}
