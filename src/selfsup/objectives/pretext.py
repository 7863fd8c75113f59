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
    """Mean squared error of predicted transformation parameters, each column divided by its spread.

    Columns differ in scale (a crop offset spans 0..1, a hue shift ±0.1): dividing each by its
    standard deviation in the batch (at least ``min_scale``) gives every parameter equal weight,
    and the loss reads as 1 - R² (1 when predicting the mean, 0 when exact). Logs ``r2``.
    """

    def __init__(self, min_scale: float = 0.01) -> None:
        super().__init__()
        self.min_scale = min_scale

    @full_precision
    def forward(self, pred: Tensor, target: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        pred, target = pred.float(), target.float()
        scale = target.std(0, keepdim=True).clamp_min(self.min_scale).detach() if len(target) > 1 else 1.0
        loss = ((pred - target) / scale).pow(2).mean()
        with torch.no_grad():
            var = target.var(0, unbiased=False)
            r2 = 1 - (pred - target).pow(2).mean(0)[var > 0] / var[var > 0]
        return loss, {"r2": r2.mean() if r2.numel() else torch.zeros((), device=pred.device)}
