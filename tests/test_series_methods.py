"""Series objectives against loop implementations; TS2Vec, SoftCLT and masked patches end to end."""

import math

import numpy as np
import pytest
import torch

import selfsup
from selfsup.config import ConfigError
from selfsup.data.series import SeriesDataset, write_ucr_tsv
from selfsup.methods import create_method
from selfsup.methods.base import WeightAverage
from selfsup.objectives.temporal import hierarchical_contrastive_loss, soft_instance_weights, timelag_weights
from selfsup.views.series import series_views


def _nce_loop(rows: torch.Tensor, weights=None) -> float:
    """rows (2N, D), row i and i + N positives: the loss summed over anchors (hard: -log p(partner))."""
    m, n = rows.shape[0], rows.shape[0] // 2
    total = 0.0
    for a in range(m):
        others = [b for b in range(m) if b != a]
        logits = torch.stack([rows[a] @ rows[b] for b in others]).double()
        logp = logits - torch.logsumexp(logits, 0)
        if weights is None:
            total -= float(logp[others.index((a + n) % m)])
        else:
            total -= sum(float(weights[a, b]) * float(logp[k]) for k, b in enumerate(others))
    return total


def _hier_loop(z1, z2, alpha=0.5, inst_w=None, tau_t=None) -> float:
    """TS2Vec's hierarchical loss (SoftCLT's when weights are given), written out with loops."""
    b = z1.shape[0]
    loss, depth = 0.0, 0
    while True:
        t = z1.shape[1]
        w_i = None if inst_w is None else inst_w.repeat(2, 2)
        inst = sum(_nce_loop(torch.cat([z1[:, s], z2[:, s]]), w_i) for s in range(t)) / (2 * b * t)
        if t == 1:
            loss += alpha * inst
            return loss / (depth + 1)
        lag = None if tau_t is None else torch.tensor(
            [[2 / (1 + math.exp(tau_t * 2 ** depth * abs(i - j))) for j in range(t)] for i in range(t)]).repeat(2, 2)
        temp = sum(_nce_loop(torch.cat([z1[k], z2[k]]), lag) for k in range(b)) / (2 * b * t)
        loss += alpha * inst + (1 - alpha) * temp
        depth += 1
        z1 = torch.nn.functional.max_pool1d(z1.transpose(1, 2), 2).transpose(1, 2)
        z2 = torch.nn.functional.max_pool1d(z2.transpose(1, 2), 2).transpose(1, 2)


def test_hierarchical_contrastive_loss_matches_the_loop_formula():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(3, 5, 4, generator=g), torch.randn(3, 5, 4, generator=g)
    assert float(hierarchical_contrastive_loss(z1, z2)) == pytest.approx(_hier_loop(z1, z2), rel=1e-5)
    assert float(hierarchical_contrastive_loss(z1, z2, alpha=0.8)) == pytest.approx(_hier_loop(z1, z2, 0.8), rel=1e-5)


def test_soft_loss_matches_the_loop_formula_and_reduces_to_ts2vec_when_sharp():
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(3, 6, 4, generator=g), torch.randn(3, 6, 4, generator=g)
    dist = torch.tensor([[0.0, 0.2, 0.9], [0.2, 0.0, 0.5], [0.9, 0.5, 0.0]])
    w = soft_instance_weights(dist, sharpness=3.0, alpha=0.5)
    assert torch.allclose(w.diagonal(), torch.ones(3))
    assert float(w[0, 1]) == pytest.approx(2 * 0.5 / (1 + math.exp(0.6)))
    ours = hierarchical_contrastive_loss(z1, z2, 0.5, instance_weights=w, temporal_sharpness=0.7)
    assert float(ours) == pytest.approx(_hier_loop(z1, z2, 0.5, w, 0.7), rel=1e-5)
    sharp = hierarchical_contrastive_loss(z1, z2, instance_weights=soft_instance_weights(dist + 1, 1e4),
                                          temporal_sharpness=1e4)
    assert float(sharp) == pytest.approx(float(hierarchical_contrastive_loss(z1, z2)), rel=1e-5)
    lag = timelag_weights(4, 1.0)
    assert float(lag[0, 0]) == 1.0 and float(lag[0, 1]) == pytest.approx(2 / (1 + math.e))


