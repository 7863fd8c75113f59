"""A uniform replay buffer that serves n-step returns (value learning) and K-step sequences (SPR).

Each slot holds the stacked observation an action was taken in, the action, the clipped reward and
whether the episode ended there. A sample at slot i reads up to ``horizon`` slots ahead, and never
across an episode's end: rewards after it do not count, there is no bootstrap past a termination,
and future steps past the end are masked out of sequence losses. A time-limit cut is treated like a
termination (no bootstrap), as the Atari-100k implementations do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


@dataclass
class ReplayBatch:
    """``obs`` (B, C, H, W) uint8, ``action`` (B,), ``returns`` (B,) n-step discounted reward sums,
    ``bootstrap_obs`` (B, C, H, W) and ``discount`` (B,) (gamma^n, or 0 past an episode's end);
    ``future_obs`` (B, K, C, H, W), ``future_actions`` (B, K) and ``future_valid`` (B, K) for K-step
    sequences (K = 0 when not asked)."""

    obs: Tensor
    action: Tensor
    returns: Tensor
    bootstrap_obs: Tensor
    discount: Tensor
    future_obs: Tensor
    future_actions: Tensor
    future_valid: Tensor

    def to(self, device: torch.device | str) -> ReplayBatch:
        """The batch on ``device`` (non-blocking copies; the buffer itself stays in host memory)."""
        if torch.device(device).type == "cpu":
            return self
        return ReplayBatch(**{k: v.to(device, non_blocking=True) for k, v in vars(self).items()})


class ReplayBuffer:
    """A ring of ``capacity`` transitions with (C, H, W) uint8 observations."""

    def __init__(self, capacity: int, obs_shape: tuple[int, ...], seed: int = 0) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be at least 2, got {capacity}")
        self.capacity = int(capacity)
        self.obs = np.zeros((self.capacity, *obs_shape), dtype=np.uint8)
        self.action = np.zeros(self.capacity, dtype=np.int64)
        self.reward = np.zeros(self.capacity, dtype=np.float32)
        self.done = np.zeros(self.capacity, dtype=bool)
        self.ptr = self.size = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, action: int, reward: float, done: bool) -> None:
        """Store one step: the observation acted on, the action, its (clipped) reward, and whether the
        episode ended with it (terminated or cut)."""
        i = self.ptr
        self.obs[i], self.action[i], self.reward[i], self.done[i] = obs, action, reward, done
        self.ptr = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def _starts(self, batch_size: int, horizon: int) -> np.ndarray:
        """Slots with ``horizon`` stored steps after them (none read past the write pointer)."""
        usable = self.size - horizon
        if usable < 1:
            raise ValueError(f"the buffer holds {self.size} steps; sampling {horizon} steps ahead needs more")
        oldest = (self.ptr - self.size) % self.capacity
        return (oldest + self.rng.integers(0, usable, batch_size)) % self.capacity

    def sample(self, batch_size: int, n_step: int, gamma: float, sequence: int = 0) -> ReplayBatch:
        horizon = max(n_step, sequence)
        start = self._starts(batch_size, horizon)
        slots = (start[:, None] + np.arange(horizon + 1)) % self.capacity  # (B, horizon + 1)
        done = self.done[slots]
        # alive[:, j]: no episode end among steps 0..j-1, so step j belongs to the sampled episode
        alive = np.concatenate([np.ones((batch_size, 1), bool), np.cumprod(~done[:, :-1], 1).astype(bool)], 1)
        rewards = self.reward[slots[:, :n_step]] * alive[:, :n_step]
        returns = (rewards * gamma ** np.arange(n_step)).sum(1)
        discount = np.where(alive[:, n_step], gamma ** n_step, 0.0)
        k = sequence
        return ReplayBatch(
            obs=torch.from_numpy(self.obs[start]), action=torch.from_numpy(self.action[start]),
            returns=torch.from_numpy(returns.astype(np.float32)),
            bootstrap_obs=torch.from_numpy(self.obs[slots[:, n_step]]),
            discount=torch.from_numpy(discount.astype(np.float32)),
            future_obs=torch.from_numpy(self.obs[slots[:, 1:k + 1]]),
            future_actions=torch.from_numpy(self.action[slots[:, :k]]),
            future_valid=torch.from_numpy(alive[:, 1:k + 1].copy()))
