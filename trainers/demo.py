"""``thrifty demo``: the toy world's story end to end, in minutes on a laptop CPU: the accuracy of long reasoning
at a fraction of its tokens.

Stages (each skipped on a rerun once its output exists and its ``thrifty_run.json`` records the same inputs, so an
interrupted demo resumes; a folder of other inputs stops the demo with an error naming it,
:mod:`thrifty.run_record`):
1. build the toy world's problems, traces and multi-format SFT data in ARM's layout (every training problem once
   in each of the four formats, as ARM's SFT data annotates every AQuA-Rat question);
2. take the shipped toy base model (``thrifty/assets/toy_base``, made by ``thrifty toy pretrain``), or with
   ``from_scratch`` a freshly initialised tiny model and tokenizer;
3. multi-format SFT (``recipes/toy/sft.yaml``) into ``OUT/sft``;
4. thrifty's recommended path to an adaptive reasoner, Efficient RL (Arora and Zanette 2025: accuracy, paid less
   for a longer right answer; alpha 0.2) with thrifty's opening-token loss weight
   (``recipes/toy/grpo_efficient_opening.yaml``; :mod:`thrifty.trainers.format_tag_weight`), from the SFT model
   into ``OUT/grpo`` (``method`` picks another: ARM2, plain GRPO, ARM's Ada-GRPO, ...); with
   ``baselines=("plain",)`` also plain GRPO into ``OUT/grpo_plain``. Each
   model folder gets its effective recipe as ``thrifty_recipe.yaml``, as ``scripts/launch.sh`` writes it;
5. greedy evaluation on the toy test split with the ``thrifty eval`` runner: the SFT model and the trained model in
   every inference mode (so ``thrifty publish OUT/grpo`` finds its eval report), a baseline in adaptive mode;
6. a Markdown + JSON report that opens with the comparison a reader needs, overall and per tier (easy, medium,
   hard): the trained model against (a) the same SFT model forced to long CoT (what a plain reasoning model
   does), (b) plain GRPO when it was run, and (c) the format oracle (per problem the cheapest format the SFT model
   gets right, :func:`thrifty.eval.toy.format_oracle_rows`); the headline names each baseline and the token ratio
   against it, and the demo's bars (:data:`DEMO_BARS`) are checked. Two PNG plots beside ``report.md``, each with
   the JSON of its numbers: ``accuracy_vs_tokens`` (one panel per tier, :func:`thrifty.eval.plots.plot_labelled_panels`)
   and ``format_by_tier`` (the adaptive mode's format share per tier, SFT beside the trained model).

Why Efficient RL with the opening-token weight (docs/experiments/compare.md, ``scripts/bench_toy_methods.py``): it
is the one method measured that meets the demo's bars in every seed it ran, the three of its screen and the seven
of its judgment (seeds 0-2 and four new worlds, 30-33), each rule written down before it ran. On this world ARM's
Ada-GRPO proper keeps the easy tier on long CoT (its format balancing pushes formats towards equal shares when
every format is right, docs/methods/arm.md, "Why"); ARM2 and plain GRPO meet the bars in 11 and 10 of 13 seeds;
Efficient RL alone, with the toy recipes' DAPO loss, in 18 of 19 at alpha 0.2 (its easy tier's choice stays soft:
the loss weighs the one token that chooses the format like any other), and with the official per-sequence loss,
which makes that choice but lets part of the hard tier slip to short formats, in 7 of 9 and 5 of 8. thrifty's
opening-token weight, an extension in no reference, gives that one token (the format tag, or the first token of an
answer that opens with none) four times its weight and nothing else; on the tag alone it met the bars in 5 of 7
judged seeds, the other two losing part of the medium tier to untagged answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trl import ModelConfig

from thrifty.data_builders.toy_build import ARM_WEIGHTS, build_toy_dataset
from thrifty.errors import UserInputError
from thrifty.eval.plots import plot_format_mix_before_after, plot_labelled_panels
from thrifty.eval.runner import EvalConfig, load_run, run_eval
from thrifty.eval.toy import (
    ADAPTIVE,
    FORMAT_ORACLE,
    TOY_MODES,
    format_oracle_rows,
    summarize_toy,
    tier_bar,
    tier_cells,
    toy_markdown,
)
from thrifty.jsonl import write_json, write_text
from thrifty.l1_budget import l1_mode_budget
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


@dataclass(frozen=True)
class DemoMethod:
    """A GRPO method the demo can train: its toy recipe (under ``recipes/``), its label in the report, and the
    inference modes a baseline of it is evaluated in (each a row of the comparison; the toy eval's
    ``l1_instruction`` is empty, as the toy L1 recipe trains)."""

    recipe: str
    label: str
    eval_modes: tuple[str, ...] = (ADAPTIVE,)


#: The GRPO methods the demo can run, by name (``--method``, ``--baseline``).
DEMO_METHODS: dict[str, DemoMethod] = {
    "arm2": DemoMethod("toy/grpo_arm2.yaml", "ARM2"),
    "plain": DemoMethod("toy/grpo_plain.yaml", "plain GRPO"),
    "ada": DemoMethod("toy/grpo_ada.yaml", "Ada-GRPO"),
    "ada_length": DemoMethod("toy/grpo_ada_length.yaml", "Ada-GRPO + Kimi length"),
    "efficient": DemoMethod("toy/grpo_efficient.yaml", "Efficient RL"),
    "efficient_alpha02": DemoMethod("toy/grpo_efficient_alpha02.yaml", "Efficient RL (alpha 0.2)"),
    "efficient_alpha04": DemoMethod("toy/grpo_efficient_alpha04.yaml", "Efficient RL (alpha 0.4)"),
    "efficient_official_alpha02": DemoMethod("toy/grpo_efficient_official_alpha02.yaml",
                                             "Efficient RL (official loss, alpha 0.2)"),
    "efficient_official": DemoMethod("toy/grpo_efficient_official.yaml", "Efficient RL (official loss)"),
    "efficient_tag": DemoMethod("toy/grpo_efficient_tag.yaml", "Efficient RL (format-tag weight)"),
    "efficient_opening": DemoMethod("toy/grpo_efficient_opening.yaml", "Efficient RL (opening-token weight)"),
    "l1_exact": DemoMethod("toy/grpo_l1_exact.yaml", "L1-Exact", ("l1_exact:32", "l1_exact:96", "l1_exact:256")),
    "adaptthink": DemoMethod("toy/grpo_adaptthink.yaml", "AdaptThink"),
}
#: thrifty's recommended path on the toy world (chosen from ``scripts/bench_toy_methods.py``'s seeds).
RECOMMENDED = "efficient_opening"
SFT_LABEL = "SFT"
#: Where the SFT model's answers to L1's budget prompts go (``OUT/sft/<this>``), evaluated when L1 is compared.
SFT_BUDGET_EVAL = "eval_l1"
FORCED_LONG_LABEL, ORACLE_LABEL = "SFT forced to long CoT", "format oracle"
ACCURACY_PLOT, FORMAT_PLOT = "accuracy_vs_tokens", "format_by_tier"
PANELS = ("all", "easy", "medium", "hard")

#: The demo's bars (issue 27) on the trained model, greedy: (name, check of the comparison rows).
DEMO_BARS: tuple[tuple[str, Callable[[dict, dict], bool]], ...] = (
    ("accuracy >= 0.97", lambda m, long: m["all"]["accuracy"] >= 0.97),
    ("accuracy >= the forced-long-CoT accuracy", lambda m, long: m["all"]["accuracy"] >= long["all"]["accuracy"]),
    ("mean tokens <= 0.5x forced long CoT",
     lambda m, long: m["all"]["mean_tokens"] <= 0.5 * long["all"]["mean_tokens"]),
    ("easy tier long-CoT share <= 0.2", lambda m, long: m["easy"]["format_mix"].get("long_cot", 0.0) <= 0.2),
    ("hard tier long-CoT share >= 0.9", lambda m, long: m["hard"]["format_mix"].get("long_cot", 0.0) >= 0.9),
)


def is_sft_row(label: str) -> bool:
    """Whether the comparison row ``label`` is the SFT model in its own adaptive mode or in an L1 budget mode
    (context, not a baseline the headline names; the forced-long-CoT row is a baseline)."""
    return label == SFT_LABEL or label.startswith(f"{SFT_LABEL} (")


def _row_label(method: DemoMethod, mode: str) -> str:
    """A baseline's row in the comparison: its label, and the mode where it is not the adaptive one."""
    return method.label if mode == ADAPTIVE else f"{method.label} ({mode})"


