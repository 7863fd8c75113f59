"""Training: the loop, optimisers and schedules, checkpoints, distributed set-up."""

from selfsup.train.checkpoint import load_checkpoint, save_checkpoint
from selfsup.train.optim import LARS, build_optimizer, warmup_cosine
from selfsup.train.trainer import (
    Callback,
    CheckpointMismatchError,
    NonFiniteLossError,
    Source,
    TrainConfig,
    Trainer,
    TrainResult,
    TrainState,
    bf16_supported,
)

__all__ = ["LARS", "Callback", "CheckpointMismatchError", "NonFiniteLossError", "Source", "TrainConfig",
           "TrainResult", "TrainState", "Trainer", "bf16_supported", "build_optimizer", "load_checkpoint",
           "save_checkpoint", "warmup_cosine"]
