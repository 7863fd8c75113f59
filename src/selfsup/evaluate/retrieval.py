"""Beyond accuracy: retrieval, clustering, anomaly detection and a misclassification finder on embeddings."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from selfsup.data.errors import DataError


def faiss_available() -> bool:
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def cosine_neighbours(query: np.ndarray, base: np.ndarray, k: int, exclude_self: bool,
                      backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """(similarities, indices) of each query's ``k`` most cosine-similar rows of ``base``, best first;
    ``exclude_self``: query i is base row i and is skipped. ``backend``: ``faiss`` (an exact inner-product
    index, for large bases; the ``search`` extra), ``torch`` (one matrix product), ``auto``: faiss when
    installed."""
    if backend not in ("auto", "faiss", "torch"):
        raise ValueError(f"backend must be auto, faiss or torch, got {backend!r}")
    q = F.normalize(torch.as_tensor(np.asarray(query), dtype=torch.float32), dim=1)
    b = F.normalize(torch.as_tensor(np.asarray(base), dtype=torch.float32), dim=1)
    k = min(k, b.shape[0] - int(exclude_self))
    if backend == "faiss" or (backend == "auto" and faiss_available()):
        import faiss

        index = faiss.IndexFlatIP(b.shape[1])
        index.add(np.ascontiguousarray(b.numpy()))
        sim, idx = index.search(np.ascontiguousarray(q.numpy()), k + int(exclude_self))
        if exclude_self:  # drop each query's own row (or the last hit when ties hid it)
            own = idx == np.arange(len(idx))[:, None]
            keep = ~own
            keep[~own.any(1), -1] = False
            sim, idx = sim[keep].reshape(len(idx), k), idx[keep].reshape(len(idx), k)
        return sim, idx
    sim = q @ b.T
    if exclude_self:
        sim.fill_diagonal_(float("-inf"))
    top, idx = sim.topk(k, dim=1)
    return top.numpy(), idx.numpy()


def recall_at_k(z: np.ndarray, labels: np.ndarray, ks: tuple[int, ...] = (1, 5, 10)) -> dict[str, float]:
    """Fraction of queries with a same-label item among their k nearest others (cosine)."""
    y = np.asarray(labels)
    _, idx = cosine_neighbours(z, z, max(ks), exclude_self=True)
    hit = y[idx] == y[:, None]
    return {f"recall@{k}": float(hit[:, :k].any(1).mean()) for k in ks}


def map_at_r(z: np.ndarray, labels: np.ndarray) -> float:
    """Mean average precision at R (Musgrave et al. 2020): R = number of other items of the query's class."""
    y = np.asarray(labels)
    counts = {c: int((y == c).sum()) - 1 for c in np.unique(y)}
    r_max = max(counts.values())
    if r_max < 1:
        raise DataError("mAP@R needs at least two samples in some class")
    _, idx = cosine_neighbours(z, z, r_max, exclude_self=True)
    scores = []
    for i, c in enumerate(y):
        r = counts[c]
        if r < 1:
            continue
        rel = (y[idx[i, :r]] == c).astype(float)
        precision_at = np.cumsum(rel) / np.arange(1, r + 1)
        scores.append(float((precision_at * rel).sum() / r))
    return float(np.mean(scores))


def kmeans_scores(z: np.ndarray, labels: np.ndarray, seed: int = 0) -> dict[str, float]:
    """k-means (k = number of classes) on normalised embeddings, scored by NMI and ARI."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    y = np.asarray(labels)
    x = F.normalize(torch.as_tensor(np.asarray(z), dtype=torch.float32), dim=1).numpy()
    pred = KMeans(n_clusters=len(np.unique(y)), n_init=10, random_state=seed).fit_predict(x)
    return {"nmi": float(normalized_mutual_info_score(y, pred)), "ari": float(adjusted_rand_score(y, pred))}


def novelty_auroc(normal_z: np.ndarray, test_z: np.ndarray, is_anomaly: np.ndarray, k: int = 5) -> float:
    """AUROC of scoring test samples by their mean cosine distance to the k nearest ``normal_z`` (samples the
    detector knows as normal), against ``is_anomaly``."""
    from sklearn.metrics import roc_auc_score

    sim, _ = cosine_neighbours(test_z, normal_z, k, exclude_self=False)
    return float(roc_auc_score(np.asarray(is_anomaly, dtype=bool), 1 - sim.mean(1)))


def anomaly_auroc(train_z: np.ndarray, train_y: np.ndarray, test_z: np.ndarray, test_y: np.ndarray,
                  k: int = 5) -> dict[str, float]:
    """One class at a time is the anomaly: score test samples by mean cosine distance to their k nearest
    normal training samples; AUROC per held-out class and the mean."""
    tr_y, te_y = np.asarray(train_y), np.asarray(test_y)
    out: dict[str, float] = {}
    for c in np.unique(tr_y):
        normal = tr_y != c
        if not (te_y == c).any() or (te_y == c).all():
            continue
        out[f"class_{c}"] = novelty_auroc(np.asarray(train_z)[normal], test_z, te_y == c, k)
    if not out:
        raise DataError("anomaly AUROC needs a test set with both held-out and normal samples")
    out["mean"] = float(np.mean(list(out.values())))
    return out


def misclassified(train_z: np.ndarray, train_y: np.ndarray, test_z: np.ndarray, test_y: np.ndarray,
                  k: int = 10) -> list[dict[str, float]]:
    """Test samples whose label disagrees with the majority of their k nearest training neighbours,
    most confident disagreement first (as AstroM³ uses to find mislabelled objects)."""
    tr_y, te_y = np.asarray(train_y), np.asarray(test_y)
    _, idx = cosine_neighbours(test_z, train_z, k, exclude_self=False)
    found = []
    for i, row in enumerate(tr_y[idx]):
        values, counts = np.unique(row, return_counts=True)
        vote, share = values[counts.argmax()], counts.max() / len(row)
        if vote != te_y[i]:
            found.append({"index": i, "label": int(te_y[i]), "neighbours_say": int(vote), "agreement": float(share)})
    return sorted(found, key=lambda r: -r["agreement"])
