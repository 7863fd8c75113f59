"""GraphCL — You et al. 2020, "Graph Contrastive Learning with Augmentations"."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.methods.base import Method, Params, encode_views
from selfsup.objectives import CrossViewNCELoss


class GraphCL(Method):
    """Two augmentations per graph, each drawn from node dropping, subgraph, edge perturbation and
    attribute masking; a GIN with sum readout of every layer; a two-layer projection; the graphs of
    the other view are the only negatives (``CrossViewNCELoss``, temperature 0.2).

    Defaults: the paper's unsupervised TU setting (GIN 5 x 32, Adam lr 0.01, batch 128, 20 epochs).
    """

    default_views = "graphcl"
    default_encoder = "gin"
    modalities = ("graph",)
    recommended_trainer = {"optimizer": "adam", "lr": 0.01, "weight_decay": 0.0, "betas": (0.9, 0.999),  # noqa: RUF012
                           "warmup_epochs": 0.0, "final_lr": 0.01, "epochs": 20, "batch_size": 128}

    def __init__(self, encoder: nn.Module, temperature: float = 0.2) -> None:
        super().__init__(encoder)
        d = encoder.out_dim
        self.projector = nn.Sequential(nn.Linear(d, d), nn.ReLU(inplace=True), nn.Linear(d, d))
        self.criterion = CrossViewNCELoss(temperature)

    def forward(self, views: list, params: list[Params] | None = None) -> dict[str, Tensor]:
        h = encode_views(self.encoder, views[:2])
        z = encode_views(self.projector, h)
        loss, logs = self.criterion(z[0], z[1])
        return {"loss": loss, "embedding": h[0].detach(), **logs}
