"""DINO — Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers"."""

from __future__ import annotations

import functools

import torch
from torch import Tensor, nn

from selfsup.heads import DINOHead
from selfsup.methods.base import EMATeacher, Method, Params, cross_view_pairs, encode_views, num_global
from selfsup.objectives import DINOLoss


class DINO(Method):
    """A student (encoder + DINO head) matches the softmax of an EMA teacher on the global views.

    The teacher's outputs are centred and sharpened; its temperature warms up linearly from
    ``warmup_teacher_temperature`` to ``teacher_temperature`` over the first
    ``warmup_fraction`` of training. Local views (multi-crop) are seen by the student only.
    The last layer is frozen for ``freeze_last_layer_steps`` steps, as in the paper.
    """

    default_views = "byol"

    def __init__(self, encoder: nn.Module, head_hidden_dim: int = 2048, bottleneck_dim: int = 256,
                 out_dim: int = 4096, student_temperature: float = 0.1, teacher_temperature: float = 0.07,
                 warmup_teacher_temperature: float = 0.04, warmup_fraction: float = 0.3,
                 base_momentum: float = 0.996, center_momentum: float = 0.9, freeze_last_layer_steps: int = 0) -> None:
        super().__init__(encoder)
        self.head = DINOHead(encoder.out_dim, out_dim, head_hidden_dim, bottleneck_dim)
        self.student = nn.Sequential(self.encoder, self.head)
        self.teacher = EMATeacher(self.student, base=base_momentum)
        self.criterion = DINOLoss(out_dim, student_temperature, center_momentum)
        self.temperatures = (warmup_teacher_temperature, teacher_temperature, warmup_fraction)
        self.freeze_last_layer_steps = freeze_last_layer_steps
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.register_buffer("progress", torch.zeros(()))

    def teacher_temperature(self) -> float:
        start, end, warmup = self.temperatures
        if warmup <= 0:
            return end
        return start + (end - start) * min(1.0, float(self.progress) / warmup)

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        h = encode_views(self.encoder, views)
        head = functools.partial(self.head, freeze_last=int(self.step) < self.freeze_last_layer_steps)
        student = encode_views(head, h)
        teacher = encode_views(self.teacher, views[: num_global(views)])
        temperature = self.teacher_temperature()
        loss, logs = self.criterion(student, teacher, cross_view_pairs(views), temperature)
        return {"loss": loss, "embedding": h[0].detach(), "teacher_temperature": torch.tensor(temperature), **logs}

    def on_step_end(self, step: int, total_steps: int) -> None:
        self.teacher.update(self.student, step, total_steps)
        self.step.fill_(step)
        self.progress.fill_(step / max(1, total_steps))
