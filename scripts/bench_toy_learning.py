#!/usr/bin/env python
"""Accuracy of the toy base model by format and difficulty (the toy world's learning bar).

Usage:
    python scripts/bench_toy_learning.py                       # the shipped model, thrifty/assets/toy_base
    python scripts/bench_toy_learning.py --model DIR           # any checkpoint
    python scripts/bench_toy_learning.py --retrain --out DIR   # retrain from scratch first (thrifty toy pretrain)
    python scripts/bench_toy_learning.py --smoke               # 1 problem per difficulty (seconds)

Prints the accuracy and mean-token tables (greedy decoding, instruction-guided per format, plus adaptive and
multi-turn) on a fixed test split (seed 0, distinct problems, up to --per-difficulty per level), the same pooled
by tier, and as its last line a JSON object with each tier's accuracy per format, the tier bars (issue 17; also
tests/test_toy_base.py's):

    easy: direct >= 0.9;  medium: direct <= 0.3 and short CoT >= 0.9;  hard: short CoT <= 0.6 and long CoT >= 0.9

and ``pass``; with ``--smoke``, ``"smoke": true`` and ``"pass": null``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder (default: the shipped toy base)")
    parser.add_argument("--per-difficulty", type=int, default=100)
    parser.add_argument("--max-new-tokens", type=int, default=384)
    parser.add_argument("--retrain", action="store_true", help="run thrifty toy pretrain first")
    parser.add_argument("--out", default="runs/bench_toy_learning", help="output folder")
    parser.add_argument("--max-steps", type=int, default=None, help="with --retrain: override the recipe's steps")
    parser.add_argument("--smoke", action="store_true", help="1 problem per difficulty (and 2 steps with --retrain)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.per_difficulty = 1
        args.max_steps = 2 if args.retrain else args.max_steps
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from thrifty.eval.toy import by_tier, tier_bar, toy_markdown
    from thrifty.paths import TOY_BASE_DIR, recipe_path
    from thrifty.trainers.demo import evaluate_toy_model

    out = Path(args.out)
    model_dir = Path(args.model) if args.model else TOY_BASE_DIR
    if args.retrain:
        from thrifty.trainers.toy import pretrain_toy_base

        t = time.perf_counter()
        overrides = ["--max_steps", str(args.max_steps)] if args.max_steps else []
        model_dir = pretrain_toy_base(out / "pretrain", recipe_path("toy/pretrain.yaml"), overrides)
        print(f"retrained in {time.perf_counter() - t:.0f} s -> {model_dir}")
    t = time.perf_counter()
    summary = evaluate_toy_model(model_dir, out / "eval", args.per_difficulty, seed=0,
                                 max_new_tokens=args.max_new_tokens)
    n = summary.get("direct", {}).get("all", {}).get("n", "?")
    print(toy_markdown(summary, f"Toy world: {model_dir} ({n} test problems, greedy)"))
    print(f"eval time: {time.perf_counter() - t:.0f} s")
    print("\n## By tier (accuracy / mean output tokens)\n")
    tiers = {mode: by_tier(summary, mode) for mode in summary}
    names = list(next(iter(tiers.values())))
    print("| mode | " + " | ".join(names) + " |\n" + "|---" * (len(names) + 1) + "|")
    for mode, cells in tiers.items():
        print(f"| {mode} | " + " | ".join(f"{cells[t]['accuracy']:.2f} / {cells[t]['mean_tokens']:.0f}"
                                          for t in names) + " |")
    bar = tier_bar(summary)
    ok = bar["pass"]
    result = {"model": str(model_dir), **bar, "bar": "; ".join(bar["checks"]), "pass": None if args.smoke else ok}
    if args.smoke:
        result["smoke"] = True
    print(json.dumps(result))
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
