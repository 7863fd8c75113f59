"""UCR / UEA classification under the TS2Vec protocol: selfsup's series methods beside the official TS2Vec.

Protocol (Yue et al. 2022): pretrain on the official train split without labels; encode each full series
(max over timestamps); fit an RBF SVM on the train embeddings with C chosen by 5-fold cross-validation
(libsvm capped at 1e6 iterations, see ``selfsup.evaluate.svm``); report test accuracy. Every method
sees the same per-channel standardised series (train mean and std).

Budget, fixed for every dataset: TS2Vec's defaults -- 200 steps of batch 8 (600 steps when the train
split holds more than 100,000 values), AdamW at lr 1e-3, 320-d output, 10 dilated blocks of width 64 --
for the official code, selfsup's ts2vec and softclt (tau_inst 10, tau_temp 1, DTW on series averaged to
at most 128 steps); selfsup's ts2vec again at half the steps (a row chosen before any result: does it
reach the official accuracy in half the time?); masked patches (PatchTST encoder, patches of 8, mask 0.6)
400 steps of batch 32. Seed 0, one process, 2 threads (the 26 cheapest sets) or 1 thread pinned to
one core (``taskset -c 0 ... --threads 1``, the rest); selfsup's online probe and collapse checks are
off (the official code has neither). The official TS2Vec runs when the ``ts2vec`` package is installed
(``pip install ts2vec``, in the ``bench`` extra); it takes (N, T, C) arrays: the same values, transposed.

Datasets are run cheapest first (train size x length), 95 UCR sets then the 4 UEA sets; every finished
(dataset, method) is saved at once in ``benchmarks/results/ucr_uea.json``, so an interrupted run continues
where it stopped and a partial table covers a prefix of that fixed order.

    python benchmarks/ucr_uea.py                       # everything not yet in the JSON
    python benchmarks/ucr_uea.py --limit 30            # the 30 cheapest datasets
    python benchmarks/ucr_uea.py --render              # tables from the saved JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, REPO, machine, write_results

NAME = "ucr_uea"
METHODS = ("ts2vec_official", "ts2vec", "ts2vec_half", "softclt", "masked_patches")
LABELS = {"ts2vec_official": "TS2Vec (official)", "ts2vec": "selfsup ts2vec",
          "ts2vec_half": "selfsup ts2vec, half the steps", "softclt": "selfsup softclt",
          "masked_patches": "selfsup masked patches"}
PUBLISHED = {"ucr": 0.830, "uea": 0.712}  # TS2Vec paper: average accuracy on 125 UCR / 29 UEA sets


def datasets() -> list[tuple[str, str]]:
    """(archive, name) in the fixed run order: cheapest (train size x length) first, UCR then UEA."""
    out = []
    for archive, folder in (("ucr", "ucr2018"), ("uea", "uea_multivariate")):
        rows = []
        for f in sorted((DATA / folder).glob("*.npz")):
            with np.load(f) as d:
                x = d["x_train"]
                rows.append((int(x.size), f.stem))
        out += [(archive, name) for _, name in sorted(rows)]
    return out


def load(archive: str, name: str):
    from selfsup.data.series import load_series

    path = DATA / ("ucr2018" if archive == "ucr" else "uea_multivariate") / f"{name}.npz"
    return load_series(path), load_series(path, split="test")


def steps_for(values: int) -> int:
    return 200 if values <= 100_000 else 600


def run_official(train, test, threads: int, seed: int) -> dict[str, Any]:
    import torch
    from ts2vec import TS2Vec

    from selfsup.evaluate.svm import svm_accuracy
    from selfsup.modalities import SeriesPreprocess

    pre = SeriesPreprocess.fit(train)
    xtr = pre(torch.from_numpy(train.values)).numpy().transpose(0, 2, 1).astype(np.float64)
    xte = pre(torch.from_numpy(test.values)).numpy().transpose(0, 2, 1).astype(np.float64)
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(threads)
    model = TS2Vec(input_dims=xtr.shape[2], device="cpu", batch_size=8, lr=0.001, output_dims=320,
                   max_train_length=3000)
    t0 = time.perf_counter()
    model.fit(xtr, n_iters=steps_for(train.values.size))
    train_s = time.perf_counter() - t0
    ztr = model.encode(xtr, encoding_window="full_series")
    zte = model.encode(xte, encoding_window="full_series")
    t1 = time.perf_counter()
    acc = svm_accuracy(ztr, train.labels, zte, test.labels)
    return {"accuracy": acc, "train_s": train_s, "eval_s": time.perf_counter() - t1}


def run_ours(method: str, train, test, threads: int, seed: int) -> dict[str, Any]:
    import selfsup
    from selfsup.evaluate.svm import svm_accuracy

    if method == "masked_patches":
        kw = {"max_steps": 400, "batch_size": min(32, len(train))}
    elif method == "ts2vec_half":
        kw = {"max_steps": steps_for(train.values.size) // 2, "batch_size": min(8, len(train))}
    else:
        kw = {"max_steps": steps_for(train.values.size), "batch_size": min(8, len(train))}
    t0 = time.perf_counter()
    enc = selfsup.pretrain(train, method.replace("_half", ""), progress=False, seed=seed, threads=threads, **kw,
                           monitor={"online_probe": False, "collapse_every": 0})  # the official code has neither
    train_s = time.perf_counter() - t0
    ztr, zte = enc.embed(train), enc.embed(test)
    t1 = time.perf_counter()
    acc = svm_accuracy(ztr, train.labels, zte, test.labels)
    return {"accuracy": acc, "train_s": train_s, "eval_s": time.perf_counter() - t1, "steps": kw["max_steps"]}


def _path() -> Path:
    return REPO / "benchmarks" / "results" / f"{NAME}.json"


def load_results() -> dict[str, Any]:
    p = _path()
    return json.loads(p.read_text()) if p.exists() else {"runs": {}}


def render(res: dict[str, Any]) -> str:
    runs = res["runs"]
    methods = [m for m in METHODS if any(m in r for r in runs.values())]
    order = [f"{a}/{n}" for a, n in datasets() if f"{a}/{n}" in runs]
    threads = sorted({r.get("threads", 2) for d in runs.values() for r in d.values()})  # early runs: 2
    lines = [f"# UCR / UEA under the TS2Vec protocol ({res.get('machine', {}).get('cpu', '?')}, "
             f"{' or '.join(map(str, threads))} threads, seed {res.get('seed', 0)})", ""]
    if len(threads) > 1:
        lines += ["Thread count differs between datasets (see `threads` per run in the JSON); within a dataset "
                  "every method ran with the same count, so the time ratios compare like with like.", ""]
    for archive in ("ucr", "uea"):
        keys = [k for k in order if k.startswith(archive + "/") and all(m in runs[k] for m in methods)]
        if not keys:
            continue
        acc = np.array([[runs[k][m]["accuracy"] for m in methods] for k in keys])
        secs = np.array([[runs[k][m]["train_s"] for m in methods] for k in keys])
        ranks = np.array([_ranks(row) for row in acc])
        total = len(datasets_of(archive))
        lines += [f"## {archive.upper()}: {len(keys)} of {total} datasets", "",
                  "| method | mean accuracy | mean rank | total train time | time vs official |",
                  "|---|---|---|---|---|"]
        ref = methods.index("ts2vec_official") if "ts2vec_official" in methods else None
        for j, m in enumerate(methods):
            ratio = f"{secs[:, j].sum() / secs[:, ref].sum():.2f}x" if ref is not None else "-"
            lines.append(f"| {LABELS[m]} | {acc[:, j].mean():.3f} | {ranks[:, j].mean():.2f} | "
                         f"{secs[:, j].sum() / 60:.1f} min | {ratio} |")
        lines += ["", f"TS2Vec paper: {PUBLISHED[archive]:.3f} average accuracy on all "
                      f"{'125 UCR' if archive == 'ucr' else '29 UEA'} sets (other sets, GPU, not comparable to a "
                      "subset).", "",
                  "| dataset | " + " | ".join(f"{LABELS[m]} acc / s" for m in methods) + " |",
                  "|---|" + "---|" * len(methods)]
        for k, a, s in zip(keys, acc, secs, strict=True):
            lines.append(f"| {k.split('/')[1]} | " + " | ".join(f"{x:.3f} / {t:.0f}" for x, t in zip(a, s,
                                                                                               strict=True)) + " |")
        lines.append("")
    return "\n".join(lines)


def datasets_of(archive: str) -> list[str]:
    return [n for a, n in datasets() if a == archive]


def _ranks(row: np.ndarray) -> np.ndarray:
    """1 = best; ties share the mean rank."""
    order = (-row).argsort(kind="stable")
    ranks = np.empty(len(row))
    ranks[order] = np.arange(1, len(row) + 1)
    for v in np.unique(row):
        ranks[row == v] = ranks[row == v].mean()
    return ranks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--limit", type=int, help="only the first N datasets of the fixed order")
    ap.add_argument("--datasets", help="comma list of names (overrides the order and --limit)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--render", action="store_true")
    a = ap.parse_args()
    res = load_results()
    if a.render:
        print(render(res))
        write_results(NAME, res, render(res))
        return
    import torch

    torch.set_num_threads(a.threads)
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    if "ts2vec_official" in methods:
        try:
            import ts2vec  # noqa: F401
        except ImportError:
            print("ucr_uea: the official TS2Vec is not installed (pip install ts2vec); running without it")
            methods.remove("ts2vec_official")
    todo = datasets()
    if a.datasets:
        wanted = {d.strip() for d in a.datasets.split(",")}
        todo = [(ar, n) for ar, n in todo if n in wanted]
    elif a.limit:
        todo = todo[: a.limit]
    res.update({"machine": machine(), "seed": a.seed, "protocol": __doc__.split("\n\n")[1]})
    for archive, name in todo:
        key = f"{archive}/{name}"
        done = res["runs"].setdefault(key, {})
        missing = [m for m in methods if m not in done]
        if not missing:
            continue
        train, test = load(archive, name)
        for m in missing:
            r = run_official(train, test, a.threads, a.seed) if m == "ts2vec_official" else \
                run_ours(m, train, test, a.threads, a.seed)
            r["threads"] = a.threads
            done[m] = r
            print(f"{key:40s} {m:16s} acc {r['accuracy']:.3f}  train {r['train_s']:6.1f}s  "
                  f"eval {r['eval_s']:5.1f}s", flush=True)
            write_results(NAME, res, render(res))
    print(render(res))


if __name__ == "__main__":
    main()