def demo_bars(model: dict, forced_long: dict) -> dict[str, bool]:
    """:data:`DEMO_BARS` checked on ``tier_cells`` of the trained model and of the SFT model forced to long CoT."""
    return {name: bool(check(model, forced_long)) for name, check in DEMO_BARS}


def evaluate_toy_model(model_dir: str | Path, out_dir: str | Path, per_difficulty: int, seed: int = 0,
                       max_new_tokens: int = 384, modes=TOY_MODES) -> dict:
    """Greedy eval of ``model_dir`` on the toy test set with the ``thrifty eval`` runner (samples, summary, report
    and plots in ``out_dir``); returns the toy summary (mode -> difficulty -> accuracy, tokens, format mix). L1's
    budget modes get the budget sentence alone (``l1_instruction`` empty, as the toy L1 recipe trains)."""
    cfg = EvalConfig(model_name_or_path=str(model_dir), output_dir=str(out_dir), benchmarks=["toy"],
                     modes=list(modes), toy_per_difficulty=per_difficulty, seed=seed, temperature=0.0,
                     max_new_tokens=max_new_tokens, batch_size=128, l1_instruction="")
    run_eval(cfg)
    return summarize_toy(load_run(out_dir)[1])


def train_grpo_stage(method_recipe: str, sft_dir: Path, out_dir: Path, seed: int, overrides: list[str] | None,
                     invoked_as: list[str]) -> None:
    """GRPO with ``recipes/<method_recipe>`` from ``sft_dir`` into ``out_dir`` (torch seed and toy problems both
    ``seed``); skipped when ``out_dir`` holds a finished run of the same inputs."""
    spec = {"sft_fingerprint": model_fingerprint(str(sft_dir)), "recipe": method_recipe, "seed": seed,
            "overrides": overrides or []}
    if reuse_finished_run(out_dir, spec):
        return
    argv = ["--config", str(recipe_path(method_recipe)), *(overrides or []), "--model_name_or_path", str(sft_dir),
            "--output_dir", str(out_dir), "--seed", str(seed), "--toy_seed", str(seed)]
    run_grpo(*parse_grpo_args(argv))
    record_recipe_copy(Path(argv[1]), argv[2:], invoked_as)
    record_finished_run(out_dir, spec)


