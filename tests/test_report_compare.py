"""``thrifty report RUN_DIR...`` on two real toy eval runs: one Pareto plot per benchmark, the front named in the
report, and a table of deltas against the first run whose numbers come from the runs' own summaries."""

from __future__ import annotations

import json

import pytest

from thrifty.eval.plots import pareto_front


def test_pareto_front_is_exactly_the_undominated_points():
    pts = [{"run": "a", "mode": "m", "mean_tokens": t, "accuracy": a}
           for t, a in [(10, 0.5), (20, 0.5), (20, 0.9), (5, 0.1), (30, 0.9), (40, 1.0), (8, 0.05)]]
    front = pareto_front(pts)
    assert [(p["mean_tokens"], p["accuracy"]) for p in front] == [(5, 0.1), (10, 0.5), (20, 0.9), (40, 1.0)]
    assert pareto_front([{"mean_tokens": None, "accuracy": 1.0}]) == []


def test_report_compares_two_toy_runs(toy_eval_runs, tmp_path, capsys):
    from thrifty.cli import main

    out = tmp_path / "cmp"
    assert main(["report", *map(str, toy_eval_runs), "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    first, second = (json.loads((r / "summary.json").read_text()) for r in toy_eval_runs)

    # one accuracy-against-tokens plot per benchmark, shown in the report
    png = out / "plots" / "pareto_toy.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "![toy: accuracy against tokens](plots/pareto_toy.png)" in report

    # the Pareto front: every front point undominated, every other point dominated by one on the front
    points = [{"run": run["run"], "mode": mode, "accuracy": g["accuracy"], "mean_tokens": g["mean_tokens"]}
              for run in (first, second) for mode, g in run["results"]["toy"].items()]
    comparison = json.loads((out / "comparison.json").read_text())
    front = comparison["pareto_front"]["toy"]
    assert front and all(p in points for p in front)
    for p in points:
        beats = [q for q in points if q["mean_tokens"] <= p["mean_tokens"] and q["accuracy"] >= p["accuracy"]
                 and (q["mean_tokens"] < p["mean_tokens"] or q["accuracy"] > p["accuracy"])]
        assert (p in front) == (not beats), p
        assert f"`{p['run']}/{p['mode']}`" in report.split("Pareto front", 1)[1].split("\n")[0] or p not in front

    # the deltas table: each mode both runs have, numbers recomputed here from the two summaries
    assert "Deltas against `toy_base` (same mode):" in report
    for mode in ("adaptive", "short_cot"):
        a, b = first["results"]["toy"][mode], second["results"]["toy"][mode]
        acc = f"{100 * (b['accuracy'] - a['accuracy']):+.1f} pts"
        tokens = f"{b['mean_tokens'] - a['mean_tokens']:+.1f} ({b['mean_tokens'] / a['mean_tokens'] - 1:+.1%})"
        assert f"| untrained | {mode} | {acc} | {tokens} | " in report, (mode, acc, tokens)
        if a["tokens_per_correct"] is not None and b["tokens_per_correct"] is None:
            assert f"| untrained | {mode} | {acc} | {tokens} | - |" in report
    assert "| untrained | direct |" not in report.split("Deltas against", 1)[1]  # the first run has it, not this one
    deltas = {d["mode"]: d for d in comparison["deltas"]}
    assert set(deltas) == {"adaptive", "short_cot"}
    assert deltas["adaptive"]["accuracy"]["abs"] == pytest.approx(
        second["results"]["toy"]["adaptive"]["accuracy"] - first["results"]["toy"]["adaptive"]["accuracy"])


def test_report_warns_when_runs_differ_in_problems_or_decoding(toy_eval_runs, tiny_model_dir, tmp_path, caplog):
    """audit_eval #12: runs over other problems or with other decoding on one Pareto front are flagged."""
    import logging

    from thrifty.eval.report import write_comparison
    from thrifty.eval.runner import EvalConfig, run_eval

    like = write_comparison(toy_eval_runs, tmp_path / "like", plots=False).read_text()
    assert "like for like" not in like  # same problems, same decoding: no warning
    other = run_eval(EvalConfig(model_name_or_path=str(tiny_model_dir), output_dir=str(tmp_path / "partial"),
                                run_name="partial", benchmarks=["toy"], modes=["adaptive"], toy_per_difficulty=2,
                                limit=5, max_new_tokens=24, batch_size=64, chunk_size=64, plots=False))
    caplog.set_level(logging.WARNING, logger="thrifty.eval")
    report = write_comparison([toy_eval_runs[0], other], tmp_path / "cmp", plots=False).read_text()
    assert "do not compare like for like" in report
    assert "toy: `partial` was evaluated on 5 problems and `toy_base` on 18, 5 of them shared" in report
    assert "max_new_tokens (48 vs 24)" in report
    warnings = json.loads((tmp_path / "cmp" / "comparison.json").read_text())["warnings"]
    assert len(warnings) == 2 and all(any(w in m for m in caplog.messages) for w in warnings)
