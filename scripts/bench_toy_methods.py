#!/usr/bin/env python
"""thrifty's efficient-reasoning methods on one harness: the toy world, the same SFT models, the same step budget,
several seeds; one Pareto plot, one table with a row per seed and the medians per method.

A method trains from the SFT layout its paper uses, so there are two starting points, each a panel of the plot:

- **ARM's layout** (every training problem in four formats: direct answer, short CoT, code, long CoT), the tiered
  toy world (easy, medium, hard). Per seed S this is ``thrifty demo --seed S`` with every baseline of
  :data:`ARM_BASELINES` (:func:`thrifty.trainers.demo.run_demo` into ``OUT/arm_seedS``): the toy data and the
  multi-format SFT model of seed S, then from that model, 80 GRPO steps each with seed S, ARM2's length-aware
  Ada-GRPO (``recipes/toy/grpo_arm2.yaml``, the demo's path when it ran; ``--method`` puts another in ``grpo/``),
  plain GRPO, ARM's Ada-GRPO, Ada-GRPO plus Kimi k1.5's length reward, Efficient RL (Arora and Zanette's length
  penalty, at alpha 0.1 and 0.4), L1-Exact (evaluated at budgets 32, 96 and 256) and AdaptThink; a greedy eval of
  each on the 240 test problems of seed S, against the SFT model forced to long CoT (what a plain reasoning model
  does) and the format oracle (per problem the cheapest format the SFT model gets right). Each seed's folder holds
  the demo's report with its bars.
- **MinD's layout** (one thinking unit per turn), the running-sum family (R1-like traces with 1-6 reflective units):
  one multi-turn SFT model (:func:`bench_toy_mind.build_sft_model`), then per seed MinD with the paper's rewards
  (``recipes/toy/grpo_mind.yaml``) and thrifty's fewer-turns extension (``grpo_mind_fewer_turns.yaml``), both at
  the same 80 steps as the other methods (``--max_steps 80``; MinD's recipe alone runs 160); a greedy eval on the
  running-sum test problems against the SFT model.

Writes ``OUT/results.json`` (every number, every seed; and per seed how decided the format choice of the SFT
model and of the model in ``grpo/`` is, :func:`format_choice`), ``OUT/pareto.png`` (accuracy against mean output tokens,
every seed a point, each method's median outlined, the oracle a star) and ``OUT/table.md``; ``--docs DIR`` copies
the three into ``DIR`` (the figures of ``docs/experiments/compare.md``) and rewrites the method pages' blocks;
with ``--section NAME`` only compare.md's block of that name (a check on other seeds, e.g. ``--seeds 5 6 7
--section untuned``, or ``--seeds 8 9 --method efficient --baselines arm2 plain --section fresh``). Reruns reuse
every finished stage, so an interrupted run resumes and the report can be rebuilt from the cached runs in seconds.
``--smoke``: seed 0, tiny data, 2 SFT steps, 1 GRPO step per method, 1 test problem per difficulty (seconds, same
code path).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import shutil
import statistics
import sys
from pathlib import Path

from thrifty.cli import DEMO_BASELINE_METHODS  # every demo method's name (the parser's: imports no trainer)

REPO = Path(__file__).resolve().parents[1]

#: The methods trained from ARM's layout (``thrifty.trainers.demo.DEMO_METHODS``): ARM2 in each seed's ``grpo/``
#: folder, the others beside it (``grpo_<name>/``); the demo's own: ``thrifty.trainers.demo.RECOMMENDED``.
ARM_METHOD = "arm2"
ARM_BASELINES = ("plain", "ada", "ada_length", "efficient", "efficient_alpha04", "l1_exact", "adaptthink")
#: MinD's runs: (label, recipe ``recipes/toy/grpo_<recipe>.yaml``, run folder tag).
MIND_RUNS = (("MinD", "mind", "mind"), ("MinD + fewer turns (extension)", "mind_fewer_turns", "mind_fewer_turns"))
MIND_STEPS = 80
#: --smoke's GRPO runs: one step of 2 prompts x 4 short completions (the code path, in seconds)
SMOKE_GRPO = ["--max_steps", "1", "--save_strategy", "no", "--per_device_train_batch_size", "8",
              "--num_generations", "4", "--max_completion_length", "24", "--toy_num_problems", "8"]
ARM_PANEL, MIND_PANEL = "tiered world, ARM-layout SFT", "running-sum world, MinD-layout SFT"


def toy_test_size(smoke: bool) -> int:
    """The toy test problems per difficulty of an ARM-layout seed: the demo's 30, or 1 in ``--smoke``."""
    return 1 if smoke else 30


