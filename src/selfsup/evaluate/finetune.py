"""Full-network fine-tuning with a fraction of the labels, for a pretrained and a from-scratch encoder.

The semi-supervised protocol of SimCLR (Chen et al. 2020) and of small-data medical and
astronomy studies (seed [003#25], AstroM³ [000#2]): draw 1 %, 10 % or 100 % of the
labels class-balanced, train encoder and a linear head end to end, report test accuracy
over several seeds. The same protocol on a freshly initialised copy of the encoder shows
what pretraining bought. Works for any modality: data are sources with ``batch(indices)``;
``augment`` and ``preprocess`` are the modality's.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.evaluate.embed import embed_source
from selfsup.train.trainer import Source

Augment = Callable[[Tensor, torch.Generator], tuple[Tensor, dict]]


@dataclass
class FinetuneConfig:
    """Fine-tuning knobs, the same for the pretrained and the from-scratch encoder.

    ``epochs`` passes over the labelled subset, but at least ``min_steps`` and at most
    ``max_steps`` optimiser steps (1 % of the labels needs many epochs, 100 % few).
    AdamW with a cosine schedule and a 5 % warm-up; the encoder's learning rate is
    ``encoder_lr_scale`` times the head's. ``precision`` as the trainer's: ``auto`` uses
    bf16 autocast where the device supports it. ``label_augmentation="rotation"`` trains on joint
    (class, quarter turn) labels and predicts by averaging over the four turns
    (``JointRotationClassifier``; square images only).
    """

    epochs: int = 30
    min_steps: int = 200
    max_steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    encoder_lr_scale: float = 1.0
    weight_decay: float = 0.05
    label_smoothing: float = 0.0
    precision: str = "auto"
    label_augmentation: str = "none"

    def __post_init__(self) -> None:
        if self.label_augmentation not in LABEL_AUGMENTATIONS:
            raise ValueError(f"unknown finetune.label_augmentation {self.label_augmentation!r}; choose one of "
                             f"{', '.join(LABEL_AUGMENTATIONS)}")

    def steps_for(self, n_labels: int) -> int:
        per_epoch = max(1, math.ceil(n_labels / self.batch_size))
        return int(min(self.max_steps, max(self.min_steps, self.epochs * per_epoch)))


LABEL_AUGMENTATIONS = ("none", "rotation")


class JointRotationClassifier(nn.Module):
    """Self-supervised label augmentation (Lee et al. 2020, [001#23]): one head over (class, turn) pairs.

    Training (``joint_loss``) shows every image in all four quarter turns with label
    ``4 * class + turn``, so the rotation task shapes the features without asking them to be
    rotation-invariant. Prediction (``forward``) averages, over the four turns of the input,
    the logits of each class paired with the turn that was applied (their aggregated inference).
    """

    turns = 4

    def __init__(self, encoder: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.encoder, self.num_classes = encoder, num_classes
        self.head = nn.Linear(int(encoder.out_dim), num_classes * self.turns)

    def joint_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Logits (4B, 4C) of all four turns of ``x`` (turn-major) and the turn of each row."""
        from selfsup.views.image import rotate90

        k = torch.arange(self.turns, device=x.device).repeat_interleave(x.shape[0])
        return self.head(self.encoder(rotate90(x.repeat(self.turns, *([1] * (x.ndim - 1))), k))), k

    def joint_loss(self, x: Tensor, y: Tensor, label_smoothing: float = 0.0) -> Tensor:
        logits, k = self.joint_logits(x)
        return F.cross_entropy(logits.float(), y.repeat(self.turns) * self.turns + k, label_smoothing=label_smoothing)

    def forward(self, x: Tensor) -> Tensor:
        logits, _ = self.joint_logits(x)
        per_turn = logits.view(self.turns, x.shape[0], self.num_classes, self.turns)
        return torch.stack([per_turn[t, :, :, t] for t in range(self.turns)]).mean(0)


class _Classifier(nn.Module):
    def __init__(self, encoder: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(int(encoder.out_dim), num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(x))


def fresh_copy(encoder: nn.Module, seed: int, rebuild: Callable[[], nn.Module] | None = None) -> nn.Module:
    """A from-scratch encoder of the same architecture: ``rebuild()`` under ``seed`` when given
    (a registry encoder's own initialisation), else a copy with every ``reset_parameters`` re-run."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if rebuild is not None:
            return rebuild()
        module = copy.deepcopy(encoder)
        for m in module.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        return module


def finetune_accuracy(encoder: nn.Module, train: Source, train_labels: np.ndarray, test: Source,
                      test_labels: np.ndarray, *, indices: np.ndarray | None = None,
                      preprocess: Callable[[Tensor], Tensor] | None = None, augment: Augment | None = None,
                      config: FinetuneConfig | None = None, seed: int = 0,
                      device: str | torch.device | None = None) -> dict[str, Any]:
    """Fine-tune a copy of ``encoder`` plus a linear head on ``train[indices]``; test accuracy.

    The caller's encoder is left untouched. ``augment(x, generator)`` makes the training
    input from a raw batch (for images: crop, flip, normalise); without it ``preprocess``
    is used for training too. Returns accuracy, steps and the final training loss.
    """
    cfg = config or FinetuneConfig()
    y_all = torch.as_tensor(np.asarray(train_labels), dtype=torch.long)
    rows = np.arange(len(train)) if indices is None else np.asarray(indices)
    num_classes = int(max(int(y_all[torch.as_tensor(rows)].max()), int(np.max(test_labels)))) + 1
    dev = torch.device(device) if device is not None else next(encoder.parameters()).device
    from selfsup.train.optim import warmup_cosine
    from selfsup.train.trainer import NonFiniteLossError, bf16_supported

    use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and bf16_supported(dev))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        head_type = JointRotationClassifier if cfg.label_augmentation == "rotation" else _Classifier
        model = head_type(copy.deepcopy(encoder), num_classes).to(dev).train()
        model = model.to(memory_format=torch.channels_last)  # affects 4-D (conv) weights only
    enc_params = list(model.encoder.parameters())
    groups = [{"params": enc_params, "lr": cfg.lr * cfg.encoder_lr_scale, "scale": cfg.encoder_lr_scale},
              {"params": model.head.parameters(), "lr": cfg.lr, "scale": 1.0}]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.steps_for(len(rows))
    warmup = max(1, steps // 20)
    rng = np.random.default_rng(seed)
    gen = torch.Generator(device=dev)
    gen.manual_seed(seed)
    order, pos = rng.permutation(rows), 0
    bs = min(cfg.batch_size, len(rows))
    loss_value = float("nan")
    for step in range(steps):
        if pos + bs > len(order):
            order, pos = rng.permutation(rows), 0
        batch = np.sort(order[pos:pos + bs])
        pos += bs
        x = train.batch(batch).to(dev)
        with torch.no_grad():
            x = augment(x, gen)[0] if augment is not None else (preprocess(x) if preprocess else x.float())
        if x.ndim == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        lr = warmup_cosine(step, steps, warmup, cfg.lr)
        for g in optimizer.param_groups:
            g["lr"] = lr * g["scale"]
        y = y_all[torch.as_tensor(batch)].to(dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16):
            if isinstance(model, JointRotationClassifier):
                loss = model.joint_loss(x, y, cfg.label_smoothing)
            else:
                loss = F.cross_entropy(model(x).float(), y, label_smoothing=cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise NonFiniteLossError(f"fine-tuning loss became {loss_value} at step {step}; lower the fine-tuning "
                                     f"lr (now {cfg.lr:g}) or set precision=fp32")
    logits = embed_source(model, test, preprocess)
    acc = float((logits.argmax(1) == np.asarray(test_labels)).mean())
    return {"accuracy": acc, "steps": steps, "n_labels": len(rows), "final_loss": loss_value}


def label_fraction_study(encoders: dict[str, nn.Module], train: Source, train_labels: np.ndarray, test: Source,
                         test_labels: np.ndarray, *, fractions: Sequence[float] = (0.01, 0.1, 1.0),
                         seeds: Sequence[int] = (0, 1, 2), protocols: Sequence[str] = ("linear", "finetune"),
                         preprocess: Callable[[Tensor], Tensor] | None = None, augment: Augment | None = None,
                         config: FinetuneConfig | None = None, device: str | torch.device | None = None,
                         progress: Callable[[str], None] | None = None, **protocol_kwargs: Any) -> dict[str, Any]:
    """Accuracy per encoder, protocol and label fraction: mean, sd and every seed's run (JSON-ready).

    ``encoders`` maps a name ("pretrained", "scratch") to a module. Every encoder sees the
    same class-balanced label draws (one per seed and fraction; ``balanced_subset``) and the
    same settings.
    ``linear`` is a logistic-regression probe on frozen embeddings; ``finetune`` trains
    the whole network (``finetune_accuracy``). ``protocol_kwargs`` (knn_k, linear_c, ...) go
    to ``evaluate_embeddings``.
    """
    from selfsup.evaluate.protocol import balanced_subset, check_labels, evaluate_embeddings, mean_sd

    unknown = [p for p in protocols if p not in ("linear", "finetune", "knn")]
    if unknown:
        raise ValueError(f"unknown protocol(s) {', '.join(unknown)}; choose from knn, linear, finetune")
    train_y = check_labels("train", len(train), train_labels, min_classes=2)
    test_y = check_labels("test", len(test), test_labels)
    cfg = config or FinetuneConfig()
    for f in fractions:  # a fraction that leaves a class empty fails now, not after an hour of training
        balanced_subset(train_y, f, seeds[0])
    out: dict[str, Any] = {"fractions": [float(f) for f in fractions], "seeds": list(seeds),
                           "finetune_config": asdict(cfg), "n_train": len(train_y), "n_test": len(test_y),
                           "results": {}}
    frozen_protocols = [p for p in protocols if p != "finetune"]
    for name, enc in encoders.items():
        per_proto: dict[str, Any] = {}
        if frozen_protocols:  # kNN and linear are deterministic given a draw: evaluate_embeddings runs them
            frozen = evaluate_embeddings(embed_source(enc, train, preprocess), train_y,
                                         embed_source(enc, test, preprocess), test_y, fractions, seeds,
                                         protocols=frozen_protocols, **protocol_kwargs)
            per_proto.update({p: frozen[p] for p in frozen_protocols})
            if progress:
                progress(f"{name} " + ", ".join(f"{p} {f}: {frozen[p][f]['mean']:.4f}" for p in frozen_protocols
                                                 for f in frozen[p]))
        if "finetune" in protocols:
            table = {}
            for f in fractions:
                runs = []
                for s in seeds:
                    idx = balanced_subset(train_y, f, s) if f < 1 else np.arange(len(train_y))
                    r = finetune_accuracy(enc, train, train_y, test, test_y, indices=idx, preprocess=preprocess,
                                          augment=augment, config=cfg, seed=s, device=device)
                    runs.append(r["accuracy"])
                    if progress:
                        progress(f"{name} finetune {f:g} seed {s}: {r['accuracy']:.4f} ({r['steps']} steps)")
                table[f"{f:g}"] = {**mean_sd(runs), "n_labels": len(idx)}
            per_proto["finetune"] = table
        out["results"][name] = {p: per_proto[p] for p in protocols}
    return out


def format_label_fractions(study: dict[str, Any]) -> str:
    """Markdown: one row per encoder and protocol, one column per label fraction (mean ± sd)."""
    from selfsup.evaluate.protocol import format_cell

    fracs = [f"{f:g}" for f in study["fractions"]]
    lines = ["| encoder | protocol | " + " | ".join(f"{float(f):.0%} labels" for f in fracs) + " |",
             "|---|---|" + "---|" * len(fracs)]
    for name, protos in study["results"].items():
        for proto, table in protos.items():
            cells = [format_cell(table[f]) for f in fracs]
            lines.append(f"| {name} | {proto} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