def test_loss_against_the_official_ts2vec_code_when_installed():
    losses = pytest.importorskip("ts2vec.models.losses", reason="official TS2Vec (pip install ts2vec) not installed")
    g = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(4, 9, 8, generator=g), torch.randn(4, 9, 8, generator=g)
    assert float(hierarchical_contrastive_loss(z1, z2)) == pytest.approx(
        float(losses.hierarchical_contrastive_loss(z1, z2)), rel=1e-5)


def _tiny_ts_encoder(c=1):
    return selfsup.create_encoder("ts_conv", in_channels=c, hidden=8, out_dim=16, depth=3)


def test_ts2vec_contrasts_exactly_the_overlap():
    torch.manual_seed(0)
    m = create_method("ts2vec", _tiny_ts_encoder(), average_weights=False).eval()
    x = torch.randn(5, 1, 30)
    made = series_views("ts2vec", mask_p=0.0)(x, torch.Generator().manual_seed(0))
    views, params = [v for v, _ in made], [p for _, p in made]
    out = m(views, params)
    o, n = int(params[0]["overlap_start"][0]), int(params[0]["overlap_length"][0])
    z1 = m.encoder.forward_timestamps(views[0])[:, o:o + n]
    z2 = m.encoder.forward_timestamps(views[1])[:, :n]
    assert torch.allclose(out["loss"], hierarchical_contrastive_loss(z1, z2), atol=1e-6)
    with pytest.raises(ValueError, match="overlapping crops"):
        m([x, x], [{}, {}])
    with pytest.raises(ValueError, match="per-timestamp"):
        create_method("ts2vec", selfsup.create_encoder("small_cnn"))


def test_weight_average_is_the_mean_of_all_snapshots():
    net = torch.nn.Linear(3, 2)
    avg = WeightAverage(net)
    snaps = []
    for k in range(4):
        with torch.no_grad():
            net.weight.add_(float(k + 1))
        avg.update(net)
        snaps.append(net.weight.detach().clone())
    other = torch.nn.Linear(3, 2)
    avg.copy_to(other)
    assert torch.allclose(other.weight, torch.stack(snaps).mean(0))


def test_masked_patches_learns_only_from_hidden_patches():
    torch.manual_seed(0)
    enc = selfsup.create_encoder("patch_tst", in_channels=2, patch_len=4, out_dim=16, depth=1, heads=2)
    m = create_method("masked_patches", enc, mask_ratio=0.5)
    mask = m.random_mask(3, 2, 8, torch.device("cpu"))
    assert (mask.sum(-1) == 4).all()
    x = torch.randn(3, 2, 32)
    x[0, 0, :3] = float("nan")
    preds = []

    def keep(module, inputs, output):
        output.retain_grad()
        preds.append(output)

    m.decoder.register_forward_hook(keep)
    torch.manual_seed(1)
    out = m([x], [{}])
    out["loss"].backward()
    torch.manual_seed(1)
    hidden = m.random_mask(3, 2, 8, torch.device("cpu"))  # the same draw the forward pass made
    grad = preds[0].grad.abs().sum(-1)
    assert (grad[~hidden] == 0).all() and (grad[hidden] > 0).any()
    assert math.isfinite(float(out["loss"].detach())) and out["embedding"].shape == (3, 16)


def test_image_only_choices_on_series_are_named_errors():
    x = np.random.default_rng(0).normal(size=(16, 24)).astype(np.float32)
    with pytest.raises(ConfigError, match="trains on image data, not series"):
        selfsup.pretrain(x, "rotnet", max_steps=1, batch_size=8, progress=False)
    with pytest.raises(ConfigError, match="pretext task\\(s\\) rotation pose questions about images"):
        selfsup.pretrain(x, "simclr", method_kwargs={"pretext": "rotation"}, max_steps=1, batch_size=8,
                         progress=False)
    with pytest.raises(ConfigError, match="view option\\(s\\) n_local do not apply to series"):
        selfsup.pretrain(x, "simclr", n_local=2, max_steps=1, batch_size=8, progress=False)
    imgs = np.zeros((16, 8, 8, 3), np.uint8)
    with pytest.raises(ConfigError, match="trains on series data, not image"):
        selfsup.pretrain(imgs, "ts2vec", max_steps=1, batch_size=8, progress=False)


SMALL = {"encoder_kwargs": {"hidden": 8, "out_dim": 16, "depth": 3}, "progress": False, "threads": 1}


