"""Contrastive objectives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.objectives.distributed import fp32, gather, rank


class NTXentLoss(nn.Module):
    """Normalised-temperature cross entropy (SimCLR, Chen et al. 2020), in log-sum-exp form.

    For 2N embeddings of N pairs, each anchor's positive is its pair and the other
    2N - 2 are negatives: ``loss_i = logsumexp_{k != i}(s_ik / t) - s_ij / t`` with
    cosine similarities ``s``. Across processes, local anchors meet the gathered batch.
    """

    def __init__(self, temperature: float = 0.5, gather_distributed: bool = True) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"NTXentLoss temperature must be > 0, got {temperature}")
        self.temperature, self.gather_distributed = temperature, gather_distributed

    def forward(self, z1: Tensor, z2: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        z1, z2 = F.normalize(fp32(z1), dim=1), F.normalize(fp32(z2), dim=1)
        n_local = z1.shape[0]
        if self.gather_distributed:
            k1, k2, offset = gather(z1), gather(z2), rank() * n_local
        else:
            k1, k2, offset = z1, z2, 0
        n = k1.shape[0]
        anchors = torch.cat([z1, z2], 0)                      # (2n_local, D)
        keys = torch.cat([k1, k2], 0)                         # (2n, D)
        logits = anchors @ keys.T / self.temperature
        local = torch.arange(n_local, device=z1.device) + offset
        self_idx = torch.cat([local, local + n])
        pos_idx = torch.cat([local + n, local])
        rows = torch.arange(len(anchors), device=z1.device)
        logits = logits.index_put((rows, self_idx), logits.new_tensor(float("-inf")))  # drop s_ii
        loss = F.cross_entropy(logits, pos_idx)
        with torch.no_grad():
            acc = (logits.argmax(1) == pos_idx).float().mean()
            pos = (z1 * z2).sum(1).mean()
        return loss, {"pos_similarity": pos, "pair_accuracy": acc}
