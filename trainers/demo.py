"""``thrifty demo``: the toy-world pipeline end to end, in minutes on a laptop CPU.

Stages (each skipped on a rerun once its output exists and its ``thrifty_run.json`` records the same inputs, so an
interrupted demo resumes; a folder of other inputs stops the demo with an error naming it,
:mod:`thrifty.run_record`):
1. build the toy world's problems, traces and multi-format SFT data in ARM's layout (every training problem once
   in each of the four formats, as ARM's SFT data annotates every AQuA-Rat question);
2. take the shipped toy base model (``thrifty/assets/toy_base``, made by ``thrifty toy pretrain``), or with
   ``from_scratch`` a freshly initialised tiny model and tokenizer;
3. multi-format SFT (``recipes/toy/sft.yaml``) into ``OUT/sft``;
4. Ada-GRPO (``recipes/toy/grpo_ada.yaml``) from the SFT model into ``OUT/grpo``; each model folder gets its
   effective recipe as ``thrifty_recipe.yaml``, as ``scripts/launch.sh`` writes it;
5. greedy evaluation of both models on the toy test split in every inference mode, with the ``thrifty eval``
   runner, into ``OUT/sft/eval`` and ``OUT/grpo/eval`` (so ``thrifty publish OUT/grpo`` finds its eval report);
6. a Markdown + JSON report: accuracy and output tokens by format and difficulty, before and after Ada-GRPO, with
   two PNG plots beside ``report.md`` (each with the JSON of its numbers): accuracy against mean output tokens, a
   point per (model, inference mode), Pareto front marked (``accuracy_vs_tokens``); and the adaptive mode's format
   share per tier (easy, medium, hard), SFT beside Ada-GRPO (``format_by_tier``).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from trl import ModelConfig

from thrifty.data_builders.toy_build import ARM_WEIGHTS, build_toy_dataset
from thrifty.errors import UserInputError
from thrifty.eval.plots import plot_format_mix_before_after, plot_pareto
from thrifty.eval.runner import EvalConfig, load_run, run_eval
from thrifty.eval.toy import (
    ADAPTIVE,
    TOY_MODES,
    by_tier,
    mode_points,
    summarize_toy,
    tier_bar,
    toy_markdown,
)
from thrifty.jsonl import write_json, write_text
from thrifty.models import model_fingerprint
from thrifty.paths import TOY_BASE_DIR, recipe_path
from thrifty.recipes import parse_recipe
from thrifty.run_record import record_finished_run, reuse_finished_run
from thrifty.toy_world import ToyWorld

from .grpo import parse_grpo_args, run_grpo
from .launch import record_recipe_copy
from .sft import DataArguments, ThriftySFTConfig, run_sft
from .toy import init_toy_model

logger = logging.getLogger(__name__)

SFT_LABEL, GRPO_LABEL = "SFT", "Ada-GRPO"
ACCURACY_PLOT, FORMAT_PLOT = "accuracy_vs_tokens", "format_by_tier"


def evaluate_toy_model(model_dir: str | Path, out_dir: str | Path, per_difficulty: int, seed: int = 0,
                       max_new_tokens: int = 384, modes=TOY_MODES) -> dict:
    """Greedy eval of ``model_dir`` on the toy test set with the ``thrifty eval`` runner (samples, summary, report
    and plots in ``out_dir``); returns the toy summary (mode -> difficulty -> accuracy, tokens, format mix)."""
    cfg = EvalConfig(model_name_or_path=str(model_dir), output_dir=str(out_dir), benchmarks=["toy"],
                     modes=list(modes), toy_per_difficulty=per_difficulty, seed=seed, temperature=0.0,
                     max_new_tokens=max_new_tokens, batch_size=128)
    run_eval(cfg)
    return summarize_toy(load_run(out_dir)[1])


def _before_after(sft: dict, grpo: dict) -> str:
    """Adaptive mode after SFT and after Ada-GRPO, by difficulty."""
    def mix(summary: dict, level: str) -> str:
        shares = summary[ADAPTIVE][level]["format_mix"]
        return ", ".join(f"{k} {v:.2f}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]) if v >= 0.005)

    lines = ["| k | accuracy SFT | accuracy Ada-GRPO | tokens SFT | tokens Ada-GRPO | formats SFT | formats Ada-GRPO |",
             "|---|---|---|---|---|---|---|"]
    levels = sorted((lvl for lvl in sft[ADAPTIVE] if lvl != "all"), key=int) + ["all"]
    for lvl in levels:
        a, b = sft[ADAPTIVE][lvl], grpo[ADAPTIVE][lvl]
        lines.append(f"| {lvl} | {a['accuracy']:.2f} | {b['accuracy']:.2f} | {a['mean_tokens']:.1f} | "
                     f"{b['mean_tokens']:.1f} | {mix(sft, lvl)} | {mix(grpo, lvl)} |")
    return "\n".join(lines) + "\n"


def _by_tier_table(sft: dict, grpo: dict) -> str:
    """Adaptive mode after SFT and after Ada-GRPO, by tier: accuracy, tokens and the most chosen formats."""
    def mix(cell: dict) -> str:
        shares = cell["format_mix"]
        return ", ".join(f"{k} {v:.2f}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]) if v >= 0.005)

    before, after = by_tier(sft, ADAPTIVE), by_tier(grpo, ADAPTIVE)
    lines = ["| tier | accuracy SFT | accuracy Ada-GRPO | tokens SFT | tokens Ada-GRPO | formats SFT | formats Ada-GRPO |",
             "|---|---|---|---|---|---|---|"]
    for tier in before:
        a, b = before[tier], after[tier]
        lines.append(f"| {tier} | {a['accuracy']:.2f} | {b['accuracy']:.2f} | {a['mean_tokens']:.1f} | "
                     f"{b['mean_tokens']:.1f} | {mix(a)} | {mix(b)} |")
    return "\n".join(lines) + "\n"


def write_demo_plots(out: Path, sft: dict, grpo: dict) -> dict[str, str]:
    """The before/after picture, written beside ``report.md`` in ``out`` (atomically, Agg backend):

    - ``accuracy_vs_tokens.png``: every (model, inference mode) at (mean output tokens, accuracy) over the whole
      test set, the Pareto front marked (:func:`thrifty.eval.plots.plot_pareto`);
    - ``format_by_tier.png``: adaptive mode's format share per tier (easy, medium, hard), SFT beside Ada-GRPO,
      accuracy as a line (:func:`thrifty.eval.plots.plot_format_mix_before_after`).

    Each PNG has a JSON of the same name with the numbers drawn (computed from the eval samples by
    :func:`thrifty.eval.toy.summarize_toy`). Returns ``{name: file name}`` of the PNGs, relative to ``out``.
    """
    summaries = {SFT_LABEL: sft, GRPO_LABEL: grpo}
    points = mode_points(summaries)
    write_json(out / f"{ACCURACY_PLOT}.json", {"decoding": "greedy", "points": points})
    plot_pareto(points, "toy world (greedy, all k)", out / f"{ACCURACY_PLOT}.png")
    mixes = {label: by_tier(s, ADAPTIVE) for label, s in summaries.items()}
    write_json(out / f"{FORMAT_PLOT}.json", {"mode": ADAPTIVE, "decoding": "greedy", "models": mixes})
    plot_format_mix_before_after(mixes, "Formats chosen in adaptive mode by tier, before and after Ada-GRPO",
                                 out / f"{FORMAT_PLOT}.png", xlabel="tier")
    return {ACCURACY_PLOT: f"{ACCURACY_PLOT}.png", FORMAT_PLOT: f"{FORMAT_PLOT}.png"}


def _plots_markdown(files: dict[str, str]) -> str:
    return (
        "## Before and after Ada-GRPO, in two plots\n\n"
        f"![accuracy against mean output tokens]({files[ACCURACY_PLOT]})\n\n"
        "Accuracy against mean output tokens on the whole test set, one point per model and inference mode "
        "(greedy); up and to the left is better, the dashed line is the Pareto front. Numbers: "
        f"`{ACCURACY_PLOT}.json`.\n\n"
        f"![format share by tier]({files[FORMAT_PLOT]})\n\n"
        "The format the model picks in adaptive mode, as a share of the test problems of each tier (easy: 1-2 "
        "digits, medium: 3-6 digits, hard: 2-4 digit pairs), "
        "after SFT (left) and after Ada-GRPO (right); the black line is the accuracy. Numbers: "
        f"`{FORMAT_PLOT}.json`.\n\n"
    )


def _demoted(markdown: str) -> str:
    """A toy_markdown block one heading level down, without its title line."""
    body = markdown.split("\n", 1)[1]
    return "\n".join("#" + line if line.startswith("#") else line for line in body.splitlines()) + "\n"


#: Recipe keys the demo sets itself for its stages (the base model, its own data, ``OUT/sft`` and ``OUT/grpo``).
DEMO_OWNED_KEYS = ("model_name_or_path", "dataset_name", "output_dir")


def refuse_owned_overrides(overrides: list[str] | None, where: str) -> None:
    """Raise :class:`~thrifty.errors.UserInputError` when ``overrides`` set a key in :data:`DEMO_OWNED_KEYS`
    (``--key value`` or ``--key=value``): the demo would replace it silently."""
    for token in overrides or []:
        key = token[2:].partition("=")[0] if token.startswith("--") else ""
        if key in DEMO_OWNED_KEYS:
            raise UserInputError(f"thrifty demo: --{key} cannot be overridden ({where}): the demo trains the shipped "
                                 "toy base (or --from-scratch) on its own data into --out; run `thrifty sft --config "
                                 "recipes/toy/sft.yaml` with your --model_name_or_path/--dataset_name/--output_dir")


def run_demo(out: str | Path = "runs/demo", from_scratch: bool = False, sft_overrides: list[str] | None = None,
             grpo_overrides: list[str] | None = None, n_train: int = 4000, n_test_per_difficulty: int = 30,
             seed: int = 0, max_new_tokens: int = 384) -> Path:
    """Run the demo into ``out``; returns the path of the Markdown report."""
    refuse_owned_overrides(sft_overrides, "SFT recipe overrides")
    refuse_owned_overrides(grpo_overrides, "GRPO recipe overrides")
    out = Path(out)
    timings: dict[str, float] = {}
    world = ToyWorld(seed=seed)

    t = time.perf_counter()
    data_dir = out / "data"
    data_spec = {"n_train": n_train, "n_test_per_difficulty": n_test_per_difficulty, "seed": seed,
                 "weights": ARM_WEIGHTS, "all_formats": True}
    if not reuse_finished_run(data_dir, data_spec, finished_file="sft.jsonl"):
        build_toy_dataset(data_dir, n_train=n_train, n_test_per_difficulty=n_test_per_difficulty, world=world,
                          weights=ARM_WEIGHTS, all_formats=True)
        record_finished_run(data_dir, data_spec)
    timings["build_data_s"] = time.perf_counter() - t

    t = time.perf_counter()
    if from_scratch:
        base = out / "init"
        if not (base / "model.safetensors").exists():
            init_toy_model(base, world)
    else:
        base = TOY_BASE_DIR
        if not (base / "model.safetensors").exists():
            raise FileNotFoundError(f"no toy base model in {base}: run `thrifty toy pretrain` or use --from-scratch")
    sft_dir = out / "sft"
    sft_spec = {"base_fingerprint": model_fingerprint(str(base)), "data": data_spec, "overrides": sft_overrides or []}
    if not reuse_finished_run(sft_dir, sft_spec):
        argv = ["--config", str(recipe_path("toy/sft.yaml")), *(sft_overrides or []),
                "--model_name_or_path", str(base), "--dataset_name", str(data_dir / "sft.jsonl"),
                "--output_dir", str(sft_dir)]
        run_sft(*parse_recipe((DataArguments, ThriftySFTConfig, ModelConfig), argv))
        record_recipe_copy(Path(argv[1]), argv[2:], ["thrifty", "demo", "--out", str(out)])  # once it succeeded
        record_finished_run(sft_dir, sft_spec)
    timings["sft_s"] = time.perf_counter() - t

    t = time.perf_counter()
    grpo_dir = out / "grpo"
    grpo_spec = {"sft_fingerprint": model_fingerprint(str(sft_dir)), "seed": seed, "overrides": grpo_overrides or []}
    if not reuse_finished_run(grpo_dir, grpo_spec):
        argv = ["--config", str(recipe_path("toy/grpo_ada.yaml")), *(grpo_overrides or []),
                "--model_name_or_path", str(sft_dir), "--output_dir", str(grpo_dir), "--toy_seed", str(seed)]
        run_grpo(*parse_grpo_args(argv))
        record_recipe_copy(Path(argv[1]), argv[2:], ["thrifty", "demo", "--out", str(out)])
        record_finished_run(grpo_dir, grpo_spec)
    timings["grpo_s"] = time.perf_counter() - t

    t = time.perf_counter()
    sft_summary = evaluate_toy_model(sft_dir, sft_dir / "eval", n_test_per_difficulty, seed, max_new_tokens)
    grpo_summary = evaluate_toy_model(grpo_dir, grpo_dir / "eval", n_test_per_difficulty, seed, max_new_tokens)
    timings["eval_s"] = time.perf_counter() - t

    t = time.perf_counter()
    plots = write_demo_plots(out, sft_summary, grpo_summary)
    timings["plots_s"] = time.perf_counter() - t
    bar = tier_bar(sft_summary)
    n_problems = sft_summary[ADAPTIVE]["all"]["n"]
    report = {"base_model": str(base), "from_scratch": from_scratch, "n_test_problems": n_problems,
              "timings": timings, "bar": bar, "plots": plots, "summary": sft_summary, "grpo_summary": grpo_summary}
    write_json(out / "report.json", report)
    before, after = sft_summary[ADAPTIVE]["all"], grpo_summary[ADAPTIVE]["all"]
    md = (
        "# thrifty demo: the toy world, multi-format SFT then Ada-GRPO\n\n"
        f"Adaptive mode (the model picks its format), {n_problems} test problems, greedy: accuracy "
        f"{before['accuracy']:.2f} -> {after['accuracy']:.2f}, mean output tokens {before['mean_tokens']:.1f} -> "
        f"{after['mean_tokens']:.1f} after Ada-GRPO.\n\n"
        + _plots_markdown(plots)
        + "## Adaptive mode before and after Ada-GRPO, by tier\n\n" + _by_tier_table(sft_summary, grpo_summary)
        + "\n## Adaptive mode before and after Ada-GRPO, by difficulty\n\n" + _before_after(sft_summary, grpo_summary)
        + "\n## After multi-format SFT (`sft/`)\n\n" + _demoted(toy_markdown(sft_summary))
        + "\n## After Ada-GRPO (`grpo/`)\n\n" + _demoted(toy_markdown(grpo_summary))
        + "\n## The toy world's tier bars (SFT model, instruction-guided, greedy)\n\n"
        + "".join(f"- {k}: {'holds' if ok else 'fails'}\n" for k, ok in bar["checks"].items())
        + f"\nBase model: `{base}`. Each model's `eval/` folder holds the samples, summary, report and plots of "
        "`thrifty eval`; `thrifty publish OUT/grpo --dry-run` builds its model card.\n"
        + "\nStage times (s): " + ", ".join(f"{k[:-2]} {v:.0f}" for k, v in timings.items()) + "\n"
    )
    report_path = out / "report.md"
    write_text(report_path, md)
    logger.info("demo report: %s", report_path)
    return report_path
