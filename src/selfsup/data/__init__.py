"""Data sources: each modality's files become samples in one canonical tensor form."""

from __future__ import annotations

from importlib import resources

import numpy as np

from selfsup.data.errors import DataError
from selfsup.data.images import ImageDataset, default_cache_dir, load_images


def demo_dataset(split: str = "train") -> ImageDataset:
    """The built-in demo data: a class-balanced Fashion-MNIST sample (8,000 train / 2,000 test, MIT licence)."""
    if split not in ("train", "test"):
        raise DataError(f"demo split must be 'train' or 'test', got {split!r}")
    with resources.files("selfsup.data").joinpath("builtin/fashion_mnist_sample.npz").open("rb") as f:
        d = np.load(f)
        x, y = d[f"x_{split}"], d[f"y_{split}"]
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    return ImageDataset.from_arrays(x, y, f"fashion-mnist sample ({split})", names)


__all__ = ["DataError", "ImageDataset", "default_cache_dir", "demo_dataset", "load_images"]
