"""Every method for the same wall-clock budget on CIFAR-10: kNN and linear top-1, images/s, peak memory.

Each run trains from scratch in its own subprocess for ``--budget-min`` minutes of training (the step count
is calibrated from a short throw-away run, so the cosine schedule ends on time), then embeds the 50,000
training and 10,000 test images: kNN (k=200, temperature 0.1) uses all training images, the linear probe a
class-balanced 10,000. One recipe for every method and both libraries, LightlySSL's CIFAR-10 benchmark
optimiser: SGD, lr 0.06 x batch/256, momentum 0.9, weight decay 5e-4, cosine schedule, batch 256, two
SimCLR-style views (crop, flip, jitter 0.4/0.4/0.4/0.1, grayscale 0.2) at 32 px, the small CNN encoder;
MAE and HPM use ViT-Tiny (patch 4), the MAE views and AdamW (lr 1.5e-4 x batch/256, wd 0.05), and are
evaluated on a balanced 10,000 training images (a ViT-Tiny embeds slowly on a CPU). Where
LightlySSL 1.6 has the method (``pip install -e .[bench]``), its implementation runs in the same session
with the same encoder, heads, loss settings, optimiser and budget, fed by its own PIL transforms and a
one-worker DataLoader.

    python benchmarks/method_zoo_cifar10.py --budget-min 2             # everything
    python benchmarks/method_zoo_cifar10.py --methods simclr,byol --no-lightly

Writes benchmarks/results/method_zoo_cifar10.{json,md} (rows accumulate over runs). Run on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import load_cifar10_jpeg, machine, run_child, write_results  # noqa: E402
from simclr_cifar10 import _lightly_loader  # noqa: E402  (LightlySSL's SimCLRTransform, batch 256, one worker)

BATCH, LR_PER_256, MOMENTUM, WD = 256, 0.06, 0.9, 5e-4
NAME = "method_zoo_cifar10"

# heads sized for a CPU budget; the same sizes and loss settings on both sides of each lightly pair
HEADS: dict[str, dict[str, Any]] = {
    "simclr": {"proj_hidden_dim": 512, "proj_dim": 128, "temperature": 0.2},
    "moco_v2": {"proj_hidden_dim": 512, "proj_dim": 128, "temperature": 0.2, "queue_size": 4096, "momentum": 0.99},
    "moco_v3": {"proj_hidden_dim": 1024, "proj_dim": 256, "pred_hidden_dim": 1024, "temperature": 0.2},
    "nnclr": {"proj_hidden_dim": 1024, "proj_dim": 256, "pred_hidden_dim": 1024, "temperature": 0.1,
              "queue_size": 8192},
    "dcl": {"proj_hidden_dim": 512, "proj_dim": 128, "temperature": 0.1},
    "dclw": {"proj_hidden_dim": 512, "proj_dim": 128, "temperature": 0.1, "sigma": 0.5},
    "debiased": {"proj_hidden_dim": 512, "proj_dim": 128, "temperature": 0.5, "tau_plus": 0.1},
    "mv_infonce": {"proj_hidden_dim": 512, "proj_dim": 128, "temperature": 0.2},
    "mv_dhel": {"proj_hidden_dim": 512, "proj_dim": 128, "temperature": 0.2},
    "isogclr": {"proj_hidden_dim": 512, "proj_dim": 128},
    "byol": {"proj_hidden_dim": 1024, "proj_dim": 256, "pred_hidden_dim": 1024},
    "simsiam": {"proj_hidden_dim": 1024, "proj_dim": 1024, "pred_hidden_dim": 256},
    "directpred": {"proj_hidden_dim": 1024, "proj_dim": 256},
    "barlow_twins": {"proj_hidden_dim": 1024, "proj_dim": 1024},
    "mixed_barlow_twins": {"proj_hidden_dim": 1024, "proj_dim": 1024},
    "vicreg": {"proj_hidden_dim": 1024, "proj_dim": 1024},
    "wmse": {"proj_hidden_dim": 1024, "proj_dim": 64},
    "swav": {"proj_hidden_dim": 1024, "proj_dim": 128, "n_prototypes": 3000},
    "dino": {"head_hidden_dim": 1024, "bottleneck_dim": 256, "out_dim": 4096},
    "mae": {},
    "hpm": {},
}
MASKED = {"mae", "hpm"}
LIGHTLY = ("simclr", "moco_v2", "nnclr", "dcl", "dclw", "byol", "simsiam", "barlow_twins", "vicreg", "swav", "dino")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _evaluate(backbone, x, y, xt, yt, knn_train: int | None = None) -> dict[str, float]:
    """kNN over all training images (or a balanced ``knn_train`` of them), linear probe on a balanced 10,000."""
    from selfsup.api import PretrainedEncoder
    from selfsup.evaluate import balanced_subset, knn_accuracy, linear_probe_accuracy
    from selfsup.views import Preprocess

    if knn_train:  # ViT-Tiny embeds ~40 img/s/core: keep its evaluation to minutes
        keep = balanced_subset(y, min(1.0, knn_train / len(y)), 0)
        x, y = x[keep], y[keep]
    enc = PretrainedEncoder(backbone, "bench", {}, Preprocess(32))
    ztr, zte = enc.embed(x), enc.embed(xt)
    sub = balanced_subset(y, min(1.0, 10_000 / len(y)), 0)
    return {"knn": knn_accuracy(ztr, y, zte, yt, k=200, temperature=0.1),
            "linear": linear_probe_accuracy(ztr[sub], y[sub], zte, yt), "eval_train": len(y)}


# ------------------------------------------------------------------ selfsup


def _ours_parts(method: str, threads: int):
    import torch

    from selfsup.api import build_encoder
    from selfsup.methods import create_method
    from selfsup.views import image_views

    torch.set_num_threads(threads)
    enc, _, _ = build_encoder("vit_tiny" if method in MASKED else "small_cnn", 32)
    model = create_method(method, enc, **HEADS[method])
    views = image_views("mae" if method in MASKED else "simclr", 32)
    trainer = ({"optimizer": "adamw", "base_lr": 1.5e-4, "weight_decay": 0.05} if method in MASKED else
               {"optimizer": "sgd", "base_lr": LR_PER_256, "momentum": MOMENTUM, "weight_decay": WD})
    return model, views, dict(trainer, batch_size=BATCH, threads=threads, progress=False, warmup_epochs=0)


def train_ours(method: str, budget_s: float, threads: int) -> dict[str, Any]:
    import numpy as np
    import torch

    from selfsup.data import ImageDataset
    from selfsup.train import Trainer

    x, y, xt, yt = load_cifar10_jpeg()
    ds = ImageDataset.from_arrays(x, y)
    torch.manual_seed(0)
    model, views, cfg = _ours_parts(method, threads)  # calibration: a short throw-away run of the real loop
    res = Trainer(max_steps=8, log_every=1, **cfg).fit(model, ds, views)
    el = [h["elapsed_s"] for h in res.history]
    sec_per_step = (el[-1] - el[1]) / (len(el) - 2)
    steps = max(1, int(budget_s / sec_per_step))
    torch.manual_seed(0)
    model, views, cfg = _ours_parts(method, threads)
    t = time.perf_counter()
    res = Trainer(max_steps=steps, log_every=10, **cfg).fit(model, ds, views)
    wall = time.perf_counter() - t
    ips = float(np.median([h["samples_per_s"] for h in res.history[1:]] or [BATCH * steps / wall]))
    return {"steps": steps, "epochs": steps * BATCH / len(x), "train_wall_s": wall, "images_per_s": ips,
            "peak_rss_mb": _peak_rss_mb(),
            **_evaluate(model.encoder, x, y, xt, yt, knn_train=10_000 if method in MASKED else None)}


# ------------------------------------------------------------------ LightlySSL


def _lightly_model(method: str):
    """The lightly 1.6 modules and losses for ``method``, with ``HEADS[method]`` sizes; returns (model, step_fn)."""
    import copy

    import torch
    from lightly import loss as L
    from lightly.models import modules as M
    from lightly.models.utils import deactivate_requires_grad, update_momentum
    from lightly.utils.scheduler import cosine_schedule

    from selfsup.encoders import SmallCNN

    h = HEADS[method]
    backbone = SmallCNN()
    d = backbone.out_dim
    m = torch.nn.Module()
    m.backbone = backbone
    momentum_pairs: list[tuple[torch.nn.Module, torch.nn.Module]] = []

    def teacher(*student: torch.nn.Module, fresh: torch.nn.Module | None = None) -> torch.nn.Module:
        if fresh is None:
            t = copy.deepcopy(torch.nn.Sequential(*student))
        else:  # weight-normed heads cannot be deep-copied: a fresh head takes the student's weights
            t = torch.nn.Sequential(copy.deepcopy(student[0]), fresh)
            t.load_state_dict(torch.nn.Sequential(*student).state_dict())
        deactivate_requires_grad(t)
        momentum_pairs.append((torch.nn.Sequential(*student), t))
        return t

    if method in ("simclr", "dcl", "dclw"):
        m.head = M.SimCLRProjectionHead(d, h["proj_hidden_dim"], h["proj_dim"])
        m.loss = {"simclr": lambda: L.NTXentLoss(h["temperature"]), "dcl": lambda: L.DCLLoss(h["temperature"]),
                  "dclw": lambda: L.DCLWLoss(h["temperature"], h["sigma"])}[method]()

        def step(x0, x1, progress):
            return m.loss(m.head(m.backbone(x0)), m.head(m.backbone(x1)))
    elif method == "moco_v2":
        m.head = M.MoCoProjectionHead(d, h["proj_hidden_dim"], h["proj_dim"])
        m.key = teacher(m.backbone, m.head)
        m.loss = L.NTXentLoss(h["temperature"], memory_bank_size=(h["queue_size"], h["proj_dim"]))

        def step(x0, x1, progress):
            update_momentum(torch.nn.Sequential(m.backbone, m.head), m.key, h["momentum"])
            q0, q1 = m.head(m.backbone(x0)), m.head(m.backbone(x1))
            with torch.no_grad():
                k0, k1 = m.key(x0), m.key(x1)
            return 0.5 * (m.loss(q0, k1) + m.loss(q1, k0))
    elif method == "nnclr":
        m.head = M.NNCLRProjectionHead(d, h["proj_hidden_dim"], h["proj_dim"])
        m.pred = M.NNCLRPredictionHead(h["proj_dim"], h["pred_hidden_dim"], h["proj_dim"])
        m.bank = M.NNMemoryBankModule(size=(h["queue_size"], h["proj_dim"]))
        m.loss = L.NTXentLoss(h["temperature"])

        def step(x0, x1, progress):
            z0, z1 = m.head(m.backbone(x0)), m.head(m.backbone(x1))
            p0, p1 = m.pred(z0), m.pred(z1)
            n0, n1 = m.bank(z0.detach(), update=False), m.bank(z1.detach(), update=True)
            return 0.5 * (m.loss(n0, p1) + m.loss(n1, p0))
    elif method == "byol":
        m.head = M.BYOLProjectionHead(d, h["proj_hidden_dim"], h["proj_dim"])
        m.pred = M.BYOLPredictionHead(h["proj_dim"], h["pred_hidden_dim"], h["proj_dim"])
        m.target = teacher(m.backbone, m.head)
        m.loss = L.NegativeCosineSimilarity()

        def step(x0, x1, progress):
            update_momentum(torch.nn.Sequential(m.backbone, m.head), m.target, cosine_schedule(progress, 1, 0.99, 1))
            p0, p1 = m.pred(m.head(m.backbone(x0))), m.pred(m.head(m.backbone(x1)))
            with torch.no_grad():
                t0, t1 = m.target(x0), m.target(x1)
            return 0.5 * (m.loss(p0, t1) + m.loss(p1, t0))
    elif method == "simsiam":
        m.head = M.SimSiamProjectionHead(d, h["proj_hidden_dim"], h["proj_dim"])
        m.pred = M.SimSiamPredictionHead(h["proj_dim"], h["pred_hidden_dim"], h["proj_dim"])
        m.loss = L.NegativeCosineSimilarity()

        def step(x0, x1, progress):
            z0, z1 = m.head(m.backbone(x0)), m.head(m.backbone(x1))
            return 0.5 * (m.loss(m.pred(z0), z1.detach()) + m.loss(m.pred(z1), z0.detach()))
    elif method in ("barlow_twins", "vicreg"):
        m.head = M.BarlowTwinsProjectionHead(d, h["proj_hidden_dim"], h["proj_dim"])
        m.loss = L.BarlowTwinsLoss() if method == "barlow_twins" else L.VICRegLoss()

        def step(x0, x1, progress):
            return m.loss(m.head(m.backbone(x0)), m.head(m.backbone(x1)))
    elif method == "swav":
        m.head = M.SwaVProjectionHead(d, h["proj_hidden_dim"], h["proj_dim"])
        m.prototypes = M.SwaVPrototypes(h["proj_dim"], h["n_prototypes"], n_steps_frozen_prototypes=100)
        m.loss = L.SwaVLoss()
        m.register_buffer("step_count", torch.zeros((), dtype=torch.long))

        def step(x0, x1, progress):
            m.prototypes.normalize()
            outs = []
            for x in (x0, x1):
                z = torch.nn.functional.normalize(m.head(m.backbone(x)), dim=1)
                outs.append(m.prototypes(z, int(m.step_count)))
            m.step_count += 1
            return m.loss(outs, [])
    elif method == "dino":
        m.head = M.DINOProjectionHead(d, h["head_hidden_dim"], h["bottleneck_dim"], h["out_dim"])
        m.teacher = teacher(m.backbone, m.head, fresh=M.DINOProjectionHead(d, h["head_hidden_dim"],
                                                                           h["bottleneck_dim"], h["out_dim"]))
        m.loss = L.DINOLoss(h["out_dim"], warmup_teacher_temp=0.04, teacher_temp=0.07, warmup_teacher_temp_epochs=30)

        def step(x0, x1, progress):
            update_momentum(torch.nn.Sequential(m.backbone, m.head), m.teacher,
                            cosine_schedule(progress, 1, 0.996, 1))
            with torch.no_grad():
                t = [m.teacher(x0), m.teacher(x1)]
            s = [m.head(m.backbone(x0)), m.head(m.backbone(x1))]
            return m.loss(t, s, epoch=int(progress * 100))  # warm-up over the first 30 % of the run
    else:
        raise ValueError(f"no LightlySSL recipe for {method}")
    return m, step


def _lightly_run(method: str, x, steps: int, threads: int) -> tuple[Any, float, float]:
    import math

    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m, step = _lightly_model(method)
    lr = LR_PER_256 * BATCH / 256
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=lr, momentum=MOMENTUM,
                          weight_decay=WD)
    loader = _lightly_loader(x)
    m.train()
    done, t, t_after_two = 0, time.perf_counter(), 0.0
    while done < steps:
        for v0, v1 in loader:
            for g in opt.param_groups:
                g["lr"] = lr * 0.5 * (1 + math.cos(math.pi * done / steps))
            loss = step(v0, v1, done / steps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if done == 2:
                t_after_two = time.perf_counter()
            if done >= steps:
                break
    end = time.perf_counter()
    per_step = (end - t_after_two) / max(1, steps - 2)
    return m, end - t, per_step


def train_lightly(method: str, budget_s: float, threads: int) -> dict[str, Any]:
    x, y, xt, yt = load_cifar10_jpeg()
    _, _, per_step = _lightly_run(method, x, 8, threads)  # calibration, as for selfsup
    steps = max(1, int(budget_s / per_step))
    m, wall, per_step = _lightly_run(method, x, steps, threads)
    return {"steps": steps, "epochs": steps * BATCH / len(x), "train_wall_s": wall, "images_per_s": BATCH / per_step,
            "peak_rss_mb": _peak_rss_mb(), **_evaluate(m.backbone, x, y, xt, yt)}


def init_baseline(threads: int) -> dict[str, Any]:
    import torch

    from selfsup.encoders import SmallCNN

    torch.set_num_threads(threads)
    x, y, xt, yt = load_cifar10_jpeg()
    torch.manual_seed(0)
    return _evaluate(SmallCNN(), x, y, xt, yt)


WORKERS = {f.__name__: f for f in (train_ours, train_lightly, init_baseline)}


# ------------------------------------------------------------------ driver


def main() -> None:
    from importlib.util import find_spec

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default=",".join(HEADS))
    ap.add_argument("--budget-min", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-lightly", action="store_true")
    ap.add_argument("--render", action="store_true", help="only re-render the Markdown from the saved JSON")
    args = ap.parse_args()
    saved = HERE / "results" / f"{NAME}.json"
    res: dict[str, Any] = json.loads(saved.read_text()) if saved.exists() else {"rows": {}}
    if args.render:
        print(to_markdown(res), side_by_side(res), sep="\n\n")
        write_results(NAME, res, to_markdown(res))
        return
    res.update(machine=machine(), threads=args.threads, batch_size=BATCH, budget_min=args.budget_min,
               data="CIFAR-10 JPEG q75 copy (50,000 train / 10,000 test)")
    lightly = find_spec("lightly") is not None and not args.no_lightly
    rows = res["rows"]
    timeout = args.budget_min * 60 * 3 + 600

    def record(key: str, value: dict[str, Any]) -> None:
        rows[key] = value
        print(f"{key:32s} {json.dumps(value)}", flush=True)
        write_results(NAME, res, to_markdown(res))

    if "random_init/small_cnn" not in rows:
        record("random_init/small_cnn", run_child(NAME, "init_baseline", threads=args.threads))
    for method in args.methods.split(","):
        record(f"selfsup/{method}", run_child(NAME, "train_ours", method=method, budget_s=args.budget_min * 60,
                                              threads=args.threads, timeout=timeout))
        if lightly and method in LIGHTLY:
            record(f"lightly/{method}", run_child(NAME, "train_lightly", method=method,
                                                  budget_s=args.budget_min * 60, threads=args.threads,
                                                  timeout=timeout))
    print(to_markdown(res))


def side_by_side(res: dict[str, Any]) -> str:
    """The README's compact table: one row per method, LightlySSL's numbers beside ours where it has the method."""
    rows = res["rows"]
    out = ["| method | kNN | linear | img/s | epochs | LightlySSL kNN | linear | img/s | epochs |",
           "|---|---|---|---|---|---|---|---|---|"]

    def cells(v: dict[str, Any] | None) -> str:
        if not v:
            return " | | | "
        if "error" in v:
            return "error | | | "
        knn = f"{v['knn']:.3f}" + ("*" if v.get("eval_train", 50_000) < 50_000 else "")
        return f"{knn} | {v['linear']:.3f} | {v['images_per_s']:,.0f} | {v['epochs']:.1f}"

    for method in HEADS:
        if f"selfsup/{method}" in rows:
            out.append(f"| {method} | {cells(rows[f'selfsup/{method}'])} | {cells(rows.get(f'lightly/{method}'))} |")
    init = rows.get("random_init/small_cnn")
    if init:
        out.append(f"| random-init small CNN | {init['knn']:.3f} | {init['linear']:.3f} | | | | | | |")
    return "\n".join(out)


def to_markdown(res: dict[str, Any]) -> str:
    m = res["machine"]
    out = [f"Every method for {res['budget_min']:g} min of training on CIFAR-10 (JPEG q75 copy), batch "
           f"{res['batch_size']}, {res['threads']} threads, {m['cpu']}, torch {m['torch']}, {m['date']}. "
           "kNN: k=200 over all 50,000 training images; linear: logistic regression on a balanced 10,000; "
           "10,000 test images. img/s counts source images (two views each).", "",
           "| method | library | kNN top-1 | linear top-1 | img/s | epochs | peak RSS MB |",
           "|---|---|---|---|---|---|---|"]
    for key, v in res["rows"].items():
        lib, method = key.split("/", 1) if "/" in key else ("", key)
        if "error" in v:
            out.append(f"| {method} | {lib} | error: {' '.join(v['error'])[:70]} | | | | |")
            continue
        ips = f"{v['images_per_s']:,.0f}" if "images_per_s" in v else ""
        ep = f"{v['epochs']:.1f}" if "epochs" in v else ""
        rss = f"{v['peak_rss_mb']:,.0f}" if "peak_rss_mb" in v else ""
        knn = f"{v['knn']:.3f}" + (f" ({v['eval_train'] // 1000}k train)" if v.get("eval_train", 50_000) < 50_000
                                   else "")
        out.append(f"| {method} | {lib} | {knn} | {v['linear']:.3f} | {ips} | {ep} | {rss} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
