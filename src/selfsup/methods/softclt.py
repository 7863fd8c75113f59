"""SoftCLT — Lee et al. 2024, "Soft Contrastive Learning for Time Series" (seed [002#16])."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from selfsup.data.distances import scaled_distances
from selfsup.methods.base import Params
from selfsup.methods.ts2vec import TS2Vec
from selfsup.objectives.temporal import hierarchical_contrastive_loss, soft_instance_weights


class SoftCLT(TS2Vec):
    """TS2Vec with soft assignments: series close in data space (DTW by default) are partial positives,
    weight ``2 * alpha * sigmoid(-tau_inst * d)``; timestamps close in time are too,
    ``2 * sigmoid(-tau_temp * |t - t'|)``, sharper at each coarser scale.

    The distances between all training series are computed once, in ``setup`` (min-max scaled
    to [0, 1]); ``distance`` is ``dtw`` (series averaged down to at most ``distance_length``
    timestamps first, with a Sakoe-Chiba ``band``), ``euclidean`` or ``cosine``.
    """

    def __init__(self, encoder: nn.Module, tau_inst: float = 10.0, tau_temp: float = 1.0, alpha: float = 0.5,
                 lambda_: float = 0.5, distance: str = "dtw", distance_length: int = 128, band: float | None = 0.1,
                 temporal_unit: int = 0, average_weights: bool = True) -> None:
        super().__init__(encoder, alpha=lambda_, temporal_unit=temporal_unit, average_weights=average_weights)
        if distance not in ("dtw", "euclidean", "cosine"):
            raise ValueError(f"distance must be dtw, euclidean or cosine, got {distance!r}")
        self.tau_inst, self.tau_temp, self.soft_alpha = tau_inst, tau_temp, alpha
        self.distance, self.distance_length, self.band = distance, distance_length, band
        self.register_buffer("distances", torch.zeros(0, 0), persistent=False)

    def setup(self, num_samples: int, data: Any = None) -> None:
        if data is None:
            raise ValueError("SoftCLT computes distances between the training series: call setup(n, data)")
        x = data.batch(torch.arange(num_samples).numpy())
        self.distances = scaled_distances(x, self.distance, self.distance_length, self.band).to(self.distances.device)

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        if self.distances.numel() == 0:
            raise RuntimeError("SoftCLT needs setup(num_samples, data) before training (the trainer calls it)")
        if not params or "index" not in params[0]:
            raise ValueError("SoftCLT needs each view's params to hold the samples' dataset 'index'")
        z1, z2 = self.timestamp_pairs(views, params)
        idx = params[0]["index"].to(self.distances.device)
        weights = soft_instance_weights(self.distances[idx][:, idx], self.tau_inst, self.soft_alpha)
        loss = hierarchical_contrastive_loss(z1, z2, self.alpha, self.temporal_unit, weights.to(z1.device),
                                             self.tau_temp)
        return {"loss": loss, "embedding": z1.detach().amax(1)}
