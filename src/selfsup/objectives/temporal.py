"""Losses over per-timestamp representations: TS2Vec's hierarchical contrast and SoftCLT's soft version.

Inputs are two views' representations of the same timestamps, (B, T, D) each. The
instance-wise term contrasts series at each timestamp; the temporal term contrasts
timestamps within each series; both repeat after every max-pooling by 2 along time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _neg_log_softmax_without_self(z: Tensor) -> Tensor:
    """(G, M, D) -> (G, M, M): -log softmax over every other row of each group (the diagonal is excluded
    and set to 0)."""
    sim = (z @ z.transpose(1, 2)).float()
    eye = torch.eye(z.shape[1], dtype=torch.bool, device=z.device)
    logp = sim.masked_fill(eye, float("-inf")).log_softmax(-1)
    return -logp.masked_fill(eye, 0.0)


class _HardPairedNCE(torch.autograd.Function):
    """The hard loss with a hand-written backward: the forward pass turns the similarity matrix into
    the softmax in place and keeps it, so the backward pass is two matrix products instead of
    re-deriving exp(sim - logsumexp) through autograd (about half the loss's time on 1,000-step series,
    benchmarks/series_speed.py)."""

    @staticmethod
    def forward(ctx, z: Tensor) -> Tensor:  # type: ignore[override]
        with torch.autocast(z.device.type, enabled=False):  # float32 throughout, also under bf16 autocast
            return _HardPairedNCE._forward(ctx, z)

    @staticmethod
    def _forward(ctx, z: Tensor) -> Tensor:
        n = z.shape[1] // 2
        probs = torch.bmm(z, z.transpose(1, 2))
        probs.diagonal(dim1=1, dim2=2).fill_(float("-inf"))
        top = probs.amax(-1, keepdim=True)
        probs.sub_(top).exp_()
        total = probs.sum(-1, keepdim=True)
        partner = torch.cat([z[:, n:], z[:, :n]], dim=1)
        loss = (total.log() + top).squeeze(-1).sub((z * partner).sum(-1)).mean()
        probs.div_(total)
        ctx.save_for_backward(z, partner, probs)
        return loss

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        z, partner, probs = ctx.saved_tensors
        g, m, _ = z.shape
        with torch.autocast(z.device.type, enabled=False):
            # d/dsim = (P - onehot(partner)) / (G M); sim = z z^T and the partner map is its own inverse
            dz = torch.bmm(probs, z) + torch.bmm(probs.transpose(1, 2), z) - 2 * partner
            return dz * (grad.float() / (g * m))


def paired_nce(z: Tensor, weights: Tensor | None = None) -> Tensor:
    """InfoNCE within groups of 2N rows where row i and row i + N are a positive pair.

    Hard (``weights=None``): the mean over groups and rows of -log p(partner | row) among the
    other 2N - 1 rows (TS2Vec), in float32. Soft: ``weights`` (2N, 2N) weigh every other row as a
    target (SoftCLT); the sum over rows and targets is divided by the number of groups and rows.
    """
    g, m, _ = z.shape
    if weights is not None:
        return (_neg_log_softmax_without_self(z) * weights.to(torch.float32)).sum() / (g * m)
    return _HardPairedNCE.apply(z.float())


def instance_contrast(z1: Tensor, z2: Tensor, soft: Tensor | None = None) -> Tensor:
    """Series vs series at each timestamp; ``soft`` (B, B) instance weights (1 on the diagonal)."""
    if z1.shape[0] == 1:
        return z1.new_zeros(())
    z = torch.cat([z1, z2], dim=0).transpose(0, 1)  # (T, 2B, D)
    return paired_nce(z, None if soft is None else soft.repeat(2, 2))


def temporal_contrast(z1: Tensor, z2: Tensor, soft: Tensor | None = None) -> Tensor:
    """Timestamp vs timestamp within each series; ``soft`` (T, T) timestamp weights (1 on the diagonal)."""
    if z1.shape[1] == 1:
        return z1.new_zeros(())
    z = torch.cat([z1, z2], dim=1)  # (B, 2T, D)
    return paired_nce(z, None if soft is None else soft.repeat(2, 2))


def timelag_weights(t: int, sharpness: float, device: torch.device | None = None) -> Tensor:
    """SoftCLT's temporal soft assignments: 2 * sigmoid(-sharpness * |t - t'|) (1 at lag 0)."""
    lag = torch.arange(t, device=device, dtype=torch.float32)
    w = 2 * torch.sigmoid(-sharpness * (lag[:, None] - lag[None, :]).abs())
    return w.masked_fill(w < 1e-6, 0.0)


def hierarchical_contrastive_loss(z1: Tensor, z2: Tensor, alpha: float = 0.5, temporal_unit: int = 0,
                                  instance_weights: Tensor | None = None,
                                  temporal_sharpness: float | None = None) -> Tensor:
    """TS2Vec's loss (Yue et al. 2022): ``alpha`` x instance + ``(1 - alpha)`` x temporal contrast at every
    scale, max-pooling time by 2 between scales, averaged over scales; the temporal term starts at
    scale ``temporal_unit``.

    SoftCLT (Lee et al. 2024): ``instance_weights`` (B, B) soft instance assignments and
    ``temporal_sharpness`` (tau_T) soft temporal ones, whose sharpness doubles at each coarser scale.
    """
    loss = z1.new_zeros((), dtype=torch.float32)
    depth = 0
    while z1.shape[1] > 1:
        if alpha:
            loss = loss + alpha * instance_contrast(z1, z2, instance_weights)
        if depth >= temporal_unit and alpha != 1:
            lag = (None if temporal_sharpness is None else
                   timelag_weights(z1.shape[1], temporal_sharpness * 2 ** depth, z1.device))
            loss = loss + (1 - alpha) * temporal_contrast(z1, z2, lag)
        depth += 1
        z1 = F.max_pool1d(z1.transpose(1, 2), kernel_size=2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), kernel_size=2).transpose(1, 2)
    if alpha:
        loss = loss + alpha * instance_contrast(z1, z2, instance_weights)
    return loss / (depth + 1)


def soft_instance_weights(distance: Tensor, sharpness: float, alpha: float = 0.5) -> Tensor:
    """SoftCLT's instance assignments from a (B, B) distance matrix min-max scaled to [0, 1] (0 on the
    diagonal): ``2 * alpha * sigmoid(-sharpness * d)`` off the diagonal, 1 on it."""
    eye = torch.eye(distance.shape[0], dtype=torch.bool, device=distance.device)
    return torch.where(eye, torch.ones_like(distance), 2 * alpha * torch.sigmoid(-sharpness * distance))
