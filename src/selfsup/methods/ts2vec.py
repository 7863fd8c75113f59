"""TS2Vec — Yue et al. 2022, "TS2Vec: Towards Universal Representation of Time Series"."""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.methods.base import Method, Params, WeightAverage
from selfsup.objectives.temporal import hierarchical_contrastive_loss


def overlap(z: Tensor, p: Params) -> Tensor:
    """The timestamps a view shares with its partner: ``z[:, start : start + length]``."""
    start, length = int(p["overlap_start"][0]), int(p["overlap_length"][0])
    return z[:, start:start + length]


def encode_crops(encoder: nn.Module, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Per-timestamp representations of two crops of different lengths in one encoder pass when the encoder
    takes a ``valid`` mask (the shorter crop padded, with results equal to two passes), else in two."""
    if "valid" not in inspect.signature(encoder.forward_timestamps).parameters:
        return encoder.forward_timestamps(a), encoder.forward_timestamps(b)
    la, lb = a.shape[-1], b.shape[-1]
    length = max(la, lb)
    x = torch.cat([F.pad(a, (0, length - la), value=float("nan")), F.pad(b, (0, length - lb), value=float("nan"))])
    valid = torch.arange(length, device=a.device).unsqueeze(0) < torch.tensor(
        [la] * len(a) + [lb] * len(b), device=a.device).unsqueeze(1)
    z = encoder.forward_timestamps(x, valid)
    return z[: len(a), :la], z[len(a):, :lb]


class TS2Vec(Method):
    """r_i = f(crop_i) per timestamp (masked timestamps read as missing); on the shared timestamps,
    contrast instances and timestamps at every time scale (max-pool by 2 until one step is left).

    No projection head: the loss reads the encoder's per-timestamp output. As in the paper's
    code, the exported encoder holds the average of the weights over all steps.
    """

    default_views = "ts2vec"
    default_encoder = "ts_conv"
    modalities = ("series",)
    # the paper's code: torch's AdamW defaults (betas 0.9/0.999, decay 0.01) at a constant lr 1e-3, batch 8
    recommended_trainer = {"optimizer": "adamw", "lr": 1e-3, "final_lr": 1e-3, "warmup_epochs": 0.0,  # noqa: RUF012
                           "weight_decay": 0.01, "betas": (0.9, 0.999), "batch_size": 8}

    def __init__(self, encoder: nn.Module, alpha: float = 0.5, temporal_unit: int = 0,
                 average_weights: bool = True) -> None:
        super().__init__(encoder)
        if not hasattr(encoder, "forward_timestamps"):
            raise ValueError("TS2Vec needs per-timestamp representations: use a series encoder (ts_conv, "
                             "patch_tst, pits) or give yours a forward_timestamps(x) -> (B, T, D) method")
        self.alpha, self.temporal_unit = alpha, temporal_unit
        self.average = WeightAverage(encoder) if average_weights else None
        if self.average is not None:
            self.average.update(encoder)  # the average starts from the initial weights, as TS2Vec's

    def timestamp_pairs(self, views: list[Tensor], params: list[Params] | None) -> tuple[Tensor, Tensor]:
        if not params or "overlap_start" not in params[0]:
            raise ValueError(f"{type(self).__name__} needs overlapping crops: use the ts2vec view preset")
        z1, z2 = encode_crops(self.encoder, views[0], views[1])
        return overlap(z1, params[0]), overlap(z2, params[1])

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        z1, z2 = self.timestamp_pairs(views, params)
        loss = hierarchical_contrastive_loss(z1, z2, self.alpha, self.temporal_unit)
        return {"loss": loss, "embedding": z1.detach().amax(1)}

    def on_step_end(self, step: int, total_steps: int) -> None:
        if self.average is not None:
            self.average.update(self.encoder)

    def on_train_end(self) -> None:
        if self.average is not None:
            self.average.copy_to(self.encoder)
