"""``selfsup report``: a self-contained page from a run folder, checked in headless Chromium."""

import base64
import json
import os
import re

import numpy as np
import pytest
from helpers import TINY_ENCODER, TINY_SIMCLR

import selfsup
from selfsup.data import DataError, ImageDataset
from selfsup.report import build_report
from selfsup.report.browser import find_chromium, render_in_chromium

pytest.importorskip("matplotlib")

PNG = b"\x89PNG\r\n\x1a\n"


def _images(n, seed):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(4), n // 4)
    x = rng.integers(0, 80, (len(y), 16, 16, 3))
    x[np.arange(len(y)), :, :, y % 3] += 120 + 30 * (y // 3)[:, None, None]
    return ImageDataset.from_arrays(x.astype(np.uint8), y, class_names=["red", "green", "blue", "red+"])


@pytest.fixture(scope="module")
def evaluated_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    train, test = _images(96, 0), _images(48, 1)
    np.savez(tmp / "data.npz", x_train=train.images, y_train=train.labels, x_test=test.images, y_test=test.labels,
             class_names=np.array(train.class_names))
    run = tmp / "run"
    data = str(tmp / "data.npz")
    enc = selfsup.pretrain(data, "simclr", "small_cnn", encoder_kwargs=TINY_ENCODER, method_kwargs=TINY_SIMCLR,
                           max_steps=12, batch_size=32, progress=False, log_every=2, run_dir=run,
                           monitor={"knn_every": 4, "knn_test": f"{data}:test", "collapse_every": 4})
    res = selfsup.api.evaluate(enc, data, data, fractions=(0.25, 1.0), seeds=(0, 1),
                               metrics=["knn", "linear", "finetune", "equivariance", "retrieval", "clustering"],
                               finetune={"min_steps": 4, "max_steps": 4, "batch_size": 32})
    (run / "evaluation.json").write_text(json.dumps(res))
    return run, data


def _embedded_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def test_report_embeds_every_plot_and_table(evaluated_run):
    run, _ = evaluated_run
    page_path = build_report(run)  # the test set comes from what evaluate recorded
    page = page_path.read_text()
    assert page_path == run / "report.html"
    pngs = _embedded_pngs(page)
    # training curves, probes/diagnostics, label-fraction curve, embedding map, neighbour grid
    assert len(pngs) == 5 and all(p.startswith(PNG) and len(p) > 2000 for p in pngs)
    for heading in ("Training", "Labels: how much does pretraining buy?", "Equivariance", "Beyond accuracy",
                    "Embeddings", "Representation diagnostics", "Configuration"):
        assert f">{heading}<" in page, heading
    assert "finetune, from scratch" in page and "Not in this report" not in page
    assert "src=\"http" not in page and "<link" not in page  # self-contained: nothing fetched


def test_report_says_what_is_missing_and_rejects_a_non_run(tmp_path, evaluated_run):
    run, _ = evaluated_run
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "metrics.csv").write_text((run / "metrics.csv").read_text())
    page = build_report(partial).read_text()
    assert len(_embedded_pngs(page)) == 2 and "Not in this report" in page and "evaluation.json" in page
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"holds none of metrics\.csv"):
        build_report(empty)
    with pytest.raises(FileNotFoundError, match="no such run folder"):
        build_report(tmp_path / "nowhere")


def test_report_renders_in_headless_chromium_with_every_image_loaded(evaluated_run, tmp_path):
    if find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must render the report: .ci/run installs Debian's chromium")
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium)")
    run, data = evaluated_run
    from selfsup.cli import main

    shot = tmp_path / "shot.png"
    assert main(["report", str(run), "--data", f"{data}:test", "--out", str(tmp_path / "r.html"),
                 "--screenshot", str(shot)]) == 0
    result = render_in_chromium(tmp_path / "r.html")
    assert result["images_total"] == 5 and result["images_loaded"] == 5
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size[0] == 1280 and im.size[1] > 1500
        assert len(np.unique(np.asarray(im.convert("L").resize((64, 64))))) > 20  # not a blank page
