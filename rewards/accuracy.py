"""Accuracy reward: 1.0 when a completion's final answer verifies against the gold answer, else 0.0.

The final answer is extracted with :func:`thrifty.formats.extract_final_answer` (last ``<ANSWER>`` block, else
the last MinD turn's ``\\boxed{}``, else the last ``\\boxed{}``: the strict rule, as ARM's format-gated reward
needs), or with ``extraction: answer_tag`` from the last ``<answer>...</answer>`` block
(:func:`thrifty.formats.extract_answer_tag`: DeepSeek-R1-Zero's template, which ``thrifty grpo`` selects by itself
when the recipe says ``prompt_template: r1_zero``, so the reward reads the answer eval scores), and verified by the process-wide :func:`thrifty.answer_check.shared_checker` (math-verify in worker
processes with timeouts that work off the main thread, gold parsed once, verdicts exactly math-verify's,
multiple-choice letters). Every reward that needs correctness (this one, MinD's ``fewer_turns``) uses that one
checker, so one pool of workers serves them and a completion is verified once per step: the second reward's
check is a verdict-cache hit. Predictions that time out or
break the parser score 0 and are logged as ``accuracy/timeouts`` and ``accuracy/errors``.
"""

from __future__ import annotations

import logging
from typing import Any

from thrifty.answer_check import shared_checker
from thrifty.formats import EXTRACTORS, TurnDelimiters, extract_answer

from .common import column, completion_texts

logger = logging.getLogger(__name__)


class AccuracyReward:
    """Correctness of the final answer (see the module docstring).

    Args:
        answer_column: dataset column holding the gold answer.
        kind: ``auto``, ``math``, ``number`` or ``choice`` (see :mod:`thrifty.answer_check`); a dataset column
            ``answer_kind`` overrides it per row.
        timeout_s, num_workers: select the process-wide checker (:func:`~thrifty.answer_check.shared_checker`).
        correct, wrong: reward values.
        think_open, think_close: MinD turn delimiters used to find the last turn's answer.
        extraction: ``strict`` (the default) or ``answer_tag`` (module docstring).
    """

    __name__ = "accuracy"

    def __init__(
        self,
        answer_column: str = "answer",
        kind: str = "auto",
        timeout_s: float = 5.0,
        num_workers: int = 0,
        correct: float = 1.0,
        wrong: float = 0.0,
        think_open: str = "<think>",
        think_close: str = "</think>",
        extraction: str = "strict",
    ):
        if extraction not in EXTRACTORS:
            from .registry import RewardError

            raise RewardError(f"reward_kwargs of 'accuracy': extraction {extraction!r} is not one of "
                              f"{', '.join(EXTRACTORS)}")
        self.extraction = extraction
        self.answer_column = answer_column
        self.kind = kind
        self.correct, self.wrong = float(correct), float(wrong)
        self.delimiters = TurnDelimiters(think_open, think_close)
        self.checker = shared_checker(timeout_s=timeout_s, num_workers=num_workers)

    def correctness(self, completions: list, golds: list, kinds: list[str] | None = None) -> list[bool]:
        """Whether each completion's final answer is right."""
        predictions = [extract_answer(t, self.extraction, self.delimiters) for t in completion_texts(completions)]
        return self.checker.check(predictions, [str(g) for g in golds], kinds or [self.kind] * len(golds))

    def verdicts(self, completions: list, columns: dict) -> tuple[list[bool], dict]:
        """:meth:`correctness` against the answer column (and ``answer_kind`` where present), with the checker's
        stats (timeouts, errors) since the last call."""
        golds = column(columns, self.answer_column, len(completions), self.__name__)
        return self.correctness(completions, golds, self.row_kinds(columns)), self.checker.reset_stats()

    def row_kinds(self, columns: dict) -> list[str] | None:
        """Each row's ``answer_kind`` where the dataset gives one, else this reward's ``kind`` (a mixture can
        hold sources with and without the column, so a row's kind may be None or empty)."""
        if "answer_kind" not in columns:
            return None
        return [kind or self.kind for kind in columns["answer_kind"]]

    def __call__(self, prompts: list, completions: list, completion_ids: list | None = None, **columns: Any):
        verdicts, stats = self.verdicts(completions, columns)
        log_metric = columns.get("log_metric")
        if log_metric is not None:
            log_metric("accuracy/timeouts", float(stats["timeouts"]))
            log_metric("accuracy/errors", float(stats["errors"] + stats["rejected"]))
        return [self.correct if v else self.wrong for v in verdicts]
