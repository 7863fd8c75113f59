"""Mixed Barlow Twins — Bandara et al. 2023, "Guarding Barlow Twins Against Overfitting with Mixed
Samples" (seed [002#75])."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.methods.barlow_twins import BarlowTwins
from selfsup.objectives import MixedCorrelationLoss


class MixedBarlowTwins(BarlowTwins):
    """Barlow Twins plus a mixup regulariser: a mix of two views' inputs must give the mixed correlations.

    ``x_m = a x1 + (1 - a) x2[perm]`` with ``a ~ U(0, 1)`` (Beta(1, 1)); the term is weighted
    ``mixup_scale * lambda_offdiag``. Defaults are the paper's CIFAR settings (1024-d
    projector, lambda = 1/128, scale 4). Randomness comes from torch's generator, which the
    trainer seeds per step, so resumed runs repeat it.
    """

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 1024, proj_dim: int = 1024,
                 proj_layers: int = 3, lambda_offdiag: float = 1 / 128, mixup_scale: float = 4.0) -> None:
        super().__init__(encoder, proj_hidden_dim, proj_dim, proj_layers, lambda_offdiag)
        self.mixup_weight = mixup_scale * lambda_offdiag
        self.mixed_correlation = MixedCorrelationLoss()

    def regularise(self, views: list[Tensor], z: list[Tensor], out: dict[str, Tensor]) -> dict[str, Tensor]:
        x1, x2 = views[0], views[1]
        alpha = float(torch.rand(()))
        perm = torch.randperm(len(x1), device=x1.device)
        z_mixed = self.projector(self.encoder(alpha * x1 + (1 - alpha) * x2[perm]))
        mix = self.mixed_correlation(z_mixed, z[0], z[1], perm, alpha)
        return {**out, "loss": out["loss"] + self.mixup_weight * mix, "mixup_term": mix.detach()}
