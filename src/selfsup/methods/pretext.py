"""The pretext-task contract, a method made of one task, and any method plus weighted pretext tasks.

A pretext task predicts what a transformation did: a head reads the encoder's output on
transformed input and is scored against the transformation (a class, or parameters).
Each task lives in its own file (``rotnet.py``, ``jigsaw.py``, ``relative_position.py``,
``view_params.py``). ``WithPretext`` adds tasks to any method with a weight each: the
pretext-task regularisation of ScatSimCLR [000#3].
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from selfsup.methods.base import Method, Params


class PretextOutput(NamedTuple):
    """A task's loss, its logs (``acc`` or ``r2``), and the encoder's output on the plain first view
    when the task computed it anyway (else None)."""

    loss: Tensor
    logs: dict[str, Tensor]
    embedding: Tensor | None = None


class PretextTask(nn.Module):
    """``forward(encoder, views, params, features) -> PretextOutput``.

    ``features`` are the encoder's outputs on the first two views when another method already
    computed them (``WithPretext`` passes them; tasks with ``reads_view_features`` use them instead
    of encoding again).
    """

    name: str = "pretext"
    reads_view_features: bool = False
    #: the modalities whose views the task can pose its question on
    modalities: tuple[str, ...] = ("image",)

    def forward(self, encoder: nn.Module, views: list[Tensor], params: list[Params] | None,
                features: list[Tensor] | None = None) -> PretextOutput:  # pragma: no cover
        raise NotImplementedError


class PretextMethod(Method):
    """A method that is one pretext task: its loss is the task's; the embedding is the plain first view's."""

    default_views = "mae"  # crop and flip: colour distortion tells nothing about geometry
    modalities = ("image",)
    recommended_trainer = {"optimizer": "sgd", "base_lr": 0.1}  # noqa: RUF012

    def __init__(self, encoder: nn.Module, task: PretextTask) -> None:
        super().__init__(encoder)
        self.task = task

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        out = self.task(self.encoder, views, params)
        embedding = out.embedding
        if embedding is None:
            with torch.no_grad():
                embedding = self.encoder(views[0])
        return {"loss": out.loss, "embedding": embedding.detach(), **{f"{self.task.name}_{k}": v.detach()
                                                                     for k, v in out.logs.items()}}


class WithPretext(Method):
    """Any method plus ``weights[name]`` x each pretext task's loss; logs ``<task>_loss`` and its score.

    Tasks that read the views' own features (view-parameter regression) take them from the
    base method's forward pass through a forward hook on the encoder instead of encoding again.
    """

    def __init__(self, base: Method, tasks: dict[str, PretextTask], weights: dict[str, float]) -> None:
        super().__init__(base.encoder)
        if not tasks:
            raise ValueError("WithPretext needs at least one pretext task")
        bad = {k: w for k, w in weights.items() if not w > 0}
        if bad or set(weights) != set(tasks):
            raise ValueError(f"pretext weights must be > 0 and name each task once, got {weights} for {list(tasks)}")
        self.base, self.tasks, self.weights = base, nn.ModuleDict(tasks), dict(weights)
        self.default_views = base.default_views
        self.recommended_trainer = base.recommended_trainer

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        captured: list[Tensor] = []
        hook = None
        if any(t.reads_view_features for t in self.tasks.values()):
            hook = self.encoder.register_forward_hook(lambda _m, _i, out: captured.append(out))
        try:
            out = dict(self.base(views, params))
        finally:
            if hook is not None:
                hook.remove()
        features = _first_two_views(captured, views)
        loss = out["loss"]
        for name, task in self.tasks.items():
            t = task(self.encoder, views, params, features)
            loss = loss + self.weights[name] * t.loss
            out[f"{name}_loss"] = t.loss.detach()
            out.update({f"{name}_{k}": v.detach() for k, v in t.logs.items()})
        out["loss"] = loss
        return out

    def setup(self, num_samples: int, data: Any = None) -> None:
        self.base.setup(num_samples, data)

    def on_step_end(self, step: int, total_steps: int) -> None:
        self.base.on_step_end(step, total_steps)

    def on_train_end(self) -> None:
        self.base.on_train_end()


def tile_pixels(encoder: nn.Module | None, requested: int | None, image_side: int, grid: int, fraction: float,
                minimum: int = 16) -> int:
    """Side of the tiles patch-based tasks feed the encoder: ``requested``, else the encoder's fixed
    input size (ViTs), else the tile's own size but at least ``minimum`` pixels (a 32-px image
    gives 8-px tiles, too small for three poolings)."""
    if requested:
        return int(requested)
    fixed = getattr(encoder, "image_size", None)
    return int(fixed) if fixed else max(minimum, int(image_side / grid * fraction))


def _first_two_views(captured: list[Tensor], views: list[Tensor]) -> list[Tensor] | None:
    """The encoder outputs of views 0 and 1 among what the base method encoded, or None if it
    encoded something else first (masked tokens, single views)."""
    if len(views) < 2 or not captured or views[1].shape != views[0].shape:
        return None
    b, rows = views[0].shape[0], []
    for y in captured:
        if not isinstance(y, Tensor) or y.ndim != 2:
            return None
        rows.append(y)
        if sum(len(r) for r in rows) >= 2 * b:
            break
    z = torch.cat(rows) if len(rows) > 1 else rows[0]
    return [z[:b], z[b:2 * b]] if len(z) >= 2 * b else None
