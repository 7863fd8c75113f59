"""The reward-task contract: an SSL task as a verifiable reward (SSL4RL, seed [000#1]).

A reward task turns a transformation of unlabeled data into a multiple-choice question — which
rotation was applied, which order shuffled these tiles, which crop comes from this image — and
scores any answer against what the transformation did: 1 for the correct choice, 0 or partial
credit (graded tasks) for the others. Because the data made the question, every answer is
checked exactly and for free: no labels, no learned reward model.

The policy answering is an encoder plus the task's answer head: ``task(encoder, question)`` gives
one logit per choice, the same logits a supervised pretext loss would train with cross-entropy,
so reward fine-tuning and pretext training are compared on one footing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn


@dataclass
class Question:
    """A batch of multiple-choice questions.

    ``inputs`` is what the policy reads (task-specific tensors); ``answer`` (B,) the correct choice;
    ``grades`` (B, n_choices) the reward of every choice, 1 at the correct one. Every question in a
    batch has the same number of choices.
    """

    inputs: Any
    answer: Tensor
    grades: Tensor

    def __len__(self) -> int:
        return int(self.answer.shape[0])

    @property
    def n_choices(self) -> int:
        return int(self.grades.shape[1])

    def score(self, answers: Tensor) -> Tensor:
        """The reward of ``answers``: (B,) or (B, G) choice indices -> float rewards of the same shape."""
        answers = answers.to(self.grades.device).long()
        if answers.ndim == 1:
            return self.grades.gather(1, answers.unsqueeze(1)).squeeze(1)
        return self.grades.gather(1, answers)


def one_hot_grades(answer: Tensor, n_choices: int) -> Tensor:
    """Binary grades: 1 for the correct choice, 0 for every other."""
    return torch.nn.functional.one_hot(answer, n_choices).float()


class RewardTask(nn.Module):
    """``pose(data, generator) -> Question`` and ``forward(encoder, question) -> (B, n_choices) logits``.

    ``pose`` draws everything random from ``generator`` only, so the same seed poses the same
    question. The task owns the answer head (its parameters train with the encoder);
    ``n_choices`` and the other constructor arguments are the difficulty knobs.
    """

    name: str = "reward"
    #: the modalities whose data the task can pose questions on
    modalities: tuple[str, ...] = ("image",)
    n_choices: int = 2

    def pose(self, data: Any, generator: torch.Generator) -> Question:  # pragma: no cover
        raise NotImplementedError

    def forward(self, encoder: nn.Module, question: Question) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def score(self, question: Question, answers: Tensor) -> Tensor:
        """Reward per answer: ``question.grades`` read at the chosen indices."""
        return question.score(answers)


REWARD_TASKS: dict[str, Callable[..., RewardTask]] = {}


def register_reward_task(name: str) -> Callable[[type[RewardTask]], type[RewardTask]]:
    def add(cls: type[RewardTask]) -> type[RewardTask]:
        REWARD_TASKS[name] = cls
        return cls
    return add


def create_reward_task(name: str, encoder: nn.Module, **knobs: Any) -> RewardTask:
    """The reward task ``name`` for ``encoder`` with its difficulty knobs (see each task's docstring)."""
    import selfsup.rl.graph_tasks
    import selfsup.rl.image_tasks  # noqa: F401

    if name not in REWARD_TASKS:
        raise ValueError(f"unknown reward task {name!r}; choose from {', '.join(sorted(REWARD_TASKS))}")
    try:
        return REWARD_TASKS[name](encoder, **knobs)
    except TypeError as e:
        raise ValueError(f"reward task {name!r}: {e}") from e
