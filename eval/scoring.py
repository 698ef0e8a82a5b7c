r"""Scoring completions against a benchmark, and the estimators pass@k and maj@k.

- Extraction policies (:data:`EXTRACTIONS`; every report names the one it used):

  * ``math_verify`` (the default of ``thrifty eval`` on real benchmarks): the field's extraction, so numbers
    compare with published ones. math-verify's own ``parse`` over the whole completion (its default
    ``LatexExtractionConfig`` + ``ExprExtractionConfig``, as lighteval's math tasks and open-r1's accuracy reward
    run it), verified against the boxed gold; for multiple choice the option letter as lighteval's GPQA task
    reads it ("Answer: C", "(C)", ``\boxed{C}``; :func:`thrifty.answer_check.extract_choice_letter`).
  * ``strict``: :func:`thrifty.formats.extract_final_answer` (last ``<ANSWER>``, else the last MinD turn's
    answer, else the last ``\boxed{}``); a number merely mentioned is not an answer. For multiple choice, an
    answer that repeats an option's text exactly is read as that option's letter. This is the rule of ARM's
    format-gated rewards, so it is what the ARM format modes and the toy world use.
  * ``answer_tag``: the last ``<answer>...</answer>`` block (a ``\boxed{}`` inside it preferred;
    :func:`thrifty.formats.extract_answer_tag`), the rule of DeepSeek-R1-Zero's template (``prompt_template:
    r1_zero``, :mod:`thrifty.prompt_templates`) as Dr. GRPO and Open-Reasoner-Zero score it; the ``accuracy``
    reward reads the same answer when GRPO trains with that template.
  * ``auto`` (the recipe default): the prompt template's own rule where it has one (``answer_tag`` for
    ``r1_zero``); else ``strict`` for the toy benchmark and the ARM format modes (``direct``, ``short_cot``,
    ``code``, ``long_cot``, ``consensus``), ``math_verify`` otherwise (:func:`resolve_extraction`).

  "Answer after turn k" of MinD output is always read with the strict rule (turns are a structure of the format).
- Verdicts come from :class:`thrifty.answer_check.AnswerChecker` (math-verify with timeouts), the one answer
  verifier of thrifty.
- pass@k is the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models Trained on Code",
  eq. 1): with ``n`` samples of which ``c`` are correct, ``pass@k = 1 - C(n-c, k) / C(n, k)``, computed as
  the numerically stable product ``1 - prod_{i=n-c+1..n} (1 - k/i)``; pass@1 reduces to ``c/n``.
- maj@k (self-consistency, Wang et al. 2023): the most frequent final answer among the first ``k`` samples
  (ties broken by first occurrence; a sample without an answer does not vote) is scored; votes group answers
  by a canonical string (whitespace and math delimiters stripped, choice letters normalised), and the
  majority answer's verdict is that of a sample that gave it, so no second verifier is involved.
"""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np

from thrifty.answer_check import AnswerChecker, normalize_choice, strip_math_delimiters
from thrifty.benchmarks import LETTERS, Problem
from thrifty.formats import (
    R1_ANSWER_CLOSE,
    R1_ANSWER_OPEN,
    THINK_CLOSE,
    answer_after_turn,
    count_turns,
    detect_format,
    extract_answer,
    extract_final_answer,
)

logger = logging.getLogger(__name__)

MULTITURN = "multiturn"
THINK_OPEN = "<think>"
MATH_VERIFY, STRICT, AUTO, ANSWER_TAG = "math_verify", "strict", "auto", "answer_tag"
EXTRACTIONS: tuple[str, ...] = (AUTO, MATH_VERIFY, STRICT, ANSWER_TAG)
#: The format a completion in R1-Zero's ``<think> </think> <answer> </answer>`` layout is reported under.
R1_ZERO_FORMAT = "r1_zero"
#: Modes whose output format is ARM's: scored with the strict rule under ``auto``.
STRICT_MODES: tuple[str, ...] = ("direct", "short_cot", "code", "long_cot", "consensus")


def resolve_extraction(policy: str, benchmark: str | None = None, mode: str | None = None,
                       template_extraction: str | None = None) -> str:
    """The extraction policy ``policy`` stands for on ``benchmark`` / ``mode`` with a prompt template whose own rule
    is ``template_extraction`` (``auto``: module docstring)."""
    if policy not in EXTRACTIONS:
        raise ValueError(f"unknown extraction {policy!r}; use one of {', '.join(EXTRACTIONS)}")
    if policy != AUTO:
        return policy
    if template_extraction:
        return template_extraction
    if benchmark == "toy" or mode in STRICT_MODES:
        return STRICT
    return MATH_VERIFY


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples with ``c`` correct (Chen et al. 2021); requires ``k <= n``."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def answer_key(prediction: str | None, kind: str) -> str | None:
    """Canonical string of an answer for majority voting (None: no vote)."""
    if prediction is None or not prediction.strip():
        return None
    if kind == "choice":
        letter = normalize_choice(prediction)
        return letter if letter is not None else prediction.strip()
    return "".join(strip_math_delimiters(prediction).split())


def majority_vote(predictions: list[str | None], verdicts: list[bool], kind: str, k: int | None = None) -> bool:
    """maj@k for one problem: is the most frequent answer among the first ``k`` samples correct?"""
    k = len(predictions) if k is None else k
    keys = [answer_key(p, kind) for p in predictions[:k]]
    counts = Counter(key for key in keys if key is not None)
    if not counts:
        return False
    best = max(counts.values())
    winner = next(key for key in keys if key is not None and counts[key] == best)
    return bool(verdicts[keys.index(winner)])


