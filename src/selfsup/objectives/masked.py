"""Masked-modelling objectives: reconstruction of hidden patches, and ranking of their difficulty."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.objectives.distributed import fp32, full_precision


class MaskedReconstructionLoss(nn.Module):
    """MAE's loss (He et al. 2022): mean squared error of predicted patches, counted on masked patches only.

    With ``norm_pix`` each target patch is normalised by its own mean and variance first.
    ``forward(pred, patches, mask)`` takes (B, L, P) predictions and pixels and a (B, L) mask
    with 1 where a patch was hidden; it returns the loss and, for hard-patch mining, the
    (B, L) per-patch errors as the second log.
    """

    def __init__(self, norm_pix: bool = True, eps: float = 1e-6) -> None:
        super().__init__()
        self.norm_pix, self.eps = norm_pix, eps

    def targets(self, patches: Tensor, present: Tensor | None = None) -> Tensor:
        t = fp32(patches)
        if present is not None:  # statistics over the values that exist; missing ones become 0
            w = present.float()
            t = t.nan_to_num(0.0)
            if self.norm_pix:
                n = w.sum(-1, keepdim=True).clamp(min=1)
                mean = (t * w).sum(-1, keepdim=True) / n
                var = ((t - mean).pow(2) * w).sum(-1, keepdim=True) / (n - 1).clamp(min=1)
                t = (t - mean) / (var + self.eps).sqrt()
            return t * w
        if self.norm_pix:
            t = (t - t.mean(-1, keepdim=True)) / (t.var(-1, keepdim=True) + self.eps).sqrt()
        return t

    @full_precision
    def forward(self, pred: Tensor, patches: Tensor, mask: Tensor,
                present: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``present`` (B, L, P), for series with missing values: only present values are compared, and
        a patch with none is not counted."""
        if present is None:
            per_patch = (fp32(pred) - self.targets(patches)).pow(2).mean(-1)
        else:
            w = present.float()
            per_patch = ((fp32(pred) - self.targets(patches, present)).pow(2) * w).sum(-1) / w.sum(-1).clamp(min=1)
            mask = mask * present.any(-1)
        return (per_patch * mask).sum() / mask.sum().clamp(min=1), per_patch


class PatchRankingLoss(nn.Module):
    """Hard Patches Mining's relative loss (Wang et al. 2023): predicted difficulties must order patches
    as their true reconstruction errors do.

    For masked patches ``i != j`` of an image: binary cross-entropy of ``sigmoid(d_i - d_j)``
    against ``[e_i > e_j]``, averaged over all such pairs; the true errors ``e`` are detached.
    """

    @full_precision
    def forward(self, predicted: Tensor, errors: Tensor, mask: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        predicted, errors, mask = fp32(predicted), errors.detach().float(), fp32(mask)
        diff = predicted[:, :, None] - predicted[:, None, :]                      # (B, L, L)
        target = (errors[:, :, None] > errors[:, None, :]).float()
        pairs = mask[:, :, None] * mask[:, None, :] * (1 - torch.eye(mask.shape[1], device=mask.device))
        loss = (F.binary_cross_entropy_with_logits(diff, target, reduction="none") * pairs).sum()
        loss = loss / pairs.sum().clamp(min=1)
        return loss, {"ranking": loss.detach()}


class ScaledCosineError(nn.Module):
    """GraphMAE's scaled cosine error (Hou et al. 2022): ``mean_i (1 - cos(x_i, z_i))^alpha`` over the
    masked nodes; ``alpha > 1`` down-weights the nodes that are already well reconstructed."""

    def __init__(self, alpha: float = 2.0) -> None:
        super().__init__()
        if alpha < 1:
            raise ValueError(f"ScaledCosineError alpha must be >= 1, got {alpha}")
        self.alpha = alpha

    @full_precision
    def forward(self, pred: Tensor, target: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        cos = (F.normalize(fp32(pred), dim=-1) * F.normalize(fp32(target), dim=-1)).sum(-1)
        return (1 - cos).pow(self.alpha).mean(), {"cosine": cos.mean().detach()}
