"""Benchmark: rule-based MinD conversion of all 500 MATH-500 long-CoT traces (SkyThought Sky-T1 outputs).

    python scripts/bench_builders.py [--traces PATH] [--max-turns 8]

Loads every trace (dialect normalised), converts each one that has an answer with the rule-based segmenter
(:func:`thrifty.data_builders.multiturn.convert_rule_based`), renders the MinD turns, and verifies every
rendered row's final answer against the trace's own answer with math-verify. Prints the timing and the
conversion rate on the traces whose thinking block is closed (issue bar: >= 90% with >= 2 turns and a final
answer that verifies; whole run < 10 s on a 2-core machine); the last line is JSON with ``bar`` and ``pass``.
``--smoke`` converts the first 40 traces only (same code path): ``"smoke": true`` and ``"pass": null``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TRACES = REPO.parent / "shared" / "data" / "longcot" / "sky-t1-math-correct-5k-27b_math500.jsonl"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", default=str(DEFAULT_TRACES))
    parser.add_argument("--max-turns", type=int, default=8)
    parser.add_argument("--min-unit-chars", type=int, default=200)
    parser.add_argument("--smoke", action="store_true", help="the first 40 traces only (seconds)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    t0 = time.perf_counter()
    from thrifty.answer_check import AnswerChecker
    from thrifty.data_builders.multiturn import MultiturnArguments, convert_rule_based
    from thrifty.data_builders.sources import SourceArguments, load_source
    from thrifty.formats import extract_final_answer, render_turns

    t_import = time.perf_counter() - t0
    source = SourceArguments(
        source=args.traces, id_field="idx", trace_field="code[0]", trace_dialect="begin_of_thought"
    )
    items, report = load_source(source, label=False)
    if args.smoke:
        items = items[:40]
    mt = MultiturnArguments(max_turns=args.max_turns, min_unit_chars=args.min_unit_chars)
    t1 = time.perf_counter()
    converted, turns_hist = [], Counter()
    for it in items:
        if it.trace is None or it.trace.answer is None:
            continue
        turns = convert_rule_based(it.trace, mt)
        if turns:
            converted.append((it, turns, render_turns(turns)))
    t_convert = time.perf_counter() - t1
    with AnswerChecker() as checker:
        verdicts = checker.check(
            [extract_final_answer(text) for _, _, text in converted], [it.trace.answer for it, _, _ in converted]
        )
    t_total = time.perf_counter() - t0
    closed = [it for it in items if it.trace is not None and it.trace.closed]
    ok_ids = set()
    for (it, turns, _), ok in zip(converted, verdicts, strict=True):
        turns_hist[len(turns)] += 1
        if ok and len(turns) >= 2:
            ok_ids.add(it.id)
    closed_ok = sum(it.id in ok_ids for it in closed)
    result = {
        "traces": report.total,
        "with_answer": sum(1 for it in items if it.trace is not None and it.trace.answer is not None),
        "converted": len(converted),
        "closed": len(closed),
        "closed_converted_2plus_verified": closed_ok,
        "closed_rate": round(closed_ok / max(1, len(closed)), 4),
        "turns_histogram": dict(sorted(turns_hist.items())),
        "seconds_total": round(t_total, 2),
        "seconds_convert": round(t_convert, 3),
        "seconds_import": round(t_import, 2),
        "bar": "closed_rate >= 0.9 and seconds_total < 10",
        "pass": None,
    }
    result["pass"] = None if args.smoke else bool(result["closed_rate"] >= 0.9 and t_total < 10)
    if args.smoke:
        result["smoke"] = True
    print(
        f"converted {len(converted)} of {report.total} traces rule-based in {t_total:.2f} s "
        f"(segmentation {t_convert:.2f} s); closed traces: {closed_ok}/{len(closed)} "
        f"= {100 * result['closed_rate']:.1f}% with >= 2 turns and a verified final answer"
    )
    print(json.dumps(result))
    return 0 if result["pass"] is not False else 1


if __name__ == "__main__":
    sys.exit(main())
