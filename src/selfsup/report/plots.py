"""The report's figures as PNG bytes (matplotlib, Agg backend: no screen needed)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np


def _plt():
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("selfsup report draws with matplotlib: pip install 'selfsup[report]'") from e
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "axes.spines.top": False,
                         "axes.spines.right": False, "font.size": 9})
    return plt


def _png(fig: Any) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _column(rows: list[dict[str, str]], key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(float(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
    if not pts:
        return np.zeros(0), np.zeros(0)
    a = np.asarray(pts)
    return a[:, 0], a[:, 1]


def curves(rows: list[dict[str, str]], panels: Sequence[tuple[str, Sequence[str], str]]) -> bytes | None:
    """One subplot per panel ``(title, metrics.csv columns, y label)``; panels with no data are dropped."""
    present = [(t, [k for k in keys if len(_column(rows, k)[0])], y) for t, keys, y in panels]
    present = [(t, keys, y) for t, keys, y in present if keys]
    if not present:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(present), figsize=(4.2 * len(present), 3.0), squeeze=False)
    for ax, (title, keys, ylabel) in zip(axes[0], present, strict=True):
        for k in keys:
            x, y = _column(rows, k)
            ax.plot(x, y, marker="o" if len(x) < 30 else None, ms=3, label=k)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        if len(keys) > 1:
            ax.legend(fontsize=8)
    return _png(fig)


def label_fraction_curve(evaluation: dict[str, Any]) -> bytes | None:
    """Accuracy against label fraction (log axis), pretrained solid and from-scratch dashed, ± sd bars."""
    protocols = [p for p in ("finetune", "linear", "knn") if p in evaluation]
    if not protocols:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    colours = {"finetune": "tab:blue", "linear": "tab:orange", "knn": "tab:green"}
    for who, source, style in (("pretrained", evaluation, "-"), ("from scratch", evaluation.get("scratch", {}), "--")):
        for p in protocols:
            if p not in source:
                continue
            fr = sorted(source[p], key=float)
            ax.errorbar([float(f) * 100 for f in fr], [source[p][f]["mean"] for f in fr],
                        yerr=[source[p][f]["std"] for f in fr], fmt="o" + style, color=colours[p], capsize=3,
                        label=f"{p}, {who}")
    ax.set_xscale("log")
    ax.set_xlabel("labels used (%)")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=8)
    return _png(fig)


def embedding_map(points: np.ndarray, labels: np.ndarray, class_names: Sequence[str], title: str) -> bytes:
    """2-D scatter of embedded samples coloured by label."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.2, 5.2))
    classes = np.unique(labels)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    for i, c in enumerate(classes):
        m = labels == c
        name = class_names[c] if c < len(class_names) else str(c)
        ax.scatter(points[m, 0], points[m, 1], s=5, alpha=0.7, color=cmap(i % cmap.N), label=name)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, markerscale=2.5, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return _png(fig)


def neighbour_grid(images: np.ndarray, queries: Sequence[int], neighbours: np.ndarray, labels: np.ndarray,
                   class_names: Sequence[str]) -> bytes:
    """Each row: a query image, then its nearest neighbours, framed green (same label) or red."""
    plt = _plt()
    rows, k = len(queries), neighbours.shape[1]
    fig, axes = plt.subplots(rows, k + 1, figsize=(1.05 * (k + 1), 1.15 * rows), squeeze=False)
    for r, q in enumerate(queries):
        for c, idx in enumerate([q, *neighbours[r]]):
            ax = axes[r][c]
            img = images[idx]
            ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None)
            ax.set_xticks([])
            ax.set_yticks([])
            same = labels[idx] == labels[q]
            colour = "black" if c == 0 else ("tab:green" if same else "tab:red")
            for spine in ax.spines.values():
                spine.set_visible(True)
                spine.set_color(colour)
                spine.set_linewidth(2.5 if c else 1.0)
            if c == 0:
                name = class_names[labels[q]] if labels[q] < len(class_names) else str(labels[q])
                ax.set_title(f"query: {name}", fontsize=7)
    return _png(fig)