def arm_panel(out: Path, seed: int, smoke: bool, baselines: tuple[str, ...] = ARM_BASELINES,
              method: str = ARM_METHOD, grpo_args: tuple[str, ...] = ()) -> dict:
    """One seed of the ARM-layout panel (the demo training ``method`` into ``grpo/``, with ``baselines``, each
    with the recipe overrides ``grpo_args``); returns its ``report.json``."""
    from thrifty.trainers.demo import run_demo

    tiny = dict(from_scratch=False, sft_overrides=["--max_steps", "2", "--save_strategy", "no"], n_train=64,
                max_new_tokens=32) if smoke else {}
    overrides = [*(SMOKE_GRPO if smoke else []), *grpo_args]
    run_demo(out / f"arm_seed{seed}", seed=seed, method=method, baselines=baselines,
             grpo_overrides=overrides or None, n_test_per_difficulty=toy_test_size(smoke), **tiny)
    return json.loads((out / f"arm_seed{seed}" / "report.json").read_text())


def mind_panel(out: Path, seeds: list[int], smoke: bool) -> dict:
    """The MinD-layout panel: the SFT model's eval and, per seed, each of :data:`MIND_RUNS`."""
    from bench_toy_grpo import train
    from bench_toy_mind import build_sft_model, evaluate, running_sum_benchmark

    root = out / "mind"
    if smoke:
        sft = build_sft_model(root, n_train=64, sft_overrides=["--max_steps", "2", "--save_strategy", "no"])
    else:
        sft = build_sft_model(root)
    benchmark = running_sum_benchmark(root / "test_running_sum.jsonl", 1 if smoke else 30)
    tokens = 32 if smoke else 384  # a smoke run's barely trained models would write 384 tokens each
    result = {"sft": evaluate(sft, sft / "eval", benchmark, tokens), "runs": []}
    for seed in seeds:
        for label, recipe, tag in MIND_RUNS:
            run_dir = root / f"{tag}_seed{seed}"
            train(recipe, sft, run_dir, seed, SMOKE_GRPO if smoke else ["--max_steps", str(MIND_STEPS)])
            result["runs"].append({"method": label, "seed": seed,
                                   **evaluate(run_dir, run_dir / "eval", benchmark, tokens)})
    return result


