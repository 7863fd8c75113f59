"""Render a report in headless Chromium: check that every image loaded and take a screenshot."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

# The machine's network is closed: without these, Chromium spends its start-up on refused connections.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--virtual-time-budget=10000")


def find_chromium() -> str | None:
    """``$SELFSUP_CHROMIUM``, else chromium / chromium-browser / google-chrome on the PATH."""
    env = os.environ.get("SELFSUP_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(binary: str, args: list[str], timeout: float) -> str:
    with tempfile.TemporaryDirectory(prefix="selfsup-chromium-") as profile:
        try:
            p = subprocess.run([binary, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                               text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise RuntimeError(f"chromium did not finish within {timeout:.0f} s") from e
    if p.returncode != 0:
        raise RuntimeError(f"chromium exited with {p.returncode}: {p.stderr.strip()[-800:]}")
    return p.stdout


def render_in_chromium(html: str | os.PathLike, screenshot: str | os.PathLike | None = None, width: int = 1280,
                       timeout: float = 120) -> dict[str, Any]:
    """Load ``html`` headless; return how many of its images decoded, the page height, and the screenshot path.

    The report's own script writes ``data-images-loaded="loaded/total"`` and the page
    height on ``<body>`` once the page has loaded; the DOM dump reads them back. The
    screenshot is taken at the full page height.
    """
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("no Chromium found: install Debian's `chromium` package or set SELFSUP_CHROMIUM")
    url = Path(html).resolve().as_uri()
    dom = _run(binary, ["--dump-dom", url], timeout)
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    height = re.search(r'data-page-height="(\d+)"', dom)
    if loaded is None:
        raise RuntimeError("the page's load script did not run: no data-images-loaded attribute in the DOM")
    result: dict[str, Any] = {"images_loaded": int(loaded.group(1)), "images_total": int(loaded.group(2)),
                              "page_height": int(height.group(1)) if height else None, "chromium": binary}
    if screenshot is not None:
        shot = Path(screenshot).resolve()
        shot.parent.mkdir(parents=True, exist_ok=True)
        h = min(max(result["page_height"] or 2000, 600), 16_000)
        _run(binary, [f"--screenshot={shot}", f"--window-size={width},{h}", url], timeout)
        if not shot.exists():
            raise RuntimeError(f"chromium wrote no screenshot to {shot}")
        result["screenshot"] = str(shot)
    return result