def choice_from_option_text(prediction: str | None, problem: Problem) -> str | None:
    """For multiple choice: a prediction that is exactly an option's text becomes that option's letter."""
    if prediction is None or problem.kind != "choice" or not problem.options:
        return prediction
    if normalize_choice(prediction) is not None:
        return prediction
    wanted = " ".join(strip_math_delimiters(prediction).split()).lower()
    for i, option in enumerate(problem.options):
        if " ".join(option.split()).lower() == wanted:
            return LETTERS[i]
    return prediction


def final_prediction(completion: str, problem: Problem, rule: str = STRICT) -> str | None:
    """The answer a completion gives for ``problem`` under the extraction ``rule`` (``strict`` or
    ``answer_tag``; see the module docstring)."""
    answer = extract_final_answer(completion) if rule == STRICT else extract_answer(completion, rule)
    return choice_from_option_text(answer, problem)


def completion_format(completion: str) -> str:
    """ARM format of a completion, ``r1_zero`` for R1-Zero's ``<think>`` + ``<answer>`` layout, or ``multiturn``
    for MinD-style ``<think>`` turns."""
    fmt = detect_format(completion)
    if fmt == "unknown" and R1_ANSWER_OPEN in completion and R1_ANSWER_CLOSE in completion:
        return R1_ZERO_FORMAT
    if fmt == "unknown" and completion.lstrip().startswith(THINK_OPEN):
        return MULTITURN
    return fmt


def turn_end_offsets(completion: str) -> list[int]:
    """Character offset where each MinD turn ends (the start of the next ``<think>``, or the end)."""
    starts = []
    pos = completion.find(THINK_OPEN)
    while pos != -1:
        starts.append(pos)
        pos = completion.find(THINK_OPEN, pos + len(THINK_OPEN))
    return [*starts[1:], len(completion)] if starts else []


def is_nothinking(completion: str) -> bool:
    """AdaptThink's NoThinking test (``adapt_think_reward_manager.py`` l.96): the response, stripped, starts with
    ``</think>`` (the thinking was skipped: the prompt ends with ``<think>``)."""
    return completion.strip().startswith(THINK_CLOSE)


def score_completions(completions: list[str], problems: list[Problem], checker: AnswerChecker,
                      tokenizer=None, prefills: list[str] | None = None, max_turns: int = 16,
                      extraction: str = STRICT) -> list[dict]:
    """Score ``completions[i]`` against ``problems[i]`` with the ``extraction`` policy (``math_verify`` or
    ``strict``, module docstring); one dict of per-sample fields each.

    Fields: ``prediction``, ``correct``, ``format``, ``turns``, ``nothinking`` (:func:`is_nothinking`) and, for multi-turn completions,
    ``turn_correct`` (answer after turn k, k = 1..turns, capped at ``max_turns``) and, when a ``tokenizer``
    is given, ``turn_tokens`` (output tokens up to the end of turn k, the pre-fill not counted).
    """
    if len(completions) != len(problems):
        raise ValueError(f"{len(completions)} completions but {len(problems)} problems")
    prefills = prefills or [""] * len(completions)
    golds, kinds = [p.answer for p in problems], [p.kind for p in problems]
    if extraction == MATH_VERIFY:
        letters = [LETTERS[:len(p.options)] if p.options else None for p in problems]
        checked = checker.check_completions(completions, golds, kinds, letters)
        verdicts, predictions = [v for v, _ in checked], [a for _, a in checked]
    elif extraction in (STRICT, ANSWER_TAG):
        predictions = [final_prediction(c, p, extraction) for c, p in zip(completions, problems, strict=True)]
        verdicts = checker.check(predictions, golds, kinds)
    else:
        raise ValueError(f"extraction must be {MATH_VERIFY!r}, {STRICT!r} or {ANSWER_TAG!r} here (resolve 'auto' "
                         f"first), got {extraction!r}")
    out = []
    turn_jobs: list[tuple[int, int, str | None, str, str]] = []  # (row, k, answer, gold, kind)
    for i, (text, problem) in enumerate(zip(completions, problems, strict=True)):
        fmt = completion_format(text)
        row = {"prediction": predictions[i], "correct": verdicts[i], "format": fmt, "turns": None,
               "nothinking": is_nothinking(text)}
        if fmt == MULTITURN:
            turns = count_turns(text)
            row["turns"] = turns
            ends = turn_end_offsets(text)[: min(turns, max_turns)]
            for k in range(1, len(ends) + 1):
                answer = choice_from_option_text(answer_after_turn(text, k), problem)
                turn_jobs.append((i, k, answer, problem.answer, problem.kind))
            if tokenizer is not None:
                start = len(prefills[i]) if text.startswith(prefills[i]) else 0
                row["turn_tokens"] = [
                    len(tokenizer.encode(text[start:end], add_special_tokens=False)) for end in ends
                ]
        out.append(row)
    if turn_jobs:
        turn_verdicts = checker.check([j[2] for j in turn_jobs], [j[3] for j in turn_jobs], [j[4] for j in turn_jobs])
        for (i, _k, _a, _g, _kind), verdict in zip(turn_jobs, turn_verdicts, strict=True):
            out[i].setdefault("turn_correct", []).append(verdict)
    return out
