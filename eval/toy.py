"""Evaluation on the toy world: accuracy and output tokens by inference mode and difficulty.

Modes: ``adaptive`` (the model picks its format), one instruction-guided mode per ARM format (the assistant
turn pre-filled with the format's opening tag, ARM section 3.3), and ``multiturn`` (pre-filled with
``<think>``, MinD). A completion is correct when its final answer (:func:`thrifty.formats.extract_final_answer`)
verifies against the gold answer with the shared answer checker (toy answers are single digits). The toy world
is also the registered benchmark ``toy`` of ``thrifty eval`` (:mod:`thrifty.eval.runner`), which adds resume,
n samples, consensus mode and plots; this module is the light path used by ``thrifty demo``.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence

from thrifty.answer_check import AnswerChecker
from thrifty.benchmarks import Problem
from thrifty.formats import ARM_FORMATS
from thrifty.toy_world import MULTITURN, ToyProblem

from .generation import SamplingParams, TransformersGenerator, render_prompt
from .modes import ADAPTIVE, mode_prefill
from .scoring import score_completions

logger = logging.getLogger(__name__)

TOY_MODES: tuple[str, ...] = (ADAPTIVE, *ARM_FORMATS, MULTITURN)
__all__ = ["TOY_MODES", "ADAPTIVE", "mode_prefill", "generate_toy", "summarize_toy", "toy_markdown",
           "mode_points", "by_difficulty", "by_tier", "tier_bar", "TIER_BARS", "FORMAT_ORACLE", "format_oracle_rows",
           "tier_cells"]


def generate_toy(generator: TransformersGenerator, problems: Sequence[ToyProblem], modes: Sequence[str],
                 params: SamplingParams, checker: AnswerChecker | None = None) -> list[dict]:
    """Generate and score every (problem, mode); returns one row per sample.

    Scoring uses :func:`thrifty.eval.scoring.score_completions` (the shared answer checker; toy answers are
    single digits, so this is an integer comparison).
    """
    jobs = [(p, m) for m in modes for p in problems]
    prompts, prefills = [], []
    for p, m in jobs:
        prefill = mode_prefill(m)
        prompts.append(render_prompt(generator.tokenizer, [{"role": "user", "content": p.question}], prefill))
        prefills.append(prefill)
    generations = generator.generate(prompts, params, prefills, desc="toy eval")
    flat = [(p, m, s, g) for (p, m), gens in zip(jobs, generations, strict=True) for s, g in enumerate(gens)]
    own_checker = checker is None
    checker = checker or AnswerChecker()
    try:
        scores = score_completions(
            [g.text for *_, g in flat],
            [Problem(id=p.id, problem=p.question, answer=p.answer, kind="number") for p, *_ in flat],
            checker,
        )
    finally:
        if own_checker:
            checker.close()
    rows = []
    for (p, m, s, g), sc in zip(flat, scores, strict=True):
        rows.append({
            "id": f"{p.id}/{m}/{s}",
            "problem_id": p.id,
            "mode": m,
            "difficulty": p.difficulty,
            "answer": p.answer,
            "prediction": sc["prediction"],
            "correct": sc["correct"],
            "format": MULTITURN if m == MULTITURN else sc["format"],
            "turns": sc["turns"] if m == MULTITURN else None,
            "num_tokens": g.num_tokens,
            "finish_reason": g.finish_reason,
            "completion": g.text,
        })
    return rows


def summarize_toy(rows: list[dict]) -> dict:
    """Accuracy, mean/median tokens and format mix by mode and difficulty (plus an ``all`` row per mode)."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["mode"], str(r["difficulty"]))].append(r)
        groups[(r["mode"], "all")].append(r)
    summary: dict[str, dict] = defaultdict(dict)
    for (mode, level), rs in sorted(groups.items()):
        tokens = [r["num_tokens"] for r in rs]
        correct = sum(r["correct"] for r in rs)
        summary[mode][level] = {
            "n": len(rs),
            "accuracy": correct / len(rs),
            "mean_tokens": statistics.fmean(tokens),
            "median_tokens": statistics.median(tokens),
            "tokens_per_correct": sum(tokens) / correct if correct else None,
            "format_mix": {k: v / len(rs) for k, v in sorted(Counter(r["format"] for r in rs).items())},
        }
    return dict(summary)


