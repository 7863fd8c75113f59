"""SSL tasks as verifiable rewards (SSL4RL): does fine-tuning a pretrained encoder on a reward task help
downstream, and how does it compare with the same steps of the task's supervised (cross-entropy) loss?

Images: SimCLR pretrains a small_cnn on a class-balanced 10,000-image CIFAR-10 subset (labels unused);
from that encoder, each reward task (rotation, jigsaw 2x2, relative position, which crop, which patch)
fine-tunes encoder + a fresh answer head for ``--steps`` steps of ``--batch`` questions, either by
GRPO (``--group`` answers sampled per question, rewards from the task's checker) or by cross-entropy on
the correct answer (the pretext-loss baseline; same questions, same steps, same learning rates). Before
and after: kNN (k=200) and linear-probe accuracy on 2,000 test images with all 10,000 training labels,
the linear probe with 10 % of them (3 class-balanced draws), and the task's own exam (greedy accuracy
on 1,000 questions posed on test images, the same questions before and after).

Graphs: GRACE pretrains a GCN on Cora; the masked-edge and masked-attribute tasks fine-tune it the same
way; node classification on the public split (logistic probe, C chosen on the validation nodes).

Difficulty: rotation with 2, 4 or 8 angles (graded or not), jigsaw 2x2 graded and 3x3, masked patch with
10 %, 25 % or 50 % of the image hidden and 4 or 8 candidates, each trained by GRPO the same way.

Every finished run is saved at once in ``benchmarks/results/ssl4rl.json``; a rerun continues.

    python benchmarks/ssl4rl.py --seeds 3 --threads 1   # --parts images,graphs,difficulty
    python benchmarks/ssl4rl.py --render        # tables and the reward-curve figure from the saved JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, REPO, load_cifar10_jpeg, machine, write_results

NAME = "ssl4rl"
IMAGE_TASKS: dict[str, dict[str, Any]] = {
    "rotation": {},
    "jigsaw": {"grid": 2, "n_permutations": 24},
    "relative_position": {},
    "crop": {"n_choices": 4},
    "masked_patch": {"n_choices": 4, "mask_ratio": 0.25},
}
# difficulty ladders, trained by GRPO: one knob at a time away from the setting above
DIFFICULTY: dict[str, list[dict[str, Any]]] = {
    "rotation": [{"n_angles": 2}, {"n_angles": 8}, {"n_angles": 8, "graded": True}],
    "jigsaw": [{"grid": 2, "n_permutations": 24, "graded": True}, {"grid": 3, "n_permutations": 24}],
    "masked_patch": [{"n_choices": 4, "mask_ratio": 0.1}, {"n_choices": 4, "mask_ratio": 0.5},
                     {"n_choices": 8, "mask_ratio": 0.25}],
}
GRAPH_TASKS: dict[str, dict[str, Any]] = {"masked_edge": {"n_choices": 4}, "masked_attribute": {"n_choices": 4}}
SIGNALS = ("grpo", "supervised")
LABELS = {"grpo": "GRPO reward", "supervised": "pretext loss", "reinforce": "REINFORCE reward"}


def _train_cfg(a: argparse.Namespace, signal: str, seed: int) -> dict[str, Any]:
    return {"steps": a.steps, "batch_size": a.batch, "group_size": a.group, "signal": signal, "lr": a.lr,
            "encoder_lr": a.encoder_lr, "seed": seed, "threads": a.threads}


def _image_scores(enc: Any, data: tuple) -> dict[str, float]:
    from selfsup.evaluate.protocol import evaluate_embeddings

    xtr, ytr, xte, yte = data
    ztr, zte = enc.embed(xtr), enc.embed(xte)
    r = evaluate_embeddings(ztr, ytr, zte, yte, fractions=(0.1, 1.0), seeds=(0, 1, 2), protocols=("knn", "linear"))
    return {"knn": r["knn"]["1"]["mean"], "linear": r["linear"]["1"]["mean"], "linear_10": r["linear"]["0.1"]["mean"]}


def _pretrained_images(seed: int, a: argparse.Namespace, data: tuple) -> Any:
    import selfsup

    path = Path(a.cache) / f"simclr_cifar10_e{a.pretrain_epochs}_s{seed}.safetensors"
    if path.exists():
        return selfsup.load(path), None
    t0 = time.perf_counter()
    enc = selfsup.pretrain(data[0], "simclr", "small_cnn", epochs=a.pretrain_epochs, batch_size=256, seed=seed,
                           threads=a.threads, progress=False, monitor={"online_probe": False, "collapse_every": 0})
    seconds = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    enc.save(path)
    return enc, seconds


def _tune(base: Any, data: Any, exam: Any, task: str, knobs: dict[str, Any], signal: str, seed: int,
          a: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    from selfsup.rl import reward_finetune

    tuned, rec = reward_finetune(base, data, task, _train_cfg(a, signal, seed), exam=exam, **knobs)
    return tuned, {"exam_before": rec["exam_before"]["accuracy"], "exam": rec["exam_after"]["accuracy"],
                   "train_s": rec["seconds"], "curves": rec["curves"]}


def run_images(seed: int, a: argparse.Namespace, data: tuple, payload: dict[str, Any], save: Any) -> None:
    runs = payload["runs"]
    base, pretrain_s = _pretrained_images(seed, a, data)
    key = f"cifar10/{seed}/before"
    if key not in runs:
        runs[key] = {**_image_scores(base, data), "pretrain_s": pretrain_s}
        save()
    for task in a.tasks.split(","):
        for signal in a.signals.split(","):
            key = f"cifar10/{seed}/{task}/{signal}"
            if key in runs:
                continue
            tuned, rec = _tune(base, data[0], data[2], task, IMAGE_TASKS[task], signal, seed, a)
            runs[key] = {**_image_scores(tuned, data), **rec}
            print(f"{key}: exam {rec['exam_before']:.3f} -> {rec['exam']:.3f}, "
                  f"{json.dumps({k: round(v, 4) for k, v in runs[key].items() if isinstance(v, float)})}", flush=True)
            save()


def _knob_key(task: str, knobs: dict[str, Any]) -> str:
    return f"{task}@{json.dumps(knobs, sort_keys=True)}"


def run_difficulty(seed: int, a: argparse.Namespace, data: tuple, payload: dict[str, Any], save: Any) -> None:
    runs = payload["runs"]
    base, _ = _pretrained_images(seed, a, data)
    for task, ladder in DIFFICULTY.items():
        for knobs in ladder:
            key = f"cifar10/{seed}/{_knob_key(task, knobs)}/grpo"
            if key in runs:
                continue
            tuned, rec = _tune(base, data[0], data[2], task, knobs, "grpo", seed, a)
            runs[key] = {**_image_scores(tuned, data), **rec}
            print(f"{key}: exam {rec['exam_before']:.3f} -> {rec['exam']:.3f}", flush=True)
            save()


def run_graphs(seed: int, a: argparse.Namespace, payload: dict[str, Any], save: Any) -> None:
    import selfsup
    from selfsup.data.graphs import load_graphs
    from selfsup.evaluate.graph_protocols import node_classification

    runs = payload["runs"]
    path = DATA / "planetoid" / "cora.npz"
    ds = load_graphs(path)
    cached = Path(a.cache) / f"grace_cora_e{a.graph_epochs}_s{seed}.safetensors"
    if cached.exists():
        base, pretrain_s = selfsup.load(cached), None
    else:
        t0 = time.perf_counter()
        base = selfsup.pretrain(str(path), "grace", epochs=a.graph_epochs, seed=seed, threads=a.threads,
                                progress=False, monitor={"online_probe": False, "collapse_every": 0})
        pretrain_s = time.perf_counter() - t0
        base.save(cached)

    def score(enc: Any) -> float:
        return node_classification(enc.embed(ds, batch_size=10**9), ds.y, ds.masks)["accuracy"]

    key = f"cora/{seed}/before"
    if key not in runs:
        runs[key] = {"node": score(base), "pretrain_s": pretrain_s}
        save()
    for task, knobs in GRAPH_TASKS.items():
        for signal in a.signals.split(","):
            key = f"cora/{seed}/{task}/{signal}"
            if key in runs:
                continue
            tuned, rec = _tune(base, ds, None, task, knobs, signal, seed, a)
            runs[key] = {"node": score(tuned), **rec}
            print(f"{key}: exam {rec['exam_before']:.3f} -> {rec['exam']:.3f}, node {runs[key]['node']:.3f}",
                  flush=True)
            save()


def _cell(values: list[float], ref: list[float] | None = None) -> str:
    if not values:
        return "—"
    m = 100 * float(np.mean(values))
    s = f"{m:.1f} ± {100 * float(np.std(values, ddof=1)):.1f}" if len(values) > 1 else f"{m:.1f}"
    if ref:
        s += f" ({m - 100 * float(np.mean(ref)):+.1f})"
    return s


def render(payload: dict[str, Any] | None = None) -> str:
    path = REPO / "benchmarks" / "results" / f"{NAME}.json"
    payload = payload or json.loads(path.read_text())
    runs, m, s = payload["runs"], payload["machine"], payload["settings"]

    def collect(prefix: str, tail: str, metric: str) -> list[float]:
        return [r[metric] for k, r in runs.items() if k.startswith(prefix + "/") and k.endswith("/" + tail)
                and r.get(metric) is not None]

    seeds = sorted({k.split("/")[1] for k in runs if k.startswith("cifar10/")})
    lines = [f"SSL4RL on CIFAR-10 ({len(seeds)} seeds; SimCLR small_cnn pretrained {s['pretrain_epochs']} epochs on "
             f"10,000 images, then {s['steps']} steps x {s['batch']} questions per run, GRPO with {s['group']} answers "
             f"per question or cross-entropy, Adam head lr {s['lr']:g}, encoder lr {s['encoder_lr']:g}, cosine "
             f"decay; {m['cpu']}, {s['threads']} thread, torch {m['torch']}, {m['date']}). Accuracy in % on 2,000 "
             "test images, mean ± sample sd over seeds (change from the SimCLR encoder); exam: the task's own greedy "
             "accuracy on 1,000 test questions.", "",
             "| fine-tuned with | signal | kNN | linear | linear, 10 % labels | exam | s per run |",
             "|---|---|---|---|---|---|---|"]
    if not seeds:
        lines = []
    ref = {k: collect("cifar10", "before", k) for k in ("knn", "linear", "linear_10")}
    if seeds:
        lines.append(f"| nothing (SimCLR) | — | {_cell(ref['knn'])} | {_cell(ref['linear'])} | "
                     f"{_cell(ref['linear_10'])} | — | — |")
    for task in IMAGE_TASKS:
        for signal in (*SIGNALS, "reinforce"):
            tail = f"{task}/{signal}"
            vals = {k: collect("cifar10", tail, k) for k in ("knn", "linear", "linear_10", "exam", "train_s")}
            if not vals["knn"]:
                continue
            lines.append(f"| {task} | {LABELS[signal]} | {_cell(vals['knn'], ref['knn'])} | "
                         f"{_cell(vals['linear'], ref['linear'])} | {_cell(vals['linear_10'], ref['linear_10'])} | "
                         f"{_cell(vals['exam'])} | {np.mean(vals['train_s']):.0f} |")
    if any("@" in k for k in runs):
        lines += ["", "Difficulty knobs (GRPO, same budget; first row of each task: the setting of the table above). "
                  "Chance is 1 / choices.", "",
                  "| task | knobs | choices | seeds | exam before | exam after | kNN | linear | linear, 10 % labels |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for task, ladder in DIFFICULTY.items():
            for knobs, tail in [(IMAGE_TASKS[task], f"{task}/grpo")] + [(k, f"{_knob_key(task, k)}/grpo")
                                                                        for k in ladder]:
                vals = {m: collect("cifar10", tail, m) for m in ("knn", "linear", "linear_10", "exam", "exam_before")}
                if not vals["knn"]:
                    continue
                choices = {"rotation": knobs.get("n_angles", 4), "masked_patch": knobs.get("n_choices", 4),
                           "jigsaw": knobs.get("n_permutations", 24)}[task]
                shown = ", ".join(f"{k}={v}" for k, v in knobs.items()) or "defaults"
                lines.append(f"| {task} | {shown} | {choices} | {len(vals['exam'])} | {_cell(vals['exam_before'])} | "
                             f"{_cell(vals['exam'])} | "
                             f"{_cell(vals['knn'], ref['knn'])} | {_cell(vals['linear'], ref['linear'])} | "
                             f"{_cell(vals['linear_10'], ref['linear_10'])} |")
    gseeds = sorted({k.split("/")[1] for k in runs if k.startswith("cora/")})
    if gseeds:
        lines += ["", f"SSL4RL on Cora ({len(gseeds)} seeds; GRACE GCN pretrained {s['graph_epochs']} epochs, then the "
                  "same fine-tuning). Node classification accuracy in % on the public split (logistic probe, C on "
                  "the validation nodes); exam: 1,000 questions on the graph, the same before and after.", "",
                  "| fine-tuned with | signal | node accuracy | exam |", "|---|---|---|---|"]
        gref = collect("cora", "before", "node")
        lines.append(f"| nothing (GRACE) | — | {_cell(gref)} | — |")
        for task in GRAPH_TASKS:
            for signal in (*SIGNALS, "reinforce"):
                vals = {k: collect("cora", f"{task}/{signal}", k) for k in ("node", "exam")}
                if vals["node"]:
                    lines.append(f"| {task} | {LABELS[signal]} | {_cell(vals['node'], gref)} | "
                                 f"{_cell(vals['exam'])} |")
    return "\n".join(lines)


def draw_curves(payload: dict[str, Any]) -> Path | None:
    """Greedy training accuracy against step, seed 0, every task (CIFAR-10, Cora) and signal (PNG by the JSON)."""
    from selfsup.rl import plot_reward_curves

    runs = {f"{k.split('/')[2]} ({LABELS[k.split('/')[3]]})": r for k, r in payload["runs"].items()
            if k.split("/")[1] == "0" and len(k.split("/")) == 4 and "@" not in k}
    png = plot_reward_curves(runs, key="accuracy", smooth=20)
    if png is None:
        return None
    out = REPO / "benchmarks" / "results" / f"{NAME}_curves.png"
    out.write_bytes(png)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--parts", default="images,graphs,difficulty")
    ap.add_argument("--tasks", default=",".join(IMAGE_TASKS))
    ap.add_argument("--signals", default=",".join(SIGNALS))
    ap.add_argument("--pretrain-epochs", type=int, default=10)
    ap.add_argument("--graph-epochs", type=int, default=200)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--encoder-lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "selfsup_ssl4rl"))
    ap.add_argument("--render", action="store_true", help="only print the tables (and redraw the curves)")
    a = ap.parse_args()
    path = REPO / "benchmarks" / "results" / f"{NAME}.json"
    if a.render:
        payload = json.loads(path.read_text())
        draw_curves(payload)
        text = render(payload)
        path.with_suffix(".md").write_text(text + "\n")
        print(text)
        return
    import torch

    torch.set_num_threads(a.threads)
    settings = {k: getattr(a, k) for k in ("pretrain_epochs", "graph_epochs", "steps", "batch", "group", "lr",
                                            "encoder_lr", "threads")}
    payload = json.loads(path.read_text()) if path.exists() else {}
    if payload.get("settings") != settings:
        payload = {"runs": {}}  # another budget: start over
    payload.update(settings=settings, machine=machine())

    def save() -> None:
        write_results(NAME, payload, render(payload))

    data = load_cifar10_jpeg(10_000, 2_000) if "images" in a.parts or "difficulty" in a.parts else None
    for seed in range(a.seeds):
        if "images" in a.parts:
            run_images(seed, a, data, payload, save)
        if "graphs" in a.parts:
            run_graphs(seed, a, payload, save)
    if "difficulty" in a.parts:
        for seed in range(a.seeds):
            run_difficulty(seed, a, data, payload, save)
    draw_curves(payload)
    print(render(payload))


if __name__ == "__main__":
    main()
