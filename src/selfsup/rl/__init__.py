"""Self-supervision and reinforcement learning.

SSL tasks as verifiable rewards (SSL4RL, seed [000#1]): ``create_reward_task`` poses multiple-choice
questions from transformations of unlabeled data and scores answers exactly; ``train_on_rewards``
fine-tunes an encoder plus answer head on them by policy gradient (REINFORCE or GRPO, KL to the
initial policy) or, for comparison, by the supervised pretext loss; ``reward_finetune`` does it to a saved
encoder.

SSL auxiliaries for pixel agents: ``selfsup.rl.agent`` (DrQ(epsilon) with random shift, CURL or SPR) on
Atari (``selfsup.rl.atari``, the ``rl`` extra).
"""

from selfsup.rl.finetune import reward_finetune
from selfsup.rl.policy_gradient import (
    RewardHistory,
    RewardTrainConfig,
    categorical_kl,
    clipped_surrogate,
    evaluate_policy,
    group_advantages,
    plot_reward_curves,
    train_on_rewards,
)
from selfsup.rl.tasks import REWARD_TASKS, Question, RewardTask, create_reward_task, register_reward_task

__all__ = [
    "REWARD_TASKS",
    "Question",
    "RewardHistory",
    "RewardTask",
    "RewardTrainConfig",
    "categorical_kl",
    "clipped_surrogate",
    "create_reward_task",
    "evaluate_policy",
    "group_advantages",
    "plot_reward_curves",
    "register_reward_task",
    "reward_finetune",
    "train_on_rewards",
]