def mode_points(summaries: dict[str, dict]) -> list[dict]:
    """One point per (model, mode) of toy summaries ``{label: summarize_toy(...)}``: ``run, mode, accuracy,
    mean_tokens`` over all difficulties (the points of :func:`thrifty.eval.plots.plot_pareto`)."""
    return [{"run": label, "mode": mode, "accuracy": s[mode]["all"]["accuracy"],
             "mean_tokens": s[mode]["all"]["mean_tokens"], "n": s[mode]["all"]["n"]}
            for label, s in summaries.items() for mode in [m for m in TOY_MODES if m in s] + sorted(set(s) - set(TOY_MODES))]


def by_difficulty(summary: dict, mode: str = ADAPTIVE) -> dict[str, dict]:
    """``level -> {n, accuracy, format_mix}`` of one mode, without the ``all`` row, levels in ascending order
    (the bars of :func:`thrifty.eval.plots.plot_format_mix_before_after`)."""
    levels = sorted((lvl for lvl in summary[mode] if lvl != "all"), key=int)
    return {lvl: {key: summary[mode][lvl][key] for key in ("n", "accuracy", "format_mix")} for lvl in levels}


#: The toy world's tier bars (issue 17), on greedy instruction-guided accuracy pooled over each tier's levels.
TIER_BARS: dict[str, dict[str, tuple[str, float]]] = {
    "easy": {"direct": (">=", 0.9)},
    "medium": {"direct": ("<=", 0.3), "short_cot": (">=", 0.9)},
    "hard": {"short_cot": ("<=", 0.6), "long_cot": (">=", 0.9)},
}


def default_tiers() -> dict[str, list[int]]:
    """The shipped toy world's tiers: tier name -> difficulty levels."""
    from thrifty.toy_world import ToyWorld

    return dict(getattr(ToyWorld().task, "tiers", {}))


def by_tier(summary: dict, mode: str, tiers: dict[str, list[int]] | None = None) -> dict[str, dict]:
    """``tier -> {n, accuracy, mean_tokens, format_mix}`` of one mode, pooled over the tier's levels (weighted by
    their number of samples); tiers without samples are left out."""
    out = {}
    for tier, levels in (tiers if tiers is not None else default_tiers()).items():
        cells = [summary[mode][str(d)] for d in levels if str(d) in summary.get(mode, {})]
        n = sum(c["n"] for c in cells)
        if not n:
            continue
        mix: Counter = Counter()
        for c in cells:
            for fmt, share in c["format_mix"].items():
                mix[fmt] += share * c["n"] / n
        out[tier] = {"n": n, "accuracy": sum(c["accuracy"] * c["n"] for c in cells) / n,
                     "mean_tokens": sum(c["mean_tokens"] * c["n"] for c in cells) / n,
                     "format_mix": dict(sorted(mix.items()))}
    return out


def tier_bar(summary: dict, tiers: dict[str, list[int]] | None = None) -> dict:
    """The tier bars (:data:`TIER_BARS`) read off a summary with the instruction-guided modes: each tier's
    accuracy per format, each bar with whether it holds, and ``pass`` when all hold."""
    tiers = tiers if tiers is not None else default_tiers()
    result: dict = {"tiers": {}, "checks": {}, "pass": True}
    for tier, bars in TIER_BARS.items():
        result["tiers"][tier] = {fmt: by_tier(summary, fmt, tiers).get(tier, {}).get("accuracy")
                                 for fmt in ARM_FORMATS if fmt in summary}
        for fmt, (op, bound) in bars.items():
            value = result["tiers"][tier].get(fmt)
            ok = value is not None and (value >= bound if op == ">=" else value <= bound)
            result["checks"][f"{tier} {fmt} {op} {bound}"] = ok
            result["pass"] &= ok
    return result


