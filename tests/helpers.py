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


def tiny_method_kwargs(name: str) -> dict:
    """Narrow heads (and short queues) for any registered method, so a step takes milliseconds."""
    import inspect

    from selfsup.methods import METHODS

    sig = inspect.signature(METHODS[name].__init__).parameters
    small = {"proj_hidden_dim": 32, "pred_hidden_dim": 32, "head_hidden_dim": 32, "proj_dim": 16, "queue_size": 32,
             "n_prototypes": 8, "out_dim": 16, "bottleneck_dim": 8, "decoder_dim": 16, "decoder_depth": 1,
             "w_size": 16}
    return {k: v for k, v in small.items() if k in sig}
