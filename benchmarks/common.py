"""Shared helpers for benchmarks (and the real-data tests): dataset paths, decoding, machine facts."""

from __future__ import annotations

import io
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SELFSUP_DATA", REPO.parent / "shared" / "data")).resolve()


def load_cifar10_jpeg(n_train: int | None = None, n_test: int | None = None,
                      path: Path | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decode the shared CIFAR-10 JPEG (quality 75) container; every k-th image keeps classes balanced."""
    from PIL import Image

    d = np.load(path or DATA / "cifar10_jpeg" / "cifar10_jpeg.npz")
    out = []
    for split, n in (("train", n_train), ("test", n_test)):
        offs, labels = d[f"{split}_offsets"], d[f"{split}_labels"]
        total = len(labels)
        idx = np.arange(total) if n is None else np.linspace(0, total - 1, n).round().astype(int)
        buf = d[f"{split}_jpeg"]
        x = np.stack([np.asarray(Image.open(io.BytesIO(buf[offs[i]:offs[i + 1]].tobytes())).convert("RGB"))
                      for i in idx])
        out += [x, labels[idx].astype(np.int64)]
    return out[0], out[1], out[2], out[3]


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d"),
            "glibc_tunables": os.environ.get("GLIBC_TUNABLES", "")}


def write_results(name: str, payload: dict[str, Any], markdown: str) -> Path:
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(payload, indent=2))
    (out / f"{name}.md").write_text(markdown + "\n")
    return out / f"{name}.json"


TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184"


def run_child(module: str, fn: str, tunables: bool = True, timeout: float = 3600, **kwargs: Any) -> dict[str, Any]:
    """Run ``module.WORKERS[fn](**kwargs)`` in a fresh interpreter (clean peak RSS); its JSON result or the error."""
    import subprocess
    import sys

    env = dict(os.environ)
    env.pop("GLIBC_TUNABLES", None)
    if tunables:
        env["GLIBC_TUNABLES"] = TUNABLES
    here = str(Path(__file__).resolve().parent)
    code = (f"import json,sys; sys.path.insert(0, {here!r}); import {module} as b; "
            f"print('RESULT' + json.dumps(b.WORKERS[{fn!r}](**{kwargs!r})))")
    try:
        p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": [f"timed out after {timeout:.0f} s"]}
    for line in p.stdout.splitlines():
        if line.startswith("RESULT"):
            return json.loads(line[6:])
    return {"error": (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]}
