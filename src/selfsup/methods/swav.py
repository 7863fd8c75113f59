"""SwAV — Caron et al. 2020, "Unsupervised Learning of Visual Features by Contrasting Cluster Assignments"."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.heads import MLPHead, Prototypes
from selfsup.methods.base import KeyQueue, Method, Params, cross_view_pairs, encode_views, num_global
from selfsup.objectives import SwAVLoss


class SwAV(Method):
    """Codes of the global views come from Sinkhorn-Knopp on their prototype scores; every other
    view predicts them (swapped prediction). Works with multi-crop (``n_local`` in ``pretrain``).

    Prototypes are frozen for the first ``freeze_prototypes_steps`` steps (as in the paper's
    first epoch). With ``queue_size > 0``, past embeddings of each global view join the
    Sinkhorn batch once the queue has filled, which small batches need for equipartition.
    """

    default_views = "simclr"
    recommended_trainer = {"optimizer": "lars", "base_lr": 0.3}  # noqa: RUF012

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 2048, proj_dim: int = 128,
                 n_prototypes: int = 3000, temperature: float = 0.1, epsilon: float = 0.05,
                 sinkhorn_iterations: int = 3, freeze_prototypes_steps: int = 100, queue_size: int = 0) -> None:
        super().__init__(encoder)
        self.projector = MLPHead(encoder.out_dim, proj_hidden_dim, proj_dim)
        self.prototypes = Prototypes(proj_dim, n_prototypes)
        self.criterion = SwAVLoss(temperature, epsilon, sinkhorn_iterations)
        self.freeze_prototypes_steps = freeze_prototypes_steps
        self.queues = nn.ModuleList([KeyQueue(queue_size, proj_dim) for _ in range(2)] if queue_size else [])
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        h = encode_views(self.encoder, views)
        z = encode_views(self.projector, h)
        frozen = int(self.step) < self.freeze_prototypes_steps
        scores = [self.prototypes(zv, frozen) for zv in z]
        codes = [self.assign(scores[t], t) for t in range(num_global(views))]
        for t, queue in enumerate(self.queues):
            queue.push_later(z[t])
        loss, logs = self.criterion(scores, codes, cross_view_pairs(views))
        return {"loss": loss, "embedding": h[0].detach(), **logs}

    @torch.no_grad()
    def assign(self, scores: Tensor, view: int) -> Tensor:
        if view < len(self.queues) and self.queues[view].full:
            past = self.prototypes(self.queues[view].keys)
            return self.criterion.codes(torch.cat([scores.detach(), past]))[: len(scores)]
        return self.criterion.codes(scores.detach())

    def on_step_end(self, step: int, total_steps: int) -> None:
        self.step.fill_(step)
        for queue in self.queues:
            queue.flush()
