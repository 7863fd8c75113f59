"""Trimodal self-supervision on the Free Spoken Digit Dataset: waveform, log-mel and a descriptor table per clip.

Data: FSDD (3,000 clips, 10 digits, 6 speakers, 8 kHz); train = takes 5-49 (2,700), test = takes 0-4 (300).
Three modalities per clip: ``wave`` (the waveform, ``audio_conv1d``), ``logmel`` (40-band log-mel,
``audio_conv2d``, BYOL-A views) and ``table`` (22 acoustic descriptors: duration, energy, zero-crossing
rate, spectral centroid / bandwidth / roll-off statistics, 13 MFCC means; ``tab_mlp``). Pretraining
aligns the three encoders on the training clips without labels (``pretrain_records``: ``clip`` =
AstroM³'s pairwise CLIP, ``symile``; AdamW lr 1e-3, batch 256, ``--epochs`` passes; ``clip-missing``:
CLIP with each modality of each record dropped with probability 0.3). ``scratch``: the same encoders
from a random initialisation. Then, with a class-balanced draw of 1 / 10 / 100 % of the training labels
(one draw per seed): per modality a logistic-regression probe on frozen embeddings (``linear``) and
fine-tuning of the whole encoder (``finetune``: AdamW lr 1e-3, batch 128, 30 epochs within 100-300 steps;
from ``scratch`` this is plain supervised training); ``fused``: the probe on the three embeddings together.
Cross-modal retrieval: recall@1/5 of finding a test clip's own record in another modality (300 candidates,
shared projection space). Anomaly: pretraining without one speaker (``--held-out``), AUROC of telling that
speaker's test clips from the others' by the mean cosine distance to the 5 nearest training records (fused
embeddings). One run per seed; cells are mean ± sd over seeds.

    python benchmarks/fsdd.py --seeds 3 --threads 1
    python benchmarks/fsdd.py --objectives clip --seeds 1
    python benchmarks/fsdd.py --render
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

NAME = "fsdd"
FRACTIONS = (0.01, 0.1, 1.0)
MODALITIES = ("logmel", "wave", "table")
ENCODERS = {"logmel": "audio_conv2d", "wave": "audio_conv1d", "table": "tab_mlp"}
OBJECTIVES = ("clip", "symile", "clip-missing", "scratch")
FINETUNE = {"epochs": 30, "min_steps": 100, "max_steps": 300, "batch_size": 128}
MISSING = 0.3


def records(split: str, drop_speaker: int | None = None, missing: float = 0.0, seed: int = 0) -> Any:
    """FSDD records of one split (optionally without one speaker, optionally with random missing parts)."""
    from selfsup.data.audio import load_audio
    from selfsup.data.audio_descriptors import acoustic_descriptors
    from selfsup.data.multimodal import MultiModalDataset

    clips = load_audio(DATA / "fsdd" / "fsdd.npz", split=split, label_key="digit")
    if drop_speaker is not None:
        clips = clips.subset(np.flatnonzero(clips.meta["speaker"] != drop_speaker))
    table = acoustic_descriptors(clips)
    present = None
    if missing:
        rng = np.random.default_rng(1000 + seed)
        present = rng.random((len(clips), len(MODALITIES))) >= missing
        present[~present.any(1), rng.integers(0, len(MODALITIES))] = True
    return MultiModalDataset.from_parts({"logmel": clips, "wave": clips, "table": table}, present=present,
                                        origin=f"fsdd {split}"), clips.meta["speaker"]


def pretrained(objective: str, train: Any, seed: int, epochs: int, threads: int) -> tuple[Any, float]:
    import selfsup
    from selfsup.api import scratch_encoder
    from selfsup.records import MultiModalEncoder

    t = time.time()
    if objective == "scratch":
        mm = selfsup.pretrain_records(train, "clip", encoders=ENCODERS, max_steps=1, lr=0.0, seed=seed,
                                      threads=threads, progress=False)
        return MultiModalEncoder({k: scratch_encoder(v, seed) for k, v in mm.encoders.items()}, mm.projectors,
                                 "none"), 0.0
    mm = selfsup.pretrain_records(train, objective.replace("-missing", ""), encoders=ENCODERS, epochs=epochs,
                                  seed=seed, threads=threads, progress=False)
    return mm, time.time() - t


def run(objective: str, seed: int, epochs: int, threads: int, held_out: int) -> dict[str, Any]:
    import selfsup
    from selfsup.evaluate import evaluate_embeddings
    from selfsup.evaluate.retrieval import novelty_auroc
    from selfsup.records import evaluate_records

    missing = MISSING if objective.endswith("-missing") else 0.0
    train, _ = records("train", missing=missing, seed=seed)
    full_train, _ = records("train")
    test, test_speaker = records("test")
    mm, train_s = pretrained(objective, train, seed, epochs, threads)
    out: dict[str, Any] = {"train_s": train_s, "epochs": 0 if objective == "scratch" else epochs, "modalities": {}}
    t = time.time()
    for name in MODALITIES:
        r = selfsup.evaluate(mm.encoders[name], full_train.parts[name], test.parts[name], fractions=FRACTIONS,
                             seeds=(seed,), metrics=("linear", "finetune"), baseline="none", finetune=FINETUNE)
        out["modalities"][name] = {p: {f: r[p][f]["mean"] for f in r[p]} for p in ("linear", "finetune")}
    fused = evaluate_embeddings(mm.fused(full_train), full_train.labels, mm.fused(test), test.labels, FRACTIONS,
                                (seed,), protocols=("linear",))
    out["fused"] = {f: fused["linear"][f]["mean"] for f in fused["linear"]}
    if objective != "scratch":
        ret = evaluate_records(mm, full_train, test, fractions=(1.0,), seeds=(seed,), protocols=("knn",))
        out["retrieval"] = {k: {m: v[m] for m in ("recall@1", "recall@5")} for k, v in ret["retrieval"].items()}
        out["retrieval_from_rest"] = {k: {m: v[m] for m in ("recall@1", "recall@5")}
                                      for k, v in ret["retrieval_from_rest"].items()}
    # anomaly: an encoder that never saw the held-out speaker
    normal_train, _ = records("train", drop_speaker=held_out, missing=missing, seed=seed)
    mm_normal, _ = pretrained(objective, normal_train, seed, epochs, threads)
    normal_full, _ = records("train", drop_speaker=held_out)
    out["anomaly_auroc"] = novelty_auroc(mm_normal.fused(normal_full), mm_normal.fused(test),
                                         test_speaker == held_out)
    out["eval_s"] = time.time() - t
    return out


def run_retrieval(objective: str, seed: int, epochs: int, threads: int) -> dict[str, Any]:
    """The retrieval measures alone (pretraining again with the same seed: the same encoders as ``run``'s)."""
    from selfsup.records import evaluate_records

    missing = MISSING if objective.endswith("-missing") else 0.0
    train, _ = records("train", missing=missing, seed=seed)
    test, _ = records("test")
    mm, train_s = pretrained(objective, train, seed, epochs, threads)
    ret = evaluate_records(mm, records("train")[0], test, fractions=(1.0,), seeds=(seed,), protocols=("knn",))
    keep = ("recall@1", "recall@5")
    return {"train_s": train_s, "retrieval": {k: {m: v[m] for m in keep} for k, v in ret["retrieval"].items()},
            "retrieval_from_rest": {k: {m: v[m] for m in keep} for k, v in ret["retrieval_from_rest"].items()}}


def _path(name: str = NAME) -> Path:
    return REPO / "benchmarks" / "results" / f"{name}.json"


def _merged(res: dict[str, Any]) -> dict[str, Any]:
    """Runs of the main pass with ``retrieval_from_rest`` filled in from the retrieval pass where missing."""
    extra = json.loads(_path(f"{NAME}_retrieval").read_text())["runs"] if _path(f"{NAME}_retrieval").exists() else {}
    runs = {obj: {seed: dict(r) for seed, r in rs.items()} for obj, rs in res["runs"].items()}
    for obj, rs in runs.items():
        for seed, r in rs.items():
            if "retrieval_from_rest" not in r and seed in extra.get(obj, {}):
                r["retrieval_from_rest"] = extra[obj][seed]["retrieval_from_rest"]
    return {**res, "runs": runs}


def _cell(values: list[float]) -> str:
    a = np.array(values) * 100
    return f"{a.mean():.1f} ± {a.std(ddof=1):.1f}" if len(a) > 1 else f"{a[0]:.1f}"


def _accuracy(run: dict[str, Any], name: str, protocol: str, fraction: str) -> float:
    return run["fused"][fraction] if name == "fused" else run["modalities"][name][protocol][fraction]


def render(res: dict[str, Any]) -> str:
    m = res.get("machine", {})
    threads = res.get("threads", "?")
    runs = _merged(res)["runs"]
    lines = [f"# FSDD trimodal self-supervision ({m.get('cpu', '?')}, {threads} thread{'' if threads == 1 else 's'}, "
             f"torch {m.get('torch', '?')}; test accuracy %, mean ± sd over seeds)", "",
             "## Digit accuracy with 1 / 10 / 100 % of the labels", "",
             "| modality | pretraining | protocol | " + " | ".join(f"{f:.0%}" for f in FRACTIONS) + " | seeds |",
             "|---|---|---|" + "---|" * len(FRACTIONS) + "---|"]
    fkeys = [f"{f:g}" for f in FRACTIONS]
    for name in (*MODALITIES, "fused"):
        for obj in OBJECTIVES:
            rs = list(runs.get(obj, {}).values())
            if not rs:
                continue
            for proto in (("linear",) if name == "fused" else ("linear", "finetune")):
                cells = [_cell([_accuracy(r, name, proto, f) for r in rs]) for f in fkeys]
                lines.append(f"| {name} | {obj} | {proto} | " + " | ".join(cells) + f" | {len(rs)} |")
    lines += ["", "## Cross-modal retrieval (test, 300 candidates) and speaker anomaly", "",
              "| pretraining | " + " | ".join(f"{p} R@1 / R@5" for p in ("logmel->wave", "wave->table",
                                                                        "table->logmel")) +
              " | anomaly AUROC | pretrain time |", "|---|---|---|---|---|---|"]
    for obj in OBJECTIVES:
        rs = list(runs.get(obj, {}).values())
        if not rs:
            continue
        cells = []
        for pair in ("logmel->wave", "wave->table", "table->logmel"):
            if "retrieval" in rs[0]:
                cells.append(f"{_cell([r['retrieval'][pair]['recall@1'] for r in rs])} / "
                             f"{_cell([r['retrieval'][pair]['recall@5'] for r in rs])}")
            else:
                cells.append("chance: 0.3 / 1.7")
        secs = np.mean([r["train_s"] for r in rs])
        lines.append(f"| {obj} | " + " | ".join(cells) + f" | {_cell([r['anomaly_auroc'] for r in rs])} | "
                     + (f"{secs:.0f} s ({rs[0]['epochs']} epochs)" if secs else "-") + " |")
    rest = [(obj, [r for r in runs.get(obj, {}).values() if "retrieval_from_rest" in r]) for obj in OBJECTIVES]
    rest = [(obj, rs) for obj, rs in rest if rs]
    if rest:
        lines += ["", "Retrieval of one modality from the other two together (Symile: their element-wise product, "
                  "its multilinear inner product; CLIP: summed cosines), R@1 / R@5:", "",
                  "| pretraining | " + " | ".join(f"rest->{n}" for n in MODALITIES) + " | seeds |",
                  "|---|" + "---|" * len(MODALITIES) + "---|"]
        for obj, rs in rest:
            cells = [f"{_cell([r['retrieval_from_rest'][f'rest->{n}']['recall@1'] for r in rs])} / "
                     f"{_cell([r['retrieval_from_rest'][f'rest->{n}']['recall@5'] for r in rs])}" for n in MODALITIES]
            lines.append(f"| {obj} | " + " | ".join(cells) + f" | {len(rs)} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objectives", default=",".join(OBJECTIVES))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--held-out", type=int, default=5, help="speaker index held out for the anomaly score")
    ap.add_argument("--render", action="store_true")
    ap.add_argument("--retrieval-only", action="store_true",
                    help="the retrieval measures alone, into fsdd_retrieval.json (merged into the tables)")
    a = ap.parse_args()
    if a.retrieval_only:
        import torch

        torch.set_num_threads(a.threads)
        out = json.loads(_path(f"{NAME}_retrieval").read_text()) if _path(f"{NAME}_retrieval").exists() else {
            "runs": {}}
        for seed in range(a.seeds):
            for obj in [x.strip() for x in a.objectives.split(",") if x.strip() and x.strip() != "scratch"]:
                runs = out["runs"].setdefault(obj, {})
                if str(seed) not in runs:
                    runs[str(seed)] = run_retrieval(obj, seed, a.epochs, a.threads)
                    print(f"{obj:13s} seed {seed}  {json.dumps(runs[str(seed)]['retrieval_from_rest'])}", flush=True)
                    _path(f"{NAME}_retrieval").write_text(json.dumps(out, indent=2))
        return
    res = json.loads(_path().read_text()) if _path().exists() else {"runs": {}}
    if a.render:
        print(render(res))
        write_results(NAME, res, render(res))
        return
    import torch

    torch.set_num_threads(a.threads)
    names = np.load(DATA / "fsdd" / "fsdd.npz")["speaker_names"]
    res.update({"machine": machine(), "threads": a.threads, "protocol": __doc__.split("\n\n")[1],
                "held_out_speaker": str(names[a.held_out])})
    for seed in range(a.seeds):
        for obj in [x.strip() for x in a.objectives.split(",") if x.strip()]:
            runs = res["runs"].setdefault(obj, {})
            if str(seed) in runs:
                continue
            r = run(obj, seed, a.epochs, a.threads, a.held_out)
            runs[str(seed)] = r
            print(f"{obj:13s} seed {seed}  fused {r['fused']}  anomaly {r['anomaly_auroc']:.3f}  "
                  f"train {r['train_s']:5.0f}s eval {r['eval_s']:5.0f}s", flush=True)
            write_results(NAME, res, render(res))
    print(render(res))


if __name__ == "__main__":
    main()
