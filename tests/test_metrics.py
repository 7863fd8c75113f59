"""Evaluation metrics against known values on constructed embeddings."""

import math
import warnings

import numpy as np
import pytest
import torch
from helpers import TINY_ENCODER, TINY_SIMCLR, tiny_images

import selfsup
from selfsup.evaluate import (
    CollapseMonitor,
    alignment,
    anomaly_auroc,
    embedding_std,
    kmeans_scores,
    map_at_r,
    misclassified,
    rankme,
    recall_at_k,
    uniformity,
)
from selfsup.methods.base import Method


def clusters(n_per=20, classes=4, dim=8, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.eye(dim)[:classes] * 10
    y = np.repeat(np.arange(classes), n_per)
    return centers[y] + noise * rng.standard_normal((len(y), dim)), y


def test_rankme_of_known_rank():
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((100, 5)))
    z = q @ np.diag([3.0] * 5) @ rng.standard_normal((5, 5))  # rank 5 with equal singular values after qr
    u, _, vt = np.linalg.svd(z, full_matrices=False)
    z_equal = u @ vt  # five equal singular values
    assert rankme(np.hstack([z_equal, np.zeros((100, 11))])) == pytest.approx(5.0, rel=1e-4)
    assert rankme(np.outer(rng.standard_normal(50), rng.standard_normal(16))) == pytest.approx(1.0, rel=1e-3)


def test_alignment_uniformity_and_std():
    z = np.random.default_rng(0).standard_normal((64, 8))
    assert alignment(z, z) == pytest.approx(0.0, abs=1e-6)
    assert alignment(z, -z) == pytest.approx(4.0, rel=1e-5)  # opposite unit vectors: distance 2, squared 4
    same = np.ones((10, 4))
    assert uniformity(same) == pytest.approx(0.0, abs=1e-6)  # all distances 0: log E exp(0) = 0
    two = np.array([[1.0, 0.0], [-1.0, 0.0]])
    assert uniformity(two) == pytest.approx(-8.0, rel=1e-6)  # one pair at distance 2: -t * 4
    assert embedding_std(same) == pytest.approx(0.0, abs=1e-7)
    spread = np.random.default_rng(1).standard_normal((5000, 16))
    assert embedding_std(spread) == pytest.approx(1 / math.sqrt(16), rel=0.05)


def test_retrieval_perfect_and_random():
    z, y = clusters()
    assert recall_at_k(z, y)["recall@1"] == 1.0
    assert map_at_r(z, y) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    zr = rng.standard_normal((400, 16))
    yr = rng.integers(0, 4, 400)
    assert map_at_r(zr, yr) < 0.4
    assert recall_at_k(zr, yr, ks=(1,))["recall@1"] == pytest.approx(0.25, abs=0.08)


def test_map_at_r_by_hand():
    # query 0 (class 0) has R=1 other class-0 item; its nearest neighbour is class 1 -> AP@R = 0
    z = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    y = np.array([0, 1, 0])
    # q0: R=1, nearest is item 1 (class 1) -> 0. q1: R=0 skipped. q2: R=1, nearest is item 1 -> 0.
    assert map_at_r(z, y) == 0.0
    y2 = np.array([0, 0, 1])
    # q0 nearest item1 (same) -> 1; q1 nearest item0 (same) -> 1; q2 R=0 skipped
    assert map_at_r(z, y2) == 1.0


def test_kmeans_nmi_ari_separable_and_random():
    z, y = clusters()
    s = kmeans_scores(z, y)
    assert s["nmi"] == pytest.approx(1.0) and s["ari"] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    r = kmeans_scores(rng.standard_normal((400, 8)), rng.integers(0, 4, 400))
    assert r["nmi"] < 0.05 and abs(r["ari"]) < 0.05


def test_anomaly_auroc_and_misclassified():
    z, y = clusters(n_per=30)
    zt, yt = clusters(n_per=10, seed=1)
    res = anomaly_auroc(z, y, zt, yt)
    assert res["mean"] == pytest.approx(1.0) and len(res) == 5
    yt_wrong = yt.copy()
    yt_wrong[[0, 15]] = [3, 0]  # two mislabelled test samples
    found = misclassified(z, y, zt, yt_wrong)
    assert {f["index"] for f in found} == {0, 15}
    assert found[0]["agreement"] == 1.0 and {f["neighbours_say"] for f in found} == {0, 1}


class _Collapsed(Method):
    """Constant embeddings (complete collapse) or rank-one embeddings (dimensional collapse) by construction."""

    def __init__(self, encoder, kind):
        super().__init__(encoder)
        self.kind = kind

    def forward(self, views, params=None):
        h = self.encoder(views[0])
        if self.kind == "complete":
            z = h * 0 + 1.0
        else:
            z = h[:, :1] * torch.linspace(-1, 1, h.shape[1])  # every sample on one line through the origin
        return {"loss": h.pow(2).mean(), "embedding": z.detach()}


def test_collapse_alarm_fires_on_collapse_and_stays_silent_on_healthy_run():
    for kind in ("complete", "dimensional"):
        enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER)
        mon = CollapseMonitor(every=1)
        with pytest.warns(RuntimeWarning, match=f"{kind} collapse"):
            selfsup.Trainer(max_steps=2, batch_size=16, progress=False, callbacks=[mon]).fit(
                _Collapsed(enc, kind), tiny_images(), selfsup.image_views("simclr", 16))
        assert len(mon.alarms) == 2 and "step 1" in mon.alarms[0]

    healthy = CollapseMonitor(every=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        selfsup.pretrain(tiny_images(), "simclr", "small_cnn", encoder_kwargs=TINY_ENCODER,
                         method_kwargs=TINY_SIMCLR, max_steps=3, batch_size=16, progress=False, callbacks=[healthy])
    assert len(healthy.history) == 3 and not healthy.alarms
    assert healthy.history[0]["rankme"] > 2 and torch.isfinite(torch.tensor(healthy.history[-1]["uniformity"]))


def test_online_linear_probe_learns_and_logs_to_metrics(tmp_path):
    from selfsup.data import ImageDataset
    from selfsup.evaluate import OnlineLinearProbe

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 64)
    x = np.where(y[:, None, None, None] == 0, rng.integers(0, 60, (128, 16, 16, 3)),
                 rng.integers(180, 255, (128, 16, 16, 3))).astype(np.uint8)  # dark vs bright images
    probe = OnlineLinearProbe(y, lr=0.05)
    enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER)
    before = [p.clone() for p in enc.parameters()]
    selfsup.Trainer(max_steps=40, batch_size=32, progress=False, log_every=10, lr=0.0, precision="fp32",
                    callbacks=[probe]).fit(selfsup.create_method("simclr", enc, **TINY_SIMCLR),
                                           ImageDataset.from_arrays(x, y), selfsup.image_views("simclr", 16),
                                           run_dir=tmp_path)
    rows = (tmp_path / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    accs = [float(r.split(",")[header.index("online_probe_acc")]) for r in rows[1:]]
    assert len(accs) == 4 and accs[-1] > 0.8 and accs[-1] > accs[0]
    assert all(torch.equal(a, b) for a, b in zip(before, enc.parameters(), strict=True))  # lr 0: probe only
