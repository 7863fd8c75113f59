"""Paired multimodal records: named errors, missing modalities kept out of the encoders and the loss,
alignment that learns (retrieval far above chance), save/load, evaluation with missing parts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import selfsup
from selfsup.data import DataError
from selfsup.data.multimodal import MultiModalDataset, RecordBatch
from selfsup.data.tabular import TabularDataset
from selfsup.methods.alignment import ModalityAlignment
from selfsup.records import MultiModalEncoder, cross_modal_recall, evaluate_records, pretrain_records


def _paired(n: int = 240, seed: int = 0, missing: float = 0.0) -> MultiModalDataset:
    """Three table 'modalities' that are different noisy non-linear views of one 4-d latent; label = its argmax."""
    mats = [np.random.default_rng(100 + i).normal(size=(4, d)) for i, d in enumerate((6, 5, 3))]  # shared by splits
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(n, 4))
    labels = latent.argmax(1)
    parts = {}
    for name, w in zip(("a", "b", "c"), mats, strict=True):
        x = np.tanh(latent @ w) + 0.05 * rng.normal(size=(n, w.shape[1]))
        parts[name] = TabularDataset.from_arrays(x.astype(np.float32), labels=labels.astype(str))
    present = rng.random((n, 3)) >= missing
    present[~present.any(1), 0] = True
    return MultiModalDataset.from_parts(parts, present=present)


def test_modalities_that_disagree_in_record_count_are_a_named_error() -> None:
    a = TabularDataset.from_arrays(np.zeros((5, 2), np.float32))
    b = TabularDataset.from_arrays(np.zeros((4, 2), np.float32))
    with pytest.raises(DataError, match=r"modality 'b' has 4 records but 'a' has 5; every modality needs one row"):
        MultiModalDataset.from_parts({"a": a, "b": b})
    with pytest.raises(DataError, match=r"present must be \(records, modalities\) = \(5, 2\)"):
        MultiModalDataset.from_parts({"a": a, "b": a}, present=np.ones((5, 3), bool))
    with pytest.raises(DataError, match=r"record\(s\) \[2\] have no modality present"):
        MultiModalDataset.from_parts({"a": a, "b": a}, present={"a": np.array([1, 1, 0, 1, 1], bool),
                                                                 "b": np.array([1, 0, 0, 1, 1], bool)})
    with pytest.raises(DataError, match="at least 2 modalities"):
        MultiModalDataset.from_parts({"a": a})


class _Strict(nn.Module):
    """An encoder that fails on NaN input and counts the rows it sees."""

    def __init__(self, d: int) -> None:
        super().__init__()
        self.lin, self.out_dim, self.seen = nn.Linear(d, 8), 8, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert not torch.isnan(x).any(), "a missing record reached the encoder"
        self.seen.append(len(x))
        return self.lin(x)


@pytest.mark.parametrize("objective", ["clip", "symile", "mv_infonce"])
def test_missing_records_never_reach_an_encoder_and_get_no_loss_terms(objective: str) -> None:
    torch.manual_seed(0)
    b = 10
    present = torch.rand(b, 3, generator=torch.Generator().manual_seed(1)) > 0.3
    present[0] = True
    parts = {k: torch.randn(b, 4) for k in "xyz"}
    filled = {k: torch.where(present[:, m, None], v, float("nan")) for m, (k, v) in enumerate(parts.items())}
    model = ModalityAlignment({k: _Strict(4) for k in "xyz"}, objective)
    out = model([RecordBatch(filled, present)])
    assert torch.isfinite(out["loss"])
    assert [e.seen[-1] for e in model.encoders.values()] == present.sum(0).tolist()
    out["loss"].backward()
    # the same loss as the objective on the projections of the present rows only (zeros elsewhere)
    z = []
    for m, k in enumerate("xyz"):
        rows = present[:, m]
        zk = torch.zeros(b, model.proj_dim)
        zk[rows] = model.project(k, parts[k][rows]).detach()
        z.append(zk)
    expected, _ = model.criterion(z, present, **({"generator": None} if objective == "symile" else {}))
    if objective != "symile":  # symile's shuffled negatives differ between the two calls
        assert float(out["loss"]) == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(ValueError, match="expects records with modalities"):
        model([RecordBatch({"x": parts["x"], "y": parts["y"]}, present[:, :2])])


def test_cross_modal_recall_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(30, 5)), rng.normal(size=(30, 5))
    g[:10] = q[:10] * 3  # the first ten queries find their own record first
    r = cross_modal_recall(q, g, ks=(1, 5))
    qn, gn = q / np.linalg.norm(q, axis=1, keepdims=True), g / np.linalg.norm(g, axis=1, keepdims=True)
    ranks = [int((np.argsort(-(qn[i] @ gn.T)) == i).nonzero()[0][0]) for i in range(30)]
    assert r["recall@1"] == pytest.approx(np.mean([x < 1 for x in ranks]))
    assert r["recall@5"] == pytest.approx(np.mean([x < 5 for x in ranks]))
    assert r["recall@1"] >= 10 / 30


@pytest.mark.parametrize("objective", ["clip", "symile"])
def test_alignment_learns_with_missing_modalities_and_round_trips(tmp_path: Path, objective: str) -> None:
    train, test = _paired(240, 0, missing=0.25), _paired(120, 1)
    kwargs = {k: {"hidden": 32, "depth": 2} for k in "abc"}
    mm = pretrain_records(train, objective, encoder_kwargs=kwargs, proj_dim=16, max_steps=150, batch_size=64,
                          run_dir=tmp_path / "run", seed=0)
    res = evaluate_records(mm, train, test, fractions=(1.0,), seeds=(0,), protocols=("linear",),
                           extra=("anomaly", "misclassified"))
    assert 0 <= res["fused_extra"]["anomaly"]["mean"] <= 1 and "count" in res["fused_extra"]["misclassified"]
    chance = 1 / 120
    # aligned: far above chance (Symile aims at the three-way product, so its pairwise retrieval is weaker)
    factor = 10 if objective == "clip" else 3
    assert res["retrieval"]["a->b"]["recall@1"] > factor * chance
    assert res["retrieval"]["c->a"]["recall@5"] > factor / 2 * 5 * chance  # c has 3 noisy dimensions: harder
    assert res["fused"]["linear"]["1"]["mean"] > 0.5 and set(res["modalities"]) == {"a", "b", "c"}
    again = MultiModalEncoder.load(tmp_path / "run")
    np.testing.assert_allclose(again.embed("b", test.parts["b"], aligned=True),
                               mm.embed("b", test.parts["b"], aligned=True), atol=1e-5)
    assert selfsup.load(tmp_path / "run" / "encoder_a.safetensors").out_dim == 32  # each part stands alone
    z = mm.embed_records(train)
    assert np.isnan(z["a"][~train.present[:, 0]]).all() and not np.isnan(z["a"][train.present[:, 0]]).any()


def test_alignment_beats_an_untrained_encoder_on_retrieval() -> None:
    train, test = _paired(240, 0), _paired(120, 1)
    kwargs = {k: {"hidden": 32, "depth": 2} for k in "abc"}
    trained = pretrain_records(train, "clip", encoder_kwargs=kwargs, proj_dim=16, max_steps=150, batch_size=64)
    untrained = pretrain_records(train, "clip", encoder_kwargs=kwargs, proj_dim=16, max_steps=1, lr=0.0,
                                 batch_size=64)
    r1 = evaluate_records(trained, train, test, fractions=(1.0,), seeds=(0,), protocols=("knn",))["retrieval"]
    r0 = evaluate_records(untrained, train, test, fractions=(1.0,), seeds=(0,), protocols=("knn",))["retrieval"]
    assert r1["a->b"]["recall@5"] > r0["a->b"]["recall@5"] + 0.2


def test_record_options_name_unknown_modalities() -> None:
    with pytest.raises(selfsup.config.ConfigError, match=r"modality\(ies\) d are not in the records \(a, b, c\)"):
        pretrain_records(_paired(20), encoders={"d": "tab_mlp"}, max_steps=1)
    with pytest.raises(selfsup.config.ConfigError, match="unknown alignment objective"):
        pretrain_records(_paired(20), "triplet", max_steps=1)


@pytest.mark.parametrize("backend", ["torch", "faiss"])
def test_neighbour_search_backends_agree(backend: str) -> None:
    from selfsup.evaluate.retrieval import cosine_neighbours

    if backend == "faiss":
        pytest.importorskip("faiss")
    rng = np.random.default_rng(0)
    q, b = rng.normal(size=(40, 8)), rng.normal(size=(60, 8))
    sim, idx = cosine_neighbours(q, b, 5, exclude_self=False, backend=backend)
    qn, bn = q / np.linalg.norm(q, axis=1, keepdims=True), b / np.linalg.norm(b, axis=1, keepdims=True)
    full = qn @ bn.T
    np.testing.assert_array_equal(idx, np.argsort(-full, 1)[:, :5])
    np.testing.assert_allclose(sim, np.sort(full, 1)[:, ::-1][:, :5], atol=1e-5)
    sim, idx = cosine_neighbours(b, b, 3, exclude_self=True, backend=backend)
    self_sim = bn @ bn.T
    np.fill_diagonal(self_sim, -np.inf)
    np.testing.assert_array_equal(idx, np.argsort(-self_sim, 1)[:, :3])
    assert cross_modal_recall(q[:30], q[:30] + 0.01, ks=(1,), backend=backend)["recall@1"] == 1.0


@pytest.mark.slow
def test_trimodal_alignment_on_fsdd_teaches_the_waveform_encoder(shared_data: Path) -> None:
    """FSDD records (log-mel, waveform, descriptor table; takes 5-49 train, 0-4 test), 20 % of the modalities
    missing: CLIP alignment for 12 epochs. The waveform encoder, weak alone, learns from the other two
    (benchmarks/fsdd.py: 76 vs 23 % with a frozen probe at 10 % labels after 20 epochs), and a clip's record
    is found across modalities far above chance (1 in 300)."""
    from selfsup.api import scratch_encoder
    from selfsup.data.audio import load_audio
    from selfsup.data.audio_descriptors import acoustic_descriptors

    def fsdd(split: str, missing: float) -> MultiModalDataset:
        clips = load_audio(shared_data / "fsdd" / "fsdd.npz", split=split, label_key="digit")
        present = np.random.default_rng(0).random((len(clips), 3)) >= missing
        present[~present.any(1), 0] = True
        return MultiModalDataset.from_parts({"logmel": clips, "wave": clips, "table": acoustic_descriptors(clips)},
                                            present=present)

    train, test = fsdd("train", 0.2), fsdd("test", 0.0)
    mm = pretrain_records(train, "clip", encoders={"wave": "audio_conv1d"}, epochs=12, seed=0, progress=False)
    res = evaluate_records(mm, train, test, fractions=(0.1,), seeds=(0,), protocols=("linear",))
    assert res["retrieval"]["wave->logmel"]["recall@5"] > 0.25  # chance: 5 / 300 (measured: 0.48)
    wave = res["modalities"]["wave"]["linear"]["0.1"]["mean"]
    random_init = selfsup.evaluate(scratch_encoder(mm.encoders["wave"], 0), train.parts["wave"], test.parts["wave"],
                                   fractions=(0.1,), seeds=(0,), metrics=("linear",))["linear"]["0.1"]["mean"]
    assert wave > random_init + 0.2, (wave, random_init)  # measured: 0.61 vs 0.23


def test_fused_encoder_zeroes_missing_parts_and_fine_tunes_with_missing_modalities() -> None:
    from selfsup.records import FusedEncoder, finetune_records

    present = torch.tensor([[1, 0], [1, 1], [0, 1], [1, 1]], dtype=torch.bool)
    parts = {"x": torch.randn(4, 4), "y": torch.randn(4, 4)}
    filled = {k: torch.where(present[:, m, None], v, float("nan")) for m, (k, v) in enumerate(parts.items())}
    fused = FusedEncoder({"x": _Strict(4), "y": _Strict(4)}).eval()
    out = fused(RecordBatch(filled, present))
    assert out.shape == (4, 16) and torch.isfinite(out).all()
    assert (out[0, 8:] == 0).all() and (out[2, :8] == 0).all()
    assert torch.allclose(out[1, :8], fused.encoders["x"].lin(parts["x"][1]))
    train, test = _paired(240, 0, missing=0.25), _paired(120, 1, missing=0.25)
    kwargs = {k: {"hidden": 32, "depth": 2} for k in "abc"}
    mm = pretrain_records(train, "clip", encoder_kwargs=kwargs, proj_dim=16, max_steps=50, batch_size=64)
    study = finetune_records(mm, train, test, fractions=(1.0,), seeds=(0,),
                             config={"epochs": 50, "min_steps": 100, "max_steps": 200})
    for name in ("pretrained", "scratch"):
        assert study["results"][name]["finetune"]["1"]["mean"] > 0.5  # 4 classes: chance 0.25


def test_records_of_series_images_and_tables_train_and_evaluate_with_missing_parts(tmp_path: Path) -> None:
    from selfsup.data import ImageDataset
    from selfsup.data.series import SeriesDataset

    rng = np.random.default_rng(0)
    n = 48
    y = rng.integers(0, 2, n)
    series = SeriesDataset.from_arrays((rng.normal(size=(n, 2, 32)) + y[:, None, None]).astype(np.float32), y)
    images = ImageDataset.from_arrays(rng.integers(0, 255, (n, 16, 16, 3), dtype=np.uint8), y)
    table = TabularDataset.from_arrays(rng.normal(size=(n, 3)).astype(np.float32) + y[:, None],
                                       labels=y.astype(str))
    present = rng.random((n, 3)) > 0.3
    present[~present.any(1), 0] = True
    records = MultiModalDataset.from_parts({"series": series, "image": images, "table": table}, present=present)
    mm = pretrain_records(records, "mv_infonce", encoder_kwargs={"series": {"hidden": 8, "out_dim": 16, "depth": 2},
                                                                 "image": {"widths": (8, 16)},
                                                                 "table": {"hidden": 16, "depth": 2}},
                          max_steps=3, batch_size=16, run_dir=tmp_path / "run")
    again = MultiModalEncoder.load(tmp_path / "run")
    np.testing.assert_allclose(again.embed("image", images), mm.embed("image", images), atol=1e-5)
    res = evaluate_records(again, records, records, fractions=(1.0,), seeds=(0,), protocols=("knn",))
    assert set(res["modalities"]) == {"series", "image", "table"} and "series->image" in res["retrieval"]
