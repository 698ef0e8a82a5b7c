"""Markdown reports and plots of eval runs: one run (``thrifty eval``) or several side by side (``thrifty report``).

Per benchmark and mode a report gives accuracy (pass@1), pass@k and maj@k, mean/median output tokens, tokens
per correct answer, truncation rate and format mix; multi-turn runs add the turn distribution and accuracy /
tokens after turn k; consensus runs the fallback rate; the toy world accuracy, tokens and format mix by
difficulty.

The comparison (``thrifty report``) gives, per benchmark: every run and mode side by side; one plot of accuracy
against mean output tokens with every (run, mode) as a point and the Pareto front marked
(:func:`thrifty.eval.plots.pareto_front`: the points no other point beats on both accuracy and tokens); and a
table of deltas against the first run on the same mode: accuracy (points), mean output tokens and tokens per
correct answer (absolute and relative).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

from thrifty.jsonl import write_json, write_text

from .plots import (
    pareto_front,
    plot_accuracy_vs_tokens,
    plot_format_mix_by_difficulty,
    plot_pareto,
    plot_token_histograms,
)
from .run_folder import REPORT_FILE, load_run

logger = logging.getLogger(__name__)


def _f(value, fmt: str = "{:.3f}") -> str:
    return "-" if value is None else fmt.format(value)


def _mix(mix: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0%}" for k, v in sorted(mix.items(), key=lambda kv: -kv[1]))


def _group_table(results: dict[str, dict]) -> list[str]:
    ks = sorted({int(k) for s in results.values() for k in s.get("maj_at_k", {})})
    extra = [k for k in ks if k > 1]
    head = ("| mode | problems | samples | accuracy | " + "".join(f"pass@{k} | maj@{k} | " for k in extra)
            + "mean tokens | median tokens | tokens/correct | truncated | formats |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for mode, s in results.items():
        cells = [mode, str(s["n_problems"]), str(s["n_samples"]), _f(s["accuracy"])]
        for k in extra:
            cells += [_f(s["pass_at_k"].get(str(k))), _f(s["maj_at_k"].get(str(k)))]
        cells += [_f(s["mean_tokens"], "{:.1f}"), _f(s["median_tokens"], "{:.1f}"),
                  _f(s["tokens_per_correct"], "{:.1f}"), _f(s.get("truncated_rate"), "{:.0%}"), _mix(s["format_mix"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _details(mode: str, s: dict) -> list[str]:
    out = []
    if "consensus_fallback_rate" in s:
        out.append(f"- `{mode}`: long-CoT fallback rate {s['consensus_fallback_rate']:.1%} "
                   "(tokens count every completion generated for a sample)")
    if s.get("nothinking_rate"):  # AdaptThink's NoThinking share (completions opening with </think>)
        levels = "".join(f", {lvl}: {d['nothinking_rate']:.0%}" for lvl, d in sorted(
            (s.get("by_difficulty") or {}).items(), key=lambda kv: (len(kv[0]), kv[0])) if "nothinking_rate" in d)
        out.append(f"- `{mode}`: NoThinking rate {s['nothinking_rate']:.1%}"
                   + (f" (by difficulty{levels})" if levels else ""))
    if "l1" in s:  # L1's budget modes
        st = s["l1"]
        out.append(f"- `{mode}`: budget {abs(st['budget'])} tokens ({st['mode']}): mean {st['mean_tokens']:.1f}, "
                   f"length error {st['length_error']:+.2f}, mean absolute error {st['mean_abs_error']:.1f} "
                   f"({st['mean_abs_error_rel']:.2f} of the budget), over budget {st['over_budget_rate']:.0%}")
    if s.get("turn_mix"):
        out.append(f"- `{mode}`: mean turns {s['mean_turns']:.2f}; turns: "
                   + ", ".join(f"{k}: {v:.0%}" for k, v in s["turn_mix"].items()))
        if s.get("after_turn"):
            n = s["after_turn"][0].get("n")
            over = f"all {n} samples of the mode" if n is not None else "the multi-turn samples only"
            out.append(f"\nStopping after turn k, over {over} (a sample with fewer turns keeps its final answer):\n"
                       "\n| stop after turn k | accuracy | mean tokens | samples with >= k turns |\n"
                       "|---|---|---|---|")
            for t in s["after_turn"]:
                out.append(f"| {t['k']} | {t['accuracy']:.3f} | {_f(t['mean_tokens'], '{:.1f}')} | "
                           f"{t['reached']:.0%} |")
    if s.get("by_difficulty"):
        out.append(f"\n`{mode}` by difficulty:\n\n| difficulty | n | accuracy | mean tokens | formats |\n"
                   "|---|---|---|---|---|")
        for level, d in sorted(s["by_difficulty"].items(), key=lambda kv: (len(kv[0]), kv[0])):
            out.append(f"| {level} | {d['n_samples']} | {d['accuracy']:.3f} | {_f(d['mean_tokens'], '{:.1f}')} | "
                       f"{_mix(d['format_mix'])} |")
    return out


def run_markdown(summary: dict, plot_files: list[str] | None = None) -> str:
    """The Markdown report of one run's ``summary.json``."""
    lines = [f"# Eval: {summary['run']}", "", f"Model: `{summary['model']}`", ""]
    cfg = summary.get("config", {})
    if cfg:
        lines += [f"Decoding: temperature {cfg.get('temperature')}, top_p {cfg.get('top_p')}, "
                  f"max_new_tokens {cfg.get('max_new_tokens')}, {cfg.get('num_samples')} sample(s) per problem, "
                  f"seed {cfg.get('seed')}, backend {cfg.get('backend')}. Output tokens are counted per sample "
                  "with the model's tokenizer; accuracy is pass@1 (unbiased, averaged over problems).", ""]
    for bench, results in summary["results"].items():
        lines += [f"## {bench}", "", *_group_table(results), ""]
        for mode, s in results.items():
            block = _details(mode, s)
            if block:
                lines += ["\n".join(block), ""]
    for name in plot_files or []:
        lines += [f"![{Path(name).stem}]({name})", ""]
    extraction = summary.get("extraction")
    if extraction:
        used = ", ".join(f"{k}: {v}" for k, v in extraction.get("used", {}).items())
        lines.append(f"Answer extraction: `{extraction.get('policy')}`" + (f" ({used})." if used else "."))
    checks = summary.get("answer_check")
    if checks:
        lines.append("Answer checks: " + ", ".join(f"{k} {v}" for k, v in checks.items()) + ".")
    return "\n".join(lines) + "\n"


