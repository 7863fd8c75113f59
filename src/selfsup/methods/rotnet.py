"""RotNet — Gidaris et al. 2018, "Unsupervised Representation Learning by Predicting Image Rotations";
and rotation prediction as an auxiliary loss for any method (ScatSimCLR's pretext regularisation, [000#3])."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from selfsup.heads import MLPHead
from selfsup.methods.base import Method, Params
from selfsup.objectives import PretextClassificationLoss
from selfsup.views.image import rotate90


class RotationTask(nn.Module):
    """Predict how many quarter turns an image was rotated by: a head on the encoder's output."""

    n_classes = 4

    def __init__(self, in_dim: int, hidden_dim: int = 512) -> None:
        super().__init__()
        self.head = MLPHead(in_dim, hidden_dim, self.n_classes)
        self.criterion = PretextClassificationLoss()

    def forward(self, encoder: nn.Module, x: Tensor, all_rotations: bool = False) -> tuple[Tensor, dict, Tensor]:
        """Rotate ``x`` (each image all four ways, or one random way), encode, classify the rotation.

        Returns the loss, logs and the encoder's output on the rotated batch.
        """
        b = x.shape[0]
        if all_rotations:
            k = torch.arange(4, device=x.device).repeat_interleave(b)
            x = x.repeat(4, 1, 1, 1)
        else:  # the trainer seeds the global generator per step, so the draw repeats on resume
            k = torch.randint(0, 4, (b,), device=x.device)
        h = encoder(rotate90(x, k))
        loss, logs = self.criterion(self.head(h), k)
        return loss, logs, h


class RotNet(Method):
    """Every image in all four rotations; the encoder learns to tell which (cross-entropy over 4 classes)."""

    default_views = "mae"  # crop and flip only: colour distortion gives nothing away about rotation
    recommended_trainer = {"optimizer": "sgd", "base_lr": 0.1}  # noqa: RUF012

    def __init__(self, encoder: nn.Module, head_hidden_dim: int = 512) -> None:
        super().__init__(encoder)
        self.task = RotationTask(encoder.out_dim, head_hidden_dim)

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        loss, logs, h = self.task(self.encoder, views[0], all_rotations=True)
        return {"loss": loss, "embedding": h[:views[0].shape[0]].detach(),  # the unrotated copies
                "rotation_acc": logs["accuracy"]}


class WithRotationPretext(Method):
    """Any method plus ``weight`` x rotation prediction on its first view (one random quarter turn each)."""

    def __init__(self, base: Method, weight: float = 0.5, head_hidden_dim: int = 512) -> None:
        super().__init__(base.encoder)
        if weight <= 0:
            raise ValueError(f"pretext_weight must be > 0, got {weight}")
        self.base, self.weight = base, weight
        self.task = RotationTask(base.encoder.out_dim, head_hidden_dim)
        self.default_views = base.default_views
        self.recommended_trainer = base.recommended_trainer

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        out = dict(self.base(views, params))
        pretext, logs, _ = self.task(self.encoder, views[0])
        out["loss"] = out["loss"] + self.weight * pretext
        out["rotation_loss"], out["rotation_acc"] = pretext.detach(), logs["accuracy"]
        return out

    def setup(self, num_samples: int) -> None:
        self.base.setup(num_samples)

    def on_step_end(self, step: int, total_steps: int) -> None:
        self.base.on_step_end(step, total_steps)
