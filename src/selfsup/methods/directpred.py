"""DirectPred — Tian, Chen & Ganguli 2021, "Understanding self-supervised Learning Dynamics without
Contrastive Pairs" (seed [002#148])."""

from __future__ import annotations

from torch import nn

from selfsup.heads import DirectPredictor
from selfsup.methods.byol import BYOL


class DirectPred(BYOL):
    """BYOL whose linear predictor is set directly from the eigen-decomposition of its inputs' correlation.

    The paper's analysis: the trained predictor's eigenspace aligns with the correlation's,
    so setting it there (``p_j = sqrt(s_j / max s) + eps``) works without training it.
    """

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 4096, proj_dim: int = 256,
                 base_momentum: float = 0.99, rho: float = 0.3, eps: float = 0.1) -> None:
        super().__init__(encoder, proj_hidden_dim, proj_dim, base_momentum=base_momentum)
        self.predictor = DirectPredictor(proj_dim, rho, eps)

    def on_step_end(self, step: int, total_steps: int) -> None:
        super().on_step_end(step, total_steps)
        self.predictor.update()
