"""Online probes: evaluation that runs during pretraining as callbacks, without changing the loop."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from selfsup.train.trainer import Callback, TrainState


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
