"""The command-line face: ``selfsup pretrain | evaluate | embed | report | reward-tune | demo``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

# glibc returns freed activation memory to the OS every step unless told not to; keeping it
# mapped is +30 % step throughput on CPU (benchmarks/train_speed.py). Set before torch loads.
MALLOC_TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184"


def _maybe_reexec(argv: Sequence[str]) -> None:
    if (sys.platform.startswith("linux") and "GLIBC_TUNABLES" not in os.environ
            and os.environ.get("SELFSUP_MALLOC_TUNING", "1") != "0"):
        env = {**os.environ, "GLIBC_TUNABLES": MALLOC_TUNABLES}
        os.execve(sys.executable, [sys.executable, "-m", "selfsup.cli", *argv], env)


def _parser() -> argparse.ArgumentParser:
    from selfsup.encoders import ENCODERS
    from selfsup.methods import METHODS

    epilog = (f"methods: {', '.join(METHODS)}\nencoders: {', '.join(ENCODERS)} (and timm:<model>, "
              "torchvision:<model> when installed)\n\nany config key can be overridden: section.key=value, "
              "e.g. trainer.lr=0.1 method.temperature=0.2")
    p = argparse.ArgumentParser(prog="selfsup", description="Self-supervised learning on any kind of data.",
                                epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    pt = sub.add_parser("pretrain", help="pretrain an encoder on unlabeled data", epilog=epilog,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    pt.add_argument("data", nargs="?", help="folder of images, series file (UCR .tsv, UEA .ts, CSV), UCR/UEA dataset "
                                            "folder, .npy/.npz file, CIFAR-10 python folder, graph files, a "
                                            "table (.csv/.tsv/.csv.gz/.parquet), or .wav files")
    pt.add_argument("overrides", nargs="*", metavar="section.key=value", help="config overrides")
    pt.add_argument("--config", help="YAML config with sections data, views, encoder, method, trainer")
    pt.add_argument("--method", help=f"one of {', '.join(METHODS)} (default simclr)")
    pt.add_argument("--encoder", help="encoder name (default: the method's, small_cnn for most)")
    pt.add_argument("--epochs", type=int)
    pt.add_argument("--batch-size", type=int)
    pt.add_argument("--image-size", type=int)
    pt.add_argument("--modality", choices=("auto", "image", "series", "graph", "tabular", "audio"),
                    help="data modality (default: read from the data)")
    pt.add_argument("--target", help="a table's label column, left out of the features (default: one named label, "
                                     "target, class or y)")
    pt.add_argument("--categorical", help="comma list of table columns to read as categories (numbers that name "
                                          "categories)")
    pt.add_argument("--max-steps", type=int, help="stop after this many steps (instead of --epochs)")
    pt.add_argument("--run-dir", help="where checkpoints, metrics and the encoder go; an existing run resumes")
    pt.add_argument("--knn-test", help="labelled data: log kNN accuracy on it during training (monitor.knn_test)")
    pt.add_argument("--knn-every", type=int, help="steps between kNN evaluations (default 200 with --knn-test)")
    pt.add_argument("--skip-corrupt", action="store_true", help="skip unreadable images (counted and listed)")
    pt.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="config override (repeatable)")

    ev = sub.add_parser("evaluate", help="kNN, linear and SVM probes of a frozen encoder with label fractions")
    ev.add_argument("encoder", help="encoder .safetensors file or run folder")
    ev.add_argument("--train", required=True, help="labelled training data (images, series or graphs, as the "
                                                 "encoder's)")
    ev.add_argument("--test", help="labelled test data; without it the probes run in k-fold cross-validation over "
                                   "--train (graph sets, or any labelled set without a test split)")
    ev.add_argument("--folds", type=int, default=10,
                    help="cross-validation folds when --test is not given (default 10)")
    ev.add_argument("--fractions", default="0.01,0.1,1", help="label fractions (default 0.01,0.1,1)")
    ev.add_argument("--seeds", default="0,1,2", help="seeds for the label draws (default 0,1,2)")
    ev.add_argument("--metrics", default="knn,linear",
                    help="comma list of knn, linear, svm, finetune, retrieval, clustering, anomaly, misclassified, "
                         "diagnostics, equivariance, or all (default knn,linear)")
    ev.add_argument("--baseline", default="auto", choices=("auto", "scratch", "none"),
                    help="also evaluate a from-scratch encoder of the same architecture (auto: with finetune)")
    ev.add_argument("--finetune", dest="finetune_sets", action="append", default=[], metavar="KEY=VALUE",
                    help="fine-tuning setting, e.g. --finetune epochs=50 --finetune lr=3e-4 (repeatable)")
    ev.add_argument("--out", help="write results JSON here (default: beside the encoder)")

    em = sub.add_parser("embed", help="write embeddings of data with a pretrained encoder")
    em.add_argument("encoder", help="encoder .safetensors file or run folder")
    em.add_argument("data", help="images or series to embed")
    em.add_argument("--out", required=True, help="output .npy or .parquet file")
    em.add_argument("--batch-size", type=int, default=512)

    rp = sub.add_parser("report", help="one self-contained HTML page about a run (plots, tables, neighbours)")
    rp.add_argument("run_dir", help="a pretraining run folder")
    rp.add_argument("--data", help="labelled data for the embedding map and neighbour grid (default: the test set "
                                   "that selfsup evaluate recorded)")
    rp.add_argument("--out", help="HTML file to write (default RUN_DIR/report.html)")
    rp.add_argument("--points", type=int, default=2000, help="samples in the embedding map (default 2000)")
    rp.add_argument("--screenshot", help="also render the page in headless Chromium and save a PNG here")

    rt = sub.add_parser("reward-tune", help="fine-tune an encoder on an SSL task used as a verifiable reward "
                                            "(SSL4RL: GRPO, REINFORCE, or the supervised pretext loss)")
    rt.add_argument("encoder", help="encoder .safetensors file or run folder")
    rt.add_argument("data", help="unlabeled data of the encoder's modality (labels, if any, are not read)")
    rt.add_argument("--task", required=True, help="rotation, jigsaw, relative_position, crop, masked_patch "
                                                  "(images); masked_edge, masked_attribute (graphs)")
    rt.add_argument("--out", required=True, help="folder for the tuned encoder, rewards.json and the curve")
    rt.add_argument("--exam", help="data to pose the before/after exam questions on (default: DATA)")
    rt.add_argument("--knob", dest="knobs", action="append", default=[], metavar="KEY=VALUE",
                    help="task difficulty, e.g. --knob n_angles=8 --knob graded=true (repeatable)")
    rt.add_argument("--set", dest="train_sets", action="append", default=[], metavar="KEY=VALUE",
                    help="training setting, e.g. --set signal=reinforce --set steps=500 --set kl_coef=0.05")

    de = sub.add_parser("demo", help="pretrain on a built-in dataset and compare with baselines (~3 min)")
    de.add_argument("--minutes", type=float, default=2.0, help="pretraining budget (default 2)")
    de.add_argument("--method", default="simclr")
    de.add_argument("--encoder", default="small_cnn")
    de.add_argument("--run-dir", default=None)
    return p


def _floats(s: str) -> list[float]:
    return [float(v) for v in s.split(",") if v.strip()]


def cmd_pretrain(a: argparse.Namespace) -> int:
    from selfsup.api import pretrain_from_config
    from selfsup.config import apply_overrides, load_config

    cfg = load_config(a.config) if a.config else {}
    overrides = list(a.sets)
    positional = [a.data] if a.data else []
    for tok in a.overrides:
        (overrides if "=" in tok else positional).append(tok)
    if a.data and "=" in a.data:
        overrides.insert(0, a.data)
        positional.remove(a.data)
    if len(positional) > 1:
        raise SystemExit(f"selfsup pretrain: expected one data path, got {positional}")
    if positional:
        cfg.setdefault("data", {})["path"] = positional[0]
    for flag, key in ((a.method, "method.name"), (a.encoder, "encoder.name"), (a.epochs, "trainer.epochs"),
                      (a.batch_size, "trainer.batch_size"), (a.image_size, "data.image_size"),
                      (a.modality, "data.modality"), (a.max_steps, "trainer.max_steps"),
                      (a.run_dir, "run_dir"), (a.target, "data.target")):
        if flag is not None:
            overrides.append(f"{key}={flag}")
    if a.skip_corrupt:
        overrides.append("data.skip_corrupt=true")
    if a.categorical:
        overrides.append(f"data.categorical=[{a.categorical}]")
    if a.knn_test:
        overrides += [f"monitor.knn_test={a.knn_test}", f"monitor.knn_every={a.knn_every or 200}"]
    elif a.knn_every:
        raise SystemExit("selfsup pretrain: --knn-every needs --knn-test (labelled data to measure kNN on)")
    apply_overrides(cfg, overrides)
    if not cfg.get("run_dir"):
        method = (cfg.get("method") or {}).get("name", "simclr")
        cfg["run_dir"] = str(Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{method}")
    run = Path(cfg["run_dir"])
    enc = pretrain_from_config(cfg)
    print(f"selfsup: saved {enc} to {run / 'encoder.safetensors'}")
    return 0


def cmd_evaluate(a: argparse.Namespace) -> int:
    from selfsup.api import ALL_METRICS, evaluate, load
    from selfsup.config import apply_overrides
    from selfsup.evaluate import format_results

    metrics = [m.strip() for m in a.metrics.split(",") if m.strip()]
    finetune = apply_overrides({}, a.finetune_sets)
    enc = load(a.encoder)
    if metrics == ["all"]:
        metrics = [m for m in ALL_METRICS if m not in enc.modality.unavailable_metrics]
    res = evaluate(enc, a.train, a.test, _floats(a.fractions), [int(s) for s in _floats(a.seeds)], metrics=metrics,
                   baseline=a.baseline, finetune=finetune, progress=True, folds=a.folds)
    out = Path(a.out) if a.out else (Path(a.encoder) if Path(a.encoder).is_dir() else Path(a.encoder).parent) \
        / "evaluation.json"
    from selfsup.train.checkpoint import atomic_write_bytes

    atomic_write_bytes(out, lambda f: f.write(json.dumps(res, indent=2).encode()))
    print(format_results(res))
    print(f"results: {out}")
    return 0


def cmd_embed(a: argparse.Namespace) -> int:
    import numpy as np

    from selfsup.api import load

    enc = load(a.encoder)
    data = enc.load_data(a.data)
    z = enc.embed(data, batch_size=a.batch_size)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError as e:
            raise SystemExit("selfsup embed: .parquet output needs pyarrow: pip install 'selfsup[parquet]'") from e
        table = pa.table({"index": np.arange(len(z)), "label": data.labels,
                          "embedding": pa.FixedSizeListArray.from_arrays(pa.array(z.reshape(-1)), z.shape[1])})
        pq.write_table(table, out)
    elif out.suffix == ".npy":
        np.save(out, z)
    else:
        raise SystemExit(f"selfsup embed: --out must end in .npy or .parquet, got {out.name}")
    print(f"selfsup: wrote {z.shape[0]} x {z.shape[1]} embeddings to {out}")
    return 0


def cmd_report(a: argparse.Namespace) -> int:
    from selfsup.report import build_report

    try:
        page = build_report(a.run_dir, a.data, a.out, max_points=a.points, progress=print)
    except ImportError as e:  # matplotlib is an extra
        print(f"selfsup report: error: {e}", file=sys.stderr)
        return 2
    print(f"selfsup: wrote {page} ({page.stat().st_size / 1e6:.1f} MB)")
    if a.screenshot:
        from selfsup.report.browser import render_in_chromium

        try:
            r = render_in_chromium(page, a.screenshot)
        except (RuntimeError, OSError) as e:
            print(f"selfsup report: error: the page was written, but rendering it failed: {e}", file=sys.stderr)
            return 2
        print(f"selfsup: {r['images_loaded']}/{r['images_total']} images loaded in Chromium; screenshot "
              f"{r['screenshot']}")
        if r["images_loaded"] != r["images_total"]:
            return 1
    return 0


def cmd_reward_tune(a: argparse.Namespace) -> int:
    from selfsup.api import load
    from selfsup.config import apply_overrides
    from selfsup.rl import plot_reward_curves, reward_finetune
    from selfsup.train.checkpoint import atomic_write_bytes

    try:
        tuned, record = reward_finetune(load(a.encoder), a.data, a.task, apply_overrides({}, a.train_sets), exam=a.exam,
                                        **apply_overrides({}, a.knobs))
    except (ValueError, TypeError) as e:
        print(f"selfsup reward-tune: error: {e}", file=sys.stderr)
        return 2
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    tuned.save(out / "encoder.safetensors")
    atomic_write_bytes(out / "rewards.json", lambda f: f.write(json.dumps(record, indent=2).encode()))
    try:
        png = plot_reward_curves({a.task: record}, key="reward")
        if png:
            atomic_write_bytes(out / "reward_curve.png", lambda f: f.write(png))
    except ImportError:
        pass  # matplotlib is an extra
    b, e = record["exam_before"], record["exam_after"]
    last = record["curves"]["reward"][-20:]
    print(f"selfsup: {a.task} exam accuracy {b['accuracy']:.3f} -> {e['accuracy']:.3f} on {e['questions']} questions; "
          f"mean reward of the last {len(last)} steps {sum(last) / len(last):.3f}; tuned encoder in "
          f"{out / 'encoder.safetensors'}")
    return 0


def cmd_demo(a: argparse.Namespace) -> int:
    from selfsup.demo import run_demo

    run_demo(a.minutes, a.method, a.encoder, run_dir=a.run_dir)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        _maybe_reexec(sys.argv[1:])
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # section.key=value overrides may stand anywhere on a pretrain command line
        bad = [t for t in extra if t.startswith("-") or "=" not in t]
        if args.command != "pretrain" or bad:
            parser.error(f"unrecognized arguments: {' '.join(bad or extra)}")
        args.overrides = [*args.overrides, *extra]
    from selfsup.config import ConfigError
    from selfsup.data import DataError
    from selfsup.train import CheckpointMismatchError, NonFiniteLossError

    try:
        return {"pretrain": cmd_pretrain, "evaluate": cmd_evaluate, "embed": cmd_embed, "report": cmd_report,
                "reward-tune": cmd_reward_tune, "demo": cmd_demo}[args.command](args)
    except (ConfigError, DataError, CheckpointMismatchError, NonFiniteLossError, FileNotFoundError) as e:
        print(f"selfsup {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