def _l1_stats(eval_dir: Path, mode: str) -> dict:
    """The length error against the budget of L1 mode ``mode`` in the eval run ``eval_dir``
    (:func:`thrifty.l1_budget.l1_length_stats`, all tiers)."""
    return load_run(eval_dir)[0]["results"]["toy"][mode]["l1"]


def _mix(cell: dict) -> str:
    shares = cell["format_mix"]
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1]) if v >= 0.005)


def comparison_table(rows: dict[str, dict], reference: str) -> str:
    """One Markdown table, a row per (tier, model): accuracy, mean output tokens, tokens against ``reference``'s
    in the same tier, long-CoT share and the formats chosen."""
    lines = [f"| tier | model | accuracy | mean output tokens | tokens vs {reference} | long-CoT share | formats |",
             "|---|---|---|---|---|---|---|"]
    for panel in PANELS:
        for label, cells in rows.items():
            cell = cells.get(panel)
            if cell is None:
                continue
            ref = rows[reference][panel]["mean_tokens"]
            lines.append(f"| {panel} | {label} | {cell['accuracy']:.3f} | {cell['mean_tokens']:.1f} | "
                         f"{cell['mean_tokens'] / ref:.2f}x | {cell['format_mix'].get('long_cot', 0.0):.2f} | "
                         f"{_mix(cell)} |")
    return "\n".join(lines) + "\n"


