"""The method contract: a module that turns a list of views into a loss."""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.objectives import gather
from selfsup.views.image import Params


class Method(nn.Module):
    """A recipe: ``forward(views, params) -> {"loss": scalar, "embedding": detached (B, out_dim), ...logs}``.

    ``views`` are already-augmented tensors, one per view; ``params`` the matching dicts
    of what each view's transformations did (pretext heads read them). ``embedding`` is the encoder's
    output on the first view, read by online probes and collapse monitors. Methods with a
    teacher update it in ``on_step_end``. ``default_views`` names the view preset the
    paper used and ``recommended_trainer`` its optimiser.
    """

    #: the view preset the paper used; on a modality without that preset, the modality's default preset
    default_views: str = "simclr"
    #: the encoder ``pretrain`` builds when the user names none (same fallback per modality)
    default_encoder: str = "small_cnn"
    #: the modalities the method can train on; None: any (it needs only ``encoder(x) -> (B, D)``)
    modalities: tuple[str, ...] | None = None
    #: trainer settings the paper used, applied by ``pretrain`` when the user picks no optimizer
    recommended_trainer: dict = {}  # noqa: RUF012 - read-only class constant
    #: preprocessing the paper used, passed to the modality's ``preprocess`` (e.g. graph ``feature_norm``)
    recommended_preprocess: dict = {}  # noqa: RUF012 - read-only class constant

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        if not hasattr(encoder, "out_dim"):
            raise ValueError("the encoder needs an `out_dim` attribute; wrap it with selfsup.encoders.wrap_module")
        self.encoder = encoder

    def forward(self, views: list[Tensor], params: list[Params] | None = None) -> dict[str, Tensor]:
        raise NotImplementedError

    def setup(self, num_samples: int, data: Any = None) -> None:
        """Called by the trainer before training or resuming, with the dataset size and the source.

        Methods that keep per-sample state (iSogCLR's temperatures) allocate it here; methods
        that read the training data once (SoftCLT's series distances) read ``data.batch``.
        """

    def on_step_end(self, step: int, total_steps: int) -> None:
        """Called after each optimiser step (EMA updates, queues, schedules)."""

    def on_train_end(self) -> None:
        """Called once when training finishes (e.g. swap in averaged weights)."""


def encode_views(module: nn.Module, views: list[Tensor]) -> list[Tensor]:
    """Run ``module`` once per run of same-shaped views (their batches concatenated), one output per view.

    Multi-crop views come as 2 global crops followed by smaller local crops: two forward
    passes instead of one per view, and larger matrix products for the CPU.
    """
    outs: list[Tensor] = []
    start = 0
    while start < len(views):
        end = start + 1
        while end < len(views) and views[end].shape == views[start].shape:
            end += 1
        group = views[start:end]
        joined = group[0] if len(group) == 1 else (torch.cat(group) if isinstance(group[0], Tensor)
                                                    else type(group[0]).cat(group))  # e.g. GraphBatch.cat
        y = module(joined)
        outs.extend(y.chunk(len(group)) if len(group) > 1 else [y])
        start = end
    return outs


def mean_over_pairs(loss_fn, pairs: list[tuple[int, int]]) -> tuple[Tensor, dict[str, Tensor]]:
    """Mean of ``loss_fn(student, target)`` over view pairs, with the first pair's logs.

    ``loss_fn`` returns ``(loss, logs)`` like every objective; the pairs come from ``cross_view_pairs``.
    """
    losses = [loss_fn(s, t) for s, t in pairs]
    return sum(loss for loss, _ in losses) / len(losses), losses[0][1]


def num_global(views: list[Tensor]) -> int:
    """How many leading views share the first view's shape: the global crops of a multi-crop set."""
    n = 1
    while n < len(views) and views[n].shape == views[0].shape:
        n += 1
    return n


def cross_view_pairs(views: list[Tensor]) -> list[tuple[int, int]]:
    """``(student, target)`` view indices: every view predicts every other global view.

    Two views give ``[(0, 1), (1, 0)]``, the symmetric loss; with multi-crop, local views
    are students only (Caron et al. 2020).
    """
    g = min(num_global(views), 2) if len(views) > 2 else len(views)
    if len(views) < 2:
        raise ValueError(f"this method needs at least 2 views, got {len(views)}")
    return [(s, t) for t in range(g) for s in range(len(views)) if s != t]


class EMATeacher(nn.Module):
    """A frozen copy of a student updated as ``teacher = m * teacher + (1 - m) * student``.

    ``momentum(step, total)`` is BYOL's cosine schedule from ``base`` to ``final``.
    """

    def __init__(self, student: nn.Module, base: float = 0.99, final: float = 1.0) -> None:
        super().__init__()
        self.module = copy.deepcopy(student)
        self.module.requires_grad_(False)
        self.base, self.final = base, final

    def momentum(self, step: int, total_steps: int) -> float:
        progress = min(1.0, step / max(1, total_steps))
        return self.final - (self.final - self.base) * (math.cos(math.pi * progress) + 1) / 2

    @torch.no_grad()
    def update(self, student: nn.Module, step: int, total_steps: int) -> None:
        m = self.momentum(step, total_steps)
        t_params, s_params = list(self.module.parameters()), list(student.parameters())
        torch._foreach_lerp_(t_params, [p.detach() for p in s_params], 1 - m)
        for tb, sb in zip(self.module.buffers(), student.buffers(), strict=True):
            tb.copy_(sb)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        return self.module(x)


class WeightAverage(nn.Module):
    """The running mean of a module's parameters over every step (stochastic weight averaging,
    Izmailov et al. 2018), which TS2Vec encodes with; ``copy_to`` writes it into the module."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.average = copy.deepcopy(module)
        self.average.requires_grad_(False)
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        self.count += 1
        avg, cur = list(self.average.parameters()), [p.detach() for p in module.parameters()]
        torch._foreach_lerp_(avg, cur, 1.0 / float(self.count))
        for ab, mb in zip(self.average.buffers(), module.buffers(), strict=True):
            ab.copy_(mb)

    @torch.no_grad()
    def copy_to(self, module: nn.Module) -> None:
        if int(self.count):
            module.load_state_dict(self.average.state_dict())


class KeyQueue(nn.Module):
    """A FIFO of past (normalised) keys, saved with the model so a resumed run keeps it."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f"queue_size must be >= 1, got {size}")
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))
        self._pending: Tensor | None = None

    def push_later(self, keys: Tensor) -> None:
        """Remember keys to enqueue after the backward pass (the loss graph still reads the queue)."""
        self._pending = gather(F.normalize(keys.detach().float(), dim=1))

    @torch.no_grad()
    def flush(self) -> None:
        if self._pending is None:
            return
        k, self._pending = self._pending[: len(self.keys)], None
        idx = (self.ptr + torch.arange(len(k), device=k.device)) % len(self.keys)
        self.keys[idx] = k.to(self.keys.dtype)
        self.ptr.copy_((self.ptr + len(k)) % len(self.keys))
        self.seen += len(k)

    @property
    def full(self) -> bool:
        return bool(self.seen >= len(self.keys))
