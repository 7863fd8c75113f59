"""iSogCLR — Qiu et al. 2023, "Not All Semantics are Created Equal: Contrastive Self-supervised
Learning with Automatic Temperature Individualization" (seed [001#39])."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from selfsup.methods.base import Params
from selfsup.methods.simclr import SimCLR
from selfsup.objectives import RobustContrastiveLoss


class ISogCLR(SimCLR):
    """SimCLR's network; a robust contrastive loss with one learned temperature per training sample.

    The per-sample state (temperature, moving-average denominator) is sized in ``setup``
    from the dataset and saved in checkpoints, so resumed runs continue exactly.
    """

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 2048, proj_dim: int = 128,
                 tau_init: float = 0.1, rho: float = 0.4, gamma: float = 0.8, tau_lr: float = 0.03) -> None:
        super().__init__(encoder, proj_hidden_dim, proj_dim)
        self.loss_kwargs = dict(tau_init=tau_init, rho=rho, gamma=gamma, tau_lr=tau_lr)
        self.criterion = nn.Identity()  # replaced in setup(), once the dataset size is known

    def setup(self, num_samples: int, data: Any = None) -> None:
        self.criterion = RobustContrastiveLoss(num_samples, **self.loss_kwargs)

    def contrast(self, z: list[Tensor], params: list[Params] | None) -> tuple[Tensor, dict[str, Tensor]]:
        if not isinstance(self.criterion, RobustContrastiveLoss):
            raise RuntimeError("ISogCLR keeps per-sample temperatures: call setup(num_samples) before training")
        if not params or "index" not in params[0]:
            raise ValueError("ISogCLR needs each view's params to hold the samples' dataset 'index'")
        return self.criterion(*z, index=params[0]["index"])
