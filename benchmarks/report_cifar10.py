"""Render the report of the real CIFAR-10 run in headless Chromium and keep a screenshot.

Run ``benchmarks/label_fractions_cifar10.py`` first (it pretrains, monitors and evaluates
into the run folder), then:

    python benchmarks/report_cifar10.py --run-dir runs/cifar10-simclr

Builds ``RUN_DIR/report.html`` (the embedding map and neighbour grid from the CIFAR-10
test set that the evaluation recorded), loads it in Chromium, checks that every image
decoded, and writes ``benchmarks/results/report_cifar10.{png,json,md}``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, machine, write_results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-dir", default="runs/cifar10-simclr")
    ap.add_argument("--points", type=int, default=2000)
    a = ap.parse_args()

    from selfsup.report import build_report
    from selfsup.report.browser import render_in_chromium

    t0 = time.perf_counter()
    page = build_report(a.run_dir, max_points=a.points, progress=print)
    build_s = time.perf_counter() - t0
    shot = REPO / "benchmarks" / "results" / "report_cifar10.png"
    r = render_in_chromium(page, shot)
    ok = r["images_loaded"] == r["images_total"] and r["images_total"] > 0
    payload = {"benchmark": "report_cifar10", "machine": machine(), "run_dir": str(a.run_dir), "html": str(page),
               "html_bytes": page.stat().st_size, "build_seconds": round(build_s, 1), **r, "all_images_loaded": ok}
    md = (f"Report of the CIFAR-10 run `{a.run_dir}`: {page.stat().st_size / 1e6:.2f} MB of HTML built in "
          f"{build_s:.0f} s; headless Chromium loaded {r['images_loaded']} of {r['images_total']} images; "
          f"page height {r['page_height']} px; screenshot `benchmarks/results/report_cifar10.png`.")
    print(md)
    print(write_results("report_cifar10", payload, md))
    if not ok:
        raise SystemExit("some images did not load")


if __name__ == "__main__":
    main()
