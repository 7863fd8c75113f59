"""The view contract shared by every modality: batched ops that return the parameters they drew.

A ``ViewOp`` transforms a whole batch on the batch's device, draws per-sample parameters
from the ``torch.Generator`` it is given (so a seeded run replays its views exactly) and
returns them beside the result, for pretext heads, equivariance measures and reward tasks.
``ViewPipeline`` chains ops into one view; ``MultiView`` makes several views of a batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

Params = dict[str, Tensor]


def uniform(n: int, low: float, high: float, g: torch.Generator, device: torch.device) -> Tensor:
    """``n`` draws from U(low, high)."""
    return low + (high - low) * torch.rand(n, generator=g, device=device)


def coin(n: int, p: float, g: torch.Generator, device: torch.device) -> Tensor:
    """``n`` Bernoulli(p) draws as a bool tensor (no draw at all when p is 0 or 1)."""
    if p >= 1.0:
        return torch.ones(n, dtype=torch.bool, device=device)
    if p <= 0.0:
        return torch.zeros(n, dtype=torch.bool, device=device)
    return torch.rand(n, generator=g, device=device) < p


class ViewOp(nn.Module):
    """One batched transformation: ``forward(x, g) -> (x, params)``."""

    name: str = "op"

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:  # pragma: no cover
        raise NotImplementedError


class Preprocessed(ViewOp):
    """An encoder's inference preprocessing as the first op of a view, for modalities whose augmentations
    work on preprocessed values (standardised series and table columns) when fine-tuning."""

    name = "preprocess"

    def __init__(self, preprocess: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.preprocess = preprocess

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        return self.preprocess(x), {}


class ViewPipeline(nn.Module):
    """A sequence of ops applied to a whole batch; returns the view and all ops' params."""

    def __init__(self, ops: Sequence[ViewOp]) -> None:
        super().__init__()
        self.ops = nn.ModuleList(ops)

    def forward(self, x: Tensor, g: torch.Generator) -> tuple[Tensor, Params]:
        params: Params = {}
        for op in self.ops:
            x, p = op(x, g)
            params.update(p)
        return x, params


class MultiView(nn.Module):
    """Produce several views of one batch, one pipeline per view (cycled if fewer)."""

    def __init__(self, pipelines: ViewPipeline | Sequence[ViewPipeline], n_views: int = 2) -> None:
        super().__init__()
        pipes = [pipelines] if isinstance(pipelines, ViewPipeline) else list(pipelines)
        if n_views < 1 or not pipes:
            raise ValueError("MultiView needs at least one pipeline and n_views >= 1")
        self.pipelines = nn.ModuleList(pipes)
        self.n_views = n_views

    def forward(self, x: Tensor, g: torch.Generator) -> list[tuple[Tensor, Params]]:
        return [self.pipelines[i % len(self.pipelines)](x, g) for i in range(self.n_views)]
