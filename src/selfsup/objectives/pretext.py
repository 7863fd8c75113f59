"""Pretext objectives: predict what a transformation did (its class or its parameters)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.objectives.distributed import full_precision


class PretextClassificationLoss(nn.Module):
    """Cross-entropy of predicting a discrete transformation (rotation, permutation) from its output.

    Returns the loss and its accuracy as a log, computed in float32 outside autocast.
    """

    @full_precision
    def forward(self, logits: Tensor, target: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        logits = logits.float()
        loss = F.cross_entropy(logits, target)
        return loss, {"acc": (logits.argmax(1) == target).float().mean().detach()}


class PretextRegressionLoss(nn.Module):
    """Huber loss of predicted transformation parameters, each column divided by its spread.

    Columns differ in scale (a crop offset spans 0..1, a hue shift ±0.1): dividing each by its
    standard deviation in the batch (at least ``min_scale``) gives every parameter equal weight.
    Residuals under one standard deviation count squared (half of 1 - R² there), larger ones
    linearly, so an untrained head's large errors cannot blow up SGD at contrastive learning
    rates (plain squared error diverged within 10 steps at lr 0.12). Logs ``r2``.
    """

    def __init__(self, min_scale: float = 0.01) -> None:
        super().__init__()
        self.min_scale = min_scale

    @full_precision
    def forward(self, pred: Tensor, target: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        pred, target = pred.float(), target.float()
        scale = target.std(0, keepdim=True).clamp_min(self.min_scale).detach() if len(target) > 1 else 1.0
        loss = F.smooth_l1_loss((pred - target) / scale, torch.zeros_like(target), beta=1.0)
        with torch.no_grad():  # R² of each column on the same scale as the loss (spread at least min_scale)
            r2 = 1 - (((pred - target) / scale).pow(2).mean(0) if len(target) > 1 else torch.ones(1))
        return loss, {"r2": r2.mean()}