def format_choice(model_dir: Path, per_difficulty: int, seed: int) -> dict[str, dict]:
    """How decided a model's choice of format is, per tier of seed ``seed``'s toy test set: the mean probability it
    gives each ARM format's opening tag as the first tokens of its answer to the adaptive prompt (the eval's
    prompt, nothing pre-filled), and the mean gap between its two likeliest formats. Greedy decoding takes the
    likeliest tag (exactly so where each tag is one token, as in the toy tokenizer), so a tier whose gap is small
    flips with a small change of the weights; GRPO, sampling at temperature 1, draws formats with these
    probabilities. One forward pass per problem (its four prompt + tag sequences in one batch); the result is
    kept in ``model_dir/format_choice.json`` and reused while the model and the test set are the same."""
    import torch

    from thrifty.benchmarks import load_toy_problems, problem_text
    from thrifty.formats import ARM_FORMATS, OPENING_TAGS
    from thrifty.generation import prompt_token_ids, render_prompt
    from thrifty.jsonl import write_json
    from thrifty.models import load_model_and_tokenizer, model_fingerprint
    from thrifty.toy_world import ToyWorld

    cache = Path(model_dir) / "format_choice.json"
    key = {"model_fingerprint": model_fingerprint(str(model_dir)), "per_difficulty": per_difficulty, "seed": seed}
    if cache.is_file() and (cached := json.loads(cache.read_text()))["key"] == key:
        return cached["result"]
    model, tokenizer = load_model_and_tokenizer(str(model_dir), dtype="float32", device="cpu")
    model.eval()
    world = ToyWorld(seed=seed)
    by_tier: dict[str, list[list[float]]] = {}
    for problem in load_toy_problems(per_difficulty, seed):
        text = render_prompt(tokenizer, [{"role": "user", "content": problem_text(problem)}])
        prompt = prompt_token_ids(tokenizer, text)
        tags = []
        for fmt in ARM_FORMATS:
            ids = prompt_token_ids(tokenizer, text + OPENING_TAGS[fmt])
            if ids[:len(prompt)] != prompt:
                raise ValueError(f"{model_dir}: the tag {OPENING_TAGS[fmt]!r} merges with the prompt's last token")
            tags.append(ids[len(prompt):])
        width = max(map(len, tags))  # right-padded: a position sees only the tokens before it
        batch = torch.tensor([prompt + tag + [tag[-1]] * (width - len(tag)) for tag in tags])
        with torch.no_grad():
            logprobs = torch.log_softmax(model(batch).logits[:, len(prompt) - 1:-1].float(), -1)
        probs = [logprobs[i, range(len(tag)), tag].sum().exp().item() for i, tag in enumerate(tags)]
        by_tier.setdefault(world.task.tier_of(problem.meta["difficulty"]), []).append(probs)
    result = {}
    for tier, rows in by_tier.items():
        mean = {fmt: sum(r[i] for r in rows) / len(rows) for i, fmt in enumerate(ARM_FORMATS)}
        result[tier] = {"n": len(rows), **mean, "gap": sum(sorted(r)[-1] - sorted(r)[-2] for r in rows) / len(rows)}
    write_json(cache, {"key": key, "result": result})
    return result


def _tier_share(cells: dict, tier: str, fmt: str) -> float | None:
    """A format's share of one tier's answers (0 when it never appears), None where the tier was not evaluated."""
    return cells[tier]["format_mix"].get(fmt, 0.0) if tier in cells else None


def collect(arm_reports: dict[int, dict], mind: dict | None) -> list[dict]:
    """Every (panel, method, seed) as one row: accuracy, mean tokens, the reference it is read against (the SFT
    model forced to long CoT, or MinD's SFT model), the token ratio, the easy and hard tiers' long-CoT shares and
    (the recommended method) the demo's bars."""
    from thrifty.trainers.demo import FORCED_LONG_LABEL, ORACLE_LABEL, is_sft_row

    rows = []
    for seed, report in sorted(arm_reports.items()):
        forced = report["comparison"][FORCED_LONG_LABEL]["all"]
        for label, cells in report["comparison"].items():
            rows.append({
                "panel": ARM_PANEL, "method": label, "seed": seed, "accuracy": cells["all"]["accuracy"],
                "mean_tokens": cells["all"]["mean_tokens"], "reference": FORCED_LONG_LABEL,
                "token_ratio": cells["all"]["mean_tokens"] / forced["mean_tokens"],
                "easy_long_cot": _tier_share(cells, "easy", "long_cot"),
                "hard_long_cot": _tier_share(cells, "hard", "long_cot"),
                "by_tier": {tier: {"accuracy": cell["accuracy"], "mean_tokens": cell["mean_tokens"]}
                            for tier, cell in cells.items() if tier != "all"},
                "easy_direct": _tier_share(cells, "easy", "direct"),
                "hard_direct": _tier_share(cells, "hard", "direct"),
                "l1": report.get("l1_length", {}).get(label),
                "trained": label not in (FORCED_LONG_LABEL, ORACLE_LABEL) and not is_sft_row(label),
                "bars": report["demo_bars_by_model"].get(label),
            })
    if mind:
        sft = mind["sft"]
        rows.append({"panel": MIND_PANEL, "method": "MinD SFT (multi-turn)", "seed": None, "accuracy": sft["accuracy"],
                     "mean_tokens": sft["mean_tokens"], "mean_turns": sft["mean_turns"], "reference": "itself",
                     "token_ratio": 1.0, "trained": False, "bars": None})
        for r in mind["runs"]:
            rows.append({"panel": MIND_PANEL, "method": r["method"], "seed": r["seed"], "accuracy": r["accuracy"],
                         "mean_tokens": r["mean_tokens"], "mean_turns": r["mean_turns"],
                         "reference": "MinD SFT (multi-turn)", "token_ratio": r["mean_tokens"] / sft["mean_tokens"],
                         "trained": True, "bars": None})
    return rows


