"""The math-verify accelerations never change a verdict: numeric refutation and SLL-first LaTeX parsing."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from math_verify import parse, verify

from thrifty.answer_check import AnswerChecker, fast_verdict, math_verify_configs, math_verify_input
from thrifty.jsonl import read_jsonl
from thrifty.math_verify_speedups import WARMUP_ANSWERS, refutes


def _parsed(answer: str) -> list:
    return parse(math_verify_input(answer), extraction_config=math_verify_configs())


@pytest.mark.parametrize(
    ("gold", "pred", "expected"),
    [
        (r"\frac{\sqrt{3}}{2}", r"\frac{\sqrt{2}}{2}", True),
        (r"\frac{1}{3}", "0.3333", True),  # differs in the 5th decimal: math-verify says False too
        (r"\frac{1}{3}", "0.333333", False),  # math-verify rounds floats to 6 decimals: equal
        ("2x", "3x", True),
        (r"\pi + 1", r"\pi", True),
        (r"2\sqrt{3}", r"\sqrt{12}", False),  # equal values: left to verify (which says True)
        ("x^2-1", "(x-1)(x+1)", False),
        (r"9\%", "9", False),  # percentages have their own rule in math-verify
        ("x", "y", False),  # bare symbols too (text answers, e vs E)
        ("(1, 2)", "(1, 3)", False),  # tuples, sets, relations: verify decides
        ("x = 2", "x = 3", False),
    ],
)
def test_refutes_only_what_math_verify_rejects(gold, pred, expected):
    g, p = _parsed(gold), _parsed(pred)
    assert refutes(g, p) is expected
    if expected:
        assert not verify(g, p)


def _wrong_answer_pairs(answers: list[str], seed: int = 0) -> list[tuple[str, str]]:
    """(gold, wrong prediction) pairs: another problem's answer, and the gold with one digit changed."""
    rng = random.Random(seed)
    pairs = []
    for gold in answers:
        pairs.append((gold, rng.choice(answers)))
        digits = [k for k, ch in enumerate(gold) if ch.isdigit()]
        if digits:
            k = rng.choice(digits)
            pairs.append((gold, gold[:k] + str((int(gold[k]) + 1) % 10) + gold[k + 1 :]))
    return pairs


@pytest.mark.shared_data
def test_refutation_never_contradicts_math_verify(shared_data):
    """On MATH-500 answers against wrong answers, every refuted pair is one math-verify rejects, and refutation
    decides a large share of the pairs the fast path leaves to math-verify (otherwise it would be useless)."""
    answers = [str(r["answer"]) for r in read_jsonl(shared_data / "math500.jsonl")]
    pairs = [(g, p) for g, p in _wrong_answer_pairs(answers) if fast_verdict(p, g, "math") is None]
    refuted = 0
    for gold, pred in pairs:
        g, p = _parsed(gold), _parsed(pred)
        if refutes(g, p):
            refuted += 1
            assert not verify(g, p), (gold, pred)
    assert len(pairs) > 200 and refuted > 0.4 * len(pairs), (refuted, len(pairs))


_PARSE_CORPUS = """
import json, sys
from sympy import srepr
from thrifty.answer_check import math_verify_configs, math_verify_input
from thrifty.math_verify_speedups import enable_sll_first_parsing
enabled = enable_sll_first_parsing() if sys.argv[1] == "sll" else False
from math_verify import parse
out = []
for answer in json.load(sys.stdin):
    try:
        out.append([x if isinstance(x, str) else srepr(x) for x in parse(math_verify_input(answer),
                    extraction_config=math_verify_configs(), parsing_timeout=None)])
    except Exception as err:
        out.append(["error", type(err).__name__])
json.dump({"enabled": enabled, "parsed": out}, sys.stdout)
"""


@pytest.mark.shared_data
def test_sll_first_parsing_gives_identical_expressions(shared_data):
    """Every answer of MATH-500, AIME 2024/2025 and AMC 2023, and wrong variants of them, parses to the very same
    sympy expression (``srepr``) with SLL-first parsing as with latex2sympy's own LL parser."""
    answers = []
    for name in ("math500.jsonl", "aime24.jsonl", "aime25.jsonl", "amc23.jsonl"):
        answers += [str(r["answer"]) for r in read_jsonl(shared_data / name)]
    corpus = sorted(set(answers) | {p for _, p in _wrong_answer_pairs(answers)} | set(WARMUP_ANSWERS))
    results = {}
    for mode in ("ll", "sll"):
        proc = subprocess.run([sys.executable, "-c", _PARSE_CORPUS, mode], input=json.dumps(corpus),
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        results[mode] = json.loads(proc.stdout)
    assert results["sll"]["enabled"], "SLL-first parsing could not be installed on this latex2sympy2_extended"
    differing = [(a, x, y) for a, x, y in zip(corpus, results["ll"]["parsed"], results["sll"]["parsed"], strict=True)
                 if x != y]
    assert not differing, differing[:5]
    assert len(corpus) > 600


def test_checker_counts_refutations():
    with AnswerChecker(timeout_s=10.0, num_workers=1) as checker:
        verdicts = checker.check([r"\frac{\sqrt{2}}{2}", r"\sqrt{12}"], [r"\frac{\sqrt{3}}{2}", r"2\sqrt{3}"],
                                 ["math", "math"])
        assert verdicts == [False, True]
        assert checker.stats["math_verify"] == 2 and checker.stats["refuted"] == 1