def _points(label: str, summary: dict, with_mode: bool = True) -> tuple[list[dict], list[dict]]:
    points, curves = [], []
    for bench, results in summary["results"].items():
        for mode, s in results.items():
            name = f"{label}/{mode}" if with_mode else label
            points.append({"benchmark": bench, "label": name, "mean_tokens": s["mean_tokens"], "accuracy": s["accuracy"]})
            after = [t for t in s.get("after_turn", []) if t["mean_tokens"] is not None]
            if len(after) > 1:
                curves.append({"benchmark": bench, "label": name, "tokens": [t["mean_tokens"] for t in after],
                               "accuracy": [t["accuracy"] for t in after]})
    return points, curves


def _plots(out: Path, labelled: list[tuple[str, dict, list[dict]]]) -> list[str]:
    """Write every plot for runs ``(label, summary, rows)``; returns paths relative to ``out``."""
    files = []
    points, curves = [], []
    for label, summary, _ in labelled:
        p, c = _points(label, summary)
        points += p
        curves += c
    if points:
        files.append(plot_accuracy_vs_tokens(points, out / "plots" / "accuracy_vs_tokens.png", curves))
    series: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for label, _, rows in labelled:
        for r in rows:
            if r.get("num_tokens") is not None:
                series[r["benchmark"]].setdefault(f"{label}/{r['mode']}", []).append(r["num_tokens"])
    for bench, by_label in sorted(series.items()):
        files.append(plot_token_histograms(by_label, f"{bench}: output tokens", out / "plots" / f"tokens_{bench}.png"))
    for label, summary, _ in labelled:
        for bench, results in summary["results"].items():
            for mode, s in results.items():
                if s.get("by_difficulty"):
                    name = f"format_mix_{bench}_{mode}" + (f"_{label}" if len(labelled) > 1 else "")
                    files.append(plot_format_mix_by_difficulty(
                        s["by_difficulty"], f"{label}: {bench} / {mode}, formats by difficulty",
                        out / "plots" / f"{_safe(name)}.png"))
    return [str(Path(f).relative_to(out)) for f in files]


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


def write_run_report(out: str | Path, summary: dict, rows: list[dict], plots: bool = True) -> Path:
    """Write ``report.md`` (and ``plots/``) of one run into ``out``; returns the report path."""
    out = Path(out)
    files = _plots(out, [(summary["run"], summary, rows)]) if plots else []
    path = out / REPORT_FILE
    write_text(path, run_markdown(summary, files))
    return path


