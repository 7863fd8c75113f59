"""Tabular self-supervision: SCARF and VIME pretraining vs none, with 1 % and 10 % of the labels.

Data: UCI Adult (official split: 32,561 train / 16,281 test; 6 numeric + 8 categorical columns,
missing cells kept as missing) and LetterRecognition (the UCI split: first 16,000 rows train, last
4,000 test; 16 numeric columns, 26 classes). Pretraining sees the training rows without labels
(``tab_mlp``: 4 x 256 ReLU MLP, categorical embeddings; the method's Adam settings, batch 128,
``--epochs`` passes). Then, with a class-balanced draw of 1 % / 10 % of the training labels: a
logistic-regression probe on the frozen embeddings (``linear``) and fine-tuning of the whole
network with a linear head (``finetune``: AdamW lr 1e-3, weight decay 0.05, batch 256, 100 epochs
of the labelled rows but 500 to 3,000 steps, 10 % marginal corruption as augmentation, no early
stopping). ``none`` is the same network from a random initialisation
(its linear row is a random-feature probe; its finetune row is plain supervised training).
``gbt`` is scikit-learn's HistGradientBoostingClassifier with default settings and native
categorical support on the same labelled rows. One run per seed: the seed drives pretraining,
initialisation and the label draw; cells are mean ± sd over seeds, accuracy on the test rows.

    python benchmarks/tabular.py --seeds 3 --threads 1       # everything (resumable)
    python benchmarks/tabular.py --datasets letter --methods vime
    python benchmarks/tabular.py --render
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, REPO, machine, write_results

NAME = "tabular"
DATASETS = ("adult", "letter")
METHODS = ("scarf", "vime", "none", "gbt")
FRACTIONS = (0.01, 0.1)


def load(name: str) -> tuple[Any, Any]:
    from selfsup.data.tabular import load_table

    if name == "adult":
        train = load_table(DATA / "tabular" / "adult" / "adult_train.csv.gz", target="income")
        return train, load_table(DATA / "tabular" / "adult" / "adult_test.csv.gz", schema=train.schema)
    if name == "letter":
        ds = load_table(DATA / "tabular" / "r_mlbench_kernlab" / "LetterRecognition.csv.gz", target="lettr")

        def rows(idx: np.ndarray) -> Any:
            return replace(ds, numeric=ds.numeric[idx], codes=ds.codes[idx], labels=ds.labels[idx],
                           origin=f"{ds.origin} rows {idx[0]}-{idx[-1]}")

        return rows(np.arange(16000)), rows(np.arange(16000, 20000))
    raise SystemExit(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")


def run_gbt(train: Any, test: Any, seed: int) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from selfsup.evaluate.protocol import balanced_subset

    def features(ds: Any) -> np.ndarray:  # categorical codes with 0 (missing) as NaN, numeric NaN kept
        codes = ds.codes.astype(np.float64)
        codes[codes == 0] = np.nan
        return np.concatenate([ds.numeric.astype(np.float64), codes], 1)

    xtr, xte = features(train), features(test)
    cat = np.r_[np.zeros(train.numeric.shape[1], bool), np.ones(train.codes.shape[1], bool)]
    out: dict[str, Any] = {}
    t = time.time()
    for f in FRACTIONS:
        idx = balanced_subset(train.labels, f, seed)
        clf = HistGradientBoostingClassifier(categorical_features=cat if cat.any() else None, random_state=seed)
        clf.fit(xtr[idx], train.labels[idx])
        out[f"{f:g}"] = {"gbt": float((clf.predict(xte) == test.labels).mean())}
    return {"accuracy": out, "train_s": 0.0, "eval_s": time.time() - t}


FINETUNE = {"epochs": 100, "min_steps": 500, "max_steps": 3000}


def run(dataset: str, method: str, seed: int, epochs: int, threads: int) -> dict[str, Any]:
    import selfsup
    from selfsup.api import scratch_encoder

    train, test = load(dataset)
    if method == "gbt":
        return run_gbt(train, test, seed)
    t = time.time()
    if method == "none":
        enc = scratch_encoder(selfsup.pretrain(train, method="scarf", max_steps=1, lr=0.0, seed=seed), seed)
        train_s = 0.0
    else:
        enc = selfsup.pretrain(train, method=method, epochs=epochs, seed=seed, threads=threads, progress=False,
                               monitor={"collapse_every": 0, "online_probe": False})
        train_s = time.time() - t
    t = time.time()
    r = selfsup.evaluate(enc, train, test, fractions=FRACTIONS, seeds=(seed,), metrics=("linear", "finetune"),
                         baseline="none", finetune=FINETUNE)
    acc = {f"{f:g}": {p: r[p][f"{f:g}"]["mean"] for p in ("linear", "finetune")} for f in FRACTIONS}
    return {"accuracy": acc, "train_s": train_s, "eval_s": time.time() - t,
            "epochs": epochs if method != "none" else 0}


def _path() -> Path:
    return REPO / "benchmarks" / "results" / f"{NAME}.json"


def render(res: dict[str, Any]) -> str:
    m = res.get("machine", {})
    threads = res.get("threads", "?")
    lines = [f"# Tabular self-supervision ({m.get('cpu', '?')}, {threads} thread{'' if threads == 1 else 's'}, torch "
             f"{m.get('torch', '?')}; test accuracy %, mean ± sd over seeds)", "",
             "| dataset | pretraining | protocol | " + " | ".join(f"{f:.0%} labels" for f in FRACTIONS)
             + " | seeds | pretrain time |", "|---|---|---|" + "---|" * len(FRACTIONS) + "---|---|"]
    for ds in DATASETS:
        for meth in METHODS:
            runs = res["runs"].get(f"{ds}/{meth}", {})
            if not runs:
                continue
            protocols = ["gbt"] if meth == "gbt" else ["linear", "finetune"]
            for proto in protocols:
                cells = []
                for f in FRACTIONS:
                    acc = np.array([r["accuracy"][f"{f:g}"][proto] for r in runs.values()]) * 100
                    cells.append(f"{acc.mean():.1f} ± {acc.std(ddof=1):.1f}" if len(acc) > 1 else f"{acc[0]:.1f}")
                secs = np.mean([r["train_s"] for r in runs.values()])
                label = {"none": "none (random init)", "gbt": "- (gradient-boosted trees)"}.get(meth, meth)
                time_cell = f"{secs:.0f} s ({runs[next(iter(runs))].get('epochs', 0)} epochs)" if secs else "-"
                lines.append(f"| {ds} | {label} | {proto if meth != 'gbt' else 'sklearn HGB'} | " + " | ".join(cells)
                             + f" | {len(runs)} | {time_cell} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--render", action="store_true")
    a = ap.parse_args()
    res = json.loads(_path().read_text()) if _path().exists() else {"runs": {}}
    if a.render:
        print(render(res))
        write_results(NAME, res, render(res))
        return
    import torch

    torch.set_num_threads(a.threads)
    res.update({"machine": machine(), "threads": a.threads, "protocol": __doc__.split("\n\n")[1]})
    for ds in [x.strip() for x in a.datasets.split(",") if x.strip()]:
        for meth in [x.strip() for x in a.methods.split(",") if x.strip()]:
            runs = res["runs"].setdefault(f"{ds}/{meth}", {})
            for seed in range(a.seeds):
                if str(seed) in runs:
                    continue
                r = run(ds, meth, seed, a.epochs, a.threads)
                runs[str(seed)] = r
                print(f"{ds:7s} {meth:6s} seed {seed}  {json.dumps(r['accuracy'])}  train {r['train_s']:5.1f}s "
                      f"eval {r['eval_s']:5.1f}s", flush=True)
                write_results(NAME, res, render(res))
    print(render(res))


if __name__ == "__main__":
    main()
