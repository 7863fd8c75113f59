"""Equivariance: how well a transformation's parameters can be read off an embedding pair.

The protocol of SIE [003#28] and EquiCaps [000#5]: embed an input and a transformed copy,
regress the transformation's parameters (rotation angle, crop box, ...) from the pair and
report R² on held-out samples. An invariant encoder scores about 0, an equivariant one
near 1. Modality-agnostic: any transform that returns ``(x_t, params)`` like the view
ops does, with numeric per-sample params.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from selfsup.data.errors import DataError
from selfsup.train.trainer import Source

Transform = Callable[[Tensor, torch.Generator], tuple[Tensor, Mapping[str, Tensor]]]


def transform_targets(params: Mapping[str, Tensor | np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Per-sample regression targets from a transform's params: an angle (degrees) becomes its cosine
    and sine (it is circular), a (B, k) tensor k columns, booleans 0/1."""
    cols, names = [], []
    for key, value in params.items():
        v = np.asarray(value.detach().cpu() if isinstance(value, Tensor) else value, dtype=np.float64)
        if key == "index":
            continue
        if key == "angle":
            rad = np.deg2rad(v)
            cols += [np.cos(rad), np.sin(rad)]
            names += ["angle_cos", "angle_sin"]
        elif v.ndim == 1:
            cols.append(v)
            names.append(key)
        else:
            cols += list(v.reshape(len(v), -1).T)
            names += [f"{key}_{i}" for i in range(v.reshape(len(v), -1).shape[1])]
    if not cols:
        raise DataError("the transform returned no numeric parameters to predict")
    return np.stack(cols, 1), names


def equivariance_r2(z: np.ndarray, z_t: np.ndarray, targets: np.ndarray, names: list[str] | None = None,
                    folds: int = 5, seed: int = 0, model: str = "ridge") -> dict[str, Any]:
    """Cross-validated R² of a regression from ``[z, z_t]`` to each target column.

    ``model="ridge"``: features standardised, ridge strength chosen by inner leave-one-out inside
    each training fold, so no test sample informs its own prediction. A linear read-out of the
    concatenation cannot compute how z_t turned relative to z (a product of the two), so
    ``model="mlp"`` fits a two-hidden-layer MLP instead, SIE's protocol. Constant targets
    (a transform that never varied) are left out.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    z, z_t = np.asarray(z, dtype=np.float64), np.asarray(z_t, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    t = t[:, None] if t.ndim == 1 else t
    names = names or [f"target_{i}" for i in range(t.shape[1])]
    if not (len(z) == len(z_t) == len(t)):
        raise DataError(f"equivariance: {len(z)} embeddings, {len(z_t)} transformed embeddings and {len(t)} targets; "
                        "pass one of each per sample")
    if len(z) < 2 * folds:
        raise DataError(f"equivariance: {len(z)} samples are too few for {folds}-fold cross-validation")
    if not (np.isfinite(z).all() and np.isfinite(z_t).all()):
        raise DataError("equivariance: embeddings contain NaN or inf; the encoder diverged or the input has NaNs")
    keep = t.std(0) > 1e-12
    x = np.concatenate([z, z_t], 1)
    if model == "ridge":
        regressor = RidgeCV(alphas=np.logspace(-3, 4, 8))
    elif model == "mlp":
        from sklearn.neural_network import MLPRegressor

        regressor = MLPRegressor(hidden_layer_sizes=(256, 256), alpha=1e-3, max_iter=300, early_stopping=True,
                                 random_state=seed)
    else:
        raise ValueError(f"unknown equivariance model {model!r}; choose ridge or mlp")
    pipe = make_pipeline(StandardScaler(), regressor)
    pred = cross_val_predict(pipe, x, t[:, keep], cv=KFold(folds, shuffle=True, random_state=seed))
    truth = t[:, keep]
    r2 = 1 - ((truth - pred) ** 2).sum(0) / ((truth - truth.mean(0)) ** 2).sum(0)
    per = {n: float(v) for n, v in zip([n for n, k in zip(names, keep, strict=True) if k], r2, strict=True)}
    return {"r2": float(np.mean(r2)), "per_target": per, "n": len(z), "model": model, "folds": folds}


@torch.no_grad()
def measure_equivariance(encoder: nn.Module, data: Source, transforms: Mapping[str, Transform],
                         preprocess: Callable[[Tensor], Tensor] | None = None, n: int = 2000, seed: int = 0,
                         batch_size: int = 256, model: str = "ridge") -> dict[str, Any]:
    """Equivariance R² of ``encoder`` for each named transform, on ``n`` samples of ``data``.

    Each transform gets the preprocessed batch (the encoder's input) and a seeded generator
    and returns the transformed batch and its params. ``model`` as in ``equivariance_r2``.
    """
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(data), size=min(n, len(data)), replace=False))
    dev = next(encoder.parameters()).device
    was = encoder.training
    encoder.eval()
    out: dict[str, Any] = {}
    try:
        for name, transform in transforms.items():
            g = torch.Generator(device=dev)
            g.manual_seed(seed)
            zs, zts, params = [], [], []
            for s in range(0, len(rows), batch_size):
                x = data.batch(rows[s:s + batch_size]).to(dev)
                x = preprocess(x) if preprocess is not None else x.float()
                x_t, p = transform(x, g)
                zs.append(encoder(x).float().cpu())
                zts.append(encoder(x_t).float().cpu())
                params.append({k: v.cpu() for k, v in p.items()})
            merged = {k: torch.cat([p[k] for p in params]) for k in params[0]}
            targets, names = transform_targets(merged)
            out[name] = equivariance_r2(torch.cat(zs).numpy(), torch.cat(zts).numpy(), targets, names, seed=seed,
                                        model=model)
    finally:
        encoder.train(was)
    return out
