"""The demo pipeline end to end (from scratch, a few steps: the path, not the learning)."""

import json

from thrifty.trainers.demo import run_demo


def test_demo_runs_end_to_end_and_resumes(tmp_path):
    out = tmp_path / "demo"
    report = run_demo(out, from_scratch=True, sft_overrides=["--max_steps", "3"], n_train=200, n_test_per_difficulty=2,
             max_new_tokens=16)
    data = json.loads((out / "report.json").read_text())
    assert set(data["bar"]) == {"easiest_direct", "hardest_direct", "hardest_short_cot", "hardest_long_cot"}
    summary = data["summary"]
    assert set(summary) == {"adaptive", "direct", "short_cot", "code", "long_cot", "multiturn"}
    n_problems = data["n_test_problems"]
    assert all(summary[mode]["all"]["n"] == n_problems for mode in summary)
    text = report.read_text()
    assert "## Accuracy" in text and "## Mean output tokens" in text and "k=6" in text
    assert (out / "sft" / "model.safetensors").exists()
    # a rerun skips the finished stages (the SFT model is not retrained)
    stamp = (out / "sft" / "model.safetensors").stat().st_mtime_ns
    run_demo(out, from_scratch=True, sft_overrides=["--max_steps", "3"], n_train=200, n_test_per_difficulty=2,
             max_new_tokens=16)
    assert (out / "sft" / "model.safetensors").stat().st_mtime_ns == stamp
