"""Debiased contrastive learning — Chuang et al. 2020, "Debiased Contrastive Learning"."""

from __future__ import annotations

from torch import nn

from selfsup.methods.simclr import SimCLR
from selfsup.objectives import DebiasedContrastiveLoss


class DebiasedCL(SimCLR):
    """SimCLR's network; negatives corrected for sharing the anchor's class with prior ``tau_plus``."""

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 2048, proj_dim: int = 128,
                 temperature: float = 0.5, tau_plus: float = 0.1) -> None:
        super().__init__(encoder, proj_hidden_dim, proj_dim, temperature)
        self.criterion = DebiasedContrastiveLoss(temperature, tau_plus)
