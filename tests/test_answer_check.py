"""The shared answer checker: verdicts, caching, fast path, timeouts off the main thread, adversarial inputs."""

from __future__ import annotations

import threading
import time

import pytest

from thrifty.answer_check import AnswerChecker, braces_balanced, normalize_choice, resolve_kind, verify_answer


@pytest.fixture(scope="module")
def checker():
    with AnswerChecker(timeout_s=2.0, num_workers=1) as c:
        yield c


@pytest.mark.parametrize(
    ("prediction", "gold", "kind", "expected"),
    [
        ("\\frac{1}{2}", "0.5", "auto", True),
        ("0.5", "\\frac12", "math", True),
        ("\\frac{2}{4}", "\\frac{1}{2}", "auto", True),
        ("x^2+2x+1", "(x+1)^2", "math", True),
        ("\\sqrt{2}", "\\sqrt{3}", "math", False),
        ("3", "3.0", "auto", True),
        ("025", "25", "auto", True),
        ("1,000", "1000", "number", True),
        ("\\$18.90", "18.9", "number", True),
        ("7", "8", "auto", False),
        ("(B)", "B", "auto", True),
        ("\\text{C}", "C", "choice", True),
        ("option d", "D", "auto", True),
        ("B) 21", "B", "auto", True),
        ("A", "B", "auto", False),
        (None, "3", "auto", False),
        ("", "3", "auto", False),
    ],
)
def test_verify_answer(prediction, gold, kind, expected):
    assert verify_answer(prediction, gold, kind) is expected


def test_kind_resolution_and_helpers():
    assert resolve_kind("B") == "choice"
    assert resolve_kind("42") == "number"
    assert resolve_kind("\\frac{1}{2}") == "math"
    with pytest.raises(ValueError, match="unknown answer kind"):
        resolve_kind("1", "maths")
    assert normalize_choice("\\boxed{e}") == "E"
    assert normalize_choice("seven") is None
    assert braces_balanced("\\{1\\}") and not braces_balanced("\\frac{1}{")


def test_batch_caching_and_fast_path(checker):
    checker.reset_stats()
    golds = ["\\frac{3}{4}"] * 6 + ["12"] * 2 + ["\\sqrt{2}", "x^2+1"]
    preds = ["0.75", "\\frac{6}{8}", "0.75", "3/4", "1", "\\frac{3}{4}", "12", "13", "2^{1/2}", "1 + x^2"]
    expected = [True, True, True, True, False, True, True, False, True, True]
    assert checker.check(preds, golds) == expected
    stats = checker.reset_stats()
    # plain rationals and identical strings need no math-verify; the repeated pair is a cache hit
    assert stats["fast_path"] == 7 and stats["cache_hits"] == 1 and stats["math_verify"] == 2
    assert checker.check(preds, golds) == expected
    assert checker.reset_stats()["cache_hits"] == 10  # every verdict cached


def test_adversarial_inputs_score_false_and_are_counted(checker):
    checker.reset_stats()
    adversarial = [
        "9^{9^{9^{9^{9}}}}",  # huge power tower
        "9^9^9^9",
        "(" * 400 + "1" + ")" * 400,  # deep nesting
        "\\sqrt{" * 200 + "1" + "}" * 200,
        "x" * 100_000,  # 100 KB of text
        "\\frac{1}{",  # unbalanced braces
        "\\boxed{1}}}}",
    ]
    start = time.monotonic()
    verdicts = checker.check(adversarial, ["1"] * len(adversarial))
    elapsed = time.monotonic() - start
    assert verdicts == [False] * len(adversarial)
    stats = checker.reset_stats()
    assert stats["rejected"] >= 3  # 100 KB and unbalanced braces never reach math-verify
    assert stats["timeouts"] + stats["errors"] + stats["rejected"] >= 4
    assert elapsed < 120  # never hangs: per-item deadlines plus worker restarts (each restart imports math-verify)
    # the checker still works after killing a worker
    assert checker.check(["\\frac{1}{2}"], ["0.5"]) == [True]


def test_timeouts_work_off_the_main_thread():
    """math-verify's signal alarms raise off the main thread; the checker must still verify (and time out)."""
    results: dict[str, object] = {}

    def run():
        with AnswerChecker(timeout_s=1.0, num_workers=1) as c:
            results["ok"] = c.check(["\\frac{2}{4}", "9^{9^{9^{9^{9}}}}"], ["\\frac12", "1"])
            results["stats"] = dict(c.stats)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert results["ok"] == [True, False]


def test_mismatched_lengths_raise(checker):
    with pytest.raises(ValueError, match="2 predictions but 1 golds"):
        checker.check(["1", "2"], ["1"])


@pytest.mark.shared_data
def test_math500_gold_answers_verify(shared_data):
    """Every MATH-500 gold answer, extracted from its solution's last \\boxed{}, verifies against the answer."""
    from thrifty.formats import last_boxed
    from thrifty.jsonl import read_jsonl

    rows = read_jsonl(shared_data / "math500.jsonl")[:60]
    with AnswerChecker(timeout_s=5.0) as c:
        verdicts = c.check([last_boxed(r["solution"]) for r in rows], [r["answer"] for r in rows], ["math"] * len(rows))
    assert all(verdicts), [r["answer"] for r, v in zip(rows, verdicts, strict=True) if not v]


def test_fast_path_agrees_with_math_verify(shared_data):
    """Wherever the fast path decides (rationals, identical strings), math-verify gives the same verdict."""
    import random

    from math_verify import parse, verify

    from thrifty.answer_check import fast_verdict, math_verify_configs, math_verify_input
    from thrifty.jsonl import read_jsonl

    answers = [row["answer"] for row in read_jsonl(shared_data / "math500.jsonl")]
    rng = random.Random(0)
    pairs = [(a, a) for a in answers[:150]] + [(rng.choice(answers), rng.choice(answers)) for _ in range(600)]
    decided = 0
    for pred, gold in pairs:
        fast = fast_verdict(pred, gold, "math")
        if fast is None:
            continue
        decided += 1
        configs = math_verify_configs()
        slow = verify(parse(math_verify_input(gold), extraction_config=configs),
                      parse(math_verify_input(pred), extraction_config=configs))
        assert fast == bool(slow), (pred, gold)
    assert decided > 300


def test_items_queued_behind_a_timeout_are_rerun():
    """With pipelining a worker already holds the next items when it hangs; they must be re-run, not lost."""
    preds = ["9^{9^{9^{9^{9}}}}", "\\sqrt{12}", "\\frac{\\sqrt{2}}{2}", "x^2 + 2x + 1"]
    golds = ["1", "2\\sqrt{3}", "\\frac{\\sqrt{3}}{2}", "(x+1)^2"]
    with AnswerChecker(timeout_s=1.0, num_workers=1) as c:
        assert c.check(preds, golds, ["math"] * 4) == [False, True, False, True]
        assert c.stats["timeouts"] == 1 and c.stats["math_verify"] == 3, c.stats
