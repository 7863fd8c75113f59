"""VIME (self-supervised part) — Yoon et al. 2020, "VIME: Extending the Success of Self- and Semi-supervised
Learning to Tabular Domain"."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.methods.base import Method, Params, encode_views


class VIME(Method):
    """x~ = m * x_bar + (1 - m) * x, each cell masked with probability p_m = 0.3 and x_bar drawn from the
    column's marginal (the ``vime`` view preset: view 0 is x, view 1 is x~ with its mask m). From
    h = f(x~) a mask estimator predicts m (binary cross-entropy) and a feature estimator recovers x
    (squared error on the standardised numeric columns, cross-entropy on each categorical column):
    ``loss = l_mask + alpha * l_features``, alpha = 2 as in the paper's code.

    Needs a table encoder that states its layout (``tab_mlp``: ``n_numeric``, ``cardinalities``).
    """

    default_views = "vime"
    default_encoder = "tab_mlp"
    modalities = ("tabular",)
    recommended_trainer = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "betas": (0.9, 0.999),  # noqa: RUF012
                           "warmup_epochs": 0.0, "final_lr": 1e-3, "batch_size": 128}

    def __init__(self, encoder: nn.Module, alpha: float = 2.0) -> None:
        super().__init__(encoder)
        if not hasattr(encoder, "n_numeric") or not hasattr(encoder, "cardinalities"):
            raise ValueError("VIME reconstructs table columns and needs a table encoder that states its layout "
                             "(n_numeric, cardinalities), e.g. tab_mlp")
        self.n_numeric, self.cardinalities = int(encoder.n_numeric), list(encoder.cardinalities)
        n_features = self.n_numeric + len(self.cardinalities)
        d = encoder.out_dim
        self.mask_estimator = nn.Linear(d, n_features)
        self.feature_estimator = nn.Linear(d, self.n_numeric + sum(self.cardinalities))
        self.alpha = alpha

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        if params is None or len(views) < 2 or "mask" not in params[1]:
            raise ValueError("VIME needs the vime view preset: view 0 the row, view 1 the masked row and its mask")
        x, mask = views[0], params[1]["mask"]
        h_clean, h = encode_views(self.encoder, [views[0], views[1]])
        mask_loss = F.binary_cross_entropy_with_logits(self.mask_estimator(h).float(), mask.float())
        feature_loss = self.reconstruction_loss(self.feature_estimator(h).float(), x)
        loss = mask_loss + self.alpha * feature_loss
        return {"loss": loss, "embedding": h_clean.detach(), "mask_loss": mask_loss.detach(),
                "feature_loss": feature_loss.detach()}

    def reconstruction_loss(self, out: Tensor, x: Tensor) -> Tensor:
        """Mean over columns: squared error per numeric column, cross-entropy per categorical column."""
        k = self.n_numeric
        terms = []
        if k:
            terms.append(F.mse_loss(out[:, :k], x[:, :k].float(), reduction="none").mean(0))
        start = k
        for j, card in enumerate(self.cardinalities):
            logits = out[:, start:start + card]
            terms.append(F.cross_entropy(logits, x[:, k + j].long()).reshape(1))
            start += card
        return torch.cat(terms).mean()