def benchmark_points(labelled: list[tuple[str, dict]], bench: str) -> list[dict]:
    """Every (run, mode) of one benchmark as ``run, mode, accuracy, mean_tokens`` (the comparison plot's points)."""
    return [{"run": label, "mode": mode, "accuracy": g["accuracy"], "mean_tokens": g["mean_tokens"]}
            for label, s in labelled for mode, g in s["results"].get(bench, {}).items()]


def _delta(value, base) -> dict | None:
    if value is None or base is None:
        return None
    return {"abs": value - base, "rel": (value / base - 1) if base else None}


def comparison_deltas(labelled: list[tuple[str, dict]]) -> list[dict]:
    """Each later run against the first run, per benchmark and mode both have: accuracy, mean output tokens and
    tokens per correct answer, as ``{"abs": x - first, "rel": x / first - 1}`` (None where a value is missing)."""
    if not labelled:
        return []
    first_label, first = labelled[0]
    out = []
    for label, s in labelled[1:]:
        for bench, by_mode in s["results"].items():
            for mode, g in by_mode.items():
                base = first["results"].get(bench, {}).get(mode)
                if base is None:
                    continue
                out.append({"benchmark": bench, "mode": mode, "run": label, "against": first_label,
                            **{key: _delta(g.get(key), base.get(key))
                               for key in ("accuracy", "mean_tokens", "tokens_per_correct")}})
    return out


def _fmt_delta(d: dict | None, points: bool = False) -> str:
    if d is None:
        return "-"
    if points:
        return f"{100 * d['abs']:+.1f} pts"
    rel = f" ({d['rel']:+.1%})" if d["rel"] is not None else ""
    return f"{d['abs']:+.1f}{rel}"


def deltas_markdown(deltas: list[dict], bench: str, first_label: str) -> list[str]:
    rows = [d for d in deltas if d["benchmark"] == bench]
    if not rows:
        return []
    lines = [f"Deltas against `{first_label}` (same mode):", "",
             "| run | mode | accuracy | mean tokens | tokens/correct |", "|---|---|---|---|---|"]
    for d in rows:
        lines.append(f"| {d['run']} | {d['mode']} | {_fmt_delta(d['accuracy'], points=True)} | "
                     f"{_fmt_delta(d['mean_tokens'])} | {_fmt_delta(d['tokens_per_correct'])} |")
    return lines + [""]


#: Settings that must match for two runs' numbers to sit on one Pareto front.
COMPARED_SETTINGS = ("temperature", "top_p", "max_new_tokens", "num_samples", "system_prompt", "prompt_template",
                     "chat_template_path", "extraction")


def comparability_warnings(labelled: list[tuple[str, dict, list[dict]]]) -> list[str]:
    """Why the runs' numbers may not compare: per benchmark, runs evaluated on other problems than the first run
    (by the problem ids of their samples), and decoding/prompt/extraction settings that differ (each logged)."""
    warnings = []
    first_label, first, first_rows = labelled[0]
    first_ids = _problem_ids(first_rows)
    for label, summary, rows in labelled[1:]:
        ids = _problem_ids(rows)
        for bench in summary["results"]:
            if bench in first_ids and bench in ids and ids[bench] != first_ids[bench]:
                warnings.append(f"{bench}: `{label}` was evaluated on {len(ids[bench])} problems and `{first_label}` "
                                f"on {len(first_ids[bench])}, {len(ids[bench] & first_ids[bench])} of them shared: "
                                "the accuracies are not over the same problems")
        cfg, cfg0 = summary.get("config") or {}, first.get("config") or {}
        differ = [k for k in COMPARED_SETTINGS if k in cfg and k in cfg0 and cfg[k] != cfg0[k]]
        if differ:
            warnings.append(f"`{label}` and `{first_label}` differ in " + ", ".join(
                f"{k} ({cfg0[k]!r} vs {cfg[k]!r})" for k in differ) + ": their points are not like for like")
    for text in warnings:
        logger.warning("report: %s", text)
    return warnings


def _problem_ids(rows: list[dict]) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        ids[r["benchmark"]].add(str(r["problem_id"]))
    return ids


