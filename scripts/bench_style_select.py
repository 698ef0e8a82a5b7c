#!/usr/bin/env python
"""Does the style selector predict fine-tuning? Scores against real post-SFT accuracy on the toy world.

For every response strategy, the same training problems are rendered in that strategy; the base model is
fine-tuned on each with the same budget (same steps, batch size, learning rate and seeds), and its greedy
accuracy (mean over the SFT seeds) is measured on the toy test split (adaptive mode: the model answers in the
style it was trained on).
``thrifty select-style`` (:func:`thrifty.data_builders.style_select.select_style`) scores the same strategies
on the base model, without any training. The bench reports, for every score, its Spearman correlation with the
post-SFT accuracy and whether its first choice is the best strategy (by accuracy).

Strategies: the toy world's ``direct``, ``short_cot``, ``code``, ``long_cot``, ``multiturn``, plus two valid but
unfamiliar styles the base model never saw: ``cot_words`` (the running sums in words, "running total 3 then
1 ...") and ``reverse_cot`` (sums accumulated from the last digit backwards). They stand for "another LLM's
answers": correct, but not the target's own way of writing.

Usage:
    OMP_NUM_THREADS=1 python scripts/bench_style_select.py [--base MODEL_DIR] [--out runs/bench_style_select]

The base defaults to the shipped toy base (thrifty/assets/toy_base), else /work/pretrain/run/final, else the
latest checkpoint there. Prints a Markdown table and, as its last line, a JSON object (also written to
--out as bench.md and bench.json) with the bar (perplexity's Spearman with post-SFT accuracy >= 0.5) and ``pass``.
A rerun into the same --out reuses the fine-tuned models already there when they were made from the same base,
data and arguments (and stops, naming the folder, when not). ``--smoke``: 2 strategies, 64 training
problems, 2 SFT steps, 1 test problem per difficulty, 1 seed (same code path); ``"smoke": true, "pass": null``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import sys
import time
from pathlib import Path

TOY_STRATEGIES = ("direct", "short_cot", "code", "long_cot", "multiturn")
EXTRA_STRATEGIES = ("cot_words", "reverse_cot")
PRETRAIN_RUN = Path("/work/pretrain/run")


def default_base() -> Path:
    from thrifty.paths import TOY_BASE_DIR

    if (TOY_BASE_DIR / "model.safetensors").exists():
        return TOY_BASE_DIR
    if (PRETRAIN_RUN / "final" / "model.safetensors").exists():
        return PRETRAIN_RUN / "final"
    checkpoints = sorted((PRETRAIN_RUN / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    if checkpoints:
        return checkpoints[-1]
    raise SystemExit("no base model: pass --base")


def render(world, problem, strategy: str) -> str:
    """A strategy's assistant output for one problem (the toy world's formats, or one of the extra styles)."""
    from thrifty.formats import SHORT_COT, render_arm

    if strategy in TOY_STRATEGIES:
        return world.render(problem, strategy)
    digits = problem.inputs
    if strategy == "cot_words":
        sums = world.task.partial_sums(digits)
        return render_arm(SHORT_COT, problem.answer, "running total " + " then ".join(str(s) for s in sums))
    if strategy == "reverse_cot":
        sums = world.task.partial_sums(list(reversed(digits)))
        return render_arm(SHORT_COT, problem.answer, " ".join(str(s) for s in sums))
    raise ValueError(f"unknown strategy {strategy!r}")


def write_strategy(path: Path, world, problems, strategy: str) -> None:
    from thrifty.jsonl import write_jsonl

    write_jsonl(path, ({"id": f"{p.id}-{strategy}", "problem_id": p.id, "format": strategy, "answer": p.answer,
                        "difficulty": p.difficulty,
                        "messages": [{"role": "user", "content": p.question},
                                     {"role": "assistant", "content": render(world, p, strategy)}]}
                       for p in problems))


def finetune(base: Path, data: Path, out: Path, args, seed: int) -> Path:
    from trl import ModelConfig

    from thrifty.models import model_fingerprint
    from thrifty.paths import recipe_path
    from thrifty.recipes import parse_recipe
    from thrifty.run_record import record_finished_run, reuse_finished_run
    from thrifty.trainers.sft import DataArguments, ThriftySFTConfig, run_sft

    data_sha256 = hashlib.sha256(data.read_bytes()).hexdigest()
    spec = {"base_fingerprint": model_fingerprint(str(base)), "data_sha256": data_sha256,
            "max_steps": args.max_steps, "batch_size": args.batch_size, "lr": args.lr, "seed": seed}
    if reuse_finished_run(out, spec):
        return out
    argv = ["--config", str(recipe_path("toy/sft.yaml")), "--model_name_or_path", str(base),
            "--dataset_name", str(data), "--output_dir", str(out), "--max_steps", str(args.max_steps),
            "--per_device_train_batch_size", str(args.batch_size), "--learning_rate", str(args.lr),
            "--save_strategy", "no", "--resume_from_checkpoint", "false", "--logging_steps", "1000",
            "--seed", str(seed)]
    run_sft(*parse_recipe((DataArguments, ThriftySFTConfig, ModelConfig), argv))
    record_finished_run(out, spec)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default=None, help="base model folder (default: see above)")
    parser.add_argument("--out", default="runs/bench_style_select")
    parser.add_argument("--strategies", nargs="+", default=[*TOY_STRATEGIES, *EXTRA_STRATEGIES])
    parser.add_argument("--n-train", type=int, default=2000, help="training problems per strategy")
    parser.add_argument("--max-steps", type=int, default=60, help="SFT steps per strategy (the same budget)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--per-difficulty", type=int, default=25, help="distinct test problems per difficulty")
    parser.add_argument("--subset", type=int, default=48, help="select-style subset size")
    parser.add_argument("--m", type=int, default=4, help="select-style target samples per input")
    parser.add_argument("--seed", type=int, default=0, help="seed of the toy world and of select-style")
    parser.add_argument("--sft-seeds", type=int, nargs="+", default=[0, 1],
                        help="one SFT run per seed and strategy; the accuracy is their mean")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds), same code path")
    args = parser.parse_args(argv)
    if args.smoke:
        args.strategies, args.n_train, args.max_steps, args.batch_size = ["direct", "short_cot"], 64, 2, 8
        args.per_difficulty, args.subset, args.m, args.sft_seeds = 1, 4, 1, [0]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "datasets", "transformers", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from thrifty.data_builders.style_select import (
        HIGHER_IS_BETTER,
        SCORES,
        StyleSelectArguments,
        json_safe,
        select_style,
        spearman,
    )
    from thrifty.jsonl import write_json, write_text
    from thrifty.toy_world import TRAIN, RunningSumTask, ToyWorld
    from thrifty.trainers.demo import evaluate_toy_model

    base = Path(args.base) if args.base else default_base()
    out = Path(args.out)
    world = ToyWorld(task=RunningSumTask(), seed=args.seed)  # its extra styles are running-sum renderings
    train = world.problems(TRAIN, args.n_train)
    n_test = len(world.test_set(args.per_difficulty))  # the eval runner's toy benchmark: the same split
    data_dir = out / "data"
    for s in args.strategies:
        write_strategy(data_dir / f"{s}.jsonl", world, train, s)

    t0 = time.perf_counter()
    selection = select_style(StyleSelectArguments(
        model_name_or_path=str(base), candidates=[f"{s}={data_dir / f'{s}.jsonl'}" for s in args.strategies],
        output_dir=str(out / "select"), subset_size=args.subset, num_samples=args.m, seed=args.seed,
        max_new_tokens=200, batch_size=32))
    select_s = time.perf_counter() - t0

    accuracy, tokens, train_s = {}, {}, {}
    per_seed: dict[str, list[float]] = {}
    for s in args.strategies:
        t = time.perf_counter()
        accs, toks = [], []
        for seed in args.sft_seeds:
            model_dir = finetune(base, data_dir / f"{s}.jsonl", out / "sft" / s / f"seed{seed}", args, seed)
            summary = evaluate_toy_model(model_dir, out / "eval" / s / f"seed{seed}", args.per_difficulty,
                                         seed=args.seed, max_new_tokens=200, modes=("adaptive",))
            accs.append(summary["adaptive"]["all"]["accuracy"])
            toks.append(summary["adaptive"]["all"]["mean_tokens"])
        per_seed[s] = accs
        accuracy[s] = sum(accs) / len(accs)
        tokens[s] = sum(toks) / len(toks)
        train_s[s] = time.perf_counter() - t
        logging.info("%s: post-SFT accuracy %.3f %s (%.0f s)", s, accuracy[s], accs, train_s[s])

    best = max(args.strategies, key=lambda s: accuracy[s])
    scores = selection["scores"]
    verdicts = {}
    for score in SCORES:
        sign = 1.0 if HIGHER_IS_BETTER[score] else -1.0  # correlate "goodness", so +1 means it predicts well
        rho = spearman([sign * scores[s][score] for s in args.strategies], [accuracy[s] for s in args.strategies])
        pick = selection["rankings"][score][0]
        verdicts[score] = {"spearman": rho, "picked": pick, "picked_accuracy": accuracy[pick],
                           "picked_best": accuracy[pick] == accuracy[best]}

    order = sorted(args.strategies, key=lambda s: -accuracy[s])
    lines = [f"Base model: `{base}`; SFT: {args.max_steps} steps x batch {args.batch_size}, lr {args.lr}, "
             f"{args.n_train} training problems per strategy, seeds {args.sft_seeds} (accuracy = their mean); "
             f"accuracy: greedy, adaptive mode, {n_test} toy "
             f"test problems; select-style: {selection['n_inputs']} inputs, m = {args.m}, seed {args.seed} "
             f"({select_s:.0f} s).", "",
             "| strategy | post-SFT accuracy (per seed) | post-SFT output tokens | alignment (cos) | alignment to correct samples "
             "| perplexity | self-aligned ppl |", "|---|---:|---:|---:|---:|---:|---:|"]
    for s in order:
        sc = scores[s]
        seeds = ", ".join(f"{a:.3f}" for a in per_seed[s])
        lines.append(f"| {s} | {accuracy[s]:.3f} ({seeds}) | {tokens[s]:.1f} | {sc['alignment']:.4f} | {sc['alignment_correct']:.4f} "
                     f"| {sc['perplexity']:.3f} "
                     f"| {sc['self_aligned_perplexity']:.3f} |")
    lines += ["", "| score | Spearman with accuracy | picked | its accuracy | picked the best? |", "|---|---:|---|---:|---|"]
    for score, v in verdicts.items():
        rho = "n/a" if math.isnan(v["spearman"]) else f"{v['spearman']:+.3f}"
        lines.append(f"| {score} | {rho} | {v['picked']} | {v['picked_accuracy']:.3f} "
                     f"| {'yes' if v['picked_best'] else 'no'} (best: {best}) |")
    table = "\n".join(lines)
    result = {"base": str(base), "best": best, "accuracy": accuracy, "accuracy_per_sft_seed": per_seed,
              "mean_tokens": tokens, "scores": scores,
              "verdicts": verdicts, "select_s": select_s, "sft_and_eval_s": train_s,
              "config": {k: v for k, v in vars(args).items()},
              "bar": "spearman(perplexity, post-SFT accuracy) >= 0.5"}
    rho = verdicts["perplexity"]["spearman"]
    result["pass"] = None if args.smoke else bool(not math.isnan(rho) and rho >= 0.5)
    if args.smoke:
        result["smoke"] = True
    write_json(out / "bench.json", json_safe(result))
    write_text(out / "bench.md", table + "\n")
    print(table)
    print(json.dumps(json_safe(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
