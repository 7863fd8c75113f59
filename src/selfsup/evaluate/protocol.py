"""The frozen-encoder protocol: kNN and linear probe with 1 %, 10 % and 100 % of the labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from selfsup.data.errors import DataError
from selfsup.evaluate.knn import knn_accuracy
from selfsup.evaluate.linear import linear_probe_accuracy
from selfsup.evaluate.svm import svm_accuracy

PROTOCOLS = ("knn", "linear")  # the default probes
PROBES = (*PROTOCOLS, "svm")  # every frozen-feature probe; svm: TS2Vec's protocol for series benchmarks
FRACTION_PROTOCOLS = (*PROBES, "finetune")


def balanced_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Indices of a class-balanced draw of ``fraction`` of the samples (``fraction`` of every class).

    A fraction that would leave a class with no labelled sample is an error rather than a
    silent upgrade to one sample, so a reported "1 %" is really 1 %.
    """
    if not 0 < fraction <= 1:
        raise DataError(f"label fraction must be in (0, 1], got {fraction}")
    rng = np.random.default_rng(seed)
    picks = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        take = int(fraction * len(idx) + 0.5)
        if take == 0:
            raise DataError(f"label fraction {fraction:g} leaves class {c} ({len(idx)} samples) with no labelled "
                            f"sample; use a fraction of at least {0.5 / len(idx):.3g} or drop that class")
        picks.append(rng.choice(idx, size=take, replace=False))
    return np.sort(np.concatenate(picks))


def check_labels(name: str, n: int, labels: np.ndarray, min_classes: int = 1) -> np.ndarray:
    """Labels as int64 class ids, one per sample; a named error for the wrong length, missing
    labels (-1), non-integer values or too few classes."""
    y = np.asarray(labels)
    if y.ndim != 1:
        raise DataError(f"{name} labels must be one class id per sample (1-D), got shape {y.shape}")
    if len(y) != n:
        raise DataError(f"{name}: {n} samples but {len(y)} labels; pass one label per sample")
    if y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all():
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise DataError(f"{name} labels must be integer class ids 0..C-1, got dtype {y.dtype}; map class names "
                        "to integers first")
    if (y < 0).any():
        raise DataError(f"{name}: {int((y < 0).sum())} samples have no label (-1); evaluation needs labels for all")
    if len(np.unique(y)) < min_classes:
        raise DataError(f"{name} labels hold a single class; evaluation needs at least {min_classes} classes")
    return y.astype(np.int64)


def _check(name: str, x: np.ndarray, y: np.ndarray, min_classes: int = 1) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise DataError(f"{name} embeddings must be (N, D), got shape {x.shape}")
    y = check_labels(name, len(x), y, min_classes)
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x).all(1)).sum())
        raise DataError(f"{name}: {bad} embeddings contain NaN or inf; the encoder diverged or the input has NaNs")
    return x, y


def format_cell(cell: dict[str, Any]) -> str:
    """``mean ± sd`` of a result cell; one run says so instead of printing a zero sd."""
    if len(cell.get("runs", [])) == 1:
        return f"{cell['mean']:.3f} (1 run)"
    sd = cell["std"]
    return f"{cell['mean']:.3f} ± {sd:.3f}" if sd >= 0.001 or sd == 0 else f"{cell['mean']:.3f} ± {sd:.4f}"


