"""The training loop: runs any method over any source, on one device or many (torchrun).

Exact resume: the data order of an epoch comes from ``(seed, epoch)`` and the views of a
step from ``(seed, step, rank)``, so a run restarted from a checkpoint replays the
same batches and the same augmentations as an uninterrupted one.
"""

from __future__ import annotations

import csv
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from selfsup.config import ConfigError
from selfsup.methods.base import Method
from selfsup.train.checkpoint import load_checkpoint, save_checkpoint
from selfsup.train.optim import BASE_LR, DEFAULT_WEIGHT_DECAY, OPTIMIZERS, build_optimizer, warmup_cosine

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.csv"


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left untouched."""


class CheckpointMismatchError(RuntimeError):
    """A checkpoint in the run folder was written for a different model."""


class Source(Protocol):
    """What the trainer needs of data: a length and a batch of samples for given indices."""

    def __len__(self) -> int: ...

    def batch(self, indices: np.ndarray) -> Tensor: ...


@dataclass
class TrainConfig:
    """Every training knob; maps 1:1 to the ``trainer:`` section of a YAML config.

    ``lr=None`` means ``base_lr`` (per 256 samples) times ``batch_size/256``; ``base_lr=None``
    takes the optimiser's default (sgd 0.12, lars 0.3, adamw and adam 1e-3). ``batch_size`` is
    global: split across processes; 0 means the whole dataset every step (full-graph node methods).
    ``betas`` are AdamW's moment decays (MAE's 0.95 by default).
    ``precision="auto"`` uses bf16 autocast where the device supports it, else fp32.
    """

    epochs: int = 10
    max_steps: int | None = None
    batch_size: int = 256
    optimizer: str = "sgd"
    lr: float | None = None
    base_lr: float | None = None
    weight_decay: float | None = None
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.95)
    warmup_epochs: float = 1.0
    final_lr: float = 0.0
    grad_clip: float | None = None
    precision: str = "auto"
    channels_last: bool = True
    seed: int = 0
    threads: int | None = None
    device: str = "auto"
    checkpoint_every: int = 500
    log_every: int = 10
    progress: bool = True
    sync_batchnorm: bool = False
    tensorboard: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"trainer.optimizer: unknown {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}")
        if self.precision not in ("auto", "fp32", "bf16"):
            raise ConfigError(f"trainer.precision: {self.precision!r} is not one of auto, fp32, bf16")
        if self.batch_size < 2 and self.batch_size != 0:
            raise ConfigError(f"trainer.batch_size must be at least 2 (or 0: the whole dataset), got {self.batch_size}")
        if self.epochs < 1 and not self.max_steps:
            raise ConfigError("trainer.epochs must be >= 1 (or set trainer.max_steps)")

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass
class TrainState:
    """What callbacks see after each step."""

    step: int
    total_steps: int
    epoch: int
    lr: float
    method: Method
    run_dir: Path | None
    outputs: dict[str, Tensor] = field(default_factory=dict)
    indices: np.ndarray | None = None  # this process's sample indices in the step's batch


class Callback:
    """Hooks that read the loop without changing it (online probes, monitors)."""

    def on_train_start(self, state: TrainState) -> None: ...

    def on_step_end(self, state: TrainState) -> None: ...

    def on_train_end(self, state: TrainState) -> None: ...


@dataclass
class TrainResult:
    steps: int
    total_steps: int
    wall_s: float
    samples_per_s: float
    final_loss: float
    run_dir: Path | None
    resumed_from: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask: ``taskset``, cgroup cpusets), not the machine's count:
    more threads than usable cores makes OpenMP kernels spin against each other (a 30x slower convolution
    backward was measured with 2 threads on 1 pinned core)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):
            return False
    return False


def resolve_device(name: str) -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def init_distributed(device: torch.device) -> tuple[int, int]:
    """Join the process group that torchrun describes in the environment; returns (rank, world)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _view_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step * 7919 + rank * 104_729) % (2**62)


