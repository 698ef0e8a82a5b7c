"""Arora & Zanette 2025, "Training Language Models to Reason Efficiently" (arXiv 2502.04463; official code
Zanette-Labs/efficient-reasoning, ``reward_server/math_server.py``, ``reward_type: sigmoid``), as a reward term.

Their reward for a completion y of prompt x is

    r(x, y) = correct(y) * (1 - alpha * sigmoid((len(y) - mean(x)) / (std(x) + 1e-7)))

with ``mean(x)`` and ``std(x)`` (population std) the token lengths of the CORRECT completions of x in the batch,
and alpha 0.1 in the official scripts (the paper sweeps 0.05 to 0.4). Wrong answers get 0, below every right one;
among right answers the shorter is paid more, and where every answer is right (an easy problem) only length
separates them. thrifty writes it as the accuracy reward plus the term ``-alpha * sigmoid(z)`` on correct
completions (:func:`thrifty.rewards.length.efficient_length_penalties`), at weights 1 and 1, so the recipe keeps
the accuracy it already has and the reward is theirs exactly:

- ``efficient_length`` pairs with ``accuracy`` (the shared checker's extraction, e.g. ``\\boxed{}``);
- ``arm_efficient_length`` pairs with ``arm_accuracy`` (ARM's format gate decides correctness: the toy world).

The mean and std come from the whole group, gathered over processes (:func:`thrifty.rewards.common.gathered_by_prompt`).
"""

from __future__ import annotations

from typing import Any

from .accuracy import AccuracyReward
from .arm import ArmAccuracyReward
from .common import gathered_by_prompt
from .length import EFFICIENT_ALPHA, efficient_length_penalties


class EfficientLengthReward(AccuracyReward):
    """The length term of Arora & Zanette's reward (module docstring), correctness from the accuracy reward's check.

    Args:
        alpha: the penalty's size (official scripts: 0.1).
        answer_column, kind, timeout_s, num_workers, extraction: as :class:`~thrifty.rewards.accuracy.AccuracyReward`.
    """

    __name__ = "efficient_length"

    def __init__(self, alpha: float = EFFICIENT_ALPHA, answer_column: str = "answer", kind: str = "auto",
                 timeout_s: float = 5.0, num_workers: int = 0, extraction: str = "strict"):
        super().__init__(answer_column=answer_column, kind=kind, timeout_s=timeout_s, num_workers=num_workers,
                         extraction=extraction)
        if alpha < 0:
            from .registry import RewardError

            raise RewardError(f"reward_kwargs of {self.__name__!r}: alpha must be >= 0, not {alpha}")
        self.alpha = alpha

    def __call__(self, prompts: list, completions: list, completion_ids: list | None = None, **columns: Any):
        if completion_ids is None:
            raise ValueError(f"{self.__name__} needs completion_ids (TRL passes them)")
        correct, _ = self.verdicts(completions, columns)  # the checker's cache answers the accuracy reward's repeats
        rows = [(len(ids), bool(ok)) for ids, ok in zip(completion_ids, correct, strict=True)]
        return gathered_by_prompt(prompts, rows, self._penalties)

    def _penalties(self, rows: list[tuple[int, bool]], groups: list) -> list[float]:
        return efficient_length_penalties([n for n, _ in rows], [ok for _, ok in rows], groups, self.alpha)


class ArmEfficientLengthReward(EfficientLengthReward):
    """:class:`EfficientLengthReward` with ARM's correctness (``arm_accuracy``'s format gate and ``<ANSWER>``)."""

    __name__ = "arm_efficient_length"
    correctness = ArmAccuracyReward.correctness