def headline(label: str, rows: dict[str, dict], n_problems: int) -> str:
    """The report's first sentence: the trained model's accuracy and tokens, and its token ratio against each
    baseline in ``rows`` (all but ``label``), each named with its own accuracy and tokens."""
    me = rows[label]["all"]
    against = [f"{me['mean_tokens'] / cells['all']['mean_tokens']:.2f}x the tokens of {name} "
               f"({cells['all']['accuracy']:.3f} at {cells['all']['mean_tokens']:.1f})"
               for name, cells in rows.items() if name != label and not is_sft_row(name)]
    who = f"{label}, thrifty's recommended path," if label == DEMO_METHODS[RECOMMENDED].label else label
    return (f"{who} answers {me['accuracy']:.3f} of {n_problems} toy test problems "
            f"right (greedy) at {me['mean_tokens']:.1f} mean output tokens: " + "; ".join(against) + ".")


def write_demo_plots(out: Path, rows: dict[str, dict], label: str) -> dict[str, str]:
    """The picture of the comparison, written beside ``report.md`` in ``out`` (atomically, Agg backend):

    - ``accuracy_vs_tokens.png``: every compared model at (mean output tokens, accuracy), one panel for the whole
      test set and one per tier, the format oracle a star (:func:`thrifty.eval.plots.plot_labelled_panels`);
    - ``format_by_tier.png``: adaptive mode's format share per tier, the SFT model beside the trained one, accuracy
      as a line (:func:`thrifty.eval.plots.plot_format_mix_before_after`).

    Each PNG has a JSON of the same name with the numbers drawn. Returns ``{name: file name}`` of the PNGs."""
    points = [{"panel": panel, "label": name, "accuracy": cells[panel]["accuracy"],
               "mean_tokens": cells[panel]["mean_tokens"], "n": cells[panel]["n"]}
              for name, cells in rows.items() for panel in PANELS if panel in cells]
    write_json(out / f"{ACCURACY_PLOT}.json", {"decoding": "greedy", "points": points})
    plot_labelled_panels(points, "toy world, greedy: accuracy against mean output tokens, whole test set and by tier",
                         out / f"{ACCURACY_PLOT}.png", highlight=(ORACLE_LABEL,), panels=list(PANELS))
    mixes = {name: {tier: rows[name][tier] for tier in PANELS[1:] if tier in rows[name]}
             for name in (SFT_LABEL, label)}
    write_json(out / f"{FORMAT_PLOT}.json", {"mode": ADAPTIVE, "decoding": "greedy", "models": mixes})
    plot_format_mix_before_after(mixes, f"Formats chosen in adaptive mode by tier, SFT and {label}",
                                 out / f"{FORMAT_PLOT}.png", xlabel="tier")
    return {ACCURACY_PLOT: f"{ACCURACY_PLOT}.png", FORMAT_PLOT: f"{FORMAT_PLOT}.png"}


def _l1_markdown(l1_length: dict[str, dict]) -> str:
    """L1's rows: how far the outputs land from each budget asked for (nothing without an L1 baseline)."""
    if not l1_length:
        return ""
    lines = ["L1's budgets: each output's length against the budget in its prompt (all tiers).\n",
             "| model | budget | mean output tokens | length error (mean - N) / N | mean absolute error | over budget |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {name} | {st['budget']} | {st['mean_tokens']:.1f} | {st['length_error']:+.2f} | "
              f"{st['mean_abs_error']:.1f} ({st['mean_abs_error_rel']:.2f} N) | {st['over_budget_rate']:.2f} |"
              for name, st in l1_length.items()]
    return "\n".join(lines) + "\n\n"


