"""The demo pipeline end to end (from scratch, a few steps: the path, not the learning), and its comparison
arithmetic (bars, headline, format oracle) on hand-made cells."""

import json

import pytest

from thrifty.errors import UserInputError
from thrifty.toy_world import ToyWorld
from thrifty.trainers.demo import DEMO_METHODS, run_demo

LABEL_KEY = "efficient_opening"  # the recommended method (run_demo's default), pinned
LABEL = DEMO_METHODS[LABEL_KEY].label

TINY_DEMO = dict(
    from_scratch=True, sft_overrides=["--max_steps", "3"], n_train=200, n_test_per_difficulty=2, max_new_tokens=16,
    grpo_overrides=["--max_steps", "2", "--per_device_train_batch_size", "8", "--num_generations", "4",
                    "--max_completion_length", "16", "--save_steps", "2", "--logging_steps", "1"],
    baselines=("plain",),
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
    # the comparison: the recommended method against forced long CoT, plain GRPO and the format oracle, per tier
    assert data["method"] == LABEL_KEY and data["label"] == LABEL
    assert list(data["comparison"]) == [LABEL, "SFT forced to long CoT", "plain GRPO", "format oracle", "SFT"]
    assert all(set(cells) == {"all", "easy", "medium", "hard"} for cells in data["comparison"].values())
    assert len(data["demo_bars"]) == 5 and data["demo_bars_pass"] == all(data["demo_bars"].values())
    assert set(data["demo_bars_by_model"]) == {LABEL, "plain GRPO"}  # every model in adaptive mode is judged
    assert data["demo_bars_by_model"][LABEL] == data["demo_bars"]
    text = report.read_text()
    assert text.splitlines()[2] == data["headline"]
    for name in ("SFT forced to long CoT", "plain GRPO", "format oracle"):
        assert f"the tokens of {name} (" in data["headline"]
    assert "## The comparison, by tier" in text and f"| hard | {LABEL} |" in text and "### Accuracy" in text
    assert "k=9" in text and "hard long_cot >= 0.9:" in text and "easy tier long-CoT share <= 0.2:" in text
    for stage in ("sft", "grpo", "grpo_plain"):
        assert (out / stage / "model.safetensors").exists()
        # each model has a `thrifty eval` run folder, the layout `thrifty publish` reads
        summary = json.loads((out / stage / "eval" / "summary.json").read_text())
        assert set(summary["results"]["toy"]) == (set(data["summary"]) if stage != "grpo_plain" else {"adaptive"})
    state = json.loads((out / "grpo" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and any("format_tag/weighted_share" in h for h in state["log_history"])
    recipe = (out / "grpo" / "thrifty_recipe.yaml").read_text()  # Efficient RL with the opening-token weight
    assert "arm_efficient_length" in recipe and "format_tag_loss_weight: 4.0" in recipe
    assert "format_tag_weight_untagged: true" in recipe
    assert "variant: plain" in (out / "grpo_plain" / "thrifty_recipe.yaml").read_text()

    # a rerun skips the finished stages (no model is retrained)
    stamps = {stage: (out / stage / "model.safetensors").stat().st_mtime_ns for stage in ("sft", "grpo", "grpo_plain")}
    run_demo(out, **TINY_DEMO)
    assert {stage: (out / stage / "model.safetensors").stat().st_mtime_ns for stage in stamps} == stamps

    # a rerun with other inputs into the same folder stops before it writes anything, naming the folder and the key
    stamps["data"] = (out / "data" / "sft.jsonl").stat().st_mtime_ns
    with pytest.raises(UserInputError, match=r'data holds a run of other inputs .*"n_train"'):
        run_demo(out, **{**TINY_DEMO, "n_train": 100})
    with pytest.raises(UserInputError, match=r'grpo holds a run of other inputs .*"overrides"'):
        run_demo(out, **{**TINY_DEMO, "grpo_overrides": [*TINY_DEMO["grpo_overrides"], "--learning_rate", "1e-5"]})
    with pytest.raises(UserInputError, match=r'grpo holds a run of other inputs .*"recipe"'):
        run_demo(out, **{**TINY_DEMO, "method": "ada"})
    with pytest.raises(UserInputError, match=r"unknown method 'best'"):
        run_demo(out, **{**TINY_DEMO, "baselines": ("best",)})
    assert {"data": (out / "data" / "sft.jsonl").stat().st_mtime_ns,
            **{stage: (out / stage / "model.safetensors").stat().st_mtime_ns for stage in ("sft", "grpo", "grpo_plain")}} == stamps


def _cell(accuracy: float, tokens: float, long_cot: float) -> dict:
    return {"n": 10, "accuracy": accuracy, "mean_tokens": tokens, "format_mix": {"long_cot": long_cot,
                                                                                 "short_cot": 1 - long_cot}}


def test_demo_bars_and_headline_on_hand_made_cells():
    """Each of the five bars fails on its own when its number crosses the line, and the headline names every
    baseline with its ratio."""
    from thrifty.trainers.demo import DEMO_METHODS, RECOMMENDED, demo_bars, headline

    def model(acc=0.99, tokens=50.0, easy=0.0, hard=1.0):
        return {"all": _cell(acc, tokens, 0.3), "easy": _cell(1.0, 20, easy), "hard": _cell(acc, 150, hard)}

    long = {"all": _cell(0.95, 160.0, 1.0)}
    assert all(demo_bars(model(), long).values())
    failing = {  # bar -> (model, forced long CoT) that fails it alone
        "accuracy >= 0.97": (model(acc=0.965), {"all": _cell(0.95, 160.0, 1.0)}),
        "accuracy >= the forced-long-CoT accuracy": (model(acc=0.975), {"all": _cell(0.98, 160.0, 1.0)}),
        "mean tokens <= 0.5x forced long CoT": (model(tokens=80.5), long),
        "easy tier long-CoT share <= 0.2": (model(easy=0.25), long),
        "hard tier long-CoT share >= 0.9": (model(hard=0.85), long),
    }
    for bar, (cells, forced) in failing.items():
        assert [name for name, ok in demo_bars(cells, forced).items() if not ok] == [bar]
    recommended = DEMO_METHODS[RECOMMENDED].label
    rows = {recommended: model(), "SFT forced to long CoT": long, "format oracle": {"all": _cell(0.995, 40.0, 0.2)},
            "SFT": {"all": _cell(0.6, 20.0, 0.1)}, "SFT (l1_exact:32)": {"all": _cell(0.1, 90.0, 1.0)}}
    text = headline(recommended, rows, 240)
    assert text.startswith(f"{recommended}, thrifty's recommended path, answers 0.990 of 240 toy test problems right "
                           "(greedy) at 50.0 mean output tokens")
    assert "0.31x the tokens of SFT forced to long CoT (0.950 at 160.0)" in text
    assert "1.25x the tokens of format oracle (0.995 at 40.0)" in text and "of SFT (" not in text
    other = next(m.label for name, m in DEMO_METHODS.items() if name != RECOMMENDED)
    renamed = {other if name == recommended else name: cells for name, cells in rows.items()}
    assert headline(other, renamed, 240).startswith(f"{other} answers 0.990")  # "recommended" only for the one


def test_format_oracle_picks_the_cheapest_right_format():
    """Per problem: the cheapest right instruction-guided row, long CoT when none is right; adaptive rows ignored."""
    from thrifty.eval.toy import FORMAT_ORACLE, format_oracle_rows

    def row(pid, mode, correct, tokens):
        return {"problem_id": pid, "mode": mode, "difficulty": 1, "correct": correct, "num_tokens": tokens,
                "format": mode}

    rows = [row("a", "direct", False, 3), row("a", "short_cot", True, 20), row("a", "code", True, 15),
            row("a", "long_cot", True, 90), row("a", "adaptive", True, 1),
            row("b", "direct", False, 3), row("b", "short_cot", False, 20), row("b", "long_cot", False, 95)]
    picked = {r["problem_id"]: r for r in format_oracle_rows(rows)}
    assert picked["a"]["format"] == "code" and picked["a"]["num_tokens"] == 15 and picked["a"]["mode"] == FORMAT_ORACLE
    assert picked["b"]["format"] == "long_cot" and not picked["b"]["correct"]


def test_demo_output_publishes(demo_run, tmp_path):
    """``thrifty publish RUN/grpo --dry-run OUT`` accepts the demo's model; the card has its eval numbers."""
    from thrifty.trainers.publish import cmd_publish

    out, _ = demo_run
    summary = json.loads((out / "grpo" / "eval" / "summary.json").read_text())
    assert cmd_publish([str(out / "grpo"), "--repo-id", "me/toy-ada", "--dry-run", str(tmp_path / "pub")]) == 0
    card = (tmp_path / "pub" / "README.md").read_text()
    accuracy = summary["results"]["toy"]["adaptive"]["accuracy"]
    assert "toy" in card and "adaptive" in card and f"{accuracy:.3f}" in card
    # full weights fine-tuned from the SFT model (not a LoRA adapter), with the effective recipe
    assert "Full weights fine-tuned from" in card and "library_name: transformers" in card
    assert "arm_efficient_length" in card and "format_tag_loss_weight: 4.0" in card


def test_demo_report_embeds_its_plots(demo_run):
    """report.md links two PNGs beside it (relative), both valid images; the numbers behind the format-by-tier plot
    are in its JSON and match a recount from each model's eval samples; the accuracy-vs-tokens JSON has one point
    per (compared model, panel: all and each tier) matching a recount from the samples, the format oracle's
    recounted by hand from the SFT model's instruction-guided rows."""
    import re
    from collections import Counter

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
    assert plotted["mode"] == "adaptive" and list(plotted["models"]) == ["SFT", LABEL]
    points = json.loads((out / "accuracy_vs_tokens.json").read_text())["points"]
    assert len(points) == 5 * 4  # five compared models, the whole test set and three tiers

    def tier_of(row: dict) -> str:
        return next(t for t, levels in tiers.items() if row["difficulty"] in levels)

    sft_rows = load_run(out / "sft" / "eval")[1]
    by_label = {  # each plotted model recounted from the eval samples
        LABEL: [r for r in load_run(out / "grpo" / "eval")[1] if r["mode"] == "adaptive"],
        "plain GRPO": load_run(out / "grpo_plain" / "eval")[1],
        "SFT": [r for r in sft_rows if r["mode"] == "adaptive"],
        "SFT forced to long CoT": [r for r in sft_rows if r["mode"] == "long_cot"],
    }
    oracle = []  # the cheapest right instruction-guided row per problem, long CoT when none is right
    for pid in {r["problem_id"] for r in sft_rows}:
        mine = [r for r in sft_rows if r["problem_id"] == pid and r["mode"] in ("direct", "short_cot", "code", "long_cot")]
        right = sorted((r for r in mine if r["correct"]), key=lambda r: r["num_tokens"])
        oracle.append(right[0] if right else next(r for r in mine if r["mode"] == "long_cot"))
    by_label["format oracle"] = oracle
    for label, rows in by_label.items():
        for panel in ("all", "easy", "medium", "hard"):
            rs = [r for r in rows if panel == "all" or tier_of(r) == panel]
            (point,) = [p for p in points if p["label"] == label and p["panel"] == panel]
            assert point["n"] == len(rs)
            assert point["accuracy"] == pytest.approx(sum(r["correct"] for r in rs) / len(rs))
            assert point["mean_tokens"] == pytest.approx(sum(r["num_tokens"] for r in rs) / len(rs))
        if label in plotted["models"]:
            for tier, got in plotted["models"][label].items():
                rs = [r for r in rows if tier_of(r) == tier]
                counts = Counter(r["format"] for r in rs)
                assert got["n"] == len(rs) == 2 * len(tiers[tier])
                assert got["format_mix"] == pytest.approx({f: c / len(rs) for f, c in counts.items()})


def test_the_demo_parser_offers_every_demo_method():
    """``thrifty demo --method/--baseline`` choices are DEMO_METHODS' names (the parser does not import them), and
    ``--method`` defaults to the recommended one, as ``run_demo`` does."""
    from thrifty.cli import DEMO_ADAPTIVE_METHODS, DEMO_BASELINE_METHODS, build_parser
    from thrifty.eval.modes import ADAPTIVE
    from thrifty.trainers.demo import DEMO_METHODS, RECOMMENDED

    assert set(DEMO_BASELINE_METHODS) == set(DEMO_METHODS)
    assert set(DEMO_ADAPTIVE_METHODS) == {name for name, m in DEMO_METHODS.items() if m.eval_modes == (ADAPTIVE,)}
    assert build_parser().parse_args(["demo"]).method == RECOMMENDED == LABEL_KEY
