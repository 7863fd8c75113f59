"""Fine-tune a saved encoder on a reward task: the one call behind ``selfsup reward-tune`` and the SSL4RL benchmark."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from selfsup.rl.policy_gradient import RewardTrainConfig, evaluate_policy, train_on_rewards
from selfsup.rl.tasks import create_reward_task

if TYPE_CHECKING:
    from selfsup.api import PretrainedEncoder


def reward_finetune(encoder: PretrainedEncoder, data: Any, task: str, config: RewardTrainConfig | dict | None = None,
                    exam: Any = None, exam_questions: int = 1000, **knobs: Any) -> tuple[PretrainedEncoder, dict]:
    """A copy of ``encoder`` fine-tuned on reward task ``task`` (difficulty ``knobs``) over ``data`` (anything the
    encoder's ``load_data`` reads), and a record: the reward curves and the task's exam (greedy accuracy on
    ``exam_questions`` questions posed on ``exam``, default ``data``) before and after. ``encoder`` is left
    unchanged."""
    from selfsup.api import PretrainedEncoder

    cfg = config if isinstance(config, RewardTrainConfig) else RewardTrainConfig(**(config or {}))
    train = encoder.load_data(data)
    held_out = train if exam is None else encoder.load_data(exam)
    module = copy.deepcopy(encoder.module)
    reward_task = create_reward_task(task, module, **knobs)
    if encoder.modality.name not in reward_task.modalities:
        raise ValueError(f"the {task} reward task poses questions on {' or '.join(reward_task.modalities)} data; "
                         f"this encoder was trained on {encoder.modality.name}")
    before = evaluate_policy(module, reward_task, held_out, exam_questions, preprocess=encoder.preprocess,
                             seed=cfg.seed)
    history = train_on_rewards(module, reward_task, train, cfg, preprocess=encoder.preprocess)
    after = evaluate_policy(module, reward_task, held_out, exam_questions, preprocess=encoder.preprocess,
                            seed=cfg.seed)
    tuned = PretrainedEncoder(module, encoder.name, encoder.kwargs, encoder.preprocess)
    record = {"task": task, "knobs": knobs, "exam_before": before, "exam_after": after, **history.to_dict()}
    return tuned, record