def toy_markdown(summary: dict, title: str = "Toy world evaluation") -> str:
    """Markdown tables: accuracy and mean output tokens by mode x difficulty; adaptive format mix."""
    modes = [m for m in TOY_MODES if m in summary] + [m for m in summary if m not in TOY_MODES]
    levels = sorted({lvl for m in modes for lvl in summary[m] if lvl != "all"}, key=int)
    head = "| mode | " + " | ".join(f"k={lvl}" for lvl in levels) + " | all |\n"
    sep = "|---" * (len(levels) + 2) + "|\n"

    def table(metric: str, fmt: str) -> str:
        lines = head + sep
        for m in modes:
            cells = [fmt.format(summary[m][lvl][metric]) if lvl in summary[m] else "-" for lvl in [*levels, "all"]]
            lines += f"| {m} | " + " | ".join(cells) + " |\n"
        return lines

    out = [f"# {title}\n", "## Accuracy\n", table("accuracy", "{:.2f}"), "\n## Mean output tokens\n",
           table("mean_tokens", "{:.1f}")]
    if ADAPTIVE in summary:
        out.append("\n## Formats chosen in adaptive mode\n")
        out.append("| k | " + " | ".join(ARM_FORMATS) + " | unknown |\n" + "|---" * (len(ARM_FORMATS) + 2) + "|\n")
        for lvl in [*levels, "all"]:
            mix = summary[ADAPTIVE][lvl]["format_mix"]
            cells = [f"{mix.get(f, 0.0):.2f}" for f in (*ARM_FORMATS, "unknown")]
            out.append(f"| {lvl} | " + " | ".join(cells) + " |\n")
    return "".join(out)


#: The mode name of :func:`format_oracle_rows`' rows.
FORMAT_ORACLE = "format_oracle"


def format_oracle_rows(rows: list[dict]) -> list[dict]:
    """The format oracle of a model: per test problem, of its instruction-guided rows (ARM's pre-filled format tag,
    one per format in :data:`thrifty.formats.ARM_FORMATS`), the cheapest right one, or the long-CoT row when none
    is right. Returns one row per problem, a copy with ``mode`` :data:`FORMAT_ORACLE` and ``format`` the format
    picked, so :func:`summarize_toy` reads it like any mode.

    No format policy of that model is right more often, and none is cheaper at that accuracy: the bound an adaptive
    model's format choice is read against (the pre-filled tag is not counted, so the bound is if anything low).
    Problems without a long-CoT row and without a right row are left out."""
    by_problem: dict[str, dict[str, dict]] = defaultdict(dict)
    for r in rows:
        if r["mode"] in ARM_FORMATS:
            by_problem[r["problem_id"]][r["mode"]] = r
    picked = []
    for modes in by_problem.values():
        right = [modes[f] for f in ARM_FORMATS if f in modes and modes[f]["correct"]]
        pick = min(right, key=lambda r: r["num_tokens"]) if right else modes.get("long_cot")
        if pick is not None:
            picked.append({**pick, "mode": FORMAT_ORACLE, "format": pick["mode"]})
    return picked


def tier_cells(summary: dict, mode: str, tiers: dict[str, list[int]] | None = None) -> dict[str, dict]:
    """``all`` and each tier of one mode: ``n, accuracy, mean_tokens, format_mix`` (the rows of a comparison
    table and the panels of its plot)."""
    whole = summary[mode]["all"]
    return {"all": {key: whole[key] for key in ("n", "accuracy", "mean_tokens", "format_mix")},
            **by_tier(summary, mode, tiers)}
