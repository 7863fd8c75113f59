"""Redundancy-reduction objectives."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.objectives.distributed import fp32, gather


class BarlowTwinsLoss(nn.Module):
    """Barlow Twins (Zbontar et al. 2021): push the cross-correlation of two views towards identity.

    ``loss = sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2`` where ``C`` is the
    cross-correlation of the batch-standardised embeddings over the (gathered) batch.
    """

    def __init__(self, lambda_offdiag: float = 5e-3, gather_distributed: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.lambda_offdiag, self.gather_distributed, self.eps = lambda_offdiag, gather_distributed, eps

    def forward(self, z1: Tensor, z2: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        z1, z2 = fp32(z1), fp32(z2)
        if self.gather_distributed:
            z1, z2 = gather(z1), gather(z2)
        n = z1.shape[0]
        if n < 2:
            raise ValueError("BarlowTwinsLoss needs a batch of at least 2 samples")
        z1 = (z1 - z1.mean(0)) / (z1.var(0, unbiased=False) + self.eps).sqrt()
        z2 = (z2 - z2.mean(0)) / (z2.var(0, unbiased=False) + self.eps).sqrt()
        c = z1.T @ z2 / n
        diag = torch.diagonal(c)
        on = (diag - 1).pow(2).sum()
        off = c.pow(2).sum() - diag.pow(2).sum()
        return on + self.lambda_offdiag * off, {"on_diagonal": on.detach(), "off_diagonal": off.detach()}
