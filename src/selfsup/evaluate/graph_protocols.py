"""The two graph-SSL evaluation protocols, on frozen embeddings.

Node classification (DGI, GRACE, BGRL, GraphMAE on Planetoid): logistic regression on the
public split's training nodes, its inverse regularisation C chosen on the validation nodes,
accuracy on the test nodes. Graph classification (InfoGraph, GraphCL on TU sets): an SVM in
10-fold stratified cross-validation, C chosen by an inner cross-validation on each training
fold; mean and standard deviation over folds.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

#: the C grid GRACE and BGRL search for the node probe (2^-10 .. 2^10)
NODE_C_GRID = tuple(2.0 ** k for k in range(-10, 11, 2))
#: the C grid of InfoGraph / GraphCL's SVM
GRAPH_C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


def _unit_rows(z: np.ndarray) -> np.ndarray:
    return z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)


def node_classification(z: np.ndarray, y: np.ndarray, masks: dict[str, np.ndarray],
                        c_grid: tuple[float, ...] = NODE_C_GRID) -> dict[str, Any]:
    """Test accuracy of an L2-normalised logistic probe, C picked on ``masks["val"]`` (ties: smaller C).

    ``z`` holds every node's embedding, ``y`` every node's label (-1 unlabelled), ``masks`` the
    train/val/test node masks of the public split.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    for k in ("train", "val", "test"):
        if k not in masks:
            raise ValueError(f"node classification needs train, val and test masks; {k!r} is missing")
    zn = _unit_rows(np.asarray(z, dtype=np.float64))
    y = np.asarray(y)
    tr, va, te = (np.asarray(masks[k], bool) & (y >= 0) for k in ("train", "val", "test"))
    best: dict[str, Any] | None = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for c in c_grid:
            clf = LogisticRegression(C=c, max_iter=2000).fit(zn[tr], y[tr])
            val = float((clf.predict(zn[va]) == y[va]).mean())
            if best is None or val > best["val_accuracy"]:
                best = {"val_accuracy": val, "accuracy": float((clf.predict(zn[te]) == y[te]).mean()), "C": c}
    assert best is not None
    return {**best, "n_train": int(tr.sum()), "n_val": int(va.sum()), "n_test": int(te.sum())}


def graph_classification_cv(z: np.ndarray, y: np.ndarray, folds: int = 10, seed: int = 0,
                            c_grid: tuple[float, ...] = GRAPH_C_GRID) -> dict[str, Any]:
    """Mean and sd (over the ``folds`` stratified test folds) of an RBF ``SVC`` whose C is chosen by 5-fold
    cross-validation inside each training fold (InfoGraph's and GraphCL's evaluation)."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    z, y = np.asarray(z, dtype=np.float64), np.asarray(y)
    outer = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    accs = []
    for train_idx, test_idx in outer.split(z, y):
        inner = GridSearchCV(SVC(), {"C": list(c_grid)}, cv=5)
        inner.fit(z[train_idx], y[train_idx])
        accs.append(float(inner.score(z[test_idx], y[test_idx])))
    return {"accuracy": float(np.mean(accs)), "sd": float(np.std(accs)), "folds": accs}


__all__ = ["GRAPH_C_GRID", "NODE_C_GRID", "graph_classification_cv", "node_classification"]
