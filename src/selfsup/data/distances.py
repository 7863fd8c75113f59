"""Distances between series: dynamic time warping (batched on the device), Euclidean and cosine.

DTW runs the dynamic programme along anti-diagonals, so each of the 2T - 1 steps updates
every pair of a chunk and every cell of a diagonal at once; no per-pair Python loop. Missing
values (NaN) count as 0, the mean of standardised series.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def shorten(x: Tensor, length: int) -> Tensor:
    """Average (B, C, T) series down to at most ``length`` timestamps (NaN read as 0)."""
    x = torch.nan_to_num(x.float(), nan=0.0)
    return F.adaptive_avg_pool1d(x, length) if x.shape[-1] > length else x


def dtw_pairs(a: Tensor, b: Tensor, band: int | None = None) -> Tensor:
    """DTW distance (square root of the summed squared differences on the best path) of each row pair of
    (P, C, T) tensors; ``band`` limits the path to ``|i - j| <= band`` (Sakoe-Chiba)."""
    p, _, t = a.shape
    if b.shape[-1] != t:
        raise ValueError("dtw_pairs needs series of one length; shorten or pad them first")
    inf = torch.tensor(float("inf"), device=a.device)
    # diagonals stored by row index i in 0..T (1-based cells; row 0 and column 0 are the boundary)
    before_last = torch.full((p, t + 1), float("inf"), device=a.device)
    before_last[:, 0] = 0.0  # D[0, 0]
    last = torch.full((p, t + 1), float("inf"), device=a.device)  # diagonal 1: D[0, 1], D[1, 0]
    for k in range(2, 2 * t + 1):
        i = torch.arange(max(1, k - t), min(t, k - 1) + 1, device=a.device)
        j = k - i
        cost = (a[:, :, i - 1] - b[:, :, j - 1]).pow(2).sum(1)
        best = torch.minimum(torch.minimum(before_last[:, i - 1], last[:, i - 1]), last[:, i])
        cell = cost + best
        if band is not None:
            cell = torch.where((i - j).abs() <= band, cell, inf)
        current = torch.full((p, t + 1), float("inf"), device=a.device)
        current[:, i] = cell
        before_last, last = last, current
    return last[:, t].sqrt()


def pairwise_distances(x: Tensor, kind: str = "dtw", length: int = 128, band: float | None = 0.1,
                       chunk: int = 4096) -> Tensor:
    """(N, N) distances between the series of an (N, C, T) batch.

    ``dtw`` first averages series down to ``length`` timestamps; ``band`` is a fraction of that length
    (None: unconstrained). ``euclidean`` and ``cosine`` compare the flattened series.
    """
    n = x.shape[0]
    if kind == "euclidean":
        flat = torch.nan_to_num(x.float(), nan=0.0).flatten(1)
        return torch.cdist(flat, flat)
    if kind == "cosine":
        flat = F.normalize(torch.nan_to_num(x.float(), nan=0.0).flatten(1), dim=1)
        return (1 - flat @ flat.T).clamp(min=0)
    if kind != "dtw":
        raise ValueError(f"distance must be dtw, euclidean or cosine, got {kind!r}")
    s = shorten(x, length)
    radius = None if band is None else max(1, round(band * s.shape[-1]))
    rows, cols = torch.triu_indices(n, n, 1, device=x.device)
    out = torch.zeros(n, n, device=x.device)
    for start in range(0, len(rows), chunk):
        r, c = rows[start:start + chunk], cols[start:start + chunk]
        d = dtw_pairs(s[r], s[c], radius)
        out[r, c] = d
        out[c, r] = d
    return out


def scaled_distances(x: Tensor, kind: str = "dtw", length: int = 128, band: float | None = 0.1) -> Tensor:
    """Pairwise distances min-max scaled over the off-diagonal entries to [0, 1], 0 on the diagonal."""
    d = pairwise_distances(x, kind, length, band)
    n = d.shape[0]
    if n < 2:
        return torch.zeros_like(d)
    off = ~torch.eye(n, dtype=torch.bool, device=d.device)
    lo, hi = d[off].min(), d[off].max()
    scaled = (d - lo) / (hi - lo).clamp(min=1e-12)
    return scaled.masked_fill(~off, 0.0).clamp(0, 1)
