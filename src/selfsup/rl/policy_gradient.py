"""Policy-gradient fine-tuning on a reward task: REINFORCE with a baseline, or GRPO's group-normalised
advantages, with a KL penalty to the initial policy — and, for comparison, the same loop trained by the
task's supervised cross-entropy.

Each step poses a batch of questions, samples ``group_size`` answers per question from the policy
(softmax over the answer head's logits), scores them, and ascends

    mean over answers of  min(rho * A, clip(rho, 1 - eps, 1 + eps) * A)  -  beta * KL(pi || pi_init)

where rho is the probability ratio to the policy that sampled (1 on the first update of a batch,
so one update per batch is exactly REINFORCE's gradient) and A the advantage:

* ``reinforce``: A = r - b, b an exponential moving average of past mean rewards;
* ``grpo``: A = (r - mean of its group) / (std of its group + 1e-6), the group being the
  answers sampled for one question (DeepSeekMath's GRPO; no value network).

The KL to the frozen initial policy is exact (the answer space is small and discrete).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from selfsup.rl.tasks import Question, RewardTask
from selfsup.train.optim import warmup_cosine

SIGNALS = ("grpo", "reinforce", "supervised")


@dataclass
class RewardTrainConfig:
    """How a policy trains on a reward task. ``signal``: grpo, reinforce, or supervised (cross-entropy on the
    correct answer: the pretext-loss baseline, same steps and questions). ``encoder_lr`` defaults to ``lr``;
    ``schedule`` ``cosine`` decays both to 0 over the run (the batch-norm running statistics then settle on the
    final weights: at a constant rate they lag, and eval-mode accuracy fell 30 points under train-mode), or
    ``constant``."""

    steps: int = 300
    batch_size: int = 128
    group_size: int = 4
    signal: str = "grpo"
    lr: float = 1e-3
    encoder_lr: float | None = None
    weight_decay: float = 0.0
    schedule: str = "cosine"
    kl_coef: float = 0.0
    entropy_coef: float = 0.0
    clip: float = 0.2
    updates_per_batch: int = 1
    baseline_momentum: float = 0.9
    seed: int = 0
    threads: int | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise ValueError(f"signal must be one of {', '.join(SIGNALS)}, got {self.signal!r}")
        for name in ("steps", "batch_size", "group_size", "updates_per_batch"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be cosine or constant, got {self.schedule!r}")
        if self.signal == "grpo" and self.group_size < 2:
            raise ValueError("GRPO normalises rewards within a group of answers: group_size must be at least 2")
        if self.kl_coef < 0 or self.entropy_coef < 0 or not 0 < self.clip:
            raise ValueError("kl_coef and entropy_coef must be >= 0 and clip > 0")


@dataclass
class RewardHistory:
    """Per-step curves of a run: ``reward`` (mean of the sampled answers; for the supervised signal the
    expected reward under the policy), ``greedy_reward`` and ``accuracy`` of the most likely answer,
    ``kl`` to the initial policy, ``entropy``, ``loss``."""

    task: str
    config: dict[str, Any]
    curves: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0

    def log(self, **values: float) -> None:
        for k, v in values.items():
            self.curves.setdefault(k, []).append(float(v))

    def final(self, key: str = "reward", last: int = 20) -> float:
        """Mean of the last ``last`` steps of a curve (a smoothed end point)."""
        values = self.curves.get(key, [])
        return float(np.mean(values[-last:])) if values else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def group_advantages(rewards: Tensor, eps: float = 1e-6) -> Tensor:
    """GRPO: each reward standardised within its row (the answers to one question); a row of equal rewards gives 0."""
    mean = rewards.mean(1, keepdim=True)
    std = rewards.std(1, keepdim=True, unbiased=False)
    return (rewards - mean) / (std + eps)


def categorical_kl(logits: Tensor, ref_logits: Tensor) -> Tensor:
    """KL(softmax(logits) || softmax(ref_logits)) per row, exactly."""
    logp, ref = F.log_softmax(logits, -1), F.log_softmax(ref_logits, -1)
    return (logp.exp() * (logp - ref)).sum(-1)


def clipped_surrogate(logp: Tensor, old_logp: Tensor, advantages: Tensor, clip: float) -> Tensor:
    """PPO/GRPO's pessimistic objective (to maximise), averaged; equals REINFORCE's when ``logp == old_logp``."""
    ratio = (logp - old_logp).exp()
    return torch.minimum(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages).mean()


def _batch(data: Any, rows: np.ndarray) -> Any:
    return data[torch.as_tensor(rows)] if isinstance(data, Tensor) else data.batch(rows)


def train_on_rewards(encoder: nn.Module, task: RewardTask, data: Any, config: RewardTrainConfig | dict | None = None,
                     preprocess: Callable[[Any], Any] | None = None,
                     on_step: Callable[[int, RewardHistory], None] | None = None) -> RewardHistory:
    """Fine-tune ``encoder`` and the task's answer head on ``task``'s rewards over ``data`` (a tensor or any
    source with ``batch(rows)``; ``preprocess`` maps a raw batch to the encoder's input). In place; returns
    the curves. The questions, sampled answers and batch order follow ``config.seed``."""
    cfg = config if isinstance(config, RewardTrainConfig) else RewardTrainConfig(**(config or {}))
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    device = torch.device(cfg.device)
    encoder.to(device).train()
    task.to(device).train()
    reference = None
    if cfg.kl_coef > 0 and cfg.signal != "supervised":
        reference = (copy.deepcopy(encoder).requires_grad_(False), copy.deepcopy(task).requires_grad_(False))
    head_params = [p for p in task.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam([{"params": [p for p in encoder.parameters() if p.requires_grad],
                                   "lr": cfg.encoder_lr if cfg.encoder_lr is not None else cfg.lr},
                                  {"params": head_params, "lr": cfg.lr}], weight_decay=cfg.weight_decay)
    n = len(data)
    rng = np.random.default_rng(cfg.seed)
    g = torch.Generator(device=device)
    history = RewardHistory(task.name, asdict(cfg))
    baseline: float | None = None
    start = time.perf_counter()
    order = rng.permutation(n)
    cursor = 0
    base_lrs = [group["lr"] for group in optimizer.param_groups]
    for step in range(cfg.steps):
        if cfg.schedule == "cosine":
            for group, base in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = warmup_cosine(step, cfg.steps, 0, base)
        if cursor + cfg.batch_size > n:
            order, cursor = rng.permutation(n), 0
        rows = order[cursor:cursor + min(cfg.batch_size, n)]
        cursor += len(rows)
        x = _batch(data, rows).to(device)
        if preprocess is not None:
            x = preprocess(x)
        g.manual_seed(cfg.seed * 1_000_003 + step)
        question = task.pose(x, g)
        logits = task(encoder, question).float()
        logs: dict[str, float] = {}
        if cfg.signal == "supervised":
            loss = F.cross_entropy(logits, question.answer)
            with torch.no_grad():
                logs["reward"] = float((logits.softmax(-1) * question.grades).sum(-1).mean())
            _update(optimizer, loss)
        else:
            with torch.no_grad():
                answers = torch.multinomial(logits.softmax(-1), cfg.group_size, replacement=True, generator=g)
                rewards = question.score(answers)
                if cfg.signal == "grpo":
                    adv = group_advantages(rewards)
                else:
                    mean = float(rewards.mean())
                    baseline = mean if baseline is None else baseline
                    adv = rewards - baseline
                    baseline = cfg.baseline_momentum * baseline + (1 - cfg.baseline_momentum) * mean
                old_logp = logits.log_softmax(-1).gather(1, answers)
                ref_logits = task_ref_logits(reference, question)
            logs["reward"] = float(rewards.mean())
            for update in range(cfg.updates_per_batch):
                if update:
                    logits = task(encoder, question).float()
                logp = logits.log_softmax(-1).gather(1, answers)
                loss = -clipped_surrogate(logp, old_logp, adv, cfg.clip)
                if ref_logits is not None:
                    kl = categorical_kl(logits, ref_logits).mean()
                    loss = loss + cfg.kl_coef * kl
                    logs["kl"] = float(kl.detach())
                if cfg.entropy_coef:
                    loss = loss - cfg.entropy_coef * _entropy(logits).mean()
                _update(optimizer, loss)
        with torch.no_grad():
            greedy = logits.argmax(-1)
            history.log(greedy_reward=float(question.score(greedy).mean()),
                        accuracy=float((greedy == question.answer).float().mean()),
                        entropy=float(_entropy(logits).mean()), loss=float(loss.detach()), **logs)
        if on_step is not None:
            on_step(step, history)
    history.seconds = time.perf_counter() - start
    return history


def task_ref_logits(reference: tuple[nn.Module, RewardTask] | None, question: Question) -> Tensor | None:
    """The frozen initial policy's logits on ``question`` (None without a KL penalty)."""
    if reference is None:
        return None
    ref_encoder, ref_task = reference
    return ref_task(ref_encoder, question).float()


def _entropy(logits: Tensor) -> Tensor:
    logp = logits.log_softmax(-1)
    return -(logp.exp() * logp).sum(-1)


def _update(optimizer: torch.optim.Optimizer, loss: Tensor) -> None:
    if not torch.isfinite(loss):
        raise FloatingPointError(f"the reward-task loss became {float(loss)}; lower the learning rate")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


@torch.no_grad()
def evaluate_policy(encoder: nn.Module, task: RewardTask, data: Any, n_questions: int = 1000, batch_size: int = 256,
                    preprocess: Callable[[Any], Any] | None = None, seed: int = 0) -> dict[str, float]:
    """Greedy accuracy and mean reward of the policy on ``n_questions`` questions over ``data`` (eval mode;
    the same seed poses the same questions, so two policies are scored on one exam)."""
    was = encoder.training, task.training
    encoder.eval()
    task.eval()
    device = next(encoder.parameters()).device
    rows = np.random.default_rng(seed).permutation(len(data))[:n_questions]
    g = torch.Generator(device=device)
    correct = reward = count = 0.0
    try:
        for i, s in enumerate(range(0, len(rows), batch_size)):
            x = _batch(data, rows[s:s + batch_size]).to(device)
            if preprocess is not None:
                x = preprocess(x)
            g.manual_seed(seed * 1_000_003 + i)
            q = task.pose(x, g)
            greedy = task(encoder, q).argmax(-1)
            correct += float((greedy == q.answer).sum())
            reward += float(q.score(greedy).sum())
            count += len(q)
    finally:
        encoder.train(was[0])
        task.train(was[1])
    return {"accuracy": correct / max(count, 1), "reward": reward / max(count, 1), "questions": int(count)}


def plot_reward_curves(runs: dict[str, RewardHistory | dict[str, Any]], key: str = "reward",
                       smooth: int = 10) -> bytes | None:
    """One PNG panel of ``key`` against step for every run (moving average over ``smooth`` steps).

    Labels of the form ``"task (signal)"`` share a colour per task and a line style per signal, so many runs
    stay readable; the legend sits outside the axes."""
    from selfsup.report.plots import _plt, _png

    plt = _plt()
    parsed = {label: label.partition(" (")[::2] for label in runs}  # "task (signal)" -> (task, signal)
    groups = list(dict.fromkeys(group for group, _ in parsed.values()))
    kinds = list(dict.fromkeys(kind for _, kind in parsed.values()))
    colours = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(8.0, 3.6))
    drawn = 0
    for label, run in runs.items():
        curves = run.curves if isinstance(run, RewardHistory) else run.get("curves", {})
        y = np.asarray(curves.get(key, []), dtype=float)
        if not len(y):
            continue
        w = max(1, min(smooth, len(y)))
        ax.plot(np.arange(w, len(y) + 1), np.convolve(y, np.ones(w) / w, mode="valid"), label=label, lw=1.2,
                color=colours(groups.index(parsed[label][0]) % colours.N),
                linestyle=("-", "--", ":", "-.")[kinds.index(parsed[label][1]) % 4])
        drawn += 1
    if not drawn:
        plt.close(fig)
        return None
    ax.set_xlabel("step")
    ax.set_ylabel(key.replace("_", " "))
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    fig.tight_layout()
    return _png(fig)
