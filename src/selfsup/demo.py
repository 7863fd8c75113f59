"""``selfsup demo``: pretrain on the built-in Fashion-MNIST sample and report honestly.

Prints kNN and linear-probe accuracy of the SSL encoder beside a random-init encoder of
the same architecture and raw pixels, whatever the numbers turn out to be.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selfsup.api import PretrainedEncoder, build_encoder, pretrain
from selfsup.data import demo_dataset
from selfsup.evaluate import evaluate_embeddings
from selfsup.train import TrainConfig, Trainer
from selfsup.views import Preprocess, image_views


def calibrate_step_seconds(method: str, encoder: str, data: Any, batch_size: int, steps: int = 10,
                           **trainer_kwargs: Any) -> float:
    """Seconds per training step, from a short throw-away run of the real loop (first two steps excluded)."""
    from selfsup.methods import create_method

    enc, _, _ = build_encoder(encoder, data.image_size)
    model = create_method(method, enc)
    views = image_views(model.default_views, data.image_size)
    res = Trainer(TrainConfig(max_steps=steps, batch_size=batch_size, progress=False, log_every=1,
                              **trainer_kwargs)).fit(model, data, views)
    elapsed = [h["elapsed_s"] for h in res.history]
    return (elapsed[-1] - elapsed[1]) / (len(elapsed) - 2)


def run_demo(minutes: float = 2.0, method: str = "simclr", encoder: str = "small_cnn", batch_size: int = 256,
             run_dir: str | Path | None = None, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Pretrain for about ``minutes`` of wall-clock, evaluate three encoders, return the results."""
    train, test = demo_dataset("train"), demo_dataset("test")
    t_start = time.perf_counter()
    step_s = calibrate_step_seconds(method, encoder, train, batch_size)
    steps_per_epoch = len(train) // batch_size
    epochs = max(1, int(minutes * 60 / (step_s * steps_per_epoch)))
    print(f"selfsup demo: {len(train)} unlabeled Fashion-MNIST images (28x28), {method} + {encoder}, "
          f"{epochs} epochs (~{step_s * steps_per_epoch * epochs / 60:.1f} min at {batch_size / step_s:,.0f} img/s)")
    t_train = time.perf_counter()
    enc = pretrain(train, method, encoder, epochs=epochs, batch_size=batch_size, seed=seed, run_dir=run_dir,
                   resume=False, progress=progress, log_every=5)
    train_s = time.perf_counter() - t_train

    torch.manual_seed(seed)
    rand_module, name, kw = build_encoder(encoder, train.image_size)
    random_init = PretrainedEncoder(rand_module, name, kw, Preprocess(train.image_size))
    rows: dict[str, Any] = {}
    for label, e in (("SSL encoder", enc), ("random-init encoder", random_init)):
        rows[label] = evaluate_embeddings(e.embed(train), train.labels, e.embed(test), test.labels,
                                          fractions=(1.0,), seeds=(seed,))
    pix_tr = train.images[..., 0].reshape(len(train), -1).astype(np.float32) / 255
    pix_te = test.images[..., 0].reshape(len(test), -1).astype(np.float32) / 255
    rows["raw pixels"] = evaluate_embeddings(pix_tr, train.labels, pix_te, test.labels, fractions=(1.0,),
                                             seeds=(seed,))
    results = {"data": "built-in Fashion-MNIST sample: 8,000 train / 2,000 test, 28x28, MIT licence",
               "method": method, "encoder": encoder, "epochs": epochs, "batch_size": batch_size,
               "train_seconds": round(train_s, 1), "total_seconds": round(time.perf_counter() - t_start, 1),
               "threads": torch.get_num_threads(), "results": rows}
    print()
    print("| representation | kNN top-1 (k=200) | linear probe top-1 |")
    print("|---|---|---|")
    for label, r in rows.items():
        print(f"| {label} | {r['knn']['1']['mean']:.3f} | {r['linear']['1']['mean']:.3f} |")
    print(f"\npretraining {train_s:.0f} s, total {results['total_seconds']:.0f} s on {torch.get_num_threads()} "
          "CPU threads; accuracies on the 2,000 held-out test images.")
    if run_dir is not None:
        p = Path(run_dir) / "demo_results.json"
        p.write_text(json.dumps(results, indent=2))
        print(f"results: {p}")
    return results
