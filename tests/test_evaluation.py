"""Label fractions, fine-tuning against from-scratch, equivariance R², periodic kNN and named input errors."""

import csv
import json

import numpy as np
import pytest
import torch
from helpers import TINY_ENCODER, TINY_SIMCLR, tiny_images

import selfsup
from selfsup.data import DataError, ImageDataset
from selfsup.evaluate import (
    PeriodicKNN,
    balanced_subset,
    cross_validate_embeddings,
    evaluate_embeddings,
    format_results,
)
from selfsup.evaluate.equivariance import equivariance_r2, measure_equivariance, transform_targets
from selfsup.evaluate.finetune import FinetuneConfig, finetune_accuracy, fresh_copy, label_fraction_study
from selfsup.evaluate.protocol import check_labels
from selfsup.views import Preprocess
from selfsup.views.image import RandomResizedCrop, RandomRotation, rotate


def colour_classes(n_per=48, size=12, seed=0):
    """Three classes told apart only by which colour channel is bright: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), n_per)
    x = rng.integers(0, 70, (len(y), size, size, 3))
    x[np.arange(len(y)), :, :, y] += 150
    return ImageDataset.from_arrays(x.astype(np.uint8), y)


# ------------------------------------------------------------------ labels and fractions


def test_balanced_subset_takes_the_fraction_of_every_class_and_names_an_emptied_class():
    y = np.repeat([0, 1, 2], [100, 50, 30])
    idx = balanced_subset(y, 0.1, seed=0)
    assert np.bincount(y[idx]).tolist() == [10, 5, 3]
    assert not np.array_equal(idx, balanced_subset(y, 0.1, seed=1))
    np.testing.assert_array_equal(idx, balanced_subset(y, 0.1, seed=0))
    with pytest.raises(DataError, match=r"fraction 0.01 leaves class 2 \(30 samples\) with no labelled sample"):
        balanced_subset(y, 0.01, seed=0)


def test_label_checks_name_the_problem():
    with pytest.raises(DataError, match="10 samples but 9 labels"):
        check_labels("train", 10, np.zeros(9, int))
    with pytest.raises(DataError, match="single class"):
        check_labels("train", 4, np.zeros(4, int), min_classes=2)
    with pytest.raises(DataError, match="integer class ids"):
        check_labels("test", 2, np.array([0.5, 1.0]))
    with pytest.raises(DataError, match="1 samples have no label"):
        check_labels("test", 3, np.array([0, -1, 1]))
    assert check_labels("test", 2, np.array([0.0, 2.0])).dtype == np.int64
    x = np.random.default_rng(0).standard_normal((6, 3))
    y = np.array([0, 1] * 3)
    bad = x.copy()
    bad[2, 1] = np.nan
    with pytest.raises(DataError, match="1 embeddings contain NaN"):
        evaluate_embeddings(bad, y, x, y, fractions=(1.0,))
    with pytest.raises(DataError, match="unknown protocol"):
        evaluate_embeddings(x, y, x, y, protocols=("knn", "forest"))


def test_reported_sd_is_the_sample_sd_of_the_seeds_runs():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((300, 5)), np.repeat(np.arange(3), 100)
    res = evaluate_embeddings(x, y, x, y, fractions=(0.1,), seeds=(0, 1, 2), protocols=("knn",), knn_k=5)
    cell = res["knn"]["0.1"]
    assert len(cell["runs"]) == 3 and cell["n_labels"] == 30
    assert cell["std"] == pytest.approx(np.std(cell["runs"], ddof=1))
    assert cell["mean"] == pytest.approx(np.mean(cell["runs"]))


# ------------------------------------------------------------------ fine-tuning


def test_finetune_learns_leaves_the_encoder_untouched_and_repeats_under_a_seed():
    train, test = colour_classes(seed=0), colour_classes(n_per=20, seed=1)
    enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER)
    before = [p.clone() for p in enc.state_dict().values()]
    cfg = FinetuneConfig(epochs=1, min_steps=30, max_steps=30, batch_size=32, lr=3e-3, precision="fp32")
    pre = Preprocess(12)
    runs = [finetune_accuracy(enc, train, train.labels, test, test.labels, preprocess=pre, config=cfg, seed=0)
            for _ in range(2)]
    assert runs[0]["accuracy"] > 0.9 and runs[0]["steps"] == 30 and runs[0]["n_labels"] == len(train)
    assert runs[0] == runs[1]
    assert all(torch.equal(a, b) for a, b in zip(before, enc.state_dict().values(), strict=True))
    idx = balanced_subset(train.labels, 0.25, seed=0)
    part = finetune_accuracy(enc, train, train.labels, test, test.labels, indices=idx, preprocess=pre, config=cfg)
    assert part["n_labels"] == len(idx) == 36


def test_finetune_steps_scale_with_the_labelled_set_within_bounds():
    cfg = FinetuneConfig(epochs=30, min_steps=200, max_steps=3000, batch_size=256)
    assert cfg.steps_for(500) == 200 and cfg.steps_for(5000) == 600 and cfg.steps_for(50_000) == 3000


def test_fresh_copy_is_a_new_initialisation_of_the_same_architecture():
    enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER)
    a, b = fresh_copy(enc, seed=3), fresh_copy(enc, seed=3)
    c = fresh_copy(enc, seed=4)
    ka = list(a.state_dict())
    assert ka == list(enc.state_dict())
    conv = next(k for k in ka if k.endswith("weight") and a.state_dict()[k].ndim == 4)
    assert torch.equal(a.state_dict()[conv], b.state_dict()[conv])
    assert not torch.equal(a.state_dict()[conv], c.state_dict()[conv])
    assert not torch.equal(a.state_dict()[conv], enc.state_dict()[conv])


def test_label_fraction_study_compares_encoders_on_the_same_draws():
    train, test = colour_classes(seed=0), colour_classes(n_per=20, seed=1)
    enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER)
    cfg = FinetuneConfig(epochs=1, min_steps=5, max_steps=5, batch_size=32, precision="fp32")
    study = label_fraction_study({"a": enc, "b": fresh_copy(enc, 1)}, train, train.labels, test, test.labels,
                                 fractions=(0.25, 1.0), seeds=(0, 1), protocols=("linear", "finetune"),
                                 preprocess=Preprocess(12), config=cfg)
    for name in ("a", "b"):
        for proto in ("linear", "finetune"):
            cell = study["results"][name][proto]["0.25"]
            assert cell["n_labels"] == 36 and len(cell["runs"]) == 2
    assert len(study["results"]["a"]["finetune"]["1"]["runs"]) == 2  # fine-tuning varies with the seed at 100 %
    assert len(study["results"]["a"]["linear"]["1"]["runs"]) == 1  # a deterministic probe runs once
    with pytest.raises(DataError, match="leaves class"):
        label_fraction_study({"a": enc}, train, train.labels, test, test.labels, fractions=(0.001,),
                             preprocess=Preprocess(12), config=cfg)


# ------------------------------------------------------------------ equivariance


def test_rotation_is_counter_clockwise_and_reports_its_angle():
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 0, 2] = 1  # top centre
    assert rotate(x, torch.tensor([90.0]))[0, 0, 2, 0] == pytest.approx(1.0)  # goes to the left centre
    g = torch.Generator().manual_seed(0)
    out, p = RandomRotation((-30, 30))(torch.rand(8, 3, 6, 6), g)
    assert out.shape == (8, 3, 6, 6) and p["angle"].shape == (8,) and p["angle"].abs().max() <= 30


def test_transform_targets_make_angles_circular_and_boxes_columns():
    t, names = transform_targets({"angle": torch.tensor([0.0, 90.0]), "crop": torch.rand(2, 4),
                                  "flip": torch.tensor([True, False])})
    assert names == ["angle_cos", "angle_sin", "crop_0", "crop_1", "crop_2", "crop_3", "flip"]
    np.testing.assert_allclose(t[:, :2], [[1, 0], [0, 1]], atol=1e-12)
    assert t[:, -1].tolist() == [1.0, 0.0]


def test_equivariance_r2_is_one_for_an_equivariant_pair_and_zero_for_an_invariant_one():
    rng = np.random.default_rng(0)
    n = 400
    angle = rng.uniform(-180, 180, n)
    t, names = transform_targets({"angle": angle})
    z = rng.standard_normal((n, 6))
    equivariant = np.concatenate([z[:, :4], t], 1)  # the pose sits in two coordinates
    invariant = z + 0.01 * rng.standard_normal((n, 6))  # the transformed embedding ignores the transform
    hi = equivariance_r2(z, equivariant, t, names)
    lo = equivariance_r2(z, invariant, t, names)
    assert hi["r2"] > 0.99 and set(hi["per_target"]) == {"angle_cos", "angle_sin"}
    assert lo["r2"] < 0.05
    with pytest.raises(DataError, match="one of each per sample"):
        equivariance_r2(z, z[:-1], t)


def test_an_mlp_reads_a_relative_rotation_that_a_linear_read_out_cannot():
    """Poses that turn with the input: the angle is a product of z and z_t (cos = z.z_t), invisible to ridge."""
    rng = np.random.default_rng(0)
    n = 1000
    base, angle = rng.uniform(-np.pi, np.pi, n), rng.uniform(-180, 180, n)
    z = np.stack([np.cos(base), np.sin(base)], 1)
    z_t = np.stack([np.cos(base + np.deg2rad(angle)), np.sin(base + np.deg2rad(angle))], 1)
    t, names = transform_targets({"angle": angle})
    assert equivariance_r2(z, z_t, t, names)["r2"] < 0.05
    mlp = equivariance_r2(z, z_t, t, names, model="mlp")
    assert mlp["r2"] > 0.8 and mlp["model"] == "mlp", mlp
    with pytest.raises(ValueError, match="unknown equivariance model 'tree'"):
        equivariance_r2(z, z_t, t, model="tree")


def test_measure_equivariance_reads_crop_boxes_from_a_pixel_encoder():
    """On ramp images a crop's box is a linear function of the cropped pixels: R² must be about 1."""
    ramp = np.linspace(0, 255, 16)
    img = np.stack([np.tile(ramp, (16, 1)), np.tile(ramp[:, None], (1, 16)), np.full((16, 16), 128.0)], -1)
    data = ImageDataset.from_arrays(np.repeat(img[None], 200, 0).astype(np.uint8))

    class Pixels(torch.nn.Module):
        out_dim = 3 * 16 * 16

        def __init__(self):
            super().__init__()
            self.unused = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return x.flatten(1)

    res = measure_equivariance(Pixels(), data, {"crop": RandomResizedCrop(16, scale=(0.2, 1.0))},
                               Preprocess(16, (0.0,) * 3, (1.0,) * 3), n=200)
    assert res["crop"]["r2"] > 0.99 and res["crop"]["n"] == 200


