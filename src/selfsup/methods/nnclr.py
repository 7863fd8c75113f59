"""NNCLR — Dwibedi et al. 2021, "With a Little Help from My Friends: Nearest-Neighbor Contrastive
Learning of Visual Representations"."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import KeyQueue, Method, Params, cross_view_pairs, encode_views, mean_over_pairs
from selfsup.objectives import NTXentLoss


class NNCLR(Method):
    """The positive of a view is the nearest neighbour of the other view's projection in a support set.

    ``loss = NT-Xent(NN(z_t), p_s)`` over view pairs, where the support set is a queue of past
    projections. Until the queue has filled once, a view's own projection stands in for its
    neighbour (SimCLR with a predictor), so early steps do not chase random vectors.
    """

    default_views = "byol"
    recommended_trainer = {"optimizer": "lars", "base_lr": 0.3}  # noqa: RUF012

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 2048, proj_dim: int = 256,
                 pred_hidden_dim: int = 4096, temperature: float = 0.1, queue_size: int = 8192) -> None:
        super().__init__(encoder)
        self.projector = MLPHead(encoder.out_dim, proj_hidden_dim, proj_dim, num_layers=3, last_batch_norm=True)
        self.predictor = MLPHead(proj_dim, pred_hidden_dim, proj_dim)
        self.support = KeyQueue(queue_size, proj_dim)
        self.criterion = NTXentLoss(temperature)

    @torch.no_grad()
    def nearest_neighbour(self, z: Tensor) -> Tensor:
        if not self.support.full:
            return z.detach()
        bank = self.support.keys
        return bank[(F.normalize(z.float(), dim=1) @ bank.T).argmax(1)].to(z.dtype)

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        h = encode_views(self.encoder, views)
        z = encode_views(self.projector, h)
        p = encode_views(self.predictor, z)
        pairs = cross_view_pairs(views)
        nn_of = {t: self.nearest_neighbour(z[t]) for t in {t for _, t in pairs}}
        loss, logs = mean_over_pairs(lambda s, t: self.criterion(nn_of[t], p[s]), pairs)
        self.support.push_later(z[0])
        return {"loss": loss, "embedding": h[0].detach(), **logs}

    def on_step_end(self, step: int, total_steps: int) -> None:
        self.support.flush()
