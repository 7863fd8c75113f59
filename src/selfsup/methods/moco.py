"""MoCo v2 — Chen et al. 2020, "Improved Baselines with Momentum Contrastive Learning";
MoCo v3 — Chen, Xie & He 2021, "An Empirical Study of Training Self-Supervised Vision Transformers"."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import (
    EMATeacher,
    KeyQueue,
    Method,
    Params,
    cross_view_pairs,
    encode_views,
    mean_over_pairs,
    num_global,
)
from selfsup.objectives import InfoNCELoss


class MoCoV2(Method):
    """A query encoder and its momentum copy (the key encoder); InfoNCE against a queue of past keys.

    The loss is symmetrised over the two views, as in lightly's and solo-learn's CIFAR
    recipes; the key momentum is constant (0.99 suits short runs; the paper uses 0.999).
    """

    default_views = "simclr"

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 2048, proj_dim: int = 128,
                 temperature: float = 0.2, queue_size: int = 4096, momentum: float = 0.99) -> None:
        super().__init__(encoder)
        self.projector = MLPHead(encoder.out_dim, proj_hidden_dim, proj_dim, batch_norm=False)
        self.query = nn.Sequential(self.encoder, self.projector)
        self.key = EMATeacher(self.query, base=momentum, final=momentum)
        self.queue = KeyQueue(queue_size, proj_dim)
        self.criterion = InfoNCELoss(temperature)

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        h = encode_views(self.encoder, views)
        q = encode_views(self.projector, h)
        k = encode_views(self.key, views[: num_global(views)])
        pairs = cross_view_pairs(views)
        loss, logs = mean_over_pairs(lambda s, t: self.criterion(q[s], k[t], self.queue.keys), pairs)
        self.queue.push_later(torch.cat(k[:2]))  # enqueued in on_step_end, after backward has read the queue
        return {"loss": loss, "embedding": h[0].detach(), **logs}

    def on_step_end(self, step: int, total_steps: int) -> None:
        self.key.update(self.query, step, total_steps)
        self.queue.flush()


class MoCoV3(Method):
    """Query = predictor(projector(encoder(x))), key = momentum projector(encoder(x)); in-batch InfoNCE.

    No queue: negatives are the other (gathered) keys of the batch. The loss is scaled by
    ``2 t`` and summed over both directions, as in the paper; momentum rises 0.99 -> 1.
    """

    default_views = "byol"
    recommended_trainer = {"optimizer": "lars", "base_lr": 0.3}  # noqa: RUF012

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 4096, proj_dim: int = 256,
                 pred_hidden_dim: int = 4096, temperature: float = 0.2, base_momentum: float = 0.99) -> None:
        super().__init__(encoder)
        self.projector = MLPHead(encoder.out_dim, proj_hidden_dim, proj_dim, num_layers=3, last_batch_norm=True)
        self.predictor = MLPHead(proj_dim, pred_hidden_dim, proj_dim, num_layers=2, last_batch_norm=True)
        self.online = nn.Sequential(self.encoder, self.projector)
        self.target = EMATeacher(self.online, base=base_momentum)
        self.criterion = InfoNCELoss(temperature, scale=2 * temperature)

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        h = encode_views(self.encoder, views)
        q = encode_views(self.predictor, encode_views(self.projector, h))
        k = encode_views(self.target, views[: num_global(views)])
        pairs = cross_view_pairs(views)
        loss, logs = mean_over_pairs(lambda s, t: self.criterion(q[s], k[t]), pairs)
        return {"loss": 2 * loss, "embedding": h[0].detach(), **logs}  # two views: the paper's sum of both directions

    def on_step_end(self, step: int, total_steps: int) -> None:
        self.target.update(self.online, step, total_steps)