@pytest.mark.parametrize("method", ["ts2vec", "softclt", "masked_patches", "simclr", "vicreg"])
def test_every_series_method_trains_saves_and_reloads(method, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 2, 32)).astype(np.float32)
    x[3, :, 20:] = np.nan  # a shorter series
    x[5, 0, 4] = np.nan  # a missing value
    kw = dict(SMALL, encoder_kwargs={"patch_len": 4, "out_dim": 16, "depth": 1, "heads": 2}) \
        if method == "masked_patches" else dict(SMALL)
    if method in ("simclr", "vicreg"):
        kw["method_kwargs"] = {"proj_hidden_dim": 32, "proj_dim": 16}
    enc = selfsup.pretrain(x, method, max_steps=3, batch_size=8, run_dir=tmp_path, **kw)
    z = enc.embed(x)
    assert z.shape == (24, enc.out_dim) and np.isfinite(z).all()
    again = selfsup.load(tmp_path / "encoder.safetensors")
    assert again.modality.name == "series" and np.allclose(again.embed(x), z, atol=1e-5)
    assert (tmp_path / "config.yaml").read_text().count("modality: series") == 1


def test_ts2vec_resumes_exactly_with_its_weight_average(tmp_path):
    class Crash(selfsup.train.Callback):
        def on_step_end(self, state):
            if state.step == 5:
                raise RuntimeError("crash")

    x = np.random.default_rng(1).normal(size=(32, 1, 40)).astype(np.float32)
    kw = dict(SMALL, max_steps=8, batch_size=8, precision="fp32", checkpoint_every=3)
    ref = selfsup.pretrain(x, "ts2vec", run_dir=tmp_path / "ref", **kw)
    with pytest.raises(RuntimeError, match="crash"):
        selfsup.pretrain(x, "ts2vec", run_dir=tmp_path / "run", callbacks=[Crash()], **kw)
    resumed = selfsup.pretrain(x, "ts2vec", run_dir=tmp_path / "run", **kw)
    a, b = ref.module.state_dict(), resumed.module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_estimator_fit_encode_windows_and_ts2vec_layout():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 30, 2)).astype(np.float32)  # TS2Vec's (N, T, C)
    model = selfsup.SelfSupervised("ts2vec", channels_first=False, max_steps=2, **SMALL).fit(x)
    assert model.encode(x).shape == (20, 16)
    assert model.encode(x, encoding_window=None).shape == (20, 30, 16)
    assert model.encode(x, encoding_window=4).shape == (20, 30, 16)
    full = model.encode(x, encoding_window=None)
    assert np.allclose(full.max(1), model.encode(x), atol=1e-5)  # full_series = max over timestamps
    assert model.encode(x, encoding_window="multiscale").shape[:2] == (20, 30)
    assert model.get_params()["method"] == "ts2vec"
    with pytest.raises(RuntimeError, match="call fit"):
        selfsup.SelfSupervised().encode(x)


def test_evaluate_a_series_encoder_with_the_svm_protocol_from_ucr_files(tmp_path):
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 40)
    y = rng.integers(0, 2, 60)
    x = np.sin(2 * np.pi * (2 + 3 * y[:, None]) * t) + 0.3 * rng.normal(size=(60, 40))
    (tmp_path / "Toy").mkdir()
    write_ucr_tsv(tmp_path / "Toy" / "Toy_TRAIN.tsv", x[:40], y[:40] + 1)
    write_ucr_tsv(tmp_path / "Toy" / "Toy_TEST.tsv", x[40:], y[40:] + 1)
    enc = selfsup.pretrain(str(tmp_path / "Toy"), "ts2vec", max_steps=2, batch_size=8, **SMALL)
    res = selfsup.evaluate(enc, str(tmp_path / "Toy"), str(tmp_path / "Toy"), fractions=(1.0,), seeds=(0,),
                           metrics=("svm", "knn", "retrieval"))
    assert res["svm"]["1"]["mean"] > 0.8 and "recall@1" in res["retrieval"]
    with pytest.raises(ConfigError, match="no series version"):
        selfsup.evaluate(enc, str(tmp_path / "Toy"), str(tmp_path / "Toy"), metrics=("equivariance",))


