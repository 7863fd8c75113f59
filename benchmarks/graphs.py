"""Graph self-supervision: node classification on Cora / CiteSeer and graph classification on TU sets.

Node protocol (DGI, GRACE, BGRL, GraphMAE): pretrain on the whole graph without labels; embed every
node; logistic regression on L2-normalised embeddings of the public split's 140 (Cora) / 120
(CiteSeer) training nodes, C chosen on the 500 validation nodes, accuracy on the 1000 test nodes
(``selfsup.evaluate.graph_protocols.node_classification``). Graph protocol (InfoGraph, GraphCL):
embed every graph; RBF SVM in 10-fold stratified cross-validation, C by inner 5-fold search
(``graph_classification_cv``). Mean +- sd over seeds (pretraining and folds both use the seed).

Budgets and hyper-parameters are the papers' for that dataset where the paper gives them (see
``SETTINGS``), full-graph steps; one process pinned to the stated threads; the online probe and the
collapse monitor are off. Every finished (dataset, method, seed) is saved at once in
``benchmarks/results/graphs.json``; a rerun continues where it stopped.

    python benchmarks/graphs.py --seeds 5                        # everything
    python benchmarks/graphs.py --datasets cora --methods grace  # one cell
    python benchmarks/graphs.py --render                         # tables from the saved JSON
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

NAME = "graphs"
NODE_SETS = ("cora", "citeseer")
GRAPH_SETS = ("MUTAG", "PROTEINS", "ENZYMES", "DHFR", "BZR", "NCI109", "Mutagenicity")
NODE_METHODS = ("grace", "dgi", "bgrl", "graphmae")
GRAPH_METHODS = ("graphcl", "dgi", "graphmae", "none")
# published accuracies: node sets on the public split (GraphMAE's table), TU sets from GraphCL's table
PUBLISHED = {("cora", "graphmae"): "84.2±0.4", ("citeseer", "graphmae"): "73.4±0.4",
             ("cora", "dgi"): "82.3", ("citeseer", "dgi"): "71.8",
             ("cora", "bgrl"): "82.7", ("citeseer", "bgrl"): "71.1",
             ("cora", "grace"): "81.9±0.4", ("citeseer", "grace"): "71.2±0.5",
             ("MUTAG", "graphcl"): "86.8±1.3", ("PROTEINS", "graphcl"): "74.4±0.5",
             ("NCI109", "graphcl"): "-", ("ENZYMES", "graphcl"): "-"}

#: per (dataset, method): pretrain keyword arguments beyond the method's own defaults (its Cora setting)
SETTINGS: dict[tuple[str, str], dict[str, Any]] = {
    # GRACE's CiteSeer configuration
    ("citeseer", "grace"): {"encoder_kwargs": {"out_dim": 256, "activation": "prelu"}, "lr": 1e-3,
                            "edge_drop": (0.2, 0.0), "feature_mask": (0.3, 0.2),
                            "method_kwargs": {"proj_dim": 256, "temperature": 0.9}},
    # DGI: one GCN layer of 512 with PReLU on both sets
    ("cora", "dgi"): {"encoder_kwargs": {"layers": 1, "out_dim": 512, "activation": "prelu"}},
    ("citeseer", "dgi"): {"encoder_kwargs": {"layers": 1, "out_dim": 512, "activation": "prelu"}},
    # BGRL gives no Planetoid setting; a 2-layer GCN 512-256 with batch norm and PReLU (its WikiCS encoder)
    ("cora", "bgrl"): {"encoder_kwargs": {"hidden": 512, "out_dim": 256, "norm": "batch", "activation": "prelu"}},
    ("citeseer", "bgrl"): {"encoder_kwargs": {"hidden": 512, "out_dim": 256, "norm": "batch", "activation": "prelu"}},
    # GraphMAE's CiteSeer configuration
    ("citeseer", "graphmae"): {"epochs": 300, "weight_decay": 2e-5, "encoder_kwargs": {"heads": 2},
                               "method_kwargs": {"replace_rate": 0.1, "alpha": 1.0}},
}
#: graph-level runs: GIN 5 x 32 for every method (GraphCL's encoder), batch 128, 20 epochs
GRAPH_SETTINGS: dict[str, dict[str, Any]] = {
    "graphcl": {},
    "dgi": {"encoder": "gin", "batch_size": 128, "epochs": 20, "lr": 0.01},
    "graphmae": {"encoder": "gin", "batch_size": 128, "epochs": 20, "lr": 0.01, "weight_decay": 0.0},
}


def run_node(dataset: str, method: str, seed: int, threads: int) -> dict[str, Any]:
    import selfsup
    from selfsup.data.graphs import load_graphs
    from selfsup.evaluate.graph_protocols import node_classification

    path = DATA / "planetoid" / f"{dataset}.npz"
    kw = dict(SETTINGS.get((dataset, method), {}))
    t0 = time.perf_counter()
    enc = selfsup.pretrain(str(path), method, seed=seed, threads=threads, progress=False,
                           monitor={"online_probe": False, "collapse_every": 0}, **kw)
    train_s = time.perf_counter() - t0
    ds = load_graphs(path)
    res = node_classification(enc.embed(ds, batch_size=10**9), ds.y, ds.masks)
    return {"accuracy": res["accuracy"], "val_accuracy": res["val_accuracy"], "C": res["C"], "train_s": train_s}


def run_graph(dataset: str, method: str, seed: int, threads: int) -> dict[str, Any]:
    import torch

    import selfsup
    from selfsup.data.graphs import load_graphs
    from selfsup.encoders import create_encoder
    from selfsup.evaluate.graph_protocols import graph_classification_cv
    from selfsup.modalities import GraphPreprocess

    path = DATA / "tudatasets" / f"{dataset}.npz"
    ds = load_graphs(path)
    t0 = time.perf_counter()
    if method == "none":  # the same GIN, randomly initialised: what pretraining must beat
        torch.manual_seed(seed)
        enc = selfsup.PretrainedEncoder(create_encoder("gin", in_channels=ds.num_features).eval(), "gin",
                                        {"in_channels": ds.num_features}, GraphPreprocess("none"))
    else:
        enc = selfsup.pretrain(str(path), method, seed=seed, threads=threads, progress=False,
                               monitor={"online_probe": False, "collapse_every": 0}, **GRAPH_SETTINGS[method])
    train_s = time.perf_counter() - t0
    res = graph_classification_cv(enc.embed(ds), ds.labels, seed=seed)
    return {"accuracy": res["accuracy"], "fold_sd": res["sd"], "train_s": train_s}


def _path() -> Path:
    return REPO / "benchmarks" / "results" / f"{NAME}.json"


def render(res: dict[str, Any]) -> str:
    m = res.get("machine", {})
    threads = res.get("threads", "?")
    lines = [f"# Graph self-supervision ({m.get('cpu', '?')}, {threads} thread{'' if threads == 1 else 's'}, torch "
             f"{m.get('torch', '?')}, bf16 autocast: the trainer's default where the CPU supports it)", ""]
    for level, sets, methods in (("node", NODE_SETS, NODE_METHODS), ("graph", GRAPH_SETS, GRAPH_METHODS)):
        rows = []
        for ds in sets:
            for meth in methods:
                runs = res["runs"].get(f"{ds}/{meth}", {})
                if not runs:
                    continue
                acc = np.array([r["accuracy"] for r in runs.values()]) * 100
                secs = np.array([r["train_s"] for r in runs.values()])
                sd = f" ± {acc.std(ddof=1):.1f}" if len(acc) > 1 else " (one seed)"
                rows.append(f"| {ds} | {meth if meth != 'none' else 'random-init GIN'} | {acc.mean():.1f}{sd} "
                            f"| {len(acc)} | {secs.mean():.0f} s | {PUBLISHED.get((ds, meth), '-')} |")
        if rows:
            title = ("Node classification, public split (test accuracy %)" if level == "node" else
                     "Graph classification, 10-fold CV SVM (accuracy %)")
            lines += [f"## {title}", "", "| dataset | method | accuracy | seeds | train time per run | published |",
                      "|---|---|---|---|---|---|", *rows, ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join((*NODE_SETS, *GRAPH_SETS)))
    ap.add_argument("--methods", default=",".join(dict.fromkeys((*NODE_METHODS, *GRAPH_METHODS))))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
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
    methods = [x.strip() for x in a.methods.split(",") if x.strip()]
    for ds in [x.strip() for x in a.datasets.split(",") if x.strip()]:
        node = ds in NODE_SETS
        for meth in methods:
            if meth not in (NODE_METHODS if node else GRAPH_METHODS):
                continue
            runs = res["runs"].setdefault(f"{ds}/{meth}", {})
            for seed in range(a.seeds):
                if str(seed) in runs:
                    continue
                r = run_node(ds, meth, seed, a.threads) if node else run_graph(ds, meth, seed, a.threads)
                runs[str(seed)] = r
                print(f"{ds:10s} {meth:9s} seed {seed}  acc {r['accuracy']:.4f}  train {r['train_s']:6.1f}s",
                      flush=True)
                write_results(NAME, res, render(res))
    print(render(res))


if __name__ == "__main__":
    main()
