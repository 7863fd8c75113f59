"""GRACE — Zhu et al. 2020, "Deep Graph Contrastive Representation Learning"."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.methods.base import Method, Params, encode_views
from selfsup.objectives import NTXentLoss


class GRACE(Method):
    """Two views of the graph (edges dropped, feature columns masked); a shared GCN; a two-layer ELU
    projection; for every node the other view's copy is the positive and every other node of both views
    a negative: ``l(u_i) = -log e^{s(u_i,v_i)/t} / (e^{s(u_i,v_i)/t} + sum_{k!=i} e^{s(u_i,v_k)/t}
    + sum_{k!=i} e^{s(u_i,u_k)/t})``, averaged over both views — SimCLR's NT-Xent over nodes.

    Defaults are the paper's Cora setting (tau 0.4, projection 128, Adam lr 5e-4, weight decay 1e-5,
    200 full-graph steps). On a large graph a batch smaller than the node count contrasts a random
    subset of nodes per step (the full graph still passes through the encoder).
    """

    default_views = "grace"
    default_encoder = "gcn"
    modalities = ("graph",)
    recommended_trainer = {"optimizer": "adam", "lr": 5e-4, "weight_decay": 1e-5, "betas": (0.9, 0.999),  # noqa: RUF012
                           "warmup_epochs": 0.0, "final_lr": 5e-4, "epochs": 200, "batch_size": 0}

    def __init__(self, encoder: nn.Module, proj_dim: int = 128, temperature: float = 0.4) -> None:
        super().__init__(encoder)
        self.projector = nn.Sequential(nn.Linear(encoder.out_dim, proj_dim), nn.ELU(), nn.Linear(proj_dim, proj_dim))
        self.criterion = NTXentLoss(temperature)

    def forward(self, views: list, params: list[Params] | None = None) -> dict[str, Tensor]:
        h = encode_views(self.encoder, views)
        z = encode_views(self.projector, h)
        loss, logs = self.criterion(*z)
        return {"loss": loss, "embedding": h[0].detach(), **logs}