def _plots_markdown(files: dict[str, str], label: str) -> str:
    return (
        f"![accuracy against mean output tokens]({files[ACCURACY_PLOT]})\n\n"
        "Accuracy against mean output tokens, the whole test set and each tier (easy: 1-2 digits, medium: 3-6 "
        "digits, hard: 2-4 digit pairs), greedy; up and to the left is better, the star is the format oracle. "
        f"Numbers: `{ACCURACY_PLOT}.json`.\n\n"
        f"![format share by tier]({files[FORMAT_PLOT]})\n\n"
        f"The format each model picks in adaptive mode, as a share of each tier's test problems, after SFT (left) "
        f"and after {label} (right); the black line is the accuracy. Numbers: `{FORMAT_PLOT}.json`.\n\n"
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


def build_demo_sft(out: Path, seed: int, from_scratch: bool = False, sft_overrides: list[str] | None = None,
                   n_train: int = 4000, n_test_per_difficulty: int = 30) -> Path:
    """Stages 1-3: the toy data of ``seed`` in ARM's layout (``OUT/data``) and the multi-format SFT model
    (``OUT/sft``), each reused when a finished run of the same inputs is there. Returns the SFT model's folder."""
    world = ToyWorld(seed=seed)
    data_dir = out / "data"
    data_spec = {"n_train": n_train, "n_test_per_difficulty": n_test_per_difficulty, "seed": seed,
                 "weights": ARM_WEIGHTS, "all_formats": True}
    if not reuse_finished_run(data_dir, data_spec, finished_file="sft.jsonl"):
        build_toy_dataset(data_dir, n_train=n_train, n_test_per_difficulty=n_test_per_difficulty, world=world,
                          weights=ARM_WEIGHTS, all_formats=True)
        record_finished_run(data_dir, data_spec)
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
        argv = ["--config", str(recipe_path("toy/sft.yaml")), "--seed", str(seed), *(sft_overrides or []),
                "--model_name_or_path", str(base), "--dataset_name", str(data_dir / "sft.jsonl"),
                "--output_dir", str(sft_dir)]
        run_sft(*parse_recipe((DataArguments, ThriftySFTConfig, ModelConfig), argv))
        record_recipe_copy(Path(argv[1]), argv[2:], ["thrifty", "demo", "--out", str(out)])  # once it succeeded
        record_finished_run(sft_dir, sft_spec)
    return sft_dir


def run_demo(out: str | Path = "runs/demo", from_scratch: bool = False, sft_overrides: list[str] | None = None,
             grpo_overrides: list[str] | None = None, n_train: int = 4000, n_test_per_difficulty: int = 30,
             seed: int = 0, max_new_tokens: int = 384, method: str = RECOMMENDED,
             baselines: tuple[str, ...] = ()) -> Path:
    """Run the demo into ``out``; returns the path of the Markdown report. ``method``: the GRPO method of
    :data:`DEMO_METHODS` to train (default :data:`RECOMMENDED`); ``baselines``: other methods of it also trained,
    from the same SFT model, seed and overrides, and compared (e.g. ``("plain",)``)."""
    refuse_owned_overrides(sft_overrides, "SFT recipe overrides")
    refuse_owned_overrides(grpo_overrides, "GRPO recipe overrides")
    unknown = [m for m in (method, *baselines) if m not in DEMO_METHODS]
    if unknown:
        raise UserInputError(f"thrifty demo: unknown method {unknown[0]!r}; expected one of {', '.join(DEMO_METHODS)}")
    out = Path(out)
    invoked_as = ["thrifty", "demo", "--out", str(out)]
    timings: dict[str, float] = {}

    t = time.perf_counter()
    sft_dir = build_demo_sft(out, seed, from_scratch, sft_overrides, n_train, n_test_per_difficulty)
    timings["sft_s"] = time.perf_counter() - t

    t = time.perf_counter()
    label = DEMO_METHODS[method].label
    grpo_dir = out / "grpo"
    train_grpo_stage(DEMO_METHODS[method].recipe, sft_dir, grpo_dir, seed, grpo_overrides, invoked_as)
    for name in baselines:
        train_grpo_stage(DEMO_METHODS[name].recipe, sft_dir, out / f"grpo_{name}", seed, grpo_overrides, invoked_as)
    timings["grpo_s"] = time.perf_counter() - t

    t = time.perf_counter()
    sft_summary = evaluate_toy_model(sft_dir, sft_dir / "eval", n_test_per_difficulty, seed, max_new_tokens)
    grpo_summary = evaluate_toy_model(grpo_dir, grpo_dir / "eval", n_test_per_difficulty, seed, max_new_tokens)
    baseline_summaries = {
        name: evaluate_toy_model(out / f"grpo_{name}", out / f"grpo_{name}" / "eval", n_test_per_difficulty, seed,
                                 max_new_tokens, DEMO_METHODS[name].eval_modes)
        for name in baselines}
    # L1's budget prompts are new to the SFT model: its answers to them are L1's starting point (a reference row)
    budget_modes = tuple(dict.fromkeys(mode for name in baselines for mode in DEMO_METHODS[name].eval_modes
                                       if l1_mode_budget(mode) is not None))
    sft_budget_summary = (evaluate_toy_model(sft_dir, sft_dir / SFT_BUDGET_EVAL, n_test_per_difficulty, seed,
                                             max_new_tokens, budget_modes) if budget_modes else {})
    timings["eval_s"] = time.perf_counter() - t

    oracle = summarize_toy(format_oracle_rows(load_run(sft_dir / "eval")[1]))
    rows = {label: tier_cells(grpo_summary, ADAPTIVE), FORCED_LONG_LABEL: tier_cells(sft_summary, "long_cot"),
            **{_row_label(DEMO_METHODS[name], mode): tier_cells(summary, mode)
               for name, summary in baseline_summaries.items() for mode in DEMO_METHODS[name].eval_modes},
            ORACLE_LABEL: tier_cells(oracle, FORMAT_ORACLE), SFT_LABEL: tier_cells(sft_summary, ADAPTIVE),
            **{f"{SFT_LABEL} ({mode})": tier_cells(sft_budget_summary, mode) for mode in budget_modes}}
    l1_length = {**{_row_label(DEMO_METHODS[name], mode): _l1_stats(out / f"grpo_{name}" / "eval", mode)
                    for name in baselines for mode in DEMO_METHODS[name].eval_modes if mode in budget_modes},
                 **{f"{SFT_LABEL} ({mode})": _l1_stats(sft_dir / SFT_BUDGET_EVAL, mode) for mode in budget_modes}}
    bars_by_model = {name: demo_bars(rows[name], rows[FORCED_LONG_LABEL])
                     for name in (label, *(_row_label(DEMO_METHODS[n], ADAPTIVE) for n in baselines
                                           if ADAPTIVE in DEMO_METHODS[n].eval_modes))}
    bars = bars_by_model[label]
    n_problems = sft_summary[ADAPTIVE]["all"]["n"]
    first = headline(label, rows, n_problems)
    plots = write_demo_plots(out, rows, label)
    tiers = tier_bar(sft_summary)
    report = {"headline": first, "method": method, "label": label, "baselines": list(baselines), "seed": seed,
              "base_model": str(TOY_BASE_DIR if not from_scratch else out / "init"), "from_scratch": from_scratch,
              "n_test_problems": n_problems, "timings": timings, "comparison": rows, "l1_length": l1_length,
              "demo_bars": bars, "demo_bars_by_model": bars_by_model,
              "demo_bars_pass": all(bars.values()), "bar": tiers, "plots": plots, "summary": sft_summary,
              "grpo_summary": grpo_summary}
    write_json(out / "report.json", report)
    md = (
        f"# thrifty demo: long-CoT accuracy at a fraction of its tokens ({label}, seed {seed})\n\n"
        + first + "\n\n"
        "The SFT model learnt four formats (direct answer, short CoT, code, long CoT) on every training problem; "
        f"{label} then taught it to choose one per problem. Forced to long CoT, the same SFT model behaves like a "
        "plain reasoning model; the format oracle picks, per problem, the cheapest format the SFT model gets right: the "
        "best a format choice can do with the SFT model's skills (RL also shortens the formats themselves, so a "
        "trained model can go below it).\n\n"
        "## The comparison, by tier\n\n" + comparison_table(rows, FORCED_LONG_LABEL) + "\n"
        + _l1_markdown(l1_length)
        + _plots_markdown(plots, label)
        + "## The demo's bars\n\n" + "".join(f"- {name}: {'holds' if ok else 'fails'}\n" for name, ok in bars.items())
        + "\n## After multi-format SFT (`sft/`)\n\n" + _demoted(toy_markdown(sft_summary))
        + f"\n## After {label} (`grpo/`)\n\n" + _demoted(toy_markdown(grpo_summary))
        + "\n## The toy world's tier bars (SFT model, instruction-guided, greedy)\n\n"
        + "".join(f"- {k}: {'holds' if ok else 'fails'}\n" for k, ok in tiers["checks"].items())
        + "\nEach model's `eval/` folder holds the samples, summary, report and plots of `thrifty eval`; "
        "`thrifty publish OUT/grpo --dry-run` builds its model card.\n"
        + "\nStage times (s): " + ", ".join(f"{k[:-2]} {v:.0f}" for k, v in timings.items()) + "\n"
    )
    report_path = out / "report.md"
    write_text(report_path, md)
    logger.info("demo report: %s", report_path)
    return report_path
