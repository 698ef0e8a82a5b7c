#!/usr/bin/env python
"""Ada-GRPO against plain GRPO on the toy world: format mix, accuracy and tokens, several seeds, same run.

Both variants start from the same multi-format SFT model (default ``runs/demo/sft``, written by ``thrifty demo``)
and train with the same recipe (``recipes/toy/grpo_{plain,ada}.yaml``: the same keys except ``variant``) and
seed. For each seed and variant this script reports:

- the format shares of the completions sampled during training, first and last logged step (the "format
  collapse" of ARM, Wu et al. 2025, section 3.2, shows here as the long-CoT share growing under plain GRPO);
- the trained model on the toy test set (``thrifty eval`` runner, adaptive mode): greedy accuracy, mean tokens
  and format mix, and the same with sampling (temperature 1.0, ``--samples`` per problem), where the whole
  format distribution counts, not just its mode.

The SFT model is evaluated the same way as the common starting point. Prints a Markdown table and, as its last
line, a JSON object with every number, the bar (Ada-GRPO's greedy accuracy within 0.02 of plain GRPO's, at fewer
mean tokens, averaged over seeds) and ``pass``. About 70 s per (seed, variant) on 2 CPU cores. ``--smoke``: seed 0,
1 GRPO step, 1 test problem per difficulty and 1 sample, from the shipped toy base when ``runs/demo/sft`` is
absent (seconds, same code path); ``"smoke": true, "pass": null``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def train(variant: str, sft_model: Path, out: Path, seed: int, extra: list[str]) -> list[dict]:
    """GRPO from ``sft_model`` into ``out``; returns the logged steps that carry rewards."""
    from thrifty.trainers.common import train_and_save
    from thrifty.trainers.grpo import build_grpo_trainer, parse_grpo_args

    argv = ["--config", str(REPO / f"recipes/toy/grpo_{variant}.yaml"), "--model_name_or_path", str(sft_model),
            "--output_dir", str(out), "--seed", str(seed), "--save_strategy", "no", "--resume_from_checkpoint",
            "false", "--report_to", "none", "--disable_tqdm", "true", *extra]
    trainer = build_grpo_trainer(*parse_grpo_args(argv))
    train_and_save(trainer)
    return [h for h in trainer.state.log_history if "reward" in h]


def format_shares(log: dict) -> dict[str, float]:
    return {k.split("/", 1)[1]: round(v, 3) for k, v in log.items() if k.startswith("format/") and k.count("/") == 1}


def evaluate(model: Path, out: Path, seed: int, samples: int, per_difficulty: int) -> dict:
    """Adaptive mode, greedy and sampled: accuracy, mean tokens, format mix (all difficulties and by k)."""
    from thrifty.eval.runner import EvalConfig, load_run, run_eval
    from thrifty.eval.toy import summarize_toy

    result = {}
    for name, temperature, n in (("greedy", 0.0, 1), ("sampled", 1.0, samples)):
        cfg = EvalConfig(model_name_or_path=str(model), output_dir=str(out / name), benchmarks=["toy"],
                         modes=["adaptive"], toy_per_difficulty=per_difficulty, temperature=temperature,
                         num_samples=n, seed=seed, max_new_tokens=200, batch_size=128, plots=False)
        run_eval(cfg)
        summary = summarize_toy(load_run(out / name)[1])["adaptive"]
        result[name] = {
            level: {"accuracy": round(s["accuracy"], 3), "mean_tokens": round(s["mean_tokens"], 1),
                    "format_mix": {k: round(v, 3) for k, v in s["format_mix"].items()}}
            for level, s in summary.items()
        }
    return result


def _mix(mix: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(mix.items(), key=lambda kv: -kv[1]) if v >= 0.01)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sft-model", default=str(REPO / "runs/demo/sft"))
    parser.add_argument("--out", default=str(REPO / "runs/bench_toy_grpo"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=4, help="sampled completions per test problem")
    parser.add_argument("--per-difficulty", type=int, default=30, help="test problems per difficulty")
    parser.add_argument("--smoke", action="store_true", help="seed 0, 1 GRPO step, tiny eval (seconds)")
    args, extra = parser.parse_known_args(argv)  # anything else overrides both GRPO recipes, e.g. --max_steps 40
    os.environ.setdefault("WANDB_MODE", "offline")
    logging.basicConfig(level=logging.WARNING)
    sys.path.insert(0, str(REPO))
    sft_model, out = Path(args.sft_model), Path(args.out)
    if args.smoke:
        from thrifty.paths import TOY_BASE_DIR

        args.seeds, args.samples, args.per_difficulty = [0], 1, 1
        extra = ["--max_steps", "1", *extra]
        if not (sft_model / "config.json").exists():
            sft_model = TOY_BASE_DIR
    if not (sft_model / "config.json").exists():
        parser.error(f"no model in {sft_model}: run `thrifty demo` first (it writes runs/demo/sft)")

    results: dict = {"sft": evaluate(sft_model, out / "sft_eval", 0, args.samples, args.per_difficulty), "runs": []}
    for seed in args.seeds:
        for variant in ("plain", "ada"):
            run_dir = out / f"{variant}_seed{seed}"
            logs = train(variant, sft_model, run_dir, seed, extra)
            results["runs"].append({
                "variant": variant, "seed": seed,
                "train_formats_first": format_shares(logs[0]), "train_formats_last": format_shares(logs[-1]),
                "eval": evaluate(run_dir, run_dir / "eval", seed, args.samples, args.per_difficulty),
            })

    lines = ["| model | seed | train formats, last step | greedy acc | greedy tokens | greedy formats | "
             "sampled acc | sampled tokens | sampled formats |", "|---|---|---|---|---|---|---|---|---|"]
    rows = [("SFT (start)", "-", {}, results["sft"])] + [
        (r["variant"], r["seed"], r["train_formats_last"], r["eval"]) for r in results["runs"]]
    for name, seed, train_mix, ev in rows:
        g, s = ev["greedy"]["all"], ev["sampled"]["all"]
        lines.append(f"| {name} | {seed} | {_mix(train_mix)} | {g['accuracy']:.2f} | {g['mean_tokens']:.1f} | "
                     f"{_mix(g['format_mix'])} | {s['accuracy']:.2f} | {s['mean_tokens']:.1f} | "
                     f"{_mix(s['format_mix'])} |")
    for variant in ("plain", "ada"):
        runs = [r for r in results["runs"] if r["variant"] == variant]
        for kind in ("greedy", "sampled"):
            results[f"{variant}_{kind}_mean"] = {
                "accuracy": round(statistics.fmean(r["eval"][kind]["all"]["accuracy"] for r in runs), 3),
                "mean_tokens": round(statistics.fmean(r["eval"][kind]["all"]["mean_tokens"] for r in runs), 1),
            }
    plain, ada = results["plain_greedy_mean"], results["ada_greedy_mean"]
    results["bar"] = "ada greedy accuracy >= plain greedy accuracy - 0.02 and ada greedy mean tokens < plain's"
    results["pass"] = None if args.smoke else bool(
        ada["accuracy"] >= plain["accuracy"] - 0.02 and ada["mean_tokens"] < plain["mean_tokens"])
    if args.smoke:
        results["smoke"] = True
    print("\n".join(lines))
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
