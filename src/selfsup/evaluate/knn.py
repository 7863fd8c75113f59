"""Weighted k-nearest-neighbour classification (Wu et al. 2018, InstDisc protocol)."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def knn_predict(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, k: int = 200,
                temperature: float = 0.1, num_classes: int | None = None, chunk: int = 1024) -> np.ndarray:
    """Predict test labels by votes of the ``k`` most cosine-similar training samples.

    Each neighbour votes ``exp(similarity / temperature)`` for its class; ``k`` is
    capped at the training-set size.
    """
    tr = F.normalize(torch.as_tensor(np.asarray(train_x), dtype=torch.float32), dim=1)
    te = F.normalize(torch.as_tensor(np.asarray(test_x), dtype=torch.float32), dim=1)
    y = torch.as_tensor(np.asarray(train_y), dtype=torch.long)
    c = int(num_classes if num_classes is not None else int(y.max()) + 1)
    k = min(k, len(tr))
    preds = []
    for s in range(0, len(te), chunk):
        sim = te[s:s + chunk] @ tr.T
        top, idx = sim.topk(k, dim=1)
        votes = torch.zeros(len(top), c).scatter_add_(1, y[idx], (top / temperature).exp())
        preds.append(votes.argmax(1))
    return torch.cat(preds).numpy()


def knn_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 k: int = 200, temperature: float = 0.1) -> float:
    c = int(max(np.max(train_y), np.max(test_y))) + 1
    return float((knn_predict(train_x, train_y, test_x, k, temperature, c) == np.asarray(test_y)).mean())