def medians(rows: list[dict]) -> list[dict]:
    """Per (panel, method): the number of seeds and the median accuracy, tokens and token ratio."""
    keys = list(dict.fromkeys((r["panel"], r["method"]) for r in rows))
    out = []
    for panel, method in keys:
        mine = [r for r in rows if (r["panel"], r["method"]) == (panel, method)]
        out.append({"panel": panel, "method": method, "seeds": len(mine),
                    **{k: statistics.median(r[k] for r in mine) for k in ("accuracy", "mean_tokens", "token_ratio")}})
    return out


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def table(rows: list[dict], summary: list[dict]) -> str:
    """The per-seed table (grouped by method, seeds in order) and the medians, Markdown."""
    lines = ["| start | method | seed | accuracy | mean output tokens | tokens vs reference | reference | "
             "long-CoT share easy / hard | demo bars |", "|---|---|---|---|---|---|---|---|---|"]
    order = {key: i for i, key in enumerate(dict.fromkeys((r["panel"], r["method"]) for r in rows))}
    for r in sorted(rows, key=lambda r: (order[(r["panel"], r["method"])], -1 if r["seed"] is None else r["seed"])):
        bars = "-" if r["bars"] is None else ("all hold" if all(r["bars"].values()) else
                                               "fails: " + "; ".join(k for k, ok in r["bars"].items() if not ok))
        lines.append(f"| {r['panel']} | {r['method']} | {'-' if r['seed'] is None else r['seed']} | "
                     f"{r['accuracy']:.3f} | {r['mean_tokens']:.1f} | {r['token_ratio']:.2f}x | {r['reference']} | "
                     f"{_share(r.get('easy_long_cot'))} / {_share(r.get('hard_long_cot'))} | {bars} |")
    lines += ["", "| start | method | seeds | median accuracy | median mean output tokens | median tokens vs reference |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {m['panel']} | {m['method']} | {m['seeds']} | {m['accuracy']:.3f} | {m['mean_tokens']:.1f} | "
              f"{m['token_ratio']:.2f}x |" for m in summary]
    return "\n".join(lines) + "\n"


#: The method pages' toy-world blocks: page under docs/methods -> the methods (row labels) it quotes. Each block
#: sits between ``<!-- bench_toy_methods -->`` and ``<!-- /bench_toy_methods -->`` and is rendered from the
#: benchmark's ``results.json`` alone by :func:`method_block`, so every number it shows comes from that file
#: (``tests/test_bench_toy_methods.py`` fails when a page's block differs from the committed results).
METHOD_PAGES = {
    "arm.md": ("ARM2", "Ada-GRPO", "Ada-GRPO + Kimi length", "plain GRPO", "SFT forced to long CoT", "format oracle"),
    "mind.md": ("MinD", "MinD + fewer turns (extension)", "MinD SFT (multi-turn)"),
    "l1.md": ("L1-Exact (l1_exact:32)", "L1-Exact (l1_exact:96)", "L1-Exact (l1_exact:256)",
              "SFT (l1_exact:32)", "SFT (l1_exact:96)", "SFT (l1_exact:256)", "ARM2", "SFT forced to long CoT"),
    "adaptthink.md": ("AdaptThink", "ARM2", "SFT forced to long CoT", "format oracle"),
    "efficient.md": ("Efficient RL", "Efficient RL (alpha 0.4)", "plain GRPO", "ARM2", "SFT forced to long CoT",
                     "format oracle"),
}
BLOCK_START, BLOCK_END = "<!-- bench_toy_methods -->", "<!-- /bench_toy_methods -->"


