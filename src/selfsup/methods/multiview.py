"""Multi-view contrastive learning: MV-InfoNCE and MV-DHEL (Koromilas et al. 2025, seed [001#10]).

With a fixed budget, more views of fewer samples pays off (Poly-View Contrastive Learning,
Shidani et al. 2024, seed [004#3]); pass ``n_views`` of 3 or more to ``pretrain``.
"""

from __future__ import annotations

from torch import nn

from selfsup.methods.simclr import SimCLR
from selfsup.objectives import MultiViewInfoNCELoss


class MVInfoNCE(SimCLR):
    """SimCLR's network; one InfoNCE term per sample over all of its views' interactions."""

    decoupled = False

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 2048, proj_dim: int = 128,
                 temperature: float = 0.2) -> None:
        super().__init__(encoder, proj_hidden_dim, proj_dim, temperature)
        self.criterion = MultiViewInfoNCELoss(temperature, decoupled=self.decoupled)


class MVDHEL(MVInfoNCE):
    """MV-InfoNCE with uniformity measured within each view, decoupled from alignment."""

    decoupled = True
