"""Build the built-in demo sample: a class-balanced slice of Fashion-MNIST (MIT).

Run once by maintainers: python tools/make_demo_sample.py ../shared/data/fashion_mnist
"""

import gzip
import sys
from pathlib import Path

import numpy as np


def _read(path: Path, offset: int, shape: tuple[int, ...]) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset).reshape(shape)


def _balanced(y: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    idx = [rng.permutation(np.flatnonzero(y == c))[:per_class] for c in np.unique(y)]
    return np.sort(np.concatenate(idx))


def main(root: str) -> None:
    r = Path(root)
    xtr = _read(r / "train-images-idx3-ubyte.gz", 16, (-1, 28, 28))
    ytr = _read(r / "train-labels-idx1-ubyte.gz", 8, (-1,))
    xte = _read(r / "t10k-images-idx3-ubyte.gz", 16, (-1, 28, 28))
    yte = _read(r / "t10k-labels-idx1-ubyte.gz", 8, (-1,))
    rng = np.random.default_rng(0)
    tr, te = _balanced(ytr, 800, rng), _balanced(yte, 200, rng)
    out = Path(__file__).resolve().parents[1] / "src/selfsup/data/builtin/fashion_mnist_sample.npz"
    np.savez_compressed(out, x_train=xtr[tr], y_train=ytr[tr].astype(np.int64),
                        x_test=xte[te], y_test=yte[te].astype(np.int64))
    print(out, out.stat().st_size / 1e6, "MB")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/fashion_mnist")
