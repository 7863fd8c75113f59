"""RotNet — Gidaris et al. 2018, "Unsupervised Representation Learning by Predicting Image Rotations".

The task rotates each image by k quarter turns and a head on the encoder's output names k.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import Params
from selfsup.methods.pretext import PretextMethod, PretextOutput, PretextTask
from selfsup.objectives import PretextClassificationLoss
from selfsup.views.image import rotate90


class RotationTask(PretextTask):
    """Predict how many quarter turns an image was rotated by (4-way classification).

    ``all_rotations``: every image in all four rotations (RotNet); otherwise one random turn
    per image (cheaper, as an auxiliary loss). Reads the first view.
    """

    name = "rotation"
    n_classes = 4

    def __init__(self, in_dim: int, hidden_dim: int = 512, all_rotations: bool = False) -> None:
        super().__init__()
        self.head = MLPHead(in_dim, hidden_dim, self.n_classes)
        self.criterion = PretextClassificationLoss()
        self.all_rotations = all_rotations

    def forward(self, encoder: nn.Module, views: list[Tensor], params: list[Params] | None = None,
                features: list[Tensor] | None = None) -> PretextOutput:
        x = views[0]
        b = x.shape[0]
        if self.all_rotations:
            k = torch.arange(4, device=x.device).repeat_interleave(b)
            x = x.repeat(4, 1, 1, 1)
        else:  # the trainer seeds the global generator per step, so the draw repeats on resume
            k = torch.randint(0, 4, (b,), device=x.device)
        h = encoder(rotate90(x, k))
        loss, logs = self.criterion(self.head(h), k)
        return PretextOutput(loss, logs, h[:b] if self.all_rotations else None)  # the k=0 copies: the plain view


class RotNet(PretextMethod):
    """Every image in all four rotations; the encoder learns to tell which (cross-entropy over 4 classes)."""

    def __init__(self, encoder: nn.Module, head_hidden_dim: int = 512) -> None:
        super().__init__(encoder, RotationTask(encoder.out_dim, head_hidden_dim, all_rotations=True))
