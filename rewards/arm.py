r"""ARM's reward (Wu et al. 2025, "ARM: Adaptive Reasoning Model"), as the official code computes it.

TEAM-ARM/ARM ``verl/verl/utils/reward_score/my_data/my_{gsm8k,MATH,csqa}.py`` ``compute_score`` (commit cee2053),
on the decoded prompt + response:

1. answer: ``re.search(r"<ANSWER>(.*)</ANSWER>", text, re.DOTALL)`` (greedy: from the first ``<ANSWER>`` to the
   last ``</ANSWER>``), stripped; no match -> 0;
2. accuracy: 1 if that answer verifies against the gold (math-verify for GSM8K and MATH, the letter for CSQA), else 0;
3. format gate: 0 unless the response opens with one of ``<ANSWER>``, ``<COT>``, ``<CODE>``, ``<LONG_COT>``
   (``"Assistant:<TAG>" in text``: nothing before the tag) **and** contains none of the other formats' reasoning
   tags (``ARM_INVALID_TAGS``: for ``<COT>``: ``<CODE>``, ``<LONG_COT>``, ``</CODE>``, ``</LONG_COT>``; for
   ``<ANSWER>`` (direct): every reasoning tag). ``<ANSWER>`` tags are never invalid, and a format's own tags may
   repeat.

So the reward is ``correct(o) * valid(o)``; the format tag is not rewarded by itself (``format_score=0``).
Ada-GRPO then scales it by alpha (:mod:`thrifty.rewards.ada`). Verification goes through thrifty's shared
:class:`~thrifty.answer_check.AnswerChecker` (kind ``auto``: a letter gold compares letters, a number gold
numbers with ``,``/``$`` stripped as ARM's GSM8K scorer does, else math-verify); docs/methods/arm.md lists where it
differs from ARM's direct ``parse``/``verify`` calls.
"""

from __future__ import annotations

import re
from typing import Any

from thrifty.formats import CODE, DIRECT, LONG_COT, SHORT_COT, UNKNOWN, opening_format

from .accuracy import AccuracyReward
from .common import column, completion_texts, gathered_by_prompt
from .length import kimi_length_lambdas

#: Tags that make a completion of each opening format invalid (ARM's ``invalid_combinations``).
ARM_INVALID_TAGS: dict[str, tuple[str, ...]] = {
    CODE: ("<COT>", "<LONG_COT>", "</COT>", "</LONG_COT>"),
    SHORT_COT: ("<CODE>", "<LONG_COT>", "</CODE>", "</LONG_COT>"),
    LONG_COT: ("<CODE>", "<COT>", "</CODE>", "</COT>"),
    DIRECT: ("<CODE>", "<COT>", "<LONG_COT>", "</CODE>", "</COT>", "</LONG_COT>"),
}
_ARM_ANSWER = re.compile(r"<ANSWER>(.*)</ANSWER>", re.DOTALL)


def arm_format_valid(completion: str) -> bool:
    """ARM's format gate: the completion opens with a format tag and holds no other format's reasoning tags."""
    fmt = opening_format(completion)
    return fmt != UNKNOWN and not any(tag in completion for tag in ARM_INVALID_TAGS[fmt])


def arm_answer(completion: str) -> str | None:
    """ARM's answer extraction: the text from the first ``<ANSWER>`` to the last ``</ANSWER>``, stripped.

    When that span holds several blocks (``4\n</ANSWER>\n<ANSWER>\n5``), ARM hands all of it to math-verify,
    whose extraction keeps the last match; thrifty keeps the last block's text, which verifies the same way.
    """
    m = _ARM_ANSWER.search(completion)
    if m is None:
        return None
    span = m.group(1)
    if "<ANSWER>" in span:
        span = span.rsplit("<ANSWER>", 1)[1]
    return span.strip()


class ArmAccuracyReward(AccuracyReward):
    """ARM's reward: accuracy of the ``<ANSWER>`` block, 0 for an invalid format (module docstring).

    Logs ``arm/invalid_format``, the share of completions the format gate zeroed.
    """

    __name__ = "arm_accuracy"

    def __init__(self, answer_column: str = "answer", kind: str = "auto", timeout_s: float = 5.0,
                 num_workers: int = 0, correct: float = 1.0, wrong: float = 0.0):
        super().__init__(answer_column=answer_column, kind=kind, timeout_s=timeout_s, num_workers=num_workers,
                         correct=correct, wrong=wrong)

    def correctness(self, completions: list, golds: list, kinds: list[str] | None = None) -> list[bool]:
        texts = completion_texts(completions)
        predictions = [arm_answer(t) if arm_format_valid(t) else None for t in texts]
        return self.checker.check(predictions, [str(g) for g in golds], kinds or [self.kind] * len(golds))

    def __call__(self, prompts: list, completions: list, completion_ids: list | None = None, **columns: Any):
        golds = column(columns, self.answer_column, len(completions), self.__name__)
        out = super().__call__(prompts, completions, completion_ids, **columns)
        log_metric = columns.get("log_metric")
        if log_metric is not None and golds:
            invalid = sum(not arm_format_valid(t) for t in completion_texts(completions))
            log_metric("arm/invalid_format", invalid / len(golds))
        return out


class KimiLengthReward(ArmAccuracyReward):
    """An opt-in EXTENSION of Ada-GRPO (not ARM's): Kimi k1.5's length reward with ARM's correctness.

    Per completion, ``lambda`` from :func:`thrifty.rewards.length.kimi_length_lambdas` over the completions of the
    same prompt, gathered from every process (:func:`gathered_kimi_lambdas`: a group can span processes); the
    reward is ``lambda`` for a correct completion (ARM's format-gated ``arm_accuracy``) and ``min(0, lambda)`` for
    a wrong one (Kimi Team 2025, section 2.3.3). Added to ``arm_accuracy`` with a weight
    (``recipes/toy/grpo_ada_length.yaml``): among correct formats the shorter is paid more, so a tier whose direct
    answer is right need not drift to long CoT.
    """

    __name__ = "kimi_length"

    def __call__(self, prompts: list, completions: list, completion_ids: list | None = None, **columns: Any):
        if completion_ids is None:
            raise ValueError("kimi_length needs completion_ids (TRL passes them)")
        correct, _ = self.verdicts(completions, columns)  # the checker's cache answers arm_accuracy's repeats
        lambdas = gathered_kimi_lambdas(prompts, [len(ids) for ids in completion_ids])
        return [lam if ok else min(0.0, lam) for lam, ok in zip(lambdas, correct, strict=True)]


def gathered_kimi_lambdas(prompts: list, lengths: list[int]) -> list[float]:
    """This process's Kimi lambdas, over the completions of ALL processes (:func:`gathered_by_prompt`)."""
    return gathered_by_prompt(prompts, lengths, kimi_length_lambdas)
