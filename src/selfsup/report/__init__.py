"""``selfsup report RUN_DIR``: one self-contained HTML page about a pretraining run.

Reads what the run folder holds (``metrics.csv``, ``config.yaml``, ``evaluation.json``,
``encoder.safetensors``) and, with labelled data (given, or the test set that
``selfsup evaluate`` recorded), embeds a sample for a 2-D map, a nearest-neighbour grid
and the diagnostics table. Every figure is a PNG embedded as a data URI, so the file can
be mailed or attached as it is.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from selfsup.data.errors import DataError
from selfsup.report import plots

REPORT_NAME = "report.html"

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2127}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:24px;margin:8px 0 4px} h2{font-size:18px;margin:34px 0 8px;border-bottom:1px solid #d8dce2;
padding-bottom:4px} .sub{color:#5b6370;margin:0 0 18px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:14px 0}
.card{background:#fff;border:1px solid #dfe3e8;border-radius:8px;padding:10px 14px;min-width:150px}
.card .v{font-size:22px;font-weight:600} .card .k{color:#5b6370;font-size:12px}
figure{background:#fff;border:1px solid #dfe3e8;border-radius:8px;margin:10px 0;padding:10px;display:inline-block;
max-width:100%} figure img{max-width:100%;height:auto;display:block}
figcaption{color:#5b6370;font-size:12.5px;margin-top:6px;max-width:900px}
table{border-collapse:collapse;background:#fff;font-size:13px;margin:8px 0}
th,td{border:1px solid #dfe3e8;padding:5px 10px;text-align:right} th{background:#eef1f4}
td:first-child,th:first-child{text-align:left} .note{color:#5b6370;font-size:13px;max-width:900px}
pre{background:#fff;border:1px solid #dfe3e8;border-radius:6px;padding:10px;font-size:12px;overflow:auto}
"""