def test_cli_pretrains_evaluates_and_embeds_a_ucr_file(tmp_path):
    from selfsup.cli import main

    rng = np.random.default_rng(0)
    write_ucr_tsv(tmp_path / "S_TRAIN.tsv", rng.normal(size=(16, 20)), rng.integers(1, 3, 16))
    run = tmp_path / "run"
    assert main(["pretrain", str(tmp_path / "S_TRAIN.tsv"), "--method", "ts2vec", "--max-steps", "2",
                 "--batch-size", "8", "--run-dir", str(run), "encoder.hidden=8", "encoder.depth=2",
                 "trainer.progress=false"]) == 0
    assert main(["evaluate", str(run), "--train", str(tmp_path / "S_TRAIN.tsv"), "--test",
                 str(tmp_path / "S_TRAIN.tsv"), "--fractions", "1", "--seeds", "0", "--metrics", "all"]) == 0
    assert main(["embed", str(run), str(tmp_path / "S_TRAIN.tsv"), "--out", str(tmp_path / "z.npy")]) == 0
    assert np.load(tmp_path / "z.npy").shape == (16, 320)
    ds = SeriesDataset.from_arrays(rng.normal(size=(4, 20)))
    assert selfsup.load(run).embed(ds).shape == (4, 320)


def test_hand_written_backward_of_the_hard_loss_matches_autograd():
    from selfsup.objectives.temporal import _neg_log_softmax_without_self, paired_nce

    z = torch.randn(3, 8, 5, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(0))

    def autograd_version(z):
        nll = _neg_log_softmax_without_self(z)
        idx = torch.arange(8)
        return nll[:, idx, (idx + 4) % 8].mean()

    ours, = torch.autograd.grad(paired_nce(z), z)
    ref, = torch.autograd.grad(autograd_version(z), z)
    assert torch.allclose(ours.double(), ref, atol=1e-6)


def test_report_of_a_series_run_maps_the_recorded_test_series(tmp_path):
    pytest.importorskip("matplotlib")
    from selfsup.cli import main
    from selfsup.report import build_report

    rng = np.random.default_rng(0)
    (tmp_path / "Toy").mkdir()
    for split in ("TRAIN", "TEST"):
        write_ucr_tsv(tmp_path / "Toy" / f"Toy_{split}.tsv", rng.normal(size=(24, 30)), rng.integers(1, 4, 24))
    run = tmp_path / "run"
    selfsup.pretrain(str(tmp_path / "Toy"), "ts2vec", max_steps=4, batch_size=8, run_dir=run, **SMALL)
    assert main(["evaluate", str(run), "--train", str(tmp_path / "Toy"), "--test", str(tmp_path / "Toy"),
                 "--fractions", "1", "--seeds", "0", "--metrics", "svm,knn"]) == 0
    page = build_report(run).read_text()
    assert "Embeddings" in page and "svm" in page and "samples/s" in page


def test_forecasting_from_embeddings_beats_repeating_the_last_value():
    from selfsup.data import DataError
    from selfsup.evaluate.forecast import forecasting_scores

    rng = np.random.default_rng(0)
    t = np.arange(1500)
    series = np.sin(2 * np.pi * t / 24) + 0.5 * np.sin(2 * np.pi * t / 100) + 0.1 * rng.normal(size=len(t))
    model = selfsup.SelfSupervised("ts2vec", max_steps=30, batch_size=16, **SMALL)
    windows = np.lib.stride_tricks.sliding_window_view(series[:900], 48)[::8].astype(np.float32)
    model.fit(windows)
    res = forecasting_scores(model.encode, series, horizons=(12,), lookback=48, stride=4)
    scores = res["12"]
    assert scores["embedding"]["mse"] < scores["last value"]["mse"]
    assert scores["raw window"]["mse"] < scores["last value"]["mse"]  # the baseline is a real one
    with pytest.raises(DataError, match="too short"):
        forecasting_scores(model.encode, series[:100], horizons=(12,), lookback=48)
    gappy = series.copy()
    gappy[5] = np.nan
    with pytest.raises(DataError, match="missing values"):
        forecasting_scores(model.encode, gappy)


@pytest.mark.parametrize("n", [20, 60])  # 20: too few for the C search (hard margin first); 60: the search
def test_svm_probe_survives_near_constant_features(n):
    """A collapsed encoder's features make libsvm's hard-margin dual non-finite; the probe must fall back to
    the next C (and score near chance) rather than crash a benchmark."""
    from sklearn.svm import SVC

    from selfsup.evaluate.svm import fit_svm

    rng = np.random.default_rng(0)
    x, y = 1 + 1e-9 * rng.standard_normal((n, 8)), np.tile([0, 1], n // 2)
    with pytest.raises(ValueError, match="not finite"):  # the failure this guards against
        SVC(C=np.inf, gamma="scale").fit(x, y)
    clf = fit_svm(x, y)
    assert np.isfinite(clf.C) and clf.predict(x).shape == (n,)
