"""Pretext objectives: predict what a transformation did (its class or its parameters)."""

from __future__ import annotations

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
        return loss, {"accuracy": (logits.argmax(1) == target).float().mean().detach()}
