"""Record one ``selfsup demo`` run (built-in Fashion-MNIST sample) as results/demo.{json,md}.

    python benchmarks/demo_run.py [--minutes 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_results

from selfsup.demo import run_demo


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=2.0)
    a = ap.parse_args()
    res = run_demo(a.minutes, progress=False)
    res["machine"] = machine()
    lines = [f"`selfsup demo`: {res['data']}; {res['method']} + {res['encoder']}, {res['epochs']} epochs, "
             f"batch {res['batch_size']}, pretraining {res['train_seconds']:.0f} s, whole demo "
             f"{res['total_seconds']:.0f} s, {res['threads']} threads, {res['machine']['cpu']}, "
             f"{res['machine']['date']}.", "", "| representation | kNN top-1 (k=200) | linear probe top-1 |",
             "|---|---|---|"]
    for label, r in res["results"].items():
        lines.append(f"| {label} | {r['knn']['1']['mean']:.3f} | {r['linear']['1']['mean']:.3f} |")
    write_results("demo", res, "\n".join(lines))


if __name__ == "__main__":
    main()
