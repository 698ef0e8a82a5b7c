"""MinD rewards (Zeng et al. 2025, "Done Is Better than Perfect: Unlocking Efficient Reasoning by Structured
Multi-Turn Decomposition"; thrifty DESIGN.md section 4.3): R = R_format + R_accuracy + R_unit.

The paper's exact constants are not public; these are thrifty's, all configurable from the recipe's
``reward_kwargs``:

- ``fewer_turns`` (R_unit, part 1): ``correct(o) * weight * (1 - (turns(o) - 1) / (max_turns - 1))``, turns
  clamped to ``[1, max_turns]``; 0 for a wrong answer or a completion with no turn. Defaults ``weight=1.0``,
  ``max_turns=8``. Rewards reaching the right answer in fewer turns.
- ``unit_compactness`` (R_unit, part 2): a penalty ``-penalty * min(1, n_crammed / max(1, turns))`` where
  ``n_crammed`` counts the turns whose thinking unit contains more than ``max_explorations`` exploration
  markers ("Wait", "Alternatively", "Let me verify", "Hmm", "But wait", "Let me check"): several explorations
  crammed into one turn instead of one unit per turn. Defaults ``penalty=0.5``, ``max_explorations=1``.
  0 for a compact completion.
"""

from __future__ import annotations

import re
from typing import Any

from thrifty.formats import TurnDelimiters, split_turns

from .accuracy import AccuracyReward
from .common import column, completion_texts

EXPLORATION_MARKERS: tuple[str, ...] = ("Wait", "Alternatively", "Let me verify", "Hmm", "Let me check", "But wait")


def turn_counts(completions: list, delimiters: TurnDelimiters | None = None) -> list[int]:
    """Number of MinD turns of each completion."""
    delimiters = delimiters or TurnDelimiters()
    return [len(split_turns(t, delimiters)) for t in completion_texts(completions)]


class FewerTurnsReward:
    """``correct * weight * (1 - (turns - 1) / (max_turns - 1))`` (see the module docstring)."""

    __name__ = "fewer_turns"

    def __init__(
        self,
        weight: float = 1.0,
        max_turns: int = 8,
        answer_column: str = "answer",
        kind: str = "auto",
        think_open: str = "<think>",
        think_close: str = "</think>",
        timeout_s: float = 5.0,
    ):
        if max_turns < 2:
            raise ValueError("fewer_turns: max_turns must be at least 2")
        self.weight, self.max_turns = float(weight), int(max_turns)
        self.delimiters = TurnDelimiters(think_open, think_close)
        self.accuracy = AccuracyReward(
            answer_column=answer_column, kind=kind, timeout_s=timeout_s, think_open=think_open, think_close=think_close
        )

    def __call__(self, prompts: list, completions: list, completion_ids: list | None = None, **columns: Any):
        golds = column(columns, self.accuracy.answer_column, len(completions), self.__name__)
        correct = self.accuracy.correctness(completions, golds)
        out = []
        for ok, turns in zip(correct, turn_counts(completions, self.delimiters), strict=True):
            if not ok or turns < 1:
                out.append(0.0)
                continue
            turns = min(turns, self.max_turns)
            out.append(self.weight * (1.0 - (turns - 1) / (self.max_turns - 1)))
        return out


class UnitCompactnessReward:
    """Penalty for turns that cram several explorations into one thinking unit (see the module docstring)."""

    __name__ = "unit_compactness"

    def __init__(
        self,
        penalty: float = 0.5,
        max_explorations: int = 1,
        markers: list[str] | None = None,
        think_open: str = "<think>",
        think_close: str = "</think>",
    ):
        self.penalty, self.max_explorations = float(penalty), int(max_explorations)
        words = markers or list(EXPLORATION_MARKERS)
        self.pattern = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b")
        self.delimiters = TurnDelimiters(think_open, think_close)

    def crammed_turns(self, text: str) -> tuple[int, int]:
        """(turns with too many exploration markers, turns)."""
        turns = split_turns(text, self.delimiters)
        crammed = sum(1 for t in turns if len(self.pattern.findall(t.unit)) > self.max_explorations)
        return crammed, len(turns)

    def __call__(self, prompts: list, completions: list, completion_ids: list | None = None, **columns: Any):
        out = []
        for text in completion_texts(completions):
            crammed, turns = self.crammed_turns(text)
            out.append(-self.penalty * min(1.0, crammed / max(1, turns)))
        return out