def mean_sd(runs: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (0 for one run) and the runs themselves."""
    return {"mean": float(np.mean(runs)), "std": float(np.std(runs, ddof=1)) if len(runs) > 1 else 0.0,
            "runs": [float(r) for r in runs]}


def evaluate_embeddings(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                        fractions: Sequence[float] = (0.01, 0.1, 1.0), seeds: Sequence[int] = (0, 1, 2),
                        protocols: Sequence[str] = PROTOCOLS, knn_k: int = 200, knn_temperature: float = 0.1,
                        linear_c: float = 1.0) -> dict[str, Any]:
    """kNN, linear and/or SVM accuracy per label fraction: mean, std and every run (JSON-ready).

    Fractions below 1 are drawn class-balanced once per seed; the full label set is run once.
    """
    unknown = set(protocols) - set(PROBES)
    if unknown:
        raise DataError(f"unknown protocol(s) {', '.join(sorted(unknown))}; choose from {', '.join(PROBES)}")
    train_x, train_y = _check("train", train_x, train_y, min_classes=2)
    test_x, test_y = _check("test", test_x, test_y)
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
                elif proto == "svm":
                    acc = svm_accuracy(train_x[idx], train_y[idx], test_x, test_y, seed)
                else:
                    acc = linear_probe_accuracy(train_x[idx], train_y[idx], test_x, test_y, linear_c)
                runs.append(acc)
            table[f"{frac:g}"] = {**mean_sd(runs), "n_labels": len(idx)}
        results[proto] = table
    return results


def cross_validate_embeddings(x: np.ndarray, y: np.ndarray, folds: int = 10, seed: int = 0,
                              fractions: Sequence[float] = (1.0,), seeds: Sequence[int] = (0,),
                              protocols: Sequence[str] = PROTOCOLS, **kwargs: Any) -> dict[str, Any]:
    """The probes of ``evaluate_embeddings`` in ``folds``-fold stratified cross-validation, for labelled
    data without a test split (graph sets, a single labelled folder): every cell is mean ± sd over the
    folds (each fold's own mean over label draws), the per-fold values in ``runs``."""
    from sklearn.model_selection import StratifiedKFold

    x, y = _check("data", x, y, min_classes=2)
    smallest = int(np.bincount(np.unique(y, return_inverse=True)[1]).min())
    if folds < 2 or smallest < 2:
        raise DataError(f"cross-validation needs folds >= 2 and 2+ samples per class; got folds={folds} and a "
                        f"class with {smallest} sample(s): give a labelled test set instead")
    folds = min(folds, len(y))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    per_fold = [evaluate_embeddings(x[tr], y[tr], x[te], y[te], fractions, seeds, protocols, **kwargs)
                for tr, te in splitter.split(x, y)]
    first = per_fold[0]
    results: dict[str, Any] = {"n_train": first["n_train"], "n_test": first["n_test"], "dim": first["dim"],
                               "protocol": {**first["protocol"], "cv_folds": folds, "cv_seed": seed}}
    for proto in protocols:
        results[proto] = {frac: {**mean_sd([f[proto][frac]["mean"] for f in per_fold]),
                                 "n_labels": first[proto][frac]["n_labels"]}
                          for frac in first[proto]}
    return results


def format_results(results: dict[str, Any], title: str = "") -> str:
    """Markdown tables: accuracy (mean ± sd) per protocol and label fraction, the from-scratch
    baseline's rows beside; then equivariance R² and the other metrics' headline numbers."""
    rows = [(p, results[p]) for p in FRACTION_PROTOCOLS if p in results]
    rows += [(f"{p} (from scratch)", results["scratch"][p]) for p in FRACTION_PROTOCOLS if p in
             results.get("scratch", {})]
    lines = [title] if title else []
    if rows:
        fracs = sorted({f for _, t in rows for f in t}, key=float)
        lines += ["| protocol | " + " | ".join(f"{float(f):.0%} labels" for f in fracs) + " |",
                  "|---|" + "---|" * len(fracs)]
        for name, table in rows:
            cells = [format_cell(table[f]) if f in table else "-" for f in fracs]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        folds = results.get("protocol", {}).get("cv_folds")
        if folds:
            lines.append(f"\n{folds}-fold stratified cross-validation (no test set): mean ± sd over the folds")
    equi = [(name, r.get("equivariance")) for name, r in (("pretrained", results),
                                                           ("from scratch", results.get("scratch", {})))]
    equi = [(n, e) for n, e in equi if e]
    if equi:
        kinds = list(equi[0][1])
        lines += ["", "| equivariance R² | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
        lines += [f"| {n} | " + " | ".join(f"{e[k]['r2']:.3f}" for k in kinds) + " |" for n, e in equi]
    headline = {"retrieval": ("recall@1", "map@r"), "clustering": ("nmi", "ari"), "anomaly": ("mean",),
                "misclassified": ("count", "fraction"), "diagnostics": ("rankme", "uniformity", "embedding_std")}
    extra = [f"{m}: " + ", ".join(f"{k} {results[m][k]:.4g}" for k in keys if k in results[m])
             for m, keys in headline.items() if m in results]
    if extra:
        lines += ["", *extra]
    return "\n".join(lines)


EXTRA_METRICS = ("retrieval", "clustering", "anomaly", "misclassified", "diagnostics")


def evaluate_beyond_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                             metrics: Sequence[str] = EXTRA_METRICS, seed: int = 0) -> dict[str, Any]:
    """Retrieval (recall@k, mAP@R on test), k-means NMI/ARI (test), anomaly AUROC (one class held out),
    the misclassification finder, and representation diagnostics (train), as one JSON-ready dict."""
    from selfsup.evaluate.diagnostics import diagnose
    from selfsup.evaluate.retrieval import anomaly_auroc, kmeans_scores, map_at_r, misclassified, recall_at_k

    unknown = [m for m in metrics if m not in EXTRA_METRICS]
    if unknown:
        valid = ", ".join((*PROBES, *EXTRA_METRICS))
        raise DataError(f"unknown metric(s) {', '.join(unknown)}; choose from {valid}")
    train_x, train_y = _check("train", train_x, train_y, min_classes=2)
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
