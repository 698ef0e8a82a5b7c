#!/usr/bin/env python
"""Accuracy of the toy base model by format and difficulty (the toy world's learning bar).

Usage:
    python scripts/bench_toy_learning.py                       # the shipped model, thrifty/assets/toy_base
    python scripts/bench_toy_learning.py --model DIR           # any checkpoint
    python scripts/bench_toy_learning.py --retrain --out DIR   # retrain from scratch first (thrifty toy pretrain)

Prints the accuracy and mean-token tables (greedy decoding, instruction-guided per format, plus adaptive and
multi-turn) on a fixed test split (seed 0, distinct problems, up to --per-difficulty per level), and as its last
line a JSON object with easiest_direct, hardest_direct, hardest_short_cot and hardest_long_cot.
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
    parser.add_argument("--retrain", action="store_true", help="run thrifty toy pretrain first")
    parser.add_argument("--out", default="runs/bench_toy_learning", help="output folder")
    parser.add_argument("--max-steps", type=int, default=None, help="with --retrain: override the recipe's steps")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from thrifty.data_builders.toy_world import ToyWorld
    from thrifty.eval.toy import bar_metrics, toy_markdown
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
    problems = ToyWorld(seed=0).test_set(args.per_difficulty)
    t = time.perf_counter()
    summary = evaluate_toy_model(model_dir, problems, out / "eval")
    print(toy_markdown(summary, f"Toy world: {model_dir} ({len(problems)} test problems, greedy)"))
    print(f"eval time: {time.perf_counter() - t:.0f} s")
    print(json.dumps(bar_metrics(summary)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
