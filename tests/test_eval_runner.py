"""`thrifty eval` end to end on the tiny model with the toy benchmark: outputs, resume, report, errors."""

from __future__ import annotations

import json
import logging

import pytest

from thrifty.eval.commands import cmd_eval, cmd_report
from thrifty.jsonl import read_jsonl
from thrifty.paths import recipe_path
from thrifty.recipes import RecipeError


def _argv(model, out, *extra):
    return ["--config", str(recipe_path("toy/eval.yaml")), "--model_name_or_path", str(model), "--output_dir", str(out),
            "--toy_per_difficulty", "1", "--max_new_tokens", "12", "--batch_size", "16", "--chunk_size", "4",
            "--modes", "adaptive", "multiturn", "consensus", *extra]


@pytest.fixture(scope="module")
def run_dir(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    assert cmd_eval(_argv(tiny_model_dir, out, "--num_samples", "2", "--temperature", "1.0")) == 0
    return out


def test_eval_writes_samples_summary_report_and_plots(run_dir):
    rows = read_jsonl(run_dir / "samples.jsonl")
    assert len(rows) == 9 * 3 * 2  # 9 difficulty levels x 3 modes x 2 samples
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(isinstance(r["num_tokens"], int) and 1 <= r["num_tokens"] for r in rows)
    consensus = [r for r in rows if r["mode"] == "consensus"]
    assert all(r["num_tokens"] >= 3 and "fallback" in r["consensus"] for r in consensus)
    assert all(r["completion"].startswith("<think>") for r in rows if r["mode"] == "multiturn")
    summary = json.loads((run_dir / "summary.json").read_text())
    toy = summary["results"]["toy"]
    assert set(toy) == {"adaptive", "multiturn", "consensus"}
    for stats in toy.values():
        assert stats["n_problems"] == 9 and stats["n_samples"] == 18 and 0.0 <= stats["accuracy"] <= 1.0
        assert set(stats["pass_at_k"]) == {"1", "2"} and set(stats["by_difficulty"]) == {str(k) for k in range(1, 10)}
    assert 0.0 <= toy["consensus"]["consensus_fallback_rate"] <= 1.0
    assert "turn_mix" in toy["multiturn"]
    report = (run_dir / "report.md").read_text()
    assert "## toy" in report and "fallback rate" in report
    for name in ("accuracy_vs_tokens.png", "tokens_toy.png", "format_mix_toy_adaptive.png"):
        assert (run_dir / "plots" / name).read_bytes()[:4] == b"\x89PNG"


def test_rerun_skips_finished_samples(run_dir, tiny_model_dir, caplog):
    before = (run_dir / "samples.jsonl").read_text()
    caplog.set_level(logging.INFO, logger="thrifty.eval")
    assert cmd_eval(_argv(tiny_model_dir, run_dir, "--num_samples", "2", "--temperature", "1.0")) == 0
    assert (run_dir / "samples.jsonl").read_text() == before
    assert sum("all 9 problems done" in m for m in caplog.messages) == 3

    # an interrupted run: drop the last 5 rows (and leave a torn line); only those are generated again
    lines = before.splitlines(keepends=True)
    (run_dir / "samples.jsonl").write_text("".join(lines[:-5]) + lines[-5][:10])
    assert cmd_eval(_argv(tiny_model_dir, run_dir, "--num_samples", "2", "--temperature", "1.0")) == 0
    after = (run_dir / "samples.jsonl").read_text().splitlines(keepends=True)
    assert after[:-5] == lines[:-5] and len(after) == len(lines)
    assert {json.loads(x)["id"] for x in after} == {json.loads(x)["id"] for x in lines}


def test_resume_with_other_settings_is_refused(run_dir, tiny_model_dir):
    with pytest.raises(RecipeError, match="temperature"):
        cmd_eval(_argv(tiny_model_dir, run_dir, "--num_samples", "2", "--temperature", "0.5"))


def test_report_compares_runs(run_dir, tiny_model_dir, tmp_path, capsys):
    greedy = tmp_path / "greedy"
    assert cmd_eval(_argv(tiny_model_dir, greedy, "--modes", "direct", "long_cot", "--run_name", "greedy")) == 0
    out = tmp_path / "cmp"
    assert cmd_report([str(run_dir), str(greedy), "--out", str(out), "--names", "sampled", "greedy"]) == 0
    report = (out / "report.md").read_text()
    assert "| sampled | adaptive |" in report and "| greedy | long_cot |" in report
    assert (out / "plots" / "accuracy_vs_tokens.png").exists() and (out / "comparison.json").exists()


def test_recipe_errors(tiny_model_dir, tmp_path):
    with pytest.raises(RecipeError, match="did you mean 'num_samples'"):
        cmd_eval(["--model_name_or_path", str(tiny_model_dir), "--num_sample", "2"])
    with pytest.raises(RecipeError, match="unknown inference mode"):
        cmd_eval(["--model_name_or_path", str(tiny_model_dir), "--output_dir", str(tmp_path), "--modes", "fast"])


def test_instruction_prefills_are_arms_and_consensus_counts_every_token(run_dir):
    """Instruction-guided pre-fills are the format tag plus a newline (TEAM-ARM/ARM verl/verl/trainer/
    main_eval_list.py ``token_dict``; instruction_guided/gsm8k.py); a consensus sample's output tokens are the sum of
    its 3 parts (4 on a long-CoT fallback), pre-fills not counted, and it answers with the direct part unless it
    fell back."""
    from thrifty.eval.modes import mode_prefill

    assert {m: mode_prefill(m) for m in ("adaptive", "direct", "short_cot", "code", "long_cot", "multiturn")} == {
        "adaptive": "", "direct": "<ANSWER>\n", "short_cot": "<COT>\n", "code": "<CODE>\n",
        "long_cot": "<LONG_COT>\n", "multiturn": "<think>\n"}
    consensus = [r for r in read_jsonl(run_dir / "samples.jsonl") if r["mode"] == "consensus"]
    assert consensus
    for r in consensus:
        parts = r["consensus"]["parts"]
        fell_back = r["consensus"]["fallback"]
        assert set(parts) == ({"direct", "short_cot", "code", "long_cot"} if fell_back else {"direct", "short_cot", "code"})
        assert r["num_tokens"] == sum(p["num_tokens"] for p in parts.values())
        chosen = parts["long_cot" if fell_back else "direct"]
        assert r["completion"] == chosen["completion"]
        assert all(p["completion"].startswith(mode_prefill(f)) for f, p in parts.items())


def test_resume_refuses_changed_problems_under_the_same_ids(tiny_model_dir, tmp_path):
    """A run's problems are fingerprinted (problems.json): editing a problem under its id, or a new toy world,
    must not silently reuse the old samples."""
    bench = tmp_path / "mine.jsonl"
    rows = [{"id": f"q{i}", "problem": f"{i} 1 _ _ _ _", "answer": str((i + 1) % 10)} for i in range(3)]
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    argv = _argv(tiny_model_dir, out, "--benchmarks", str(bench), "--modes", "direct")
    assert cmd_eval(argv) == 0
    assert cmd_eval(argv) == 0  # unchanged: resumes
    assert set(json.loads((out / "problems.json").read_text())) == {"mine"}
    rows[1]["problem"] = "7 7 _ _ _ _"
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(RecipeError, match="problems changed"):
        cmd_eval(argv)
