"""Gathering across processes with gradients that flow back to every contributor."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

F = TypeVar("F", bound=Callable)


def fp32(x: Tensor) -> Tensor:
    """Losses run in at least float32: half/bfloat16 inputs are upcast, float64 is kept."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def full_precision(forward: F) -> F:
    """Decorate a loss's ``forward`` so autocast cannot lower its matrix products to bfloat16.

    Under ``torch.autocast`` a float32 matmul still runs in bfloat16; similarities divided by
    a small temperature and correlation matrices lose too many bits that way.
    """

    @functools.wraps(forward)
    def wrapper(self, *args, **kwargs):
        tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
        device = tensors[0].device.type if tensors else "cpu"
        with torch.autocast(device, enabled=False):
            return forward(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class _AllGather(torch.autograd.Function):
    """all_gather whose backward sums every process's gradient for this process's slice.

    Each process computes its loss on its own anchors against the gathered batch; after
    DDP averages parameter gradients over processes, the result equals the gradient of
    the single-process loss on the concatenated batch (tested in tests/test_distributed.py).
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(out, x.contiguous())
        return torch.cat(out, 0)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad.chunk(dist.get_world_size(), 0)[dist.get_rank()]


def gather(x: Tensor) -> Tensor:
    """Concatenate ``x`` from every process along dim 0 (identity outside torch.distributed).

    Every process must pass the same batch size (the trainer drops the last partial batch).
    """
    return _AllGather.apply(x) if world_size() > 1 else x


def all_reduce_mean(x: Tensor) -> Tensor:
    """Average ``x`` over processes in place (no-op outside torch.distributed); for statistics, not gradients."""
    if world_size() > 1:
        dist.all_reduce(x)
        x /= world_size()
    return x