def _span(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}-{fmt.format(hi)}"


def method_block(results: dict, methods: tuple[str, ...]) -> str:
    """The Markdown block a method page shows: per method, over every seed of ``results`` (the benchmark's
    ``results.json``), the range of accuracy and tokens, the median token ratio against its reference and, on the
    tiered world, the range of the easy and hard tiers' long-CoT shares; the demo's bars per seed for ARM2."""
    lines = [BLOCK_START, "",
             "| method | seeds | accuracy | mean output tokens | median tokens vs reference | long-CoT share easy / hard "
             "(MinD: mean turns) |",
             "|---|---|---|---|---|---|"]
    for method in methods:
        mine = [r for r in results["rows"] if r["method"] == method]
        if not mine:
            continue
        ratio = statistics.median(r["token_ratio"] for r in mine)
        shares = "-"
        if mine[0].get("mean_turns") is not None:
            shares = f"{_span([r['mean_turns'] for r in mine], '{:.2f}')} turns"
        elif mine[0].get("easy_long_cot") is not None:
            shares = (f"{_span([r['easy_long_cot'] for r in mine], '{:.2f}')} / "
                      f"{_span([r['hard_long_cot'] for r in mine], '{:.2f}')}")
        seeds = ", ".join(str(r["seed"]) for r in mine if r["seed"] is not None) or "-"
        lines.append(f"| {method} | {seeds} | {_span([r['accuracy'] for r in mine], '{:.3f}')} | "
                     f"{_span([r['mean_tokens'] for r in mine], '{:.1f}')} | {ratio:.2f}x {mine[0]['reference']} | "
                     f"{shares} |")
    l1 = [m for m in methods if any(r["method"] == m and r.get("l1") for r in results["rows"])]
    if l1:
        lines += ["", "| model | budget asked | seeds | median length error (mean - N) / N | median mean absolute "
                      "error (tokens) | median over budget |", "|---|---|---|---|---|---|"]
        for method in l1:
            st = [r["l1"] for r in results["rows"] if r["method"] == method and r.get("l1")]
            lines.append(f"| {method.split(' (')[0]} | {abs(st[0]['budget'])} | {len(st)} | "
                         f"{statistics.median(x['length_error'] for x in st):+.2f} | "
                         f"{statistics.median(x['mean_abs_error'] for x in st):.1f} | "
                         f"{statistics.median(x['over_budget_rate'] for x in st):.2f} |")
    if "AdaptThink" in methods:
        mine = [r for r in results["rows"] if r["method"] == "AdaptThink" and r.get("easy_direct") is not None]
        if mine:
            lines += ["", "AdaptThink's NoThinking (direct answer) share, easy tier against hard tier, per seed: "
                      + "; ".join(f"seed {r['seed']}: {r['easy_direct']:.2f} / {r['hard_direct']:.2f}"
                                  for r in mine) + "."]
    for method in methods:
        bars = [r for r in results["rows"] if r.get("bars") and r["method"] == method]
        if not bars:
            continue
        held = sum(all(r["bars"].values()) for r in bars)
        failing: dict[tuple[str, ...], list[str]] = {}  # the failed bars -> the seeds that fail exactly those
        for r in bars:
            missed = tuple(k for k, ok in r["bars"].items() if not ok)
            if missed:
                failing.setdefault(missed, []).append(str(r["seed"]))
        fails = "; ".join(f"seed{'s' if len(seeds) > 1 else ''} {', '.join(seeds)} fail{'' if len(seeds) > 1 else 's'} "
                          + ", ".join(missed) for missed, seeds in failing.items())
        lines += ["", f"The demo's five bars hold for {method} in {held} of {len(bars)} seeds "
                      f"({', '.join(str(r['seed']) for r in bars)})" + (f"; {fails}." if fails else ".")]
    lines += ["", "Greedy, every seed of `python scripts/bench_toy_methods.py --docs docs/experiments/compare`; "
                  "[per-seed table and plot](../experiments/compare.md).", "", BLOCK_END]
    return "\n".join(lines)


