"""L1 / LCPO: length-controlled reasoning by a token budget in the prompt (Aggarwal and Welleck 2025, "L1:
Controlling How Long A Reasoning Model Thinks With Reinforcement Learning", arXiv 2503.04697; official code
cmu-l3/l1, read at ``93dd330`` and at its first commit ``9b888fb``; docs/methods/l1.md).

The prompt ends with a budget, ``Think for N tokens.`` (L1-Exact) or ``Think for maximum N tokens.`` (L1-Max); a
budget is a signed integer here, as in the official data (``reward_model.num_tokens``): N > 0 exact, N < 0 max.
With ``n`` the completion's token count (every generated token, end-of-sequence included, as verl's
``attention_mask`` sum) and ``correct`` in {0, 1}:

- L1-Exact (paper eq. 1; ``math_reward.py`` with ``linear_reward``): ``r = correct - alpha |N - n|``, alpha =
  0.0003 (``scripts/train/run_l1_exact.sh``), not clipped;
- L1-Max (paper eq. 2 with delta = 0.5; ``9b888fb`` ``math_reward.py``): ``r = correct * (clip(alpha (N - n), -1,
  1) + 1) / 2`` with alpha = 1/500, i.e. ``correct * clip(0.001 (N - n) + 0.5, 0, 1)``;
- budgets drawn uniformly from {100, ..., 4000} once per training example
  (``scripts/data/deepscaler_dataset.py``); L1-Max trains on half exact and half max prompts
  (``--use_both_both``). The prompt text and the budget draw are :mod:`thrifty.l1_budget`'s.
"""

from __future__ import annotations

from typing import Any

from thrifty.l1_budget import (
    L1_BUDGET_RANGE,
    L1_INSTRUCTION,
    L1_MODES,
    l1_budget_text,
    l1_prompt,
    sample_l1_budget,
)

from .accuracy import AccuracyReward
from .common import column

__all__ = ["L1_BUDGET_RANGE", "L1_EXACT_ALPHA", "L1_INSTRUCTION", "L1_MAX_ALPHA", "L1_MODES", "L1LengthReward",
           "l1_budget_text", "l1_exact_reward", "l1_max_reward", "l1_prompt", "l1_reward", "sample_l1_budget"]

#: L1-Exact's alpha (``run_l1_exact.sh``: ``+reward_config.alpha=0.0003``; the paper's 3e-4).
L1_EXACT_ALPHA = 0.0003
#: L1-Max's alpha inside ``(clip(alpha (N - n), -1, 1) + 1) / 2`` (``9b888fb``: ``1/500``).
L1_MAX_ALPHA = 1 / 500


def l1_exact_reward(correct: bool | float, length: int, budget: int, alpha: float = L1_EXACT_ALPHA) -> float:
    """L1-Exact: ``correct - alpha |budget - length|`` (not clipped: a far miss goes below -1)."""
    return float(correct) - alpha * abs(budget - length)


def l1_max_reward(correct: bool | float, length: int, budget: int, alpha: float = L1_MAX_ALPHA) -> float:
    """L1-Max: ``correct * (clip(alpha (budget - length), -1, 1) + 1) / 2`` (``budget`` as a positive count): 0.5
    at the budget, 1 at ``1/alpha`` tokens under it, 0 at ``1/alpha`` over it; 0 when wrong."""
    return float(correct) * (max(-1.0, min(1.0, alpha * (abs(budget) - length))) + 1.0) / 2.0


def l1_reward(correct: bool | float, length: int, budget: int, exact_alpha: float = L1_EXACT_ALPHA,
              max_alpha: float = L1_MAX_ALPHA) -> float:
    """:func:`l1_exact_reward` for a positive (exact) budget, :func:`l1_max_reward` for a negative (max) one."""
    if budget > 0:
        return l1_exact_reward(correct, length, budget, exact_alpha)
    if budget < 0:
        return l1_max_reward(correct, length, -budget, max_alpha)
    raise ValueError("an L1 budget is a non-zero number of tokens (negative: L1-Max)")


class L1LengthReward(AccuracyReward):
    """LCPO's reward (module docstring): correctness (this package's ``accuracy``: the shared answer checker, the
    recipe's extraction) and the completion's token count against the row's budget (column ``l1_budget``, which
    ``thrifty grpo`` writes when the recipe sets ``l1_budget_mode``).

    Args:
        budget_column: the dataset column holding each row's signed budget.
        exact_alpha, max_alpha: L1-Exact's and L1-Max's alpha (defaults: the official values).
        answer_column, kind, timeout_s, num_workers, extraction, think_open, think_close: the correctness check,
            as :class:`~thrifty.rewards.accuracy.AccuracyReward` takes them.
    """

    __name__ = "l1_length"

    def __init__(self, budget_column: str = "l1_budget", exact_alpha: float = L1_EXACT_ALPHA,
                 max_alpha: float = L1_MAX_ALPHA, answer_column: str = "answer", kind: str = "auto",
                 timeout_s: float = 5.0, num_workers: int = 0, extraction: str = "strict",
                 think_open: str = "<think>", think_close: str = "</think>"):
        super().__init__(answer_column=answer_column, kind=kind, timeout_s=timeout_s, num_workers=num_workers,
                         extraction=extraction, think_open=think_open, think_close=think_close)
        self.budget_column = budget_column
        self.exact_alpha, self.max_alpha = float(exact_alpha), float(max_alpha)

    def __call__(self, prompts: list, completions: list, completion_ids: list | None = None, **columns: Any):
        if completion_ids is None:
            raise ValueError("l1_length needs completion_ids (TRL passes them)")
        budgets = column(columns, self.budget_column, len(completions), self.__name__)
        verdicts, _ = self.verdicts(completions, columns)
        return [l1_reward(ok, len(ids), int(budget), self.exact_alpha, self.max_alpha)
                for ok, ids, budget in zip(verdicts, completion_ids, budgets, strict=True)]
