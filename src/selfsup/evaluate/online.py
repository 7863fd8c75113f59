"""Online probes: evaluation that runs during pretraining as callbacks, without changing the loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.data.errors import DataError
from selfsup.evaluate.embed import embed_source
from selfsup.evaluate.knn import knn_accuracy
from selfsup.train.trainer import Callback, Source, TrainState


class OnlineLinearProbe(Callback):
    """A linear classifier trained on the detached embeddings of each step (labels looked up by index).

    Adds ``online_probe_acc`` (accuracy on the step's batch before the update) and
    ``online_probe_loss`` to the step's logs, so they land in ``metrics.csv``. Samples
    labelled -1 are left out. The probe never sends gradients into the encoder.
    """

    def __init__(self, labels: np.ndarray, lr: float = 1e-3) -> None:
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        self.num_classes = int(self.labels.max()) + 1
        self.lr = lr
        self.head: nn.Linear | None = None
        self.optimizer: torch.optim.Optimizer | None = None

    def on_step_end(self, state: TrainState) -> None:
        z = state.outputs.get("embedding")
        if z is None or state.indices is None:
            return
        y = self.labels[torch.as_tensor(state.indices)].to(z.device)
        keep = y >= 0
        if not keep.any():
            return
        z, y = z.detach().float()[keep], y[keep]
        if self.head is None:
            self.head = nn.Linear(z.shape[1], self.num_classes).to(z.device)
            self.optimizer = torch.optim.AdamW(self.head.parameters(), lr=self.lr, weight_decay=1e-4)
        with torch.enable_grad(), torch.autocast(z.device.type, enabled=False):
            logits = self.head(z)
            loss = F.cross_entropy(logits, y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        state.outputs["online_probe_acc"] = (logits.argmax(1) == y).float().mean().detach()
        state.outputs["online_probe_loss"] = loss.detach()


class PeriodicKNN(Callback):
    """Every ``every`` steps (and at the last), embed a labelled bank and test set with the encoder
    being trained and log weighted-kNN accuracy as ``knn_acc`` (InstDisc protocol).

    Works for any modality: ``bank`` and ``test`` are sources with ``batch(indices)`` and
    ``preprocess`` turns a raw batch into the encoder's input. The bank is capped at
    ``max_bank`` samples (a fixed random draw) to bound the cost; evaluation runs in eval
    mode without gradients and restores training mode, so the loop is unchanged.
    """

    def __init__(self, bank: Source, bank_labels: np.ndarray, test: Source, test_labels: np.ndarray,
                 preprocess: Callable[[Tensor], Tensor] | None = None, every: int = 500, k: int = 200,
                 temperature: float = 0.1, max_bank: int = 10_000, max_test: int = 5_000, seed: int = 0) -> None:
        if every < 1:
            raise ValueError(f"PeriodicKNN: every must be >= 1 step, got {every}")
        bank_labels, test_labels = np.asarray(bank_labels), np.asarray(test_labels)
        if len(bank_labels) != len(bank) or len(test_labels) != len(test):
            raise DataError(f"PeriodicKNN: {len(bank)} bank samples with {len(bank_labels)} labels, "
                            f"{len(test)} test samples with {len(test_labels)} labels; pass one label per sample")
        rng = np.random.default_rng(seed)
        labelled = np.flatnonzero(bank_labels >= 0)
        if len(np.unique(bank_labels[labelled])) < 2:
            raise DataError("PeriodicKNN: the bank's labels hold fewer than two classes; kNN accuracy needs two")
        self.bank_idx = np.sort(rng.choice(labelled, size=min(max_bank, len(labelled)), replace=False))
        self.test_idx = np.sort(rng.choice(len(test), size=min(max_test, len(test)), replace=False))
        self.bank, self.test, self.preprocess = bank, test, preprocess
        self.bank_y, self.test_y = bank_labels[self.bank_idx], test_labels[self.test_idx]
        self.every, self.k, self.temperature = every, k, temperature
        self.history: list[tuple[int, float]] = []

    def on_step_end(self, state: TrainState) -> None:
        if state.step % self.every and state.step != state.total_steps:
            return
        if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
            return
        encoder = state.method.encoder
        zb = embed_source(encoder, self.bank, self.preprocess, indices=self.bank_idx)
        zt = embed_source(encoder, self.test, self.preprocess, indices=self.test_idx)
        acc = knn_accuracy(zb, self.bank_y, zt, self.test_y, self.k, self.temperature)
        self.history.append((state.step, acc))
        state.outputs["knn_acc"] = acc


@dataclass
class MonitorConfig:
    """What to watch during pretraining; maps 1:1 to the ``monitor:`` section of a config.

    ``online_probe``: a linear probe on detached embeddings (None: on when the training data
    has labels). ``knn_every``: steps between kNN evaluations on ``knn_test`` (a path or data;
    0: off), with
    up to ``knn_bank`` labelled training samples as the bank. ``collapse_every``: steps
    between collapse checks (0: off).
    """

    online_probe: bool | None = None
    knn_every: int = 0
    knn_test: Any = None
    knn_bank: int = 10_000
    collapse_every: int = 50


def build_monitors(cfg: MonitorConfig, train: Source, train_labels: np.ndarray | None,
                   test: Source | None = None, test_labels: np.ndarray | None = None,
                   preprocess: Callable[[Tensor], Tensor] | None = None) -> list[Callback]:
    """The callbacks ``cfg`` asks for, over any modality's sources."""
    from selfsup.evaluate.diagnostics import CollapseMonitor

    labelled = train_labels is not None and len(train_labels) > 0 and bool((np.asarray(train_labels) >= 0).any())
    out: list[Callback] = []
    if cfg.online_probe or (cfg.online_probe is None and labelled):
        if not labelled:
            raise DataError("monitor.online_probe=true needs labelled training data (class sub-folders or an "
                            "array file with labels)")
        out.append(OnlineLinearProbe(train_labels))
    if cfg.knn_every:
        if test is None or test_labels is None:
            raise DataError("monitor.knn_every needs monitor.knn_test: labelled data to measure kNN accuracy on")
        if not labelled:
            raise DataError("monitor.knn_every needs labelled training data for the kNN bank")
        out.append(PeriodicKNN(train, train_labels, test, test_labels, preprocess, every=cfg.knn_every,
                               max_bank=cfg.knn_bank))
    if cfg.collapse_every:
        out.append(CollapseMonitor(every=cfg.collapse_every))
    return out