def compare_markdown(labelled: list[tuple[str, dict]], plot_files: list[str] | None = None,
                     pareto_files: dict[str, str] | None = None, warnings: list[str] | None = None) -> str:
    """Runs side by side: per benchmark, one row per (run, mode), tokens compared with the first run;
    ``warnings`` (:func:`comparability_warnings`) are listed first."""
    lines = ["# Eval comparison", "", "Runs: " + ", ".join(f"`{label}` ({s['model']})" for label, s in labelled), "",
             "Token change is against the first run on the same benchmark and mode.", ""]
    if warnings:
        lines += ["**Warning: these runs do not compare like for like.**", "", *(f"- {w}" for w in warnings), ""]
    lines += ["Answer extraction: " + ", ".join(  # thrifty.eval.scoring: math_verify, strict or auto
        f"`{label}` {s.get('extraction', {}).get('policy', 'strict (before extraction policies)')}"
        for label, s in labelled) + ".", ""]
    benchmarks = list(dict.fromkeys(b for _, s in labelled for b in s["results"]))
    for bench in benchmarks:
        lines += [f"## {bench}", "", "| run | mode | problems | accuracy | maj@n | mean tokens | token change | "
                  "tokens/correct | formats |", "|---|---|---|---|---|---|---|---|---|"]
        modes = list(dict.fromkeys(m for _, s in labelled for m in s["results"].get(bench, {})))
        for mode in modes:
            base = None
            for label, s in labelled:
                g = s["results"].get(bench, {}).get(mode)
                if g is None:
                    continue
                if base is None:
                    base = g["mean_tokens"]
                change = (f"{g['mean_tokens'] / base - 1:+.1%}" if base and g["mean_tokens"] is not None else "-")
                maj = g["maj_at_k"].get(str(g["samples_per_problem"])) if g.get("maj_at_k") else None
                lines.append(f"| {label} | {mode} | {g['n_problems']} | {_f(g['accuracy'])} | {_f(maj)} | "
                             f"{_f(g['mean_tokens'], '{:.1f}')} | {change} | {_f(g['tokens_per_correct'], '{:.1f}')} | "
                             f"{_mix(g['format_mix'])} |")
        lines.append("")
        front = pareto_front(benchmark_points(labelled, bench))
        if front:
            lines += ["Pareto front (no other run/mode is both more accurate and cheaper): "
                      + ", ".join(f"`{p['run']}/{p['mode']}` ({p['accuracy']:.3f}, {p['mean_tokens']:.1f} tokens)"
                                  for p in front) + ".", ""]
        lines += deltas_markdown(comparison_deltas(labelled), bench, labelled[0][0])
        if pareto_files and bench in pareto_files:
            lines += [f"![{bench}: accuracy against tokens]({pareto_files[bench]})", ""]
    for name in plot_files or []:
        lines += [f"![{Path(name).stem}]({name})", ""]
    return "\n".join(lines) + "\n"


def write_comparison(run_dirs: list[str | Path], out: str | Path, names: list[str] | None = None,
                     plots: bool = True) -> Path:
    """``thrifty report``: compare run folders of ``thrifty eval``; writes ``report.md``, ``comparison.json``
    and ``plots/`` into ``out`` and returns the report path."""
    if names and len(names) != len(run_dirs):
        raise ValueError(f"{len(names)} names for {len(run_dirs)} runs")
    out = Path(out)
    labelled = []
    for i, run_dir in enumerate(run_dirs):
        summary, rows = load_run(run_dir)
        label = names[i] if names else summary.get("run") or Path(run_dir).name
        labelled.append((label, summary, rows))
    seen: dict[str, int] = {}
    for i, (label, summary, rows) in enumerate(labelled):  # make labels unique
        if label in seen:
            labelled[i] = (f"{label}#{i + 1}", summary, rows)
        seen[label] = i
    pairs = [(label, s) for label, s, _ in labelled]
    files = _plots(out, labelled) if plots else []
    benchmarks = list(dict.fromkeys(b for _, s in pairs for b in s["results"]))
    pareto_files = {bench: str(plot_pareto(benchmark_points(pairs, bench), bench,
                                           out / "plots" / f"pareto_{_safe(bench)}.png").relative_to(out))
                    for bench in benchmarks} if plots else {}
    warnings = comparability_warnings(labelled)
    write_json(out / "comparison.json", {
        "runs": {label: s for label, s in pairs},
        "warnings": warnings,
        "pareto_front": {bench: pareto_front(benchmark_points(pairs, bench)) for bench in benchmarks},
        "deltas": comparison_deltas(pairs),
    })
    path = out / "report.md"
    write_text(path, compare_markdown(pairs, [f for f in files if f not in pareto_files.values()], pareto_files,
                                      warnings))
    logger.info("comparison of %d runs written to %s", len(labelled), path)
    return path