class Trainer:
    """Runs a method over a source with a view pipeline; see ``TrainConfig`` for the knobs."""

    def __init__(self, config: TrainConfig | None = None, callbacks: Sequence[Callback] = (), **kwargs: Any) -> None:
        if config is not None and kwargs:
            raise ValueError("pass either a TrainConfig or keyword arguments, not both")
        unknown = set(kwargs) - set(TrainConfig.keys())
        if unknown:
            raise ConfigError(f"unknown trainer option(s) {', '.join(sorted(unknown))}; valid: "
                             f"{', '.join(TrainConfig.keys())}")
        self.config = config or TrainConfig(**kwargs)
        self.callbacks = list(callbacks)

    def fit(self, method: Method, data: Source, views: Callable[[Tensor, torch.Generator], list],
            run_dir: str | os.PathLike | None = None, arch: dict[str, Any] | None = None,
            resume: bool = True) -> TrainResult:
        """Train ``method`` in place; checkpoints, metrics and resume live in ``run_dir``."""
        cfg = self.config
        device = resolve_device(cfg.device)
        rank, world = init_distributed(device)
        if device.type == "cpu":
            torch.set_num_threads(cfg.threads or max(1, usable_cpus() // world))
        n = len(data)
        batch_size = cfg.batch_size or n - n % world  # 0: the whole dataset each step (full-graph training)
        if batch_size > n:
            raise ConfigError(f"trainer.batch_size={batch_size} is larger than the dataset ({n} samples); "
                             f"set trainer.batch_size to at most {n}")
        if batch_size % world:
            raise ConfigError(f"trainer.batch_size={batch_size} must divide evenly over {world} processes")
        local_bs = batch_size // world
        steps_per_epoch = n // batch_size
        total = cfg.max_steps or cfg.epochs * steps_per_epoch
        warmup = min(round(cfg.warmup_epochs * steps_per_epoch), total // 4)
        per_256 = cfg.base_lr if cfg.base_lr is not None else BASE_LR[cfg.optimizer]
        base_lr = cfg.lr if cfg.lr is not None else per_256 * batch_size / 256
        wd = cfg.weight_decay if cfg.weight_decay is not None else DEFAULT_WEIGHT_DECAY[cfg.optimizer]
        use_bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and bf16_supported(device))
        if cfg.precision == "bf16" and not bf16_supported(device):
            raise ConfigError(f"trainer.precision=bf16 but {device} does not support bfloat16; use auto or fp32")

        if cfg.sync_batchnorm and world > 1:
            method = nn.SyncBatchNorm.convert_sync_batchnorm(method)
        method.setup(n, data)
        method.to(device)
        memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        if cfg.channels_last:
            method.to(memory_format=torch.channels_last)
        optimizer = build_optimizer(cfg.optimizer, method, base_lr, wd, cfg.momentum, cfg.betas)

        run = Path(run_dir) if run_dir is not None else None
        ckpt = run / CHECKPOINT_NAME if run else None
        start = 0
        if ckpt is not None and resume and ckpt.exists():
            start = self._restore(ckpt, method, optimizer, arch)
        saved_step = start if start else None
        model: nn.Module = method
        if world > 1:
            model = nn.parallel.DistributedDataParallel(method, device_ids=[device.index] if device.type == "cuda"
                                                        else None)
        is_main = rank == 0
        logger = _MetricsLogger(run, start, cfg.tensorboard) if (run and is_main) else None
        bar = _progress_bar(total, start, cfg.progress and is_main)
        gen = torch.Generator(device=device)
        state = TrainState(start, total, start // max(1, steps_per_epoch), base_lr, method, run)
        for cb in self.callbacks:
            cb.on_train_start(state)

        perm, perm_epoch = None, -1
        t0 = time.perf_counter()
        rate, last_loss, seen, acc = 0.0, float("nan"), 0, _Accumulator()
        history: list[dict[str, float]] = []
        method.train()
        for step in range(start, total):
            t_step = time.perf_counter()
            epoch, it = divmod(step, steps_per_epoch)
            if epoch != perm_epoch:
                perm, perm_epoch = np.random.default_rng([cfg.seed, epoch]).permutation(n), epoch
            idx = perm[it * batch_size:(it + 1) * batch_size][rank * local_bs:(rank + 1) * local_bs]
            x = data.batch(idx).to(device, non_blocking=True)
            gen.manual_seed(_view_seed(cfg.seed, step, rank))
            torch.manual_seed(_view_seed(cfg.seed, step, rank) + 1)  # methods' own draws (masks, mixup) resume too
            with torch.no_grad():
                made = views(x, gen)
            tensors = [v.contiguous(memory_format=memory_format) if v.ndim == 4 else v for v, _ in made]
            index = torch.as_tensor(idx, device=device)
            params = [{**p, "index": index} for _, p in made]  # which samples: for methods with per-sample state
            lr = warmup_cosine(step, total, warmup, base_lr, cfg.final_lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                out = model(tensors, params)
            loss = out["loss"]
            loss_value = float(loss.detach())
            if not math.isfinite(loss_value):
                bar.close()
                where = f"{ckpt} (step {saved_step})" if saved_step is not None else "none was written yet"
                raise NonFiniteLossError(
                    f"loss became {loss_value} at step {step} (epoch {epoch}); the last good checkpoint is intact: "
                    f"{where}. Lower trainer.lr (now {base_lr:g}), set trainer.grad_clip (e.g. 1.0) or "
                    f"trainer.precision=fp32, then run again to resume.")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(method.parameters(), cfg.grad_clip)
            optimizer.step()
            method.on_step_end(step + 1, total)

            dt = time.perf_counter() - t_step
            rate = batch_size / dt if rate == 0 else 0.9 * rate + 0.1 * batch_size / dt
            last_loss, seen = loss_value, seen + batch_size
            state.step, state.epoch, state.lr, state.outputs, state.indices = step + 1, epoch, lr, out, idx
            for cb in self.callbacks:
                cb.on_step_end(state)  # may add scalar logs to ``out``; they reach metrics.csv
            acc.add(loss_value, out)
            bar.update(loss_value, rate, epoch)
            if (step + 1) % cfg.log_every == 0 or step + 1 == total:
                row = {"step": step + 1, "epoch": epoch, "lr": lr, "samples_per_s": rate,
                       "elapsed_s": time.perf_counter() - t0, **acc.flush()}
                history.append(row)
                if logger:
                    logger.write(row)
            if ckpt is not None and (step + 1 == total or (cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every
                                                           == 0)):
                self._save(ckpt, method, optimizer, step + 1, arch, is_main, world)
                saved_step = step + 1
        bar.close()
        if logger:
            logger.close()
        method.on_train_end()
        for cb in self.callbacks:
            cb.on_train_end(state)
        wall = time.perf_counter() - t0
        return TrainResult(total, total, wall, seen / wall if wall > 0 else 0.0, last_loss, run, start, history)

    def _save(self, ckpt: Path, method: Method, optimizer: torch.optim.Optimizer, step: int,
              arch: dict[str, Any] | None, is_main: bool, world: int) -> None:
        if is_main:
            save_checkpoint(ckpt, {"format": 1, "step": step, "method": method.state_dict(),
                                   "optimizer": optimizer.state_dict(), "arch": arch or {},
                                   "trainer": asdict(self.config)})
        if world > 1:
            dist.barrier()

    def _restore(self, ckpt: Path, method: Method, optimizer: torch.optim.Optimizer,
                 arch: dict[str, Any] | None) -> int:
        state = load_checkpoint(ckpt)
        saved = state.get("arch") or {}
        if arch and saved and saved != arch:
            raise CheckpointMismatchError(
                f"{ckpt} was written for {_describe(saved)}, but this run builds {_describe(arch)}; use another "
                f"run_dir (CLI: --run-dir) or delete the checkpoint to start over")
        try:
            method.load_state_dict(state["method"])
        except RuntimeError as e:
            first = str(e).splitlines()[0:3]
            raise CheckpointMismatchError(f"{ckpt} does not fit this model ({' '.join(first)}); use another run_dir "
                                          "or delete the checkpoint to start over") from e
        optimizer.load_state_dict(state["optimizer"])
        return int(state["step"])


def _describe(arch: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(arch.items()))


class _Accumulator:
    """Means of the loss and scalar logs since the last flush, each over the steps that logged it.

    A periodic log (a kNN accuracy every 500 steps) is its own value, not diluted by the
    steps that did not compute it. Logs stay tensors until ``flush`` so a GPU step does
    not wait on them.
    """

    def __init__(self) -> None:
        self.sums: dict[str, Tensor | float] = {}
        self.counts: dict[str, int] = {}

    def _add(self, key: str, value: Tensor | float) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + value
        self.counts[key] = self.counts.get(key, 0) + 1

    def add(self, loss: float, out: dict[str, Tensor]) -> None:
        self._add("loss", loss)
        for k, v in out.items():
            if k == "loss":
                continue
            if isinstance(v, Tensor):
                if v.numel() == 1:
                    self._add(k, v.detach().float())
            elif isinstance(v, (float, int)):  # callbacks may log plain numbers
                self._add(k, float(v))

    def flush(self) -> dict[str, float]:
        out = {k: float(v) / self.counts[k] for k, v in self.sums.items()}
        self.sums, self.counts = {}, {}
        return out


class _MetricsLogger:
    """Appends rows to ``metrics.csv`` (dropping rows past the resume point) and TensorBoard when installed."""

    def __init__(self, run: Path, start: int, tensorboard: bool) -> None:
        run.mkdir(parents=True, exist_ok=True)
        self.path = run / METRICS_NAME
        self.rows: list[dict[str, Any]] = []
        self.fields: list[str] = []
        if self.path.exists():
            with open(self.path, newline="") as f:
                self.rows = [r for r in csv.DictReader(f) if int(r["step"]) <= start]
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self.tb = SummaryWriter(str(run / "tensorboard"))
            except ImportError:
                self.tb = None
        self._rewrite()

    def _rewrite(self) -> None:
        self.fields = []
        for r in self.rows:
            self.fields += [k for k in r if k not in self.fields]
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.fields or ["step"], extrasaction="ignore")
            w.writeheader()
            w.writerows(self.rows)

    def write(self, row: dict[str, float]) -> None:
        """Append a row; a column seen for the first time (a periodic kNN score) rewrites the header."""
        self.rows.append(row)
        if any(k not in self.fields for k in row):
            self._rewrite()
        else:
            with open(self.path, "a", newline="") as f:
                csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore").writerow(row)
        if self.tb:
            for k, v in row.items():
                if k != "step":
                    self.tb.add_scalar(k, v, int(row["step"]))

    def close(self) -> None:
        if self.tb:
            self.tb.close()


class _progress_bar:  # noqa: N801 - used like a function
    def __init__(self, total: int, start: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, mininterval=0.5)

    def update(self, loss: float, rate: float, epoch: int) -> None:
        if self.bar:
            self.bar.set_postfix(epoch=epoch, loss=f"{loss:.4f}", samples_s=f"{rate:,.0f}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar:
            self.bar.close()
            self.bar = None