# ------------------------------------------------------------------ periodic kNN


def test_periodic_knn_logs_undiluted_scores_and_monitors_do_not_change_training(tmp_path):
    data = tiny_images(64, 16)

    def run(callbacks, where):
        torch.manual_seed(0)
        enc = selfsup.create_encoder("small_cnn", **TINY_ENCODER)
        m = selfsup.create_method("simclr", enc, **TINY_SIMCLR)
        selfsup.Trainer(max_steps=6, batch_size=16, progress=False, log_every=2, precision="fp32",
                        callbacks=callbacks).fit(m, data, selfsup.image_views("simclr", 16), run_dir=where)
        return enc

    from selfsup.evaluate import CollapseMonitor, OnlineLinearProbe

    knn = PeriodicKNN(data, data.labels, data, data.labels, Preprocess(16), every=3, k=5)
    a = run([OnlineLinearProbe(data.labels), knn, CollapseMonitor(every=2)], tmp_path / "a")
    b = run([], tmp_path / "b")
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    assert [s for s, _ in knn.history] == [3, 6]
    with open(tmp_path / "a" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    logged = {int(r["step"]): float(r["knn_acc"]) for r in rows if r["knn_acc"]}
    assert logged == {4: knn.history[0][1], 6: knn.history[1][1]}  # each score as measured, not averaged down
    assert all(None not in r and len(r) == len(rows[0]) for r in rows)  # every row fits the header
    with pytest.raises(DataError, match="one label per sample"):
        PeriodicKNN(data, data.labels[:-1], data, data.labels)


def test_pretrain_monitor_section_and_its_errors(tmp_path):
    data = tiny_images(64, 16)
    selfsup.pretrain(data, "simclr", "small_cnn", encoder_kwargs=TINY_ENCODER, method_kwargs=TINY_SIMCLR,
                     max_steps=4, batch_size=16, progress=False, log_every=2, run_dir=tmp_path / "r",
                     monitor={"knn_every": 2, "knn_test": data, "collapse_every": 2})
    with open(tmp_path / "r" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert all(r["knn_acc"] and r["online_probe_acc"] and r["rankme"] for r in rows)
    from selfsup.config import ConfigError

    with pytest.raises(ConfigError, match=r"monitor\.knn_evry"):
        selfsup.pretrain(data, "simclr", "small_cnn", encoder_kwargs=TINY_ENCODER, max_steps=1, batch_size=16,
                         progress=False, monitor={"knn_evry": 2})
    with pytest.raises(DataError, match=r"needs monitor\.knn_test"):
        selfsup.pretrain(data, "simclr", "small_cnn", encoder_kwargs=TINY_ENCODER, max_steps=1, batch_size=16,
                         progress=False, monitor={"knn_every": 2})


def test_cli_evaluate_finetune_with_scratch_baseline(tmp_path, capsys):
    from selfsup.cli import main

    train, test = colour_classes(seed=0), colour_classes(n_per=20, seed=1)
    np.savez(tmp_path / "d.npz", x_train=train.images, y_train=train.labels, x_test=test.images, y_test=test.labels)
    enc = selfsup.PretrainedEncoder(selfsup.create_encoder("small_cnn", **TINY_ENCODER), "small_cnn",
                                    TINY_ENCODER, Preprocess(12))
    enc.save(tmp_path / "run" / "encoder.safetensors")
    d = str(tmp_path / "d.npz")
    assert main(["evaluate", str(tmp_path / "run"), "--train", d, "--test", d, "--fractions", "0.25,1",
                 "--seeds", "0,1", "--metrics", "linear,finetune,equivariance", "--finetune", "min_steps=3",
                 "--finetune", "max_steps=3"]) == 0
    res = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert res["n_test"] == 60 and res["finetune_config"]["max_steps"] == 3  # the test split was read as test
    assert set(res["scratch"]) >= {"linear", "finetune", "equivariance"}
    assert set(res["equivariance"]) == {"rotation", "crop"}
    out = capsys.readouterr().out
    assert "| finetune (from scratch) |" in out and "equivariance R²" in out
    assert main(["evaluate", str(tmp_path / "run"), "--train", d, "--test", d, "--finetune", "epoch=3"]) == 2
    assert "finetune.epoch" in capsys.readouterr().err


def test_cross_validation_equals_scikit_learns_folds_of_the_same_probe():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [40, 30, 20])
    x = rng.normal(size=(len(y), 6)) + 0.8 * np.eye(6)[y]  # overlapping classes: folds differ
    res = cross_validate_embeddings(x, y, folds=5, seed=3, protocols=("linear",))
    ref = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000)), x, y,
                          cv=StratifiedKFold(5, shuffle=True, random_state=3))
    np.testing.assert_allclose(res["linear"]["1"]["runs"], ref, atol=1e-12)
    assert res["linear"]["1"]["mean"] == pytest.approx(ref.mean())
    assert res["protocol"]["cv_folds"] == 5 and res["n_test"] == 18
    assert "5-fold stratified cross-validation" in format_results(res)
    with pytest.raises(DataError, match="2\\+ samples per class"):
        cross_validate_embeddings(x[:41], np.r_[y[:40], 1], folds=5)
