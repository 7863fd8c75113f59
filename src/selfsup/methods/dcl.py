"""DCL and DCLW — Yeh et al. 2022, "Decoupled Contrastive Learning"."""

from __future__ import annotations

from torch import nn

from selfsup.methods.simclr import SimCLR
from selfsup.objectives import DecoupledContrastiveLoss


class DCL(SimCLR):
    """SimCLR's network; the positive pair is removed from the InfoNCE denominator."""

    weighting: str | None = None

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 2048, proj_dim: int = 128,
                 temperature: float = 0.1, sigma: float = 0.5) -> None:
        super().__init__(encoder, proj_hidden_dim, proj_dim, temperature)
        self.criterion = DecoupledContrastiveLoss(temperature, self.weighting, sigma)


class DCLW(DCL):
    """DCL with von Mises-Fisher weighting of the positive term (``sigma`` its width)."""

    weighting = "vmf"
