"""Forecasting with frozen representations: ridge regression from the embedding of the last ``lookback``
timestamps to the next ``horizon`` values (TS2Vec's linear forecasting protocol, on window embeddings so
that any series encoder can be scored).

The series is split in time into train / validation / test segments; the ridge penalty is chosen on the
validation segment; errors are reported on the standardised scale beside two baselines that need no
encoder: ridge on the raw lookback window, and repeating the last observed value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from selfsup.data.errors import DataError

RIDGE_ALPHAS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)  # TS2Vec's search


def _windows(series: np.ndarray, starts: np.ndarray, lookback: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (n, C, lookback) and targets (n, C * horizon) for windows whose forecast starts at ``starts``."""
    idx = starts[:, None] + np.arange(-lookback, 0)[None, :]
    x = series[:, idx].transpose(1, 0, 2)
    tidx = starts[:, None] + np.arange(horizon)[None, :]
    y = series[:, tidx].transpose(1, 0, 2).reshape(len(starts), -1)
    return x, y


def _fit_ridge(xtr: np.ndarray, ytr: np.ndarray, xva: np.ndarray, yva: np.ndarray):
    from sklearn.linear_model import Ridge

    best, best_err = None, np.inf
    for a in RIDGE_ALPHAS:
        model = Ridge(alpha=a).fit(xtr, ytr)
        pred = model.predict(xva)
        err = np.sqrt(((pred - yva) ** 2).mean()) + np.abs(pred - yva).mean()
        if err < best_err:
            best, best_err = model, err
    return best


def forecasting_scores(embed: Callable[[np.ndarray], np.ndarray], series: np.ndarray, horizons: Sequence[int] = (24,),
                       lookback: int = 96, split: tuple[float, float] = (0.6, 0.2), stride: int = 1) -> dict[str, Any]:
    """MSE / MAE of ridge forecasts from ``embed(windows)`` for each horizon, with the raw-window and
    last-value baselines.

    ``series`` is (T,) or (C, T), standardised here with the train segment's statistics (NaN not
    allowed: interpolate gaps first). ``embed`` maps (n, C, lookback) float arrays to (n, D) features,
    e.g. ``PretrainedEncoder.embed``. ``split`` gives the train and validation fractions of the time axis.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise DataError(f"forecasting needs one series (T,) or (C, T), got shape {x.shape}")
    if np.isnan(x).any():
        raise DataError("forecasting: the series has missing values; interpolate them first (targets must exist)")
    t = x.shape[1]
    n_train, n_val = int(split[0] * t), int(split[1] * t)
    if n_train <= lookback + max(horizons) or t - n_train - n_val <= max(horizons):
        raise DataError(f"forecasting: a series of {t} steps is too short for lookback {lookback} and horizon "
                        f"{max(horizons)} with split {split}; use a shorter lookback or horizon")
    mean, std = x[:, :n_train].mean(1, keepdims=True), x[:, :n_train].std(1, keepdims=True) + 1e-8
    x = (x - mean) / std
    out: dict[str, Any] = {"lookback": lookback, "split": list(split), "length": t}
    for h in horizons:
        segments = {"train": np.arange(lookback, n_train - h + 1, stride),
                    "val": np.arange(n_train, n_train + n_val - h + 1, stride),
                    "test": np.arange(n_train + n_val, t - h + 1, stride)}
        data = {k: _windows(x, s, lookback, h) for k, s in segments.items()}
        feats = {k: np.asarray(embed(v[0].astype(np.float32)), dtype=np.float64) for k, v in data.items()}
        raw = {k: v[0].reshape(len(v[0]), -1) for k, v in data.items()}
        ytest = data["test"][1]
        scores = {}
        for name, f in (("embedding", feats), ("raw window", raw)):
            model = _fit_ridge(f["train"], data["train"][1], f["val"], data["val"][1])
            pred = model.predict(f["test"])
            scores[name] = {"mse": float(((pred - ytest) ** 2).mean()), "mae": float(np.abs(pred - ytest).mean())}
        last = np.repeat(data["test"][0][:, :, -1:], h, axis=2).reshape(len(ytest), -1)
        scores["last value"] = {"mse": float(((last - ytest) ** 2).mean()), "mae": float(np.abs(last - ytest).mean())}
        out[str(h)] = scores
    return out
