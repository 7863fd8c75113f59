"""SimSiam — Chen & He 2021, "Exploring Simple Siamese Representation Learning"."""

from __future__ import annotations

from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import Method, Params, cross_view_pairs, encode_views, mean_over_pairs
from selfsup.objectives import NegativeCosineLoss


class SimSiam(Method):
    """A predictor maps one view's projection to the other's, which is held fixed (stop-gradient).

    No momentum encoder and no negatives: ``loss = mean over pairs of D(p_s, stopgrad(z_t))``.
    Defaults are the paper's CIFAR settings (2048-d projector, 512-d predictor bottleneck).
    """

    default_views = "simclr"
    recommended_trainer = {"optimizer": "sgd", "base_lr": 0.06}  # noqa: RUF012

    def __init__(self, encoder: nn.Module, proj_hidden_dim: int = 2048, proj_dim: int = 2048,
                 pred_hidden_dim: int = 512) -> None:
        super().__init__(encoder)
        self.projector = MLPHead(encoder.out_dim, proj_hidden_dim, proj_dim, num_layers=3, last_batch_norm=True)
        self.predictor = MLPHead(proj_dim, pred_hidden_dim, proj_dim)
        self.criterion = NegativeCosineLoss()

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        h = encode_views(self.encoder, views)
        z = encode_views(self.projector, h)
        p = encode_views(self.predictor, z)
        pairs = cross_view_pairs(views)
        loss, logs = mean_over_pairs(lambda s, t: self.criterion(p[s], z[t]), pairs)  # the target is detached
        return {"loss": loss, "embedding": h[0].detach(), **logs}
