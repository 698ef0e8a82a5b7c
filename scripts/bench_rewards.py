#!/usr/bin/env python
"""Accuracy-reward throughput: thrifty's AnswerChecker vs an open-r1-style serial baseline, same run, same data.

Data: MATH-500 (../shared/data/math500.jsonl). For every problem, completions are its gold *solution* (correct)
plus ``--wrong`` wrong answers (another problem's answer, and the gold with one digit changed), each wrapped as a
completion; thrifty extracts every final answer with ``thrifty.formats.extract_final_answer`` (timed).

Baseline (open-r1-style ``accuracy_reward``): per completion, ``parse(gold)``, ``parse(whole completion)``,
``verify``, serial, math-verify's default extraction and its own signal timeouts, no caching of its own.
thrifty: ``AnswerChecker.check`` on the whole batch (gold parsed once, in-process shortcut for integers and simple
fractions, verdict cache, worker processes with parent-enforced timeouts, SLL-first LaTeX parsing and numeric
refutation of wrong answers, see ``thrifty/math_verify_speedups.py``). Their verdicts must agree. Start-up is excluded from both
timings: imports, thrifty's worker start, and a parser warm-up on the same answers for both sides.

Prints a table and, as its last line, a JSON object with throughputs, the speed-up and the agreement.
``--smoke``: 20 problems and 1 wrong answer each (seconds, same code path); the JSON then has ``"smoke": true``
and ``"pass": null`` (a speed-up bar is not judged on 40 pairs), while ``agreement`` is still the real one.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build_pairs(rows: list[dict], wrong: int, seed: int) -> list[tuple[str, str]]:
    """(completion, gold) pairs: each gold solution, plus ``wrong`` wrong answers per problem."""
    rng = random.Random(seed)
    pairs = []
    answers = [r["answer"] for r in rows]
    for i, row in enumerate(rows):
        pairs.append((row["solution"], row["answer"]))
        for j in range(wrong):
            if j % 2 == 0:
                other = answers[rng.randrange(len(answers))]
                if other == row["answer"]:
                    other = answers[(i + 1) % len(answers)]
            else:
                digits = [k for k, ch in enumerate(row["answer"]) if ch.isdigit()]
                if digits:
                    k = rng.choice(digits)
                    other = row["answer"][:k] + str((int(row["answer"][k]) + 1) % 10) + row["answer"][k + 1 :]
                else:
                    other = row["answer"] + "+1"
            pairs.append((f"Let me think. The answer is $\\boxed{{{other}}}$.", row["answer"]))
    return pairs


def baseline(completions: list[str], golds: list[str]) -> list[bool]:
    """open-r1-style ``accuracy_reward``: per completion, parse the gold, parse the *whole completion*, verify.

    Serial, math-verify's default extraction (LaTeX + plain expressions) and its own signal timeouts, nothing
    cached by the reward itself (math-verify's internal LaTeX cache still applies, as it does in open-r1). The gold
    is wrapped as thrifty wraps it, so both sides compare the same gold expression. (open-r1's own completion
    config, ``malformed_operators=False``, also misreads ``\\frac43`` and ``11\\sqrt2``; with it the verdicts differ
    on 8 of 2000 pairs for that reason alone, and the timing is the same.)
    """
    from math_verify import parse, verify

    from thrifty.answer_check import math_verify_input

    out = []
    for content, gold in zip(completions, golds, strict=True):
        gold_parsed = parse(math_verify_input(gold))
        if not gold_parsed:
            out.append(False)
            continue
        out.append(bool(verify(gold_parsed, parse(content))))
    return out


def process_cpu_s(pids: list[int]) -> float:
    """CPU seconds (user + system) used so far by the processes ``pids`` (Linux ``/proc``; 0 elsewhere)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "math500.jsonl"))
    parser.add_argument("--wrong", type=int, default=3, help="wrong answers per problem")
    parser.add_argument("--limit", type=int, default=None, help="use the first N problems")
    parser.add_argument("--workers", type=int, default=0, help="AnswerChecker workers (0: auto)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (20 problems, 1 wrong answer), seconds")
    args = parser.parse_args(argv)
    if args.smoke:
        args.limit, args.wrong = 20, 1
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    sys.path.insert(0, str(REPO))

    from thrifty.answer_check import AnswerChecker
    from thrifty.formats import extract_final_answer
    from thrifty.jsonl import read_jsonl
    from thrifty.math_verify_speedups import WARMUP_ANSWERS

    rows = read_jsonl(args.data)[: args.limit]
    pairs = build_pairs(rows, args.wrong, args.seed)
    golds = [g for _, g in pairs]
    n = len(pairs)

    # start-up excluded from both timings: the baseline's import and parser warm-up (the same answers thrifty's
    # workers parse when they start: ANTLR's prediction cache is then equally warm on both sides)
    baseline([f"The answer is $\\boxed{{{a}}}$." for a in WARMUP_ANSWERS], list(WARMUP_ANSWERS))
    checker = AnswerChecker(timeout_s=5.0, num_workers=args.workers).start()
    checker.check([r"\sqrt{2}"], [r"\frac{1}{2}"], ["math"])
    checker.reset_stats()

    completions = [c for c, _ in pairs]
    c0, t0 = time.process_time(), time.perf_counter()
    base = baseline(completions, golds)
    t_base, cpu_base = time.perf_counter() - t0, time.process_time() - c0

    workers = checker.worker_pids()
    w0, c0, t0 = process_cpu_s(workers), time.process_time(), time.perf_counter()
    predictions = [extract_final_answer(c) for c in completions]  # thrifty's extraction is part of its time
    ours = checker.check(predictions, golds, ["math"] * n)
    t_ours = time.perf_counter() - t0
    cpu_ours = time.process_time() - c0 + process_cpu_s(workers) - w0
    stats = dict(checker.stats)
    checker.close()

    agree = sum(a == b for a, b in zip(base, ours, strict=True))
    disagreements = [
        {"prediction": p, "gold": g, "baseline": a, "thrifty": b}
        for p, g, a, b in zip(predictions, golds, base, ours, strict=True)
        if a != b
    ][:10]
    result = {
        "pairs": n,
        "problems": len(rows),
        "baseline_pairs_per_s": round(n / t_base, 1),
        "thrifty_pairs_per_s": round(n / t_ours, 1),
        "speedup": round(t_base / t_ours, 2),
        # CPU seconds spent (thrifty: parent + workers); on a machine shared with other jobs the wall-clock speed-up
        # depends on how much of the cores the workers get, this ratio does not
        "baseline_cpu_s": round(cpu_base, 2), "thrifty_cpu_s": round(cpu_ours, 2),
        "cpu_ratio": round(cpu_base / max(cpu_ours, 1e-9), 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "agreement": agree / n,
        "baseline_correct": sum(base),
        "thrifty_correct": sum(ours),
        "workers": checker.num_workers,
        "cpus": os.cpu_count(),
        "stats": stats,
        "disagreements": disagreements,
        "bar": "speedup >= 5 and agreement == 1.0",
        "pass": t_base / t_ours >= 5 and agree == n,
    }
    if args.smoke:
        result.update(smoke=True, **{"pass": None})
    print(f"pairs {n}: baseline {n / t_base:8.1f}/s  thrifty {n / t_ours:8.1f}/s  speed-up {t_base / t_ours:.2f}x  "
          f"(CPU {cpu_base:.2f} s vs {cpu_ours:.2f} s)  agreement {agree}/{n}")
    print(json.dumps(result))
    return 0 if result["pass"] or (args.smoke and agree == n) else 1


if __name__ == "__main__":
    raise SystemExit(main())
