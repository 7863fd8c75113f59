"""Errors raised for bad input, each naming the file, row or key and the fix; and the shared path syntax."""

from __future__ import annotations

import os
from pathlib import Path


class DataError(ValueError):
    """Input data that cannot be used as given; the message names the input and the fix."""


def split_path(path: str | os.PathLike, split: str) -> tuple[Path, str]:
    """``data.npz:test`` -> (data.npz, "test"): a ``:split`` suffix picks the split when the full string is
    not itself an existing path. Otherwise the path and ``split`` unchanged."""
    p = Path(path).expanduser()
    base, colon, suffix = str(path).rpartition(":")
    if not p.exists() and colon and suffix and "/" not in suffix and Path(base).expanduser().exists():
        return Path(base).expanduser(), suffix
    return p, split
