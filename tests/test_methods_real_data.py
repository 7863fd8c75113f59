"""Each method lifts kNN accuracy clearly above a random-init encoder on real data (CIFAR-10 JPEG subset).

About 40 s of CPU training per method: 10,000 training images, 4 epochs, batch 256, the small CNN.
"""

import sys
from pathlib import Path

import pytest
import torch

import selfsup
from selfsup.api import PretrainedEncoder, build_encoder
from selfsup.evaluate import knn_accuracy
from selfsup.views import Preprocess

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.fixture(scope="module")
def cifar_subset(shared_data):
    from common import load_cifar10_jpeg

    path = shared_data / "cifar10_jpeg" / "cifar10_jpeg.npz"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return load_cifar10_jpeg(10_000, 2_000, path)


@pytest.fixture(scope="module")
def random_init_knn(cifar_subset):
    xtr, ytr, xte, yte = cifar_subset
    torch.manual_seed(0)
    module, name, kw = build_encoder("small_cnn", 32)
    enc = PretrainedEncoder(module, name, kw, Preprocess(32))
    return knn_accuracy(enc.embed(xtr), ytr, enc.embed(xte), yte)


HEADS = {"simclr": {"proj_hidden_dim": 512},
         "byol": {"proj_hidden_dim": 1024, "pred_hidden_dim": 1024},
         "barlow_twins": {"proj_hidden_dim": 1024, "proj_dim": 1024}}


@pytest.mark.parametrize("method", list(HEADS))
def test_method_beats_random_init_on_cifar10(method, cifar_subset, random_init_knn):
    xtr, ytr, xte, yte = cifar_subset
    enc = selfsup.pretrain(xtr, method, "small_cnn", method_kwargs=HEADS[method], epochs=4, batch_size=256,
                           progress=False, seed=0)
    acc = knn_accuracy(enc.embed(xtr), ytr, enc.embed(xte), yte)
    print(f"{method}: kNN {acc:.3f} vs random init {random_init_knn:.3f}")
    assert acc > random_init_knn + 0.03, f"{method} kNN {acc:.3f} vs random-init {random_init_knn:.3f}"
