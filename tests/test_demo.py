"""The demo pipeline end to end (from scratch, a few steps: the path, not the learning)."""

import json

import pytest

from thrifty.errors import UserInputError
from thrifty.toy_world import ToyWorld
from thrifty.trainers.demo import run_demo

TINY_DEMO = dict(
    from_scratch=True, sft_overrides=["--max_steps", "3"], n_train=200, n_test_per_difficulty=2, max_new_tokens=16,
    grpo_overrides=["--max_steps", "2", "--per_device_train_batch_size", "8", "--num_generations", "4",
                    "--max_completion_length", "16", "--save_steps", "2", "--logging_steps", "1"],
)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo"
    return out, run_demo(out, **TINY_DEMO)


def test_demo_runs_end_to_end_and_resumes(demo_run):
    out, report = demo_run
    data = json.loads((out / "report.json").read_text())
    assert set(data["bar"]["tiers"]) == {"easy", "medium", "hard"} and len(data["bar"]["checks"]) == 5
    stats = json.loads((out / "data" / "stats.json").read_text())  # ARM's SFT layout: each problem in all 4 formats
    assert stats["sft_by_format"] == {fmt: 200 for fmt in ("direct", "short_cot", "code", "long_cot")}
    n_problems = data["n_test_problems"]
    assert n_problems == 18  # 2 per difficulty level, 9 levels
    for key in ("summary", "grpo_summary"):
        summary = data[key]
        assert set(summary) == {"adaptive", "direct", "short_cot", "code", "long_cot", "multiturn"}
        assert all(summary[mode]["all"]["n"] == n_problems for mode in summary)
    text = report.read_text()
    assert "## Adaptive mode before and after Ada-GRPO, by tier" in text and "### Accuracy" in text and "k=9" in text
    assert "| hard |" in text and "hard long_cot >= 0.9:" in text
    for stage in ("sft", "grpo"):
        assert (out / stage / "model.safetensors").exists()
        # each model has a `thrifty eval` run folder, the layout `thrifty publish` reads
        summary = json.loads((out / stage / "eval" / "summary.json").read_text())
        assert set(summary["results"]["toy"]) == set(data["summary"])
    state = json.loads((out / "grpo" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and any("ada/alpha_mean" in h for h in state["log_history"])

    # a rerun skips the finished stages (neither model is retrained)
    stamps = {stage: (out / stage / "model.safetensors").stat().st_mtime_ns for stage in ("sft", "grpo")}
    run_demo(out, **TINY_DEMO)
    assert {stage: (out / stage / "model.safetensors").stat().st_mtime_ns for stage in stamps} == stamps

    # a rerun with other inputs into the same folder stops before it writes anything, naming the folder and the key
    stamps["data"] = (out / "data" / "sft.jsonl").stat().st_mtime_ns
    with pytest.raises(UserInputError, match=r'data holds a run of other inputs .*"n_train"'):
        run_demo(out, **{**TINY_DEMO, "n_train": 100})
    with pytest.raises(UserInputError, match=r'grpo holds a run of other inputs .*"overrides"'):
        run_demo(out, **{**TINY_DEMO, "grpo_overrides": [*TINY_DEMO["grpo_overrides"], "--learning_rate", "1e-5"]})
    assert {"data": (out / "data" / "sft.jsonl").stat().st_mtime_ns,
            **{stage: (out / stage / "model.safetensors").stat().st_mtime_ns for stage in ("sft", "grpo")}} == stamps


def test_demo_output_publishes(demo_run, tmp_path):
    """``thrifty publish RUN/grpo --dry-run OUT`` accepts the demo's Ada-GRPO model; the card has its eval numbers."""
    from thrifty.trainers.publish import cmd_publish

    out, _ = demo_run
    summary = json.loads((out / "grpo" / "eval" / "summary.json").read_text())
    assert cmd_publish([str(out / "grpo"), "--repo-id", "me/toy-ada", "--dry-run", str(tmp_path / "pub")]) == 0
    card = (tmp_path / "pub" / "README.md").read_text()
    accuracy = summary["results"]["toy"]["adaptive"]["accuracy"]
    assert "toy" in card and "adaptive" in card and f"{accuracy:.3f}" in card
    # full weights fine-tuned from the SFT model (not a LoRA adapter), with the effective Ada-GRPO recipe
    assert "Full weights fine-tuned from" in card and "library_name: transformers" in card
    assert "variant: ada" in card and "ada-grpo" in card


def test_demo_report_embeds_its_plots(demo_run):
    """report.md links two PNGs beside it (relative), both valid images; the numbers behind the format-by-tier plot
    are in its JSON and match a recount from each model's eval samples; the accuracy-vs-tokens JSON has one point
    per (model, mode) matching the samples too."""
    import re
    from collections import Counter, defaultdict

    from matplotlib.image import imread

    from thrifty.eval.runner import load_run

    out, report = demo_run
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report.read_text())
    assert sorted(links) == ["accuracy_vs_tokens.png", "format_by_tier.png"]
    for link in links:
        path = report.parent / link
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = imread(path)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert not list(out.glob(".*tmp*")), "a temp file of an atomic write was left behind"

    plotted = json.loads((out / "format_by_tier.json").read_text())
    tiers = ToyWorld().task.tiers
    assert plotted["mode"] == "adaptive" and list(plotted["models"]) == ["SFT", "Ada-GRPO"]
    points = json.loads((out / "accuracy_vs_tokens.json").read_text())["points"]
    assert len(points) == 2 * 6
    for label, stage in (("SFT", "sft"), ("Ada-GRPO", "grpo")):
        rows = load_run(out / stage / "eval")[1]
        adaptive = [r for r in rows if r["mode"] == "adaptive"]
        by_tier: dict[str, list[dict]] = defaultdict(list)
        for r in adaptive:
            by_tier[next(t for t, levels in tiers.items() if r["difficulty"] in levels)].append(r)
        assert list(plotted["models"][label]) == ["easy", "medium", "hard"]
        for tier, got in plotted["models"][label].items():
            rs = by_tier[tier]
            counts = Counter(r["format"] for r in rs)
            assert got["n"] == len(rs) == 2 * len(tiers[tier])
            assert got["format_mix"] == pytest.approx({f: c / len(rs) for f, c in counts.items()})
            assert got["accuracy"] == pytest.approx(sum(r["correct"] for r in rs) / len(rs))
        for mode in {r["mode"] for r in rows}:
            rs = [r for r in rows if r["mode"] == mode]
            (point,) = [p for p in points if p["run"] == label and p["mode"] == mode]
            assert point["accuracy"] == pytest.approx(sum(r["correct"] for r in rs) / len(rs))
            assert point["mean_tokens"] == pytest.approx(sum(r["num_tokens"] for r in rs) / len(rs))