def block_markers(section: str | None = None) -> tuple[str, str]:
    """The markers around a generated block: :data:`BLOCK_START` / :data:`BLOCK_END`, or, for a named section of
    compare.md (``--section``), ``<!-- bench_toy_methods NAME -->`` / ``<!-- /bench_toy_methods NAME -->``."""
    if section is None:
        return BLOCK_START, BLOCK_END
    return f"<!-- bench_toy_methods {section} -->", f"<!-- /bench_toy_methods {section} -->"


def replace_block(text: str, block: str, where: str, section: str | None = None) -> str:
    """``text`` with its block (:func:`block_markers` of ``section``) replaced by ``block``."""
    begin, finish = block_markers(section)
    start, end = text.find(begin), text.find(finish)
    if start < 0 or end < start:
        raise ValueError(f"{where}: no {begin} ... {finish} block to update")
    return text[:start] + block + text[end + len(finish):]


def format_choice_table(choices: dict[str, dict[str, dict]]) -> str:
    """:func:`format_choice` per seed and model, Markdown: per tier the probabilities of short and long CoT's tags
    and the mean gap between the two likeliest formats."""
    tiers = ("easy", "medium", "hard")
    lines = ["| seed | model | " + " | ".join(f"{t}: P(short CoT) / P(long CoT), gap" for t in tiers) + " |",
             "|---|---|" + "---|" * len(tiers)]
    for seed, models in choices.items():
        for model, cells in models.items():
            lines.append(f"| {seed} | {model} | " + " | ".join(
                f"{cells[t]['short_cot']:.2f} / {cells[t]['long_cot']:.2f}, {cells[t]['gap']:.2f}" for t in tiers) + " |")
    return "\n".join(lines) + "\n"


def compare_block(results: dict, section: str | None = None) -> str:
    """A block of docs/experiments/compare.md: the per-seed table and the medians (:func:`table`), then, where the
    results have it, how decided each model's format choice is (:func:`format_choice_table`)."""
    begin, finish = block_markers(section)
    setting = (f"Every trained row ran with the GRPO overrides `{' '.join(results['grpo_args'])}`.\n\n"
               if results.get("grpo_args") else "")
    choices = f"\n{format_choice_table(results['format_choice'])}" if results.get("format_choice") else ""
    return f"{begin}\n\n{setting}{table(results['rows'], results['medians'])}{choices}\n{finish}"


def update_section(results: dict, docs_dir: Path, section: str) -> None:
    """Rewrite only the ``section`` block of ``docs_dir/experiments/compare.md`` from ``results`` (a check on
    other seeds; the method pages keep quoting the main comparison)."""
    from thrifty.jsonl import write_text

    path = docs_dir / "experiments" / "compare.md"
    write_text(path, replace_block(path.read_text(encoding="utf-8"), compare_block(results, section), str(path),
                                   section))


