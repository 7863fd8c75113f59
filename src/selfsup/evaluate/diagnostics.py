"""Representation diagnostics: effective rank, alignment, uniformity, spread, and a collapse alarm."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from selfsup.train.trainer import Callback, TrainState


def _t(x: np.ndarray | Tensor) -> Tensor:
    return x.detach().float().cpu() if isinstance(x, Tensor) else torch.as_tensor(np.asarray(x), dtype=torch.float32)


def rankme(z: np.ndarray | Tensor, eps: float = 1e-7) -> float:
    """Effective rank (Garrido et al. 2023): exp of the entropy of the normalised singular values."""
    s = torch.linalg.svdvals(_t(z))
    p = s / (s.sum() + eps) + eps
    return float(torch.exp(-(p * p.log()).sum()))


def alignment(z1: np.ndarray | Tensor, z2: np.ndarray | Tensor, alpha: float = 2.0) -> float:
    """Mean ``||f(x) - f(y)||^alpha`` over positive pairs of normalised embeddings (Wang & Isola 2020)."""
    a, b = F.normalize(_t(z1), dim=1), F.normalize(_t(z2), dim=1)
    return float((a - b).norm(dim=1).pow(alpha).mean())


def uniformity(z: np.ndarray | Tensor, t: float = 2.0) -> float:
    """``log E exp(-t ||f(x) - f(y)||^2)`` over distinct pairs of normalised embeddings (Wang & Isola 2020)."""
    x = F.normalize(_t(z), dim=1)
    d2 = torch.pdist(x).pow(2)
    return float(torch.logsumexp(-t * d2, 0) - math.log(len(d2)))


def embedding_std(z: np.ndarray | Tensor) -> float:
    """Mean per-dimension std of normalised embeddings; about 1/sqrt(D) when spread out, 0 when collapsed."""
    return float(F.normalize(_t(z), dim=1).std(0).mean())


def diagnose(z: np.ndarray | Tensor) -> dict[str, Any]:
    """RankMe, uniformity and spread of a batch of embeddings, with the reference values to read them by."""
    x = _t(z)
    n, d = x.shape
    return {"rankme": rankme(x), "max_rank": min(n, d), "uniformity": uniformity(x) if n > 1 else float("nan"),
            "embedding_std": embedding_std(x), "std_if_spread": 1 / math.sqrt(d)}


class CollapseMonitor(Callback):
    """Warns, with the numbers, when the encoder's embeddings collapse during training.

    Complete collapse: the normalised embeddings' per-dimension std falls below
    ``complete_ratio / sqrt(D)``. Dimensional collapse: RankMe falls below
    ``dimensional_ratio * min(B, D)``, or below 2 at any size (5 %: masked-modelling ViTs and
    Barlow Twins sit at 8-10 % early in healthy CIFAR-10 runs, seen in the slow real-data
    tests). Reads ``embedding`` from the step outputs every ``every`` steps; the history of
    checks is kept in ``self.history`` and RankMe and the std are logged to ``metrics.csv``
    (``rankme``, ``embedding_std``).
    """

    def __init__(self, every: int = 50, complete_ratio: float = 0.1, dimensional_ratio: float = 0.05) -> None:
        self.every, self.complete_ratio, self.dimensional_ratio = every, complete_ratio, dimensional_ratio
        self.history: list[dict[str, Any]] = []
        self.alarms: list[str] = []

    def on_step_end(self, state: TrainState) -> None:
        z = state.outputs.get("embedding")
        if z is None or state.step % self.every:
            return
        d = diagnose(z)
        d["step"] = state.step
        self.history.append(d)
        state.outputs["rankme"], state.outputs["embedding_std"] = d["rankme"], d["embedding_std"]
        problems = []
        if d["embedding_std"] < self.complete_ratio * d["std_if_spread"]:
            problems.append(f"complete collapse: embedding std {d['embedding_std']:.2e} vs {d['std_if_spread']:.2e} "
                            "when spread out")
        if d["rankme"] < max(2.0, self.dimensional_ratio * d["max_rank"]):  # under 2 directions is always collapse
            problems.append(f"dimensional collapse: effective rank {d['rankme']:.1f} of at most {d['max_rank']}")
        if problems:
            msg = f"step {state.step}: " + "; ".join(problems) + (". Lower the learning rate, check the views are "
                                                                "not too weak, or add a projector/predictor.")
            self.alarms.append(msg)
            warnings.warn(f"selfsup collapse alarm at {msg}", RuntimeWarning, stacklevel=2)
