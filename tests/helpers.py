"""Small shared pieces for the tests: a tiny dataset and a tiny training call."""

from __future__ import annotations

import numpy as np

from selfsup.data import ImageDataset


def tiny_images(n: int = 64, size: int = 16, seed: int = 0) -> ImageDataset:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
    return ImageDataset.from_arrays(x, rng.integers(0, 4, n))


TINY_ENCODER = {"widths": (8, 16)}
TINY_SIMCLR = {"proj_hidden_dim": 32, "proj_dim": 16}
