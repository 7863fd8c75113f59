"""Self-distillation objectives (a student predicts a teacher)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.objectives.distributed import fp32, full_precision


class NegativeCosineLoss(nn.Module):
    """BYOL's regression loss (Grill et al. 2020): ``2 - 2 cos(p, z)``, with the target detached."""

    @full_precision
    def forward(self, prediction: Tensor, target: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        cos = F.cosine_similarity(fp32(prediction), fp32(target.detach()), dim=1)
        return (2 - 2 * cos).mean(), {"cosine": cos.mean().detach()}
