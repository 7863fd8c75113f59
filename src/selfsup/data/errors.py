"""Errors raised for bad input, each naming the file, row or key and the fix; and the shared path syntax."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np


class DataError(ValueError):
    """Input data that cannot be used as given; the message names the input and the fix."""


def renumber_labels(labels: np.ndarray, names: Sequence[str], new_names: Sequence[str], origin: str,
                    what: str = "samples") -> np.ndarray:
    """``labels`` (ids into ``names``, -1 unknown) as ids into ``new_names`` (a training set's classes), so a
    test set whose classes are a subset or in another order is scored against the right ids."""
    index = {n: i for i, n in enumerate(new_names)}
    unknown = sorted({names[y] for y in labels if y >= 0} - set(index))
    if unknown:
        raise DataError(f"{origin}: class(es) {', '.join(unknown[:5])} do not occur in the training data "
                        f"(classes {', '.join(list(new_names)[:10])}); fix the labels or drop those {what}")
    return np.array([index[names[v]] if v >= 0 else -1 for v in labels], dtype=np.int64)


def split_path(path: str | os.PathLike, split: str) -> tuple[Path, str]:
    """``data.npz:test`` -> (data.npz, "test"): a ``:split`` suffix picks the split when the full string is
    not itself an existing path. Otherwise the path and ``split`` unchanged."""
    p = Path(path).expanduser()
    base, colon, suffix = str(path).rpartition(":")
    if not p.exists() and colon and suffix and "/" not in suffix and Path(base).expanduser().exists():
        return Path(base).expanduser(), suffix
    return p, split
