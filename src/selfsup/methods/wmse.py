"""W-MSE — Ermolov et al. 2021, "Whitening for Self-Supervised Representation Learning" (seed [002#59])."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import Method, Params, encode_views
from selfsup.objectives import WhiteningMSELoss


class WMSE(Method):
    """Embeddings of all views are whitened in sub-batches, then positives are pulled together (MSE).

    Works with any number of views (the paper's W-MSE 4 uses 4); the defaults are its CIFAR
    settings: a 1024-wide projector to 64 dimensions, whitening over 128 samples, Adam.
    """

    default_views = "simclr"
    recommended_trainer = {"optimizer": "adamw", "base_lr": 1e-3, "weight_decay": 1e-6}  # noqa: RUF012

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 1024, proj_dim: int = 64, w_size: int = 128,
                 eps: float = 0.0) -> None:
        super().__init__(encoder)
        self.projector = MLPHead(encoder.out_dim, proj_hidden_dim, proj_dim)
        self.criterion = WhiteningMSELoss(w_size, eps)

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        h = encode_views(self.encoder, views)
        loss, logs = self.criterion(*encode_views(self.projector, h))
        return {"loss": loss, "embedding": h[0].detach(), **logs}
