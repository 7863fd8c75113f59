"""Transformation-aware SSL on CIFAR-10: pretext regularisation, Random Field Augmentations, ScatSimCLR and
split invariant/equivariant representations, each against its plain counterpart under one budget.

Every run pretrains on the same 10,000-image class-balanced CIFAR-10 subset (labels unused) for the same
number of epochs with seed 0, then scores the frozen encoder on 2,000 test images: kNN (k=200) and a
linear probe fitted on the 10,000 training embeddings. The equivariance part also reports the rotation
R² (MLP read-out from an image and its rotated copy, SIE's protocol) of the invariant and the
equivariant part of each representation. One seed per row: differences of a point or two are noise.

    python benchmarks/transformation_aware_cifar10.py --parts pretext,rfa,scatsimclr,equivariance
    python benchmarks/transformation_aware_cifar10.py --render   # the Markdown tables from the saved JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, load_cifar10_jpeg, machine, write_results

NAME = "transformation_aware_cifar10"

# part -> rows: (label, method, encoder, pretrain kwargs)
RUNS: dict[str, list[tuple[str, str, str, dict[str, Any]]]] = {
    "pretext": [
        ("SimCLR", "simclr", "small_cnn", {}),
        ("SimCLR + rotation (0.5)", "simclr", "small_cnn", {"method_kwargs": {"pretext": "rotation"}}),
        ("SimCLR + jigsaw (0.5)", "simclr", "small_cnn",
         {"method_kwargs": {"pretext": "jigsaw", "pretext_kwargs": {"jigsaw": {"n_permutations": 30}}}}),
        ("SimCLR + view parameters (0.5)", "simclr", "small_cnn", {"method_kwargs": {"pretext": "view_params"}}),
    ],
    "rfa": [
        ("SimCLR", "simclr", "small_cnn", {}),
        ("SimCLR + RFA mild", "simclr", "small_cnn", {"random_fields": "mild"}),
        ("SimCLR + RFA medium", "simclr", "small_cnn", {"random_fields": "medium"}),
        ("SimCLR + RFA strong", "simclr", "small_cnn", {"random_fields": "strong"}),
    ],
    "scatsimclr": [
        ("SimCLR, 2 views", "simclr", "small_cnn", {}),
        ("SimCLR, 4 views", "simclr", "small_cnn", {"n_views": 4}),
        ("ScatSimCLR, 2 views", "scatsimclr", "scatnet", {}),
        ("ScatSimCLR, 4 views", "scatsimclr", "scatnet", {"n_views": 4}),
    ],
    "equivariance": [
        ("VICReg (invariant), equivariant views", "vicreg", "small_cnn", {"views": "equivariant"}),
        ("SIE (split)", "sie", "small_cnn", {}),
        ("EquiCaps (capsules)", "equicaps", "capsule_cnn", {}),
    ],
}


def _key(method: str, encoder: str, kwargs: dict[str, Any]) -> str:
    return json.dumps([method, encoder, kwargs], sort_keys=True)


def _parts(enc: Any, method: str) -> dict[str, slice]:
    """The invariant and equivariant slices of a split representation (the whole one otherwise)."""
    d = enc.out_dim
    if method == "sie":
        k = round(d * 0.5)
    elif method == "equicaps":
        k = enc.module.n_capsules
    else:
        return {"whole": slice(0, d)}
    return {"invariant": slice(0, k), "equivariant": slice(k, d)}


def run_one(method: str, encoder: str, kwargs: dict[str, Any], data: tuple, epochs: int,
            equivariance: bool) -> dict[str, Any]:
    import numpy as np
    import torch

    import selfsup
    from selfsup.evaluate import knn_accuracy
    from selfsup.evaluate.equivariance import measure_equivariance
    from selfsup.evaluate.linear import linear_probe_accuracy
    from selfsup.views import RandomRotation

    xtr, ytr, xte, yte = data
    t0 = time.perf_counter()
    enc = selfsup.pretrain(xtr, method, encoder, epochs=epochs, batch_size=256, progress=False, seed=0,
                           monitor={"online_probe": False, "collapse_every": 0}, **kwargs)
    train_s = time.perf_counter() - t0
    ztr, zte = enc.embed(xtr), enc.embed(xte)
    row: dict[str, Any] = {"train_s": round(train_s, 1), "knn": knn_accuracy(ztr, ytr, zte, yte),
                           "linear": linear_probe_accuracy(ztr, ytr, zte, yte)}
    if equivariance:
        class Part(torch.nn.Module):
            def __init__(self, part: slice) -> None:
                super().__init__()
                self.module, self.part = enc.module, part

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.module(x)[:, self.part]

        test = selfsup.data.ImageDataset.from_arrays(xte, yte)
        row["rotation_r2"] = {
            name: measure_equivariance(Part(part), test, {"rotation": RandomRotation()}, enc.preprocess, n=2000,
                                       model="mlp")["rotation"]["r2"]
            for name, part in _parts(enc, method).items()}
        row["knn_invariant_part"] = None
        if method in ("sie", "equicaps"):
            inv = _parts(enc, method)["invariant"]
            row["knn_invariant_part"] = knn_accuracy(np.ascontiguousarray(ztr[:, inv]), ytr,
                                                     np.ascontiguousarray(zte[:, inv]), yte)
    return row


def render(payload: dict[str, Any] | None = None) -> str:
    path = REPO / "benchmarks" / "results" / f"{NAME}.json"
    payload = payload or json.loads(path.read_text())
    res, m = payload["results"], payload["machine"]
    lines = [f"Transformation-aware SSL, CIFAR-10 (10,000 train / 2,000 test images, {payload['epochs']} epochs, "
             f"batch 256, seed 0, small_cnn unless named; {m['cpu']}, {m['threads']} threads, torch {m['torch']}, "
             f"{m['date']}). kNN k=200 and a linear probe on frozen embeddings; one seed per row.", ""]
    for part, rows in RUNS.items():
        done = [(label, res[_key(me, en, kw)]) for label, me, en, kw in rows if _key(me, en, kw) in res]
        if not done:
            continue
        lines += [f"### {part}", ""]
        if part == "equivariance":
            lines += ["| representation | kNN | linear | kNN, invariant part | rotation R², invariant part | "
                      "rotation R², equivariant part | train s |", "|---|---|---|---|---|---|---|"]
            for label, r in done:
                r2 = r["rotation_r2"]
                inv = r2.get("invariant", r2.get("whole"))
                eq = r2.get("equivariant")
                kinv = r["knn_invariant_part"]
                lines.append(f"| {label} | {r['knn']:.3f} | {r['linear']:.3f} | "
                             f"{'' if kinv is None else f'{kinv:.3f}'} | {inv:.3f} | "
                             f"{'—' if eq is None else f'{eq:.3f}'} | {r['train_s']:.0f} |")
        else:
            lines += ["| run | kNN | linear | train s |", "|---|---|---|---|"]
            lines += [f"| {label} | {r['knn']:.3f} | {r['linear']:.3f} | {r['train_s']:.0f} |" for label, r in done]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default=",".join(RUNS))
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--render", action="store_true", help="only print the Markdown tables from the saved JSON")
    a = ap.parse_args()
    if a.render:
        print(render())
        return
    import torch

    torch.set_num_threads(a.threads)
    path = REPO / "benchmarks" / "results" / f"{NAME}.json"
    payload = json.loads(path.read_text()) if path.exists() else {"results": {}}
    if payload.get("epochs", a.epochs) != a.epochs:
        payload = {"results": {}}  # another budget: start over
    payload.update(epochs=a.epochs, machine=machine())
    data = load_cifar10_jpeg(10_000, 2_000)
    for part in a.parts.split(","):
        if part not in RUNS:
            raise SystemExit(f"unknown part {part!r}; choose from {', '.join(RUNS)}")
        for label, method, encoder, kwargs in RUNS[part]:
            key = _key(method, encoder, kwargs)
            if key in payload["results"]:  # shared baselines run once
                continue
            row = run_one(method, encoder, kwargs, data, a.epochs, equivariance=part == "equivariance")
            payload["results"][key] = row
            print(f"{label}: {json.dumps(row)}", flush=True)
            write_results(NAME, payload, render(payload))
    print(render(payload))


if __name__ == "__main__":
    main()
