"""The shared answer checker: verdicts, caching, fast path, timeouts off the main thread, adversarial inputs."""

from __future__ import annotations

import signal
import subprocess
import sys
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
    assert resolve_kind("42") == "math" and resolve_kind("42", "number") == "math"  # math-verify reads 1,000 / $ / %
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
    # integers, simple fractions and plain decimals on both sides need no math-verify; the repeat is a cache hit
    assert stats["fast_path"] == 7 and stats["cache_hits"] == 1 and stats["math_verify"] == 2, stats
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
    ]
    start = time.monotonic()
    verdicts = checker.check(adversarial, ["1"] * len(adversarial))
    elapsed = time.monotonic() - start
    assert verdicts == [False] * len(adversarial)
    stats = checker.reset_stats()
    assert stats["rejected"] == 2  # over max_chars (100 KB, 200 nested roots) never reaches math-verify
    assert stats["timeouts"] >= 2, stats  # the power towers
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


# --- worker lifecycle (issue #16) --------------------------------------------------------------------------------
_ORPHAN_SCRIPT = r"""
import sys
from thrifty.answer_check import AnswerChecker
c = AnswerChecker(timeout_s=600, num_workers=1).start()
print(" ".join(map(str, c.worker_pids())), flush=True)
c.check(["9^{9^{9^{9^{9}}}}"], ["1"], ["math"])  # the worker is stuck in a huge computation when we are killed
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux-only")
def test_workers_die_with_a_sigkilled_parent():
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(x) for x in parent.stdout.readline().split()]
        assert pids and all(_alive(p) for p in pids)
        time.sleep(1.0)  # the worker is now busy with the power tower
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids), "a worker outlived its SIGKILLed parent"
    finally:
        parent.kill()


def test_worker_memory_is_capped_and_a_runaway_item_does_not_stop_the_next_one():
    """The address-space cap is in place in the worker (a memory bomb raises MemoryError there and scores False);
    a runaway item (a power tower: CPU-bound, no LaTeX found here allocates faster than the deadline) is killed at
    its deadline, and the next item still gets its verdict."""
    with AnswerChecker(timeout_s=2.0, num_workers=1, max_memory_mb=1024) as c:
        c.start()
        (pid,) = c.worker_pids()
        limits = open(f"/proc/{pid}/limits").read()
        line = next(x for x in limits.splitlines() if x.startswith("Max address space"))
        assert str(1024 * 1024 * 1024) in line, line
        start = time.monotonic()
        assert c.check(["9^{9^{9^{9^{9}}}}", "\\frac{2}{4}x"], ["1", "0.5x"], ["math", "math"]) == [False, True]
        assert time.monotonic() - start < 60
        assert c.stats["timeouts"] == 1 and c.stats["restarts"] == 1, c.stats
        assert pid not in c.worker_pids()


def test_a_killed_worker_is_replaced_without_waiting_for_its_start_up():
    """With two workers, the items after a timeout go on on the other worker while the replacement starts; after
    the first kill a warm spare is kept, so later kills do not wait at all."""
    with AnswerChecker(timeout_s=1.5, num_workers=2) as c:
        c.start()
        preds = ["9^{9^{9^{9^{9}}}}", "\\sqrt{12}", "x^2 + 2x + 1", "\\frac{\\sqrt{2}}{2}"]
        golds = ["1", "2\\sqrt{3}", "(x+1)^2", "\\frac{\\sqrt{3}}{2}"]
        assert c.check(preds, golds, ["math"] * 4) == [False, True, True, False]
        assert c.stats["timeouts"] == 1 and c.stats["restarts"] == 1
        assert len(c.worker_pids()) == 3  # two workers and the spare
        c._spare.wait_ready()
        start = time.monotonic()
        assert c.check(["9^{9^{9^{9^{8}}}}", "\\frac{6}{8}x"], ["1", "0.75x"], ["math"] * 2) == [False, True]
        assert time.monotonic() - start < 1.5 + 1.5  # the deadline, not a start-up (several seconds here)


def test_rewards_share_one_checker_and_check_each_completion_once():
    from thrifty.rewards.accuracy import AccuracyReward
    from thrifty.rewards.mind import FewerTurnsReward

    accuracy, fewer = AccuracyReward(), FewerTurnsReward()
    assert fewer.accuracy.checker is accuracy.checker
    completions = [f"<think>\nstep\n</think>\nSo $\\boxed{{\\sqrt{{{k}}}}}$" for k in range(2, 8)]
    answers = ["\\sqrt{2}", "\\sqrt{3}", "2", "\\sqrt{5}", "x", "\\sqrt{7}"]
    accuracy.checker.reset_stats()
    assert accuracy([None] * 6, completions, answer=answers) == [1.0, 1.0, 1.0, 1.0, 0.0, 1.0]
    assert fewer([None] * 6, completions, answer=answers)[4] == 0.0
    stats = accuracy.checker.reset_stats()  # the accuracy reward reset (and logged) its own counts
    assert stats["checked"] == 6 and stats["cache_hits"] == 6 and stats["math_verify"] == 0, stats
