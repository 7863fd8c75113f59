"""Atari under the Atari-100k protocol (Kaiser et al. 2020), through gymnasium + ale-py (the ``rl`` extra).

Observations: grayscale 84x84 frames, the max of the last two of every 4 emulator frames, 4 stacked;
minimal action set, no sticky actions, up to 30 no-op actions at reset, episodes capped at 108,000
frames (27,000 agent steps); a life lost does not end the episode. Scores are reported raw and
human-normalised: (score - random) / (human - random), with the reference scores every Atari-100k
paper uses (DQN, Mnih et al. 2015; Rainbow, Hessel et al. 2018).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# (random, human) scores of the 26 Atari-100k games
REFERENCE_SCORES: dict[str, tuple[float, float]] = {
    "Alien": (227.8, 7127.7), "Amidar": (5.8, 1719.5), "Assault": (222.4, 742.0), "Asterix": (210.0, 8503.3),
    "BankHeist": (14.2, 753.1), "BattleZone": (2360.0, 37187.5), "Boxing": (0.1, 12.1), "Breakout": (1.7, 30.5),
    "ChopperCommand": (811.0, 7387.8), "CrazyClimber": (10780.5, 35829.4), "DemonAttack": (152.1, 1971.0),
    "Freeway": (0.0, 29.6), "Frostbite": (65.2, 4334.7), "Gopher": (257.6, 2412.5), "Hero": (1027.0, 30826.4),
    "Jamesbond": (29.0, 302.8), "Kangaroo": (52.0, 3035.0), "Krull": (1598.0, 2665.5),
    "KungFuMaster": (258.5, 22736.3), "MsPacman": (307.3, 6951.6), "Pong": (-20.7, 14.6),
    "PrivateEye": (24.9, 69571.3), "Qbert": (163.9, 13455.0), "RoadRunner": (11.5, 7845.0),
    "Seaquest": (68.4, 42054.7), "UpNDown": (533.4, 11693.2),
}
MAX_EPISODE_STEPS = 27_000  # 108,000 frames


def make_atari(game: str, seed: int = 0, max_episode_steps: int = MAX_EPISODE_STEPS) -> Any:
    """A gymnasium environment of ``game`` (e.g. "Pong") with the Atari-100k preprocessing; (4, 84, 84) uint8."""
    try:
        import ale_py
        import gymnasium as gym
    except ImportError as e:
        raise ImportError("Atari needs gymnasium and ale-py (ROMs ship in the wheel) and opencv for the frame "
                          "resizing: pip install 'selfsup[rl]'") from e
    if game not in REFERENCE_SCORES:
        raise ValueError(f"unknown Atari-100k game {game!r}; choose from {', '.join(sorted(REFERENCE_SCORES))}")
    gym.register_envs(ale_py)
    env = gym.make(f"ALE/{game}-v5", frameskip=1, repeat_action_probability=0.0, full_action_space=False,
                   max_num_frames_per_episode=max_episode_steps * 4)
    env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84, grayscale_obs=True,
                                          terminal_on_life_loss=False, scale_obs=False)
    env = gym.wrappers.FrameStackObservation(env, 4)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env


def human_normalized(game: str, score: float) -> float:
    """(score - random) / (human - random): 0 plays like random, 1 like the human reference."""
    random, human = REFERENCE_SCORES[game]
    return (score - random) / (human - random)


def interquartile_mean(values: np.ndarray | list[float]) -> float:
    """The mean of the middle 50 % of ``values`` (Agarwal et al. 2021's IQM: robust to outlier runs, less
    noisy than the median). With fractional quartile positions the boundary runs count in part."""
    v = np.sort(np.asarray(values, dtype=float).ravel())
    n = len(v)
    if n == 0:
        return float("nan")
    lo, hi = 0.25 * n, 0.75 * n
    edges = np.arange(n + 1)
    weight = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0, 1)
    return float((weight * v).sum() / weight.sum())
