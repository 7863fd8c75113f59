"""The command line: pretrain with config + overrides, evaluate, embed, help, named errors."""

import json

import numpy as np
import pytest
import yaml
from PIL import Image

from selfsup.cli import main


@pytest.fixture
def labelled_folder(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(12):
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def _cfg(tmp_path, **trainer):
    cfg = {"encoder": {"name": "small_cnn", "widths": [8, 16]},
           "method": {"name": "simclr", "proj_hidden_dim": 32, "proj_dim": 16},
           "trainer": {"max_steps": 3, "batch_size": 8, "progress": False, **trainer}}
    p = tmp_path / "cfg.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_pretrain_evaluate_embed_end_to_end(tmp_path, labelled_folder, capsys):
    run = tmp_path / "run"
    assert main(["pretrain", str(labelled_folder), "--config", str(_cfg(tmp_path)), "--run-dir", str(run),
                 "trainer.lr=0.01", "--set", "method.temperature=0.3"]) == 0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["trainer"]["lr"] == 0.01 and saved["method"]["temperature"] == 0.3
    assert saved["trainer"]["optimizer"] == "sgd" and saved["monitor"]["collapse_every"] == 50  # defaults resolved
    assert main(["pretrain", "--config", str(run / "config.yaml"), "--run-dir", str(tmp_path / "again")]) == 0
    again = yaml.safe_load((tmp_path / "again" / "config.yaml").read_text())
    assert again == {**saved, "data": again["data"]} and again["data"]["path"] == saved["data"]["path"]
    assert (run / "encoder.safetensors").exists() and (run / "metrics.csv").exists()

    out = tmp_path / "eval.json"
    assert main(["evaluate", str(run), "--train", str(labelled_folder), "--test", str(labelled_folder),
                 "--fractions", "0.5,1", "--seeds", "0,1", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res["knn"]) == {"0.5", "1"} and len(res["knn"]["0.5"]["runs"]) == 2
    assert "| knn |" in capsys.readouterr().out
    assert main(["evaluate", str(run), "--train", str(labelled_folder), "--test", str(labelled_folder),
                 "--fractions", "1", "--metrics", "all", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert {"knn", "linear", "retrieval", "clustering", "anomaly", "misclassified", "diagnostics"} <= set(res)
    assert 0 <= res["retrieval"]["map@r"] <= 1 and "nmi" in res["clustering"]
    assert main(["evaluate", str(run), "--train", str(labelled_folder), "--test", str(labelled_folder),
                 "--metrics", "knn,accuracy"]) == 2
    assert "unknown metric(s) accuracy" in capsys.readouterr().err

    emb = tmp_path / "z.npy"
    assert main(["embed", str(run / "encoder.safetensors"), str(labelled_folder), "--out", str(emb)]) == 0
    assert np.load(emb).shape == (24, 16)

    pq = pytest.importorskip("pyarrow.parquet")
    assert main(["embed", str(run), str(labelled_folder), "--out", str(tmp_path / "z.parquet")]) == 0
    table = pq.read_table(tmp_path / "z.parquet")
    assert table.num_rows == 24 and table.column("label").to_pylist()[:2] == [0, 0]
    assert np.allclose(np.array(table.column("embedding").to_pylist()), np.load(emb), atol=1e-6)


def test_unknown_config_key_is_named(tmp_path, labelled_folder, capsys):
    code = main(["pretrain", str(labelled_folder), "--config", str(_cfg(tmp_path)), "--run-dir",
                 str(tmp_path / "r"), "trainer.learning_rate=0.1"])
    err = capsys.readouterr().err
    assert code == 2 and "trainer.learning_rate" in err and "valid keys for trainer" in err
    code = main(["pretrain", str(labelled_folder), "--config", str(_cfg(tmp_path)), "--run-dir",
                 str(tmp_path / "r"), "model.name=x"])
    assert code == 2 and "unknown config section(s) model" in capsys.readouterr().err
    code = main(["pretrain", str(labelled_folder), "--config", str(_cfg(tmp_path)), "--run-dir",
                 str(tmp_path / "r"), "encoder.depth=3"])
    assert code == 2 and "encoder.depth" in capsys.readouterr().err


def test_wrong_path_and_batch_too_large(tmp_path, labelled_folder, capsys):
    assert main(["pretrain", str(tmp_path / "missing"), "--run-dir", str(tmp_path / "r")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["pretrain", str(labelled_folder), "--config", str(_cfg(tmp_path, batch_size=64)), "--run-dir",
                 str(tmp_path / "r2")]) == 2
    assert "trainer.batch_size=64 is larger than the dataset (24 samples)" in capsys.readouterr().err


def test_help_lists_methods_and_encoders(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in ("simclr", "byol", "barlow_twins", "small_cnn", "resnet18_cifar", "vit_tiny"):
        assert name in out


def test_transformation_aware_features_by_name_from_the_cli(tmp_path):
    """Pretext tasks, random fields, ScatSimCLR and the split methods, each named on the command line."""
    import numpy as np

    from selfsup.cli import main

    data = tmp_path / "tiny.npy"
    np.save(data, np.random.default_rng(0).integers(0, 256, (32, 16, 16, 3), dtype=np.uint8))
    runs = {
        "pretext": ["--method", "byol", "method.pretext=rotation,view_params", "method.pred_hidden_dim=16",
                    "encoder.widths=[8,16]"],
        "fields": ["--method", "simclr", "views.random_fields=strong", "encoder.widths=[8,16]"],
        "scat": ["--method", "scatsimclr", "views.n_views=3", "encoder.adapter_widths=[8]"],
        "sie": ["--method", "sie", "encoder.widths=[8,16]"],
        "caps": ["--method", "equicaps", "encoder.n_capsules=2", "encoder.widths=[8,16]"],
    }
    for name, args in runs.items():
        run = tmp_path / name
        assert main(["pretrain", str(data), "--run-dir", str(run), "--batch-size", "16", "trainer.max_steps=2",
                     "method.proj_hidden_dim=16", "method.proj_dim=8", *args]) == 0, name
        assert (run / "encoder.safetensors").exists(), name
