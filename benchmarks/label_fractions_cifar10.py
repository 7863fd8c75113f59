"""Label-fraction study on CIFAR-10: a SimCLR-pretrained encoder against the same network from scratch.

Pretrains ``small_cnn`` with SimCLR on the 50,000 CIFAR-10 training images (labels unused,
except by the detached online probe and the periodic kNN, which only watch) for a wall-clock
budget, then fine-tunes the whole network and fits a linear probe with 1 %, 10 % and 100 %
of the labels (class-balanced draws, three seeds), for the pretrained encoder and for a
freshly initialised one under the same settings. Prints a Markdown table and writes
``benchmarks/results/label_fractions_cifar10.{json,md}``; the run folder (metrics.csv,
evaluation.json) is what ``selfsup report`` renders (``benchmarks/report_cifar10.py``).

    python benchmarks/label_fractions_cifar10.py --minutes 20 --run-dir runs/cifar10-simclr
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_cifar10_jpeg, machine, write_results

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def cifar10_npz(cache: Path) -> Path:
    """Decode the shared JPEG copy once into an .npz (x_train, y_train, x_test, y_test) the CLI can read."""
    if not cache.exists():
        x, y, xt, yt = load_cifar10_jpeg()
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, x_train=x, y_train=y, x_test=xt, y_test=yt, class_names=np.array(CIFAR10_CLASSES))
        os.replace(tmp, cache)
    return cache


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=20.0, help="pretraining budget (default 20)")
    ap.add_argument("--run-dir", default="runs/cifar10-simclr")
    ap.add_argument("--fractions", default="0.01,0.1,1")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--finetune", action="append", default=[], metavar="KEY=VALUE",
                    help="FinetuneConfig override, e.g. epochs=30 (repeatable)")
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "selfsup" / "cifar10_jpeg_decoded.npz"))
    ap.add_argument("--render", action="store_true", help="only rewrite the Markdown table from the saved JSON")
    a = ap.parse_args()
    if a.render:
        render()
        return

    import torch

    import selfsup
    from selfsup.config import apply_overrides
    from selfsup.demo import calibrate_step_seconds
    from selfsup.evaluate.finetune import FinetuneConfig

    torch.set_num_threads(a.threads)
    data = cifar10_npz(Path(a.cache))
    train = selfsup.load_images(data)
    run = Path(a.run_dir)
    t0 = time.perf_counter()
    if not (run / "encoder.safetensors").exists():
        bs = 256
        step_s = calibrate_step_seconds("simclr", "small_cnn", train, bs, threads=a.threads)
        epochs = max(1, int(a.minutes * 60 / (step_s * (len(train) // bs))))
        print(f"pretraining SimCLR small_cnn for {epochs} epochs (~{a.minutes:g} min)")
        selfsup.pretrain(train, "simclr", "small_cnn", epochs=epochs, batch_size=bs, run_dir=run, threads=a.threads,
                         monitor={"knn_every": max(1, epochs * (len(train) // bs) // 20),
                                  "knn_test": f"{data}:test", "knn_bank": 10_000})
    pretrain_s = time.perf_counter() - t0
    enc = selfsup.load(run)
    ft = FinetuneConfig(**apply_overrides({}, a.finetune))
    fractions = [float(f) for f in a.fractions.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    t1 = time.perf_counter()
    res = selfsup.evaluate(enc, data, f"{data}:test", fractions, seeds, metrics=["linear", "finetune", "equivariance"],
                           baseline="scratch", finetune=ft, progress=True)
    (run / "evaluation.json").write_text(json.dumps(res, indent=2))
    from selfsup.report import read_metrics

    hist = read_metrics(run / "metrics.csv")
    knn = [(int(r["step"]), float(r["knn_acc"])) for r in hist if r.get("knn_acc")]
    payload = {"benchmark": "label_fractions_cifar10", "machine": machine(), "pretrain_minutes": a.minutes,
               "pretrain_steps": int(hist[-1]["step"]), "pretrain_wall_seconds": float(hist[-1]["elapsed_s"]),
               "this_call_seconds": round(pretrain_s, 1), "knn_during_pretraining": knn,
               "evaluate_seconds": round(time.perf_counter() - t1, 1),
               "encoder": enc.spec(), "finetune_config": res["finetune_config"], "fractions": fractions,
               "seeds": seeds, "n_train": res["n_train"], "n_test": res["n_test"], "evaluation": res,
               "run_dir": str(run)}
    print(write_results("label_fractions_cifar10", payload, markdown(payload)))
    print(markdown(payload))


def markdown(p: dict) -> str:
    """The README table and its header line, from the saved results."""
    from selfsup.evaluate.finetune import format_label_fractions

    res, ft = p["evaluation"], p["finetune_config"]
    protocols = ("finetune", "linear")
    study = {"fractions": p["fractions"], "results": {"SimCLR-pretrained": {k: res[k] for k in protocols},
                                                      "from scratch": {k: res["scratch"][k] for k in protocols}}}
    labelled = ", ".join(f"{float(f):.0%}: {res['finetune'][f]['n_labels']:,}" for f in res["finetune"])
    steps = p["pretrain_steps"]
    epochs = round(steps * 256 / res["n_train"])
    header = (
        f"CIFAR-10 label fractions: small_cnn pretrained with SimCLR for {epochs} epochs ({steps:,} steps of 256) "
        f"vs the same network from scratch. Test accuracy on {res['n_test']:,} images, mean ± sample sd over seeds "
        f"{', '.join(map(str, p['seeds']))} (a class-balanced label draw per seed; labelled images {labelled}). "
        f"Fine-tuning: AdamW lr {ft['lr']:g}, wd {ft['weight_decay']:g}, {ft['epochs']} epochs clamped to "
        f"{ft['min_steps']}-{ft['max_steps']} steps of {ft['batch_size']}, crop+flip, {ft['precision']} precision "
        "(bf16 autocast where the CPU supports it, as here); linear: logistic regression on frozen standardised "
        f"features (one run at 100 %: it is deterministic). {p['machine']['cpu']}, {p['machine']['threads']} "
        f"thread(s), {p['machine']['date']}.\n\n")
    return header + format_label_fractions(study)


def render() -> None:
    from common import REPO

    path = REPO / "benchmarks" / "results" / "label_fractions_cifar10.json"
    payload = json.loads(path.read_text())
    (path.with_suffix(".md")).write_text(markdown(payload) + "\n")
    print(markdown(payload))


if __name__ == "__main__":
    main()