# Marks the page once loaded: how many images decoded, and the height (the Chromium check reads both).
_SCRIPT = """
window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-images-loaded", ok + "/" + imgs.length);
  document.body.setAttribute("data-page-height", String(document.documentElement.scrollHeight));
});
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _img(png: bytes, alt: str, caption: str) -> str:
    data = base64.b64encode(png).decode()
    return (f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(v: Any, digits: int = 3) -> str:
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def read_metrics(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def project_2d(z: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str]:
    """UMAP when installed, else t-SNE (scikit-learn), else PCA for very few points."""
    from sklearn.decomposition import PCA

    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    if len(z) < 30:
        return PCA(2, random_state=seed).fit_transform(z), "PCA"
    try:
        import umap  # type: ignore[import-not-found]

        return umap.UMAP(n_components=2, random_state=seed).fit_transform(z), "UMAP"
    except ImportError:
        from sklearn.manifold import TSNE

        start = PCA(min(50, z.shape[1]), random_state=seed).fit_transform(z)
        tsne = TSNE(2, init="pca", perplexity=min(30.0, (len(z) - 1) / 3), random_state=seed)
        return tsne.fit_transform(start), "t-SNE"


def _sample(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(len(labels), size=min(n, len(labels)), replace=False))


def _load_data(data: Any, evaluation: dict[str, Any], encoder: Any) -> Any:
    """The labelled data to map: given, or the test set ``selfsup evaluate`` recorded, read as the encoder's
    modality (images at its input size, or series)."""
    if data is None:
        recorded = (evaluation.get("data") or {}).get("test")
        if not recorded or recorded == "arrays":
            return None
        try:
            return encoder.load_data(recorded, split=(evaluation.get("data") or {}).get("test_split", "test"))
        except (DataError, FileNotFoundError):
            return None  # the recorded data moved: the report goes on without the embedding sections
    return encoder.load_data(data, split="test") if isinstance(data, (str, os.PathLike)) else data


def _summary_cards(rows: list[dict[str, str]], evaluation: dict[str, Any]) -> str:
    cards = []

    def last(key: str) -> float | None:
        vals = [float(r[key]) for r in rows if r.get(key) not in (None, "")]
        return vals[-1] if vals else None

    if rows:
        cards.append(("steps", rows[-1]["step"]))
        if last("loss") is not None:
            cards.append(("final loss", f"{last('loss'):.3f}"))
        rates = [float(r.get("samples_per_s") or r["images_per_s"]) for r in rows  # older runs: images_per_s
                 if r.get("samples_per_s") or r.get("images_per_s")]
        if rates:
            cards.append(("median throughput", f"{np.median(rates):,.0f} samples/s"))
        if last("elapsed_s") is not None:
            cards.append(("wall-clock", f"{last('elapsed_s') / 60:.1f} min"))
        for key, name in (("knn_acc", "last kNN accuracy"), ("online_probe_acc", "last online-probe accuracy")):
            if last(key) is not None:
                cards.append((name, f"{last(key):.3f}"))
    for proto in ("finetune", "linear", "knn"):
        full = evaluation.get(proto, {}).get("1")
        if full:
            scratch = evaluation.get("scratch", {}).get(proto, {}).get("1")
            extra = f" (scratch {scratch['mean']:.3f})" if scratch else ""
            cards.append((f"{proto}, 100 % labels", f"{full['mean']:.3f}{extra}"))
    return '<div class="cards">' + "".join(f'<div class="card"><div class="v">{_e(v)}</div><div class="k">{_e(k)}'
                                           "</div></div>" for k, v in cards) + "</div>"


def _fraction_table(evaluation: dict[str, Any]) -> str:
    from selfsup.evaluate.protocol import FRACTION_PROTOCOLS, format_cell

    rows, fracs = [], set()
    for who, src in (("pretrained", evaluation), ("from scratch", evaluation.get("scratch", {}))):
        for p in FRACTION_PROTOCOLS:
            if p in src:
                fracs |= set(src[p])
                rows.append((f"{p}, {who}", src[p]))
    if not rows:
        return ""
    order = sorted(fracs, key=float)
    body = [[name, *[format_cell(t[f]) if f in t else "-" for f in order]] for name, t in rows]
    return _table(["protocol", *[f"{float(f):.0%} labels" for f in order]], body)


def build_report(run_dir: str | os.PathLike, data: Any = None, out: str | os.PathLike | None = None,
                 max_points: int = 2000, queries: int = 6, neighbours: int = 8, seed: int = 0,
                 progress: Callable[[str], None] | None = None) -> Path:
    """Write ``RUN_DIR/report.html`` (or ``out``) and return its path.

    ``data`` is labelled data for the embedding sections (a path, an ImageDataset); by
    default the test set recorded in ``evaluation.json``. Sections whose inputs are
    missing are left out and the page says which file would add them.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise FileNotFoundError(f"{run}: no such run folder; pass the --run-dir of a pretraining run")
    rows = read_metrics(run / "metrics.csv")
    evaluation = json.loads((run / "evaluation.json").read_text()) if (run / "evaluation.json").exists() else {}
    has_encoder = (run / "encoder.safetensors").exists()
    if not rows and not evaluation and not has_encoder:
        raise DataError(f"{run}: holds none of metrics.csv, evaluation.json, encoder.safetensors; is it a run "
                        "folder written by selfsup pretrain?")
    say = progress or (lambda _m: None)
    config = (run / "config.yaml").read_text() if (run / "config.yaml").exists() else ""
    parts: list[str] = []
    missing: list[str] = []

    parts.append("<h2>Training</h2>")
    throughput = ("throughput", ["samples_per_s", "images_per_s"], "samples / s")  # images_per_s: older runs
    train_png = plots.curves(rows, [("loss", ["loss"], "loss"), throughput, ("learning rate", ["lr"], "lr")])
    if train_png:
        parts.append(_img(train_png, "training curves", "Loss, throughput (images per second, training steps "
                          "only) and learning rate, as logged to metrics.csv."))
    else:
        missing.append("metrics.csv (training curves)")
    probe_png = plots.curves(rows, [("online probes", ["online_probe_acc", "knn_acc"], "accuracy"),
                                    ("collapse watch: effective rank", ["rankme"], "RankMe"),
                                    ("collapse watch: spread", ["embedding_std"], "std of normalised embedding")])
    if probe_png:
        parts.append(_img(probe_png, "online probes and diagnostics", "Online linear probe (on the batch, before "
                          "its update) and periodic kNN on held-out data; effective rank and spread of the batch "
                          "embeddings. A falling rank or spread is the signature of collapse."))
    else:
        missing.append("online probe / kNN / collapse columns (pretrain with labels or monitor.knn_test)")

    parts.append("<h2>Labels: how much does pretraining buy?</h2>")
    curve = plots.label_fraction_curve(evaluation)
    if curve:
        parts.append(_img(curve, "label-fraction curve", "Test accuracy against the share of training labels "
                          "used (class-balanced draws; bars: sd over seeds). Dashed: the same network from a fresh "
                          "initialisation under the same protocol."))
        parts.append(_fraction_table(evaluation))
    else:
        missing.append("evaluation.json (selfsup evaluate RUN --train ... --test ... --metrics finetune,linear)")

    equi = [(who, src["equivariance"]) for who, src in (("pretrained", evaluation),
                                                           ("from scratch", evaluation.get("scratch", {})))
            if "equivariance" in src]
    if equi:
        kinds = list(equi[0][1])
        parts.append("<h3>Equivariance</h3><p class='note'>R² of predicting each transformation's parameters from "
                     "the embeddings of an input and its transformed copy (cross-validated ridge). 0: invariant; 1: "
                     "the parameters can be read off.</p>")
        parts.append(_table(["encoder", *kinds], [[w, *[_fmt(e[k]["r2"]) for k in kinds]] for w, e in equi]))

    beyond = []
    for name, keys in (("retrieval", ("recall@1", "recall@5", "map@r")), ("clustering", ("nmi", "ari")),
                       ("anomaly", ("mean",)), ("misclassified", ("count", "fraction"))):
        if name in evaluation:
            beyond += [[name, k, _fmt(evaluation[name][k])] for k in keys if k in evaluation[name]]
    if beyond:
        parts.append("<h3>Beyond accuracy</h3>" + _table(["family", "metric", "value"], beyond))

    data_obj = None
    if has_encoder:
        from selfsup.api import load

        encoder = load(run)
        data_obj = _load_data(data, evaluation, encoder)
    if data_obj is not None and getattr(data_obj, "has_labels", True):
        from selfsup.evaluate.diagnostics import diagnose
        from selfsup.evaluate.retrieval import cosine_neighbours

        labels = np.asarray(data_obj.labels)
        idx = _sample(labels, max_points, seed)
        say(f"report: embedding {len(idx)} samples of {getattr(data_obj, 'origin', 'the data')}")
        z = encoder.embed(data_obj.images[idx]) if hasattr(data_obj, "images") else encoder.embed(data_obj)[idx]
        y = labels[idx]
        names = list(getattr(data_obj, "class_names", []) or [])
        say("report: 2-D map")
        pts, how = project_2d(z, seed)
        parts.append("<h2>Embeddings</h2>")
        parts.append(_img(plots.embedding_map(pts, y, names, f"{how} of {len(idx):,} embeddings"), "embedding map",
                          f"{how} of the encoder's embeddings (cosine geometry) of {len(idx):,} labelled samples "
                          f"from {_e(getattr(data_obj, 'origin', 'the data'))}, coloured by label. Labels were "
                          "not used to place the points."))
        if hasattr(data_obj, "images"):
            rng = np.random.default_rng(seed)
            classes = np.unique(y)
            picks = [int(rng.choice(np.flatnonzero(y == c))) for c in rng.permutation(classes)[:queries]]
            _, nn_idx = cosine_neighbours(z[picks], z, neighbours + 1, exclude_self=False)
            nn_idx = np.array([[j for j in row if j != q][:neighbours] for row, q in zip(nn_idx, picks, strict=True)])
            parts.append(_img(plots.neighbour_grid(data_obj.images[idx], picks, nn_idx, y, names),
                              "nearest neighbours", f"For one query per class (left), its {neighbours} nearest "
                              "neighbours among the embedded samples; green frame: same label, red: different."))
        d = diagnose(z)
        stored = evaluation.get("diagnostics", {})
        diag_rows = [["effective rank (RankMe)", _fmt(d["rankme"], 1), f"at most {d['max_rank']}",
                      "low: dimensional collapse"],
                     ["uniformity (t=2)", _fmt(d["uniformity"]), "about -3.9 when spread on the sphere",
                      "near 0: all embeddings alike"],
                     ["per-dimension std (normalised)", _fmt(d["embedding_std"], 4),
                      f"{d['std_if_spread']:.4f} when spread", "near 0: complete collapse"]]
        if stored:
            diag_rows.append(["RankMe on the training set (evaluate)", _fmt(stored.get("rankme", float("nan")), 1),
                              f"at most {stored.get('max_rank', '?')}", ""])
        parts.append("<h3>Representation diagnostics</h3>" + _table(["measure", "value", "reference", "reading"],
                                                                    diag_rows))
    else:
        missing.append("labelled data for the embedding map and neighbour grid (selfsup report RUN --data PATH, "
                       "or run selfsup evaluate first)" if has_encoder else "encoder.safetensors")

    if config:
        parts.append(f"<h2>Configuration</h2><pre>{_e(config)}</pre>")
    if missing:
        parts.append("<h2>Not in this report</h2><ul class='note'>" + "".join(f"<li>{_e(m)}</li>" for m in missing)
                     + "</ul>")
    enc_desc = ""
    if evaluation.get("encoder"):
        spec = evaluation["encoder"]
        enc_desc = f"{spec.get('name')} ({spec.get('out_dim')}-d), "
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>selfsup report: {_e(run.name)}"
            f"</title><style>{_CSS}</style></head><body><main><h1>selfsup report: {_e(run.name)}</h1>"
            f"<p class='sub'>{_e(enc_desc)}run folder {_e(run.resolve())}; written "
            f"{time.strftime('%Y-%m-%d %H:%M')}</p>{_summary_cards(rows, evaluation)}{''.join(parts)}</main>"
            f"<script>{_SCRIPT}</script></body></html>")
    target = Path(out) if out else run / REPORT_NAME
    from selfsup.train.checkpoint import atomic_write_bytes

    atomic_write_bytes(target, lambda f: f.write(page.encode()))
    return target


__all__ = ["REPORT_NAME", "build_report", "project_2d"]
