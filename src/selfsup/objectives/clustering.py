"""Clustering and self-distillation objectives over prototypes (SwAV, DINO)."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.objectives.distributed import all_reduce_mean, fp32, full_precision, world_size


def _all_reduce_sum(x: Tensor) -> Tensor:
    if world_size() > 1:
        dist.all_reduce(x)
    return x


@torch.no_grad()
def sinkhorn(scores: Tensor, epsilon: float = 0.05, iterations: int = 3) -> Tensor:
    """Equipartitioned soft assignments of ``B`` samples to ``K`` prototypes (Sinkhorn-Knopp).

    ``Q = exp(scores / epsilon)`` is scaled alternately so each prototype receives ``B / K``
    of the mass and each sample 1, over the batch of all processes; returns (B, K) rows that sum to 1.
    """
    scores = fp32(scores) / epsilon
    peak = scores.max().clone()
    if world_size() > 1:
        dist.all_reduce(peak, op=dist.ReduceOp.MAX)
    q = torch.exp(scores - peak).T                         # (K, B)
    k, b = q.shape[0], q.shape[1] * world_size()
    q /= _all_reduce_sum(q.sum())
    for _ in range(iterations):
        q /= _all_reduce_sum(q.sum(1, keepdim=True)) * k    # every prototype gets 1/K
        q /= q.sum(0, keepdim=True) * b                     # every sample gets 1/B
    return (q * b).T


class SwAVLoss(nn.Module):
    """Swapped prediction (Caron et al. 2020): predict one view's code from another view's scores.

    ``loss = mean over (student s, global t != s) of -sum_k q_t,k log softmax(scores_s / temperature)_k``
    where ``q_t = sinkhorn(scores_t)`` is computed without gradient.
    """

    def __init__(self, temperature: float = 0.1, epsilon: float = 0.05, iterations: int = 3) -> None:
        super().__init__()
        self.temperature, self.epsilon, self.iterations = temperature, epsilon, iterations

    @full_precision
    def forward(self, scores: list[Tensor], codes: list[Tensor], pairs: list[tuple[int, int]]
                ) -> tuple[Tensor, dict[str, Tensor]]:
        losses = [-(codes[t] * F.log_softmax(fp32(scores[s]) / self.temperature, dim=1)).sum(1).mean()
                  for s, t in pairs]
        with torch.no_grad():
            used = (codes[0].argmax(1).bincount(minlength=codes[0].shape[1]) > 0).float().mean()
        return sum(losses) / len(losses), {"prototypes_used": used}

    def codes(self, scores: Tensor) -> Tensor:
        return sinkhorn(scores, self.epsilon, self.iterations)


class DINOLoss(nn.Module):
    """Self-distillation with no labels (Caron et al. 2021): a student matches a centred, sharpened teacher.

    ``loss = mean over (student s, teacher global t != s) of
    -sum_k softmax((t_t - c) / T_t)_k log softmax(s_s / T_s)_k``; the centre ``c`` is an EMA of
    the teacher's batch means (momentum ``center_momentum``), which with sharpening (small
    ``T_t``) keeps the outputs from collapsing to one dimension or to uniform.
    """

    def __init__(self, out_dim: int, student_temperature: float = 0.1, center_momentum: float = 0.9) -> None:
        super().__init__()
        self.student_temperature, self.center_momentum = student_temperature, center_momentum
        self.register_buffer("center", torch.zeros(1, out_dim))

    @full_precision
    def forward(self, student: list[Tensor], teacher: list[Tensor], pairs: list[tuple[int, int]],
                teacher_temperature: float) -> tuple[Tensor, dict[str, Tensor]]:
        with torch.no_grad():
            targets = [F.softmax((fp32(t) - self.center) / teacher_temperature, dim=1) for t in teacher]
        losses = [-(targets[t] * F.log_softmax(fp32(student[s]) / self.student_temperature, dim=1)).sum(1).mean()
                  for s, t in pairs]
        with torch.no_grad():
            entropy = -(targets[0] * targets[0].clamp_min(1e-12).log()).sum(1).mean()
            self.update_center(torch.cat(teacher))
        return sum(losses) / len(losses), {"teacher_entropy": entropy}

    @torch.no_grad()
    def update_center(self, teacher: Tensor) -> None:
        batch_center = all_reduce_mean(fp32(teacher).mean(0, keepdim=True))
        self.center.mul_(self.center_momentum).add_(batch_center, alpha=1 - self.center_momentum)
