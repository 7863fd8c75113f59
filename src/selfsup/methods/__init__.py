"""Methods: named recipes that compose an encoder, heads and an objective."""

from __future__ import annotations

from typing import Any

from torch import nn

from selfsup.methods.barlow_twins import BarlowTwins
from selfsup.methods.base import EMATeacher, Method
from selfsup.methods.byol import BYOL
from selfsup.methods.simclr import SimCLR

METHODS: dict[str, type[Method]] = {"simclr": SimCLR, "byol": BYOL, "barlow_twins": BarlowTwins}


def create_method(name: str, encoder: nn.Module, **kwargs: Any) -> Method:
    """Build a method by registry name around ``encoder``."""
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name](encoder, **kwargs)


__all__ = ["BYOL", "METHODS", "BarlowTwins", "EMATeacher", "Method", "SimCLR", "create_method"]