def update_method_pages(results: dict, docs_dir: Path) -> None:
    """Rewrite each page of :data:`METHOD_PAGES` (under ``docs_dir/methods``) with its block rendered from
    ``results``, and the table block of ``docs_dir/experiments/compare.md``."""
    from thrifty.jsonl import write_text

    pages = {docs_dir / "methods" / page: method_block(results, methods) for page, methods in METHOD_PAGES.items()}
    pages[docs_dir / "experiments" / "compare.md"] = compare_block(results)
    for path, block in pages.items():
        write_text(path, replace_block(path.read_text(encoding="utf-8"), block, str(path)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(REPO / "runs/bench_toy_methods"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--panels", nargs="+", default=["arm", "mind"], choices=["arm", "mind"],
                        help="which starting points to run (default both)")
    parser.add_argument("--method", default=ARM_METHOD, choices=DEMO_BASELINE_METHODS,
                        help="the method trained into each seed's grpo/ folder (default arm2; a row like the others)")
    parser.add_argument("--baselines", nargs="*", default=list(ARM_BASELINES), choices=DEMO_BASELINE_METHODS,
                        help="the methods trained beside it from ARM's layout (default all the others; none: "
                             "--baselines alone)")
    parser.add_argument("--grpo-args", default="",
                        help="GRPO recipe overrides for every method of ARM's layout, one string (a screen of one "
                             "setting, e.g. \"--learning_rate 3e-4\"; use its own --out), recorded in results.json")
    parser.add_argument("--docs", default=None,
                        help="also copy results.json, pareto.png and table.md into this folder and rewrite the "
                             "toy-world blocks of docs/methods/*.md and compare.md from them")
    parser.add_argument("--section", default=None,
                        help="with --docs: rewrite only compare.md's block <!-- bench_toy_methods SECTION --> (a "
                             "check on other seeds), not the method pages")
    parser.add_argument("--smoke", action="store_true", help="seed 0, tiny data, 1 GRPO step per method (seconds)")
    args = parser.parse_args(argv)
    os.environ.setdefault("WANDB_MODE", "offline")
    logging.basicConfig(level=logging.WARNING)
    sys.path.insert(0, str(REPO / "scripts"))
    from thrifty.eval.plots import plot_labelled_panels
    from thrifty.jsonl import write_json, write_text
    from thrifty.trainers.demo import DEMO_METHODS, ORACLE_LABEL, RECOMMENDED, SFT_LABEL, is_sft_row

    out = Path(args.out)
    seeds = [0] if args.smoke else args.seeds
    grpo_args = tuple(shlex.split(args.grpo_args))
    arm = ({seed: arm_panel(out, seed, args.smoke, tuple(args.baselines), args.method, grpo_args) for seed in seeds}
           if "arm" in args.panels else {})
    mind = mind_panel(out, seeds, args.smoke) if "mind" in args.panels else None
    rows = collect(arm, mind)
    summary = medians(rows)
    recommended, judged = DEMO_METHODS[RECOMMENDED].label, DEMO_METHODS[args.method].label
    mine = [r for r in rows if r["method"] == judged and r["bars"]]
    every_seed = all(all(r["bars"].values()) for r in mine) if mine else None
    results = {"bar": f"the demo's five bars (thrifty.trainers.demo.DEMO_BARS) hold for {judged}, the method in "
                      "each seed's grpo/ folder, in every seed; the other methods' bars reported, not judged",
               "recommended": recommended, "judged": judged, "grpo_args": list(grpo_args),
               "pass": None if args.smoke else every_seed, "smoke": args.smoke, "seeds": seeds,
               "mind_steps": MIND_STEPS, "rows": rows, "medians": summary,
               "format_choice": {str(seed): {label: format_choice(out / f"arm_seed{seed}" / folder,
                                                                  toy_test_size(args.smoke), seed)
                                             for label, folder in ((SFT_LABEL, "sft"), (judged, "grpo"))}
                                 for seed in arm}}
    write_json(out / "results.json", results)
    points = [{"panel": r["panel"], "label": r["method"], "accuracy": r["accuracy"], "mean_tokens": r["mean_tokens"]}
              for r in rows if not is_sft_row(r["method"])]
    plot_labelled_panels(points, f"Accuracy against mean output tokens, greedy, seeds {', '.join(map(str, seeds))}",
                         out / "pareto.png", highlight=(ORACLE_LABEL,))
    write_text(out / "table.md", table(rows, summary))
    if args.docs:
        Path(args.docs).mkdir(parents=True, exist_ok=True)
        for name in ("results.json", "pareto.png", "table.md"):
            shutil.copyfile(out / name, Path(args.docs) / name)
        if args.section and not args.smoke:  # a smoke run's numbers never reach the docs
            update_section(results, REPO / "docs", args.section)
        elif not args.smoke:
            update_method_pages(results, REPO / "docs")
    print((out / "table.md").read_text())
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
