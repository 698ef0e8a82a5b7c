"""MinD rewards (Zeng et al. 2025, "Done Is Better than Perfect: Unlocking Efficient Reasoning by Structured
Multi-Turn Decomposition", arXiv 2505.19788, Sec. 3.2; thrifty DESIGN.md section 4.3).

The paper's GRPO reward is R = R_format + R_accuracy + R_unit: ``mind_format`` (rewards/format_rewards.py),
``accuracy`` (rewards/accuracy.py) and ``unit_compactness`` below. It has **no turn-count term**: fewer turns
come from GRPO's own preference for shorter correct outputs under per-sequence loss normalisation
(``loss_type: grpo``). The paper's constants are not public; thrifty's are configurable from the recipe's
``reward_kwargs`` and documented in docs/methods/mind.md.

- ``unit_compactness`` (R_unit): a penalty ``-penalty * min(1, n_crammed / max(1, turns))`` where ``n_crammed``
  counts the turns whose thinking unit holds more than ``max_explorations`` explorations. An exploration opens
  at an exploration marker ("wait", "alternatively", "let me verify", "hmm", "let me check", "but wait"; matched
  case-insensitively, so the toy world's "wait , let me verify" and R1's "Wait, let me verify" both count);
  markers separated only by punctuation or spaces ("Wait, let me verify", "Hmm, wait") open one exploration.
  The text before the first marker is an exploration of its own only when it states an answer
  (``answer_pattern``: "answer is", "final answer", ``\boxed{``): a first attempt that reaches an answer and
  then "Wait, let me verify" in the same turn is two explorations, while a slip corrected mid-attempt
  ("1 + 5 = 7 . wait , 1 + 5 = 6") is one. Defaults ``penalty=0.5``, ``max_explorations=1``; 0 for a compact
  completion.
- ``fewer_turns`` (thrifty's opt-in **extension**, not in the paper): ``correct(o) * weight * (1 - (turns(o) - 1)
  / (max_turns - 1))``, turns clamped to ``[1, max_turns]``; 0 for a wrong answer or no turn. Defaults
  ``weight=1.0``, ``max_turns=8``. Used by ``recipes/*/grpo_*mind*_fewer_turns.yaml`` only.
"""

from __future__ import annotations

import re
from typing import Any

from thrifty.formats import TurnDelimiters, split_turns

from .accuracy import AccuracyReward
from .common import column, completion_texts

EXPLORATION_MARKERS: tuple[str, ...] = ("wait", "alternatively", "let me verify", "hmm", "let me check", "but wait")

#: Default ``answer_pattern``: the text before a unit's first marker states an answer (see the module docstring).
ANSWER_STATEMENT = r"answer is|final answer|\\boxed\{"

#: Text between two markers that does not separate explorations: punctuation and spaces only.
_JOINER = re.compile(r"[\s,.;:!?\-]*")


def turn_counts(completions: list, delimiters: TurnDelimiters | None = None) -> list[int]:
    """Number of MinD turns of each completion."""
    delimiters = delimiters or TurnDelimiters()
    return [len(split_turns(t, delimiters)) for t in completion_texts(completions)]


class FewerTurnsReward:
    """thrifty's extension (not in MinD): ``correct * weight * (1 - (turns - 1) / (max_turns - 1))``."""

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
        answer_pattern: str = ANSWER_STATEMENT,
        think_open: str = "<think>",
        think_close: str = "</think>",
    ):
        self.penalty, self.max_explorations = float(penalty), int(max_explorations)
        self.answer = re.compile(answer_pattern, re.IGNORECASE)
        words = sorted(markers or list(EXPLORATION_MARKERS), key=len, reverse=True)  # "but wait" before "wait"
        self.pattern = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)
        self.delimiters = TurnDelimiters(think_open, think_close)

    def explorations(self, unit: str) -> int:
        """Explorations in a thinking unit (module docstring): marker runs joined only by punctuation/spaces count
        once; the text before the first marker counts when it states an answer."""
        count, last_end = 0, None
        for m in self.pattern.finditer(unit):
            if last_end is None:
                count += 1 + bool(self.answer.search(unit[: m.start()]))
            elif not _JOINER.fullmatch(unit[last_end : m.start()]):
                count += 1
            last_end = m.end()
        return count

    def crammed_turns(self, text: str) -> tuple[int, int]:
        """(turns whose unit opens more than ``max_explorations`` explorations, turns)."""
        turns = split_turns(text, self.delimiters)
        crammed = sum(1 for t in turns if self.explorations(t.unit) > self.max_explorations)
        return crammed, len(turns)

    def __call__(self, prompts: list, completions: list, completion_ids: list | None = None, **columns: Any):
        out = []
        for text in completion_texts(completions):
            crammed, turns = self.crammed_turns(text)
            out.append(-self.penalty * min(1.0, crammed / max(1, turns)))
        return out
