"""Redundancy-reduction objectives."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.objectives.distributed import fp32, full_precision, gather


def standardise(z: Tensor, eps: float = 1e-5) -> Tensor:
    """Per-dimension zero mean and unit (biased) variance over the batch."""
    return (z - z.mean(0)) / (z.var(0, unbiased=False) + eps).sqrt()


class BarlowTwinsLoss(nn.Module):
    """Barlow Twins (Zbontar et al. 2021): push the cross-correlation of two views towards identity.

    ``loss = sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2`` where ``C`` is the
    cross-correlation of the batch-standardised embeddings over the (gathered) batch.
    """

    def __init__(self, lambda_offdiag: float = 5e-3, gather_distributed: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.lambda_offdiag, self.gather_distributed, self.eps = lambda_offdiag, gather_distributed, eps

    @full_precision
    def forward(self, z1: Tensor, z2: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        z1, z2 = fp32(z1), fp32(z2)
        if self.gather_distributed:
            z1, z2 = gather(z1), gather(z2)
        n = z1.shape[0]
        if n < 2:
            raise ValueError("BarlowTwinsLoss needs a batch of at least 2 samples")
        z1, z2 = standardise(z1, self.eps), standardise(z2, self.eps)
        c = z1.T @ z2 / n
        diag = torch.diagonal(c)
        on = (diag - 1).pow(2).sum()
        off = c.pow(2).sum() - diag.pow(2).sum()
        return on + self.lambda_offdiag * off, {"on_diagonal": on.detach(), "off_diagonal": off.detach()}


def _off_diagonal(c: Tensor) -> Tensor:
    return c - torch.diag_embed(torch.diagonal(c))


class VICRegLoss(nn.Module):
    """VICReg (Bardes, Ponce & LeCun 2022): invariance, variance and covariance terms.

    ``loss = lam * mse(z1, z2) + mu * mean_v mean_d relu(1 - std_d(z_v)) + nu * sum_v sum_{i != j} C_v,ij^2 / D``
    with the statistics over the (gathered) batch, as in the official code.
    """

    def __init__(self, lam: float = 25.0, mu: float = 25.0, nu: float = 1.0, gather_distributed: bool = True,
                 eps: float = 1e-4) -> None:
        super().__init__()
        self.lam, self.mu, self.nu, self.gather_distributed, self.eps = lam, mu, nu, gather_distributed, eps

    @full_precision
    def forward(self, z1: Tensor, z2: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        z1, z2 = fp32(z1), fp32(z2)
        if self.gather_distributed:
            z1, z2 = gather(z1), gather(z2)
        n, d = z1.shape
        if n < 2:
            raise ValueError("VICRegLoss needs a batch of at least 2 samples")
        invariance = torch.nn.functional.mse_loss(z1, z2)
        variance, covariance = z1.new_zeros(()), z1.new_zeros(())
        for z in (z1, z2):
            z = z - z.mean(0)
            variance = variance + torch.relu(1 - torch.sqrt(z.var(0) + self.eps)).mean() / 2
            covariance = covariance + _off_diagonal(z.T @ z / (n - 1)).pow(2).sum() / d
        loss = self.lam * invariance + self.mu * variance + self.nu * covariance
        return loss, {"invariance": invariance.detach(), "variance": variance.detach(),
                      "covariance": covariance.detach()}


def whiten(x: Tensor, eps: float = 0.0) -> Tensor:
    """Cholesky whitening (W-MSE): ``(x - mean) @ L^-T`` where ``L L^T`` is the (shrunk) covariance."""
    x = x - x.mean(0)
    cov = x.T @ x / (len(x) - 1)
    if eps:
        cov = (1 - eps) * cov + eps * torch.eye(len(cov), device=x.device, dtype=x.dtype)
    chol = torch.linalg.cholesky(cov)
    return torch.linalg.solve_triangular(chol, x.T, upper=False).T


class WhiteningMSELoss(nn.Module):
    """W-MSE (Ermolov et al. 2021, "Whitening for Self-Supervised Representation Learning").

    The embeddings of all views are whitened together in sub-batches of ``w_size`` samples
    (the whitening scatters the batch, so no negatives are needed), then every pair of
    positives is pulled together with the normalised MSE ``2 - 2 cos``.
    """

    def __init__(self, w_size: int = 128, eps: float = 0.0, gather_distributed: bool = True) -> None:
        super().__init__()
        self.w_size, self.eps, self.gather_distributed = w_size, eps, gather_distributed

    @full_precision
    def forward(self, *views: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        z = [gather(fp32(v)) if self.gather_distributed else fp32(v) for v in views]
        n, d = z[0].shape
        if len(z) * min(n, self.w_size) <= d:
            raise ValueError(f"W-MSE whitens {d}-dim embeddings over sub-batches of {len(z)} views x "
                             f"{min(n, self.w_size)} samples; "
                             f"it needs more samples than dimensions: raise the batch size or w_size, or lower "
                             f"proj_dim")
        whitened: list[list[Tensor]] = [[] for _ in z]
        for start in range(0, n - self.w_size + 1 if n >= self.w_size else 1, self.w_size):
            stop = n if n - start < 2 * self.w_size else start + self.w_size  # the remainder joins the last chunk
            w = whiten(torch.cat([v[start:stop] for v in z]), self.eps).chunk(len(z))
            for v, part in enumerate(w):
                whitened[v].append(part)
        w = [torch.nn.functional.normalize(torch.cat(parts), dim=1) for parts in whitened]
        pairs = [(a, b) for a in range(len(w)) for b in range(a + 1, len(w))]
        loss = sum((2 - 2 * (w[a] * w[b]).sum(1)).mean() for a, b in pairs) / len(pairs)
        return loss, {"cosine": 1 - loss.detach() / 2}


class MixedCorrelationLoss(nn.Module):
    """Mixed Barlow Twins' regulariser (Bandara et al. 2023, "Guarding Barlow Twins Against Overfitting
    with Mixed Samples").

    A mixed input ``x_m = a x1 + (1 - a) x2[perm]`` must give cross-correlations that are the
    same mixture: ``C(z_m, z_v) ~ a C(z1, z_v) + (1 - a) C(z2[perm], z_v)`` for ``v = 1, 2``,
    with batch-standardised embeddings; the squared error is summed over both.
    """

    def __init__(self, gather_distributed: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.gather_distributed, self.eps = gather_distributed, eps

    @full_precision
    def forward(self, z_mixed: Tensor, z1: Tensor, z2: Tensor, perm: Tensor, alpha: float) -> Tensor:
        z_mixed, z1, z2 = (fp32(z) for z in (z_mixed, z1, z2))
        z2_perm = z2[perm]
        if self.gather_distributed:
            z_mixed, z1, z2, z2_perm = gather(z_mixed), gather(z1), gather(z2), gather(z2_perm)
        n = len(z1)
        zm, a, b, bp = (standardise(z, self.eps) for z in (z_mixed, z1, z2, z2_perm))
        loss = z1.new_zeros(())
        for v in (a, b):
            target = alpha * a.T @ v / n + (1 - alpha) * bp.T @ v / n
            loss = loss + (zm.T @ v / n - target).pow(2).sum()
        return loss
