"""Tables: reading CSV/TSV/Parquet with typed columns and named errors, the schema that reads a test file
as the training file, marginal-corruption views, the table encoder, SCARF and VIME."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import selfsup
from selfsup.data import DataError
from selfsup.data.tabular import TabularDataset, TabularSchema, is_table_file, load_table
from selfsup.encoders import create_encoder
from selfsup.methods import create_method
from selfsup.modalities import TabularPreprocess, modality_for
from selfsup.views.tabular import MarginalCorruption, tabular_views

CSV = """age,colour,size,city,label
31,red,1.5,Paris,yes
?,blue,2.5,Lyon,no
45,red,,Paris,yes
22,green,0.5,,no
38,blue,3.0,Nice,yes
"""


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_columns_are_typed_coded_and_missing_cells_marked(tmp_path: Path) -> None:
    ds = load_table(_write(tmp_path, CSV))
    s = ds.schema
    assert s.numeric == ("age", "size") and s.categorical == ("colour", "city") and s.target == "label"
    assert s.categories == (("blue", "green", "red"), ("Lyon", "Nice", "Paris"))
    np.testing.assert_array_equal(ds.codes, [[3, 3], [1, 1], [3, 3], [2, 0], [1, 2]])  # 0 = missing
    assert np.isnan(ds.numeric[1, 0]) and np.isnan(ds.numeric[2, 1]) and ds.numeric[4, 1] == 3.0
    assert ds.class_names == ["no", "yes"] and ds.labels.tolist() == [1, 0, 1, 0, 1]
    b = ds.batch(np.array([0, 3]))
    assert b.dtype == torch.float32 and b.shape == (2, 4)
    assert b[1, 2:].tolist() == [2.0, 0.0]  # codes after the numeric columns
    assert "5 rows, 2 numeric + 2 categorical" in ds.summary


def test_gzip_tsv_and_parquet_read_the_same(tmp_path: Path) -> None:
    ref = load_table(_write(tmp_path, CSV))
    gz = tmp_path / "t.tsv.gz"
    with gzip.open(gz, "wt") as f:
        f.write(CSV.replace(",", "\t"))
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    table = pa.table({"age": [31.0, None, 45.0, 22.0, 38.0], "colour": ["red", "blue", "red", "green", "blue"],
                      "size": [1.5, 2.5, None, 0.5, 3.0], "city": ["Paris", "Lyon", "Paris", None, "Nice"],
                      "label": ["yes", "no", "yes", "no", "yes"]})
    pq.write_table(table, tmp_path / "t.parquet")
    for other in (load_table(gz), load_table(tmp_path / "t.parquet")):
        assert other.schema == ref.schema
        np.testing.assert_array_equal(other.numeric, ref.numeric)
        np.testing.assert_array_equal(other.codes, ref.codes)
        np.testing.assert_array_equal(other.labels, ref.labels)
    assert is_table_file(gz) and is_table_file(tmp_path / "t.parquet") and is_table_file(tmp_path / "t.csv")
    assert modality_for(str(tmp_path / "t.csv")).name == "tabular"


def test_a_numbers_only_csv_stays_a_series_unless_told(tmp_path: Path) -> None:
    p = _write(tmp_path, "label,a,b,c\n1,0.1,0.2,0.3\n2,0.4,0.5,0.6\n")
    assert modality_for(str(p)).name == "series"
    assert modality_for(str(p), "tabular").name == "tabular"
    assert load_table(p).schema.numeric == ("a", "b", "c")


def test_a_mixed_type_column_is_a_named_error_with_the_fix(tmp_path: Path) -> None:
    p = _write(tmp_path, "zip,income\n75001,10\n75002,20\nunknown,30\n69001,40\n")
    with pytest.raises(DataError) as e:
        load_table(p, target=None)
    msg = str(e.value)
    assert str(p) in msg and "column 'zip'" in msg and "mixed types" in msg
    assert "'75001' on line 2" in msg and "'unknown' on line 4" in msg and "categorical=['zip']" in msg
    ds = load_table(p, target=None, categorical=["zip"])  # the fix the message names
    assert ds.schema.categorical == ("zip",) and ds.schema.numeric == ("income",)
    ds = load_table(p, target=None, na_values=["unknown"])  # or the other fix
    assert ds.schema.numeric == ("zip", "income") and np.isnan(ds.numeric[2, 0])


@pytest.mark.parametrize(("text", "kwargs", "match"), [
    ("a,b\n1,2\n3\n", {}, r"line 3: 1 values, but the header has 2 columns"),
    ("a,a\n1,2\n", {}, r"column name\(s\) a appear more than once"),
    ("a,b\n1,2\n", {"target": "y"}, r"target column 'y' is not in the header"),
    ("a,b\n1,inf\n", {}, r"line 2, column 'b': 'inf' is not finite"),
    ("a,b\n", {}, r"header but no rows"),
    ("a,b\n1,2\n", {"categorical": ["c"]}, r"categorical column\(s\) c are not in the header"),
])
def test_malformed_tables_get_named_errors(tmp_path: Path, text: str, kwargs: dict, match: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(DataError, match=match) as e:
        load_table(p, **kwargs)
    assert str(p) in str(e.value)


def test_a_test_file_is_read_with_the_training_schema(tmp_path: Path) -> None:
    train = load_table(_write(tmp_path, CSV))
    # other column order, categories in another order, one unseen category, numbers in a training-numeric column
    test = _write(tmp_path, "city,label,size,colour,age\nNice,no,1,green,50\nRome,yes,2,red,60\n", "test.csv")
    ds = load_table(test, schema=train.schema)
    assert ds.schema == train.schema
    np.testing.assert_array_equal(ds.codes, [[2, 2], [3, 0]])  # green = 2, Nice = 2; Rome unseen = 0
    np.testing.assert_array_equal(ds.numeric, [[50, 1], [60, 2]])
    assert ds.labels.tolist() == [0, 1]
    aligned = load_table(test).aligned(train.schema)  # an already-loaded table aligns the same way
    np.testing.assert_array_equal(aligned.codes, ds.codes)
    np.testing.assert_array_equal(aligned.numeric, ds.numeric)
    with pytest.raises(DataError, match=r"column\(s\) city of the training table are missing"):
        load_table(_write(tmp_path, "age,colour,size\n1,red,2\n", "bad.csv"), schema=train.schema)
    with pytest.raises(DataError, match="'x' is not a number"):
        load_table(_write(tmp_path, "age,colour,size,city\nx,red,2,Paris\n", "bad2.csv"), schema=train.schema)


def test_schema_round_trips_through_a_dict() -> None:
    s = TabularSchema(("a",), ("b",), (("x", "y"),), "label")
    assert TabularSchema.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert s.cardinalities == [3]


def test_marginal_corruption_draws_each_cell_from_its_column_and_replays_under_a_seed() -> None:
    x = torch.arange(40, dtype=torch.float32).reshape(8, 5)  # every cell distinct: its column is readable
    op = MarginalCorruption(0.6)
    out, p = op(x, torch.Generator().manual_seed(0))
    assert (p["mask"].sum(1) == 3).all()  # round(0.6 * 5) features per row
    assert torch.equal(out[~p["mask"]], x[~p["mask"]])
    column_of = lambda v: int(v) % 5  # noqa: E731 - value v sits in column v % 5
    rows, cols = p["mask"].nonzero(as_tuple=True)
    assert all(column_of(out[r, c]) == c for r, c in zip(rows.tolist(), cols.tolist(), strict=True))
    again, _ = op(x, torch.Generator().manual_seed(0))
    assert torch.equal(out, again)
    big = torch.randn(2000, 10)
    _, q = MarginalCorruption(0.3, fixed_count=False)(big, torch.Generator().manual_seed(1))
    assert abs(q["mask"].float().mean().item() - 0.3) < 0.01  # VIME: Bernoulli(p_m) per cell
    views = tabular_views("scarf")(x, torch.Generator().manual_seed(0))
    assert torch.equal(views[0][0], x) and views[1][1]["mask"].sum() == 24
    with pytest.raises(ValueError, match="unknown tabular view preset"):
        tabular_views("nope")


def test_table_encoder_embeds_categories_and_checks_width() -> None:
    torch.manual_seed(0)
    enc = create_encoder("tab_mlp", n_numeric=2, cardinalities=[4, 3], hidden=32, depth=2)
    x = torch.tensor([[0.1, -0.2, 1.0, 2.0], [0.1, -0.2, 3.0, 2.0]])
    y = enc(x)
    assert y.shape == (2, 32) and enc.out_dim == 32
    assert not torch.allclose(y[0], y[1])  # only the first category differs
    assert torch.isfinite(enc(torch.tensor([[float("nan"), 0.0, 0.0, 0.0]]))).all()
    with pytest.raises(ValueError, match=r"expects \(B, 4\) rows"):
        enc(torch.zeros(2, 3))


def test_preprocess_standardises_numeric_columns_and_keeps_codes(tmp_path: Path) -> None:
    ds = load_table(_write(tmp_path, CSV))
    pre = TabularPreprocess.fit(ds)
    out = pre(ds.batch(np.arange(len(ds))))
    ages = ds.numeric[:, 0]
    expected = (31 - np.nanmean(ages)) / np.nanstd(ages)
    assert out[0, 0].item() == pytest.approx(expected, rel=1e-5)
    assert out[1, 0].item() == 0.0  # missing -> the mean
    np.testing.assert_array_equal(out[:, 2:].numpy(), ds.codes)


def _toy_batch(seed: int = 0) -> tuple[torch.Tensor, torch.nn.Module]:
    g = torch.Generator().manual_seed(seed)
    x = torch.cat([torch.randn(16, 3, generator=g), torch.randint(0, 4, (16, 1), generator=g).float(),
                   torch.randint(0, 3, (16, 1), generator=g).float()], 1)
    torch.manual_seed(seed)
    return x, create_encoder("tab_mlp", n_numeric=3, cardinalities=[4, 3], hidden=16, depth=2)


def test_scarf_loss_is_infonce_of_anchors_against_corrupted_rows() -> None:
    x, enc = _toy_batch()
    model = create_method("scarf", enc)
    views = tabular_views("scarf")(x, torch.Generator().manual_seed(0))
    out = model([v for v, _ in views], [p for _, p in views])
    a = F.normalize(model.head(enc(views[0][0])), dim=1).double()
    c = F.normalize(model.head(enc(views[1][0])), dim=1).double()
    logits = a @ c.T / 1.0  # the paper's temperature
    expected = F.cross_entropy(logits, torch.arange(16))
    assert float(out["loss"]) == pytest.approx(float(expected), rel=1e-5)


def test_vime_loss_is_mask_bce_plus_alpha_times_feature_reconstruction() -> None:
    x, enc = _toy_batch(1)
    model = create_method("vime", enc)
    views = tabular_views("vime")(x, torch.Generator().manual_seed(0))
    out = model([v for v, _ in views], [p for _, p in views])
    mask = views[1][1]["mask"].double()
    h = enc(views[1][0])
    pm = torch.sigmoid(model.mask_estimator(h)).double()
    bce = -(mask * pm.log() + (1 - mask) * (1 - pm).log()).mean()
    r = model.feature_estimator(h).double()
    per_column = [((r[:, j] - x[:, j]) ** 2).mean() for j in range(3)]
    per_column.append(F.cross_entropy(r[:, 3:7], x[:, 3].long()))
    per_column.append(F.cross_entropy(r[:, 7:10], x[:, 4].long()))
    expected = bce + 2.0 * torch.stack(per_column).mean()
    assert float(out["loss"]) == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(ValueError, match="needs a table encoder"):
        create_method("vime", create_encoder("small_cnn"))


def test_pretrain_embed_save_load_and_evaluate_a_table(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 200
    colour = rng.choice(["red", "green", "blue"], n)
    x1 = rng.normal(size=n) + (colour == "red") * 2
    label = np.where(x1 > 1, "hi", "lo")
    rows = [f"{a:.3f},{c},{y}" for a, c, y in zip(x1, colour, label, strict=True)]
    train = _write(tmp_path, "x1,colour,label\n" + "\n".join(rows[:150]) + "\n", "train.csv")
    # the test file lists its categories in another order: the saved schema codes them as in training
    test = _write(tmp_path, "colour,label,x1\n" + "\n".join(f"{c},{y},{a:.3f}" for a, c, y in zip(
        x1[150:], colour[150:], label[150:], strict=True)) + "\n", "test.csv")
    enc = selfsup.pretrain(str(train), method="scarf", max_steps=5, batch_size=32, run_dir=tmp_path / "run",
                           encoder_kwargs={"hidden": 32, "depth": 2})
    again = selfsup.load(tmp_path / "run")
    z = again.embed(str(test))
    assert z.shape == (50, 32)
    np.testing.assert_allclose(z, enc.embed(str(test)), atol=1e-6)
    direct = enc.embed(load_table(test, schema=enc.preprocess.schema))
    np.testing.assert_allclose(z, direct, atol=1e-6)
    res = selfsup.evaluate(again, str(train), str(test), fractions=(1.0,), seeds=(0,), metrics=("knn", "linear"))
    assert res["linear"]["1"]["mean"] > 0.6
    cv = selfsup.evaluate(again, str(train), fractions=(1.0,), seeds=(0,), metrics=("linear",), folds=3)
    assert cv["data"]["cv_folds"] == 3


def test_cli_pretrains_on_a_table_with_a_named_target(tmp_path: Path) -> None:
    p = _write(tmp_path, "id_colour,v,outcome\n" + "\n".join(f"{c},{i % 7},{'a' if i % 2 else 'b'}"
                                                             for i, c in enumerate(["r", "g", "b"] * 20)) + "\n")
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "selfsup.cli", "pretrain", str(p), "--method", "vime", "--target", "outcome",
           "--categorical", "v", "--max-steps", "3", "--batch-size", "16", "--run-dir", str(run)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    spec = selfsup.load(run).preprocess.schema
    assert spec.target == "outcome" and spec.categorical == ("id_colour", "v") and spec.numeric == ()
    out = tmp_path / "z.npy"
    done = subprocess.run([sys.executable, "-m", "selfsup.cli", "embed", str(run), str(p), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert np.load(out).shape == (60, 256)


def test_from_arrays_codes_categories_and_missing_values() -> None:
    ds = TabularDataset.from_arrays(np.array([[1.0], [np.nan]]), np.array([["a"], [None]], dtype=object),
                                    labels=["x", "y"])
    assert ds.codes.tolist() == [[1], [0]] and ds.class_names == ["x", "y"] and np.isnan(ds.numeric[1, 0])


def test_vime_pretraining_beats_a_random_init_encoder_on_letter(shared_data: Path) -> None:
    """LetterRecognition (UCI split): VIME's frozen embeddings against the same network at random init,
    logistic probe with 10 % of the labels (benchmarks/tabular.py: 82.7 vs 75.7 after 20 epochs)."""
    from dataclasses import replace

    from selfsup.api import scratch_encoder

    ds = load_table(shared_data / "tabular" / "r_mlbench_kernlab" / "LetterRecognition.csv.gz", target="lettr")
    train = replace(ds, numeric=ds.numeric[:16000], codes=ds.codes[:16000], labels=ds.labels[:16000])
    test = replace(ds, numeric=ds.numeric[16000:], codes=ds.codes[16000:], labels=ds.labels[16000:])
    enc = selfsup.pretrain(train, method="vime", epochs=5, seed=0, progress=False,
                           monitor={"collapse_every": 0, "online_probe": False})
    scores = {}
    for name, e in (("vime", enc), ("random", scratch_encoder(enc, 0))):
        r = selfsup.evaluate(e, train, test, fractions=(0.1,), seeds=(0,), metrics=("linear",))
        scores[name] = r["linear"]["0.1"]["mean"]
    assert scores["vime"] > scores["random"] + 0.03, scores
