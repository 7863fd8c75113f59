"""The frozen-encoder protocol: kNN and linear probe with 1 %, 10 % and 100 % of the labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from selfsup.data.errors import DataError
from selfsup.evaluate.knn import knn_accuracy
from selfsup.evaluate.linear import linear_probe_accuracy

PROTOCOLS = ("knn", "linear")


def balanced_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of a class-balanced draw of ``fraction`` of the samples (at least one per class)."""
    if not 0 < fraction <= 1:
        raise DataError(f"label fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    picks = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        picks.append(rng.choice(idx, size=max(1, round(fraction * len(idx))), replace=False))
    return np.sort(np.concatenate(picks))


def _check(name: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=np.float32), np.asarray(y)
    if x.ndim != 2:
        raise DataError(f"{name} embeddings must be (N, D), got shape {x.shape}")
    if len(x) != len(y):
        raise DataError(f"{name}: {len(x)} embeddings but {len(y)} labels; pass one label per sample")
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x).all(1)).sum())
        raise DataError(f"{name}: {bad} embeddings contain NaN or inf; the encoder diverged or the input has NaNs")
    if (y < 0).any():
        raise DataError(f"{name}: {int((y < 0).sum())} samples have no label (-1); evaluation needs labels for all")
    return x, y.astype(np.int64)


def evaluate_embeddings(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                        fractions: Sequence[float] = (0.01, 0.1, 1.0), seeds: Sequence[int] = (0, 1, 2),
                        protocols: Sequence[str] = PROTOCOLS, knn_k: int = 200, knn_temperature: float = 0.1,
                        linear_c: float = 1.0) -> dict[str, Any]:
    """kNN and/or linear accuracy per label fraction: mean, std and every run (JSON-ready).

    Fractions below 1 are drawn class-balanced once per seed; the full label set is run once.
    """
    train_x, train_y = _check("train", train_x, train_y)
    test_x, test_y = _check("test", test_x, test_y)
    unknown = set(protocols) - set(PROTOCOLS)
    if unknown:
        raise DataError(f"unknown protocol(s) {', '.join(sorted(unknown))}; choose from {', '.join(PROTOCOLS)}")
    if len(np.unique(train_y)) < 2:
        raise DataError("train labels hold a single class; evaluation needs at least two classes")
    results: dict[str, Any] = {"n_train": len(train_x), "n_test": len(test_x), "dim": int(train_x.shape[1]),
                               "protocol": {"knn_k": knn_k, "knn_temperature": knn_temperature,
                                            "linear_c": linear_c, "seeds": list(seeds)}}
    for proto in protocols:
        table: dict[str, Any] = {}
        for frac in fractions:
            runs = []
            for seed in (seeds if frac < 1 else seeds[:1]):
                idx = balanced_subset(train_y, frac, seed) if frac < 1 else np.arange(len(train_y))
                if proto == "knn":
                    acc = knn_accuracy(train_x[idx], train_y[idx], test_x, test_y, knn_k, knn_temperature)
                else:
                    acc = linear_probe_accuracy(train_x[idx], train_y[idx], test_x, test_y, linear_c)
                runs.append(acc)
            table[f"{frac:g}"] = {"mean": float(np.mean(runs)), "std": float(np.std(runs)), "runs": runs,
                                  "n_labels": len(idx)}
        results[proto] = table
    return results


def format_results(results: dict[str, Any], title: str = "") -> str:
    """A small Markdown table of accuracy (mean ± std) per protocol and label fraction."""
    fracs = sorted({f for p in PROTOCOLS if p in results for f in results[p]}, key=float)
    lines = [f"{title}" if title else "", "| protocol | " + " | ".join(f"{float(f):.0%} labels" for f in fracs) + " |",
             "|---|" + "---|" * len(fracs)]
    for p in PROTOCOLS:
        if p in results:
            cells = [f"{results[p][f]['mean']:.3f} ± {results[p][f]['std']:.3f}" if f in results[p] else "-"
                     for f in fracs]
            lines.append(f"| {p} | " + " | ".join(cells) + " |")
    return "\n".join(line for line in lines if line)


EXTRA_METRICS = ("retrieval", "clustering", "anomaly", "misclassified", "diagnostics")


def evaluate_beyond_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                             metrics: Sequence[str] = EXTRA_METRICS, seed: int = 0) -> dict[str, Any]:
    """Retrieval (recall@k, mAP@R on test), k-means NMI/ARI (test), anomaly AUROC (one class held out),
    the misclassification finder, and representation diagnostics (train), as one JSON-ready dict."""
    from selfsup.evaluate.diagnostics import diagnose
    from selfsup.evaluate.retrieval import anomaly_auroc, kmeans_scores, map_at_r, misclassified, recall_at_k

    unknown = [m for m in metrics if m not in EXTRA_METRICS]
    if unknown:
        valid = ", ".join((*PROTOCOLS, *EXTRA_METRICS))
        raise DataError(f"unknown metric(s) {', '.join(unknown)}; choose from {valid}")
    train_x, train_y = _check("train", train_x, train_y)
    test_x, test_y = _check("test", test_x, test_y)
    out: dict[str, Any] = {}
    if "retrieval" in metrics:
        out["retrieval"] = {**recall_at_k(test_x, test_y), "map@r": map_at_r(test_x, test_y)}
    if "clustering" in metrics:
        out["clustering"] = kmeans_scores(test_x, test_y, seed)
    if "anomaly" in metrics:
        out["anomaly"] = anomaly_auroc(train_x, train_y, test_x, test_y)
    if "misclassified" in metrics:
        found = misclassified(train_x, train_y, test_x, test_y)
        out["misclassified"] = {"count": len(found), "fraction": len(found) / len(test_x), "top": found[:50]}
    if "diagnostics" in metrics:
        rng = np.random.default_rng(seed)
        sample = train_x[rng.choice(len(train_x), size=min(len(train_x), 4096), replace=False)]
        out["diagnostics"] = diagnose(sample)
    return out
