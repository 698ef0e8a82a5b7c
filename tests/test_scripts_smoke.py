"""Every script in scripts/*.py runs in ``--smoke`` mode (tiny sizes, same code path) and ends with its JSON line.

The scripts run in this process (``main(argv)``), so TRL and torch are imported once for all of them. Each
script's last printed line must be a JSON object with its ``bar``, ``"smoke": true`` and ``"pass": null`` (a bar
is not judged at smoke sizes; the checks that hold at any size are asserted below). A script added to scripts/
without a smoke entry here fails ``test_every_script_has_a_smoke_run``.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

#: script -> extra argv (``--out`` is added for those that write runs) and what must hold at smoke sizes
SMOKE = {
    "bench_builders": ([], lambda r: r["converted"] > 0),
    "bench_rewards": ([], lambda r: r["agreement"] == 1.0 and r["pairs"] == 40),
    "bench_eval": ([], lambda r: r["identical_outputs"] == r["prompts"] == 8),
    "bench_toy_learning": (["--out"], lambda r: set(r["tiers"]) == {"easy", "medium", "hard"} and len(r["checks"]) == 5),
    "bench_grpo": ([], lambda r: r["steps_each"] == 1 and r["median_step_s"]["trl"] > 0),
    "bench_toy_grpo": (["--out"], lambda r: {x["variant"] for x in r["runs"]} == {"plain", "ada", "arm2"} and set(
        r["bars"]["ada"]["0"]) == set(r["bars"]["arm2"]["0"]) == {"plain_collapses", "ada_keeps_formats",
                                                                  "ada_accuracy", "ada_tokens"}
        and r["runs"][1]["oracle"]["oracle"]["all"]["n"] == 9 and 0 <= r["runs"][1]["eval"]["sampled"]["all"]["maj@2"] <= 1
        and "easy_format_entropy" in r["sft"]["sampled"]
        and all(len(r["sft"]["sampled"]["share_by_tier"][f]) == 3 for f in ("direct", "long_cot"))
        and 0 <= r["sft"]["sampled"]["easy_hard_total_variation"] <= 1),
    "bench_toy_mind": (["--out"], lambda r: {x["rewards"] for x in r["runs"]} == {
        "accuracy only", "MinD (paper)", "MinD + fewer_turns (extension)"} and set(r["bars"]["0"]) == {
        "accuracy_within_0.01", "tokens_at_most_0.45x", "token_ratio"}),
    "bench_toy_methods": (["--out"], lambda r: {x["method"] for x in r["rows"]} == {
        "ARM2", "plain GRPO", "Ada-GRPO + Kimi length", "Efficient RL", "Efficient RL (official loss)",
        "SFT forced to long CoT",
        "format oracle", "SFT",
        "L1-Exact (l1_exact:32)", "L1-Exact (l1_exact:96)", "L1-Exact (l1_exact:256)", "AdaptThink",
        "SFT (l1_exact:32)", "SFT (l1_exact:96)", "SFT (l1_exact:256)",
        "MinD SFT (multi-turn)", "MinD", "MinD + fewer turns (extension)"}
        and next(x for x in r["rows"] if x["method"] == "L1-Exact (l1_exact:96)")["l1"]["budget"] == 96
        and next(x for x in r["rows"] if x["method"] == "SFT (l1_exact:256)")["l1"]["budget"] == 256
        and not next(x for x in r["rows"] if x["method"] == "SFT (l1_exact:256)")["trained"]
        and len(next(x for x in r["rows"] if x["method"] == "ARM2")["bars"]) == 5
        and len(next(x for x in r["rows"] if x["method"] == "Efficient RL")["bars"]) == 5
        and {m["method"]: m["seeds"] for m in r["medians"]}["MinD"] == 1
        and set(r["format_choice"]["0"]) == {"SFT", r["judged"]} and r["judged"] == "Efficient RL"
        and all(0 <= cell["short_cot"] + cell["long_cot"] <= 1 for cell in r["format_choice"]["0"]["SFT"].values())
        and sum(cell["n"] for cell in r["format_choice"]["0"]["Efficient RL"].values()) == 9),  # 1 per difficulty
    "bench_style_select": (["--out"], lambda r: set(r["accuracy"]) == {"direct", "short_cot"}),
    "bench_real_model": (["--work"], lambda r: set(r["times"]) == {
        "toy traces", "mind data", "sft (LoRA)", "grpo mind (LoRA)", "eval base", "eval sft adapter"}),
    "probe_toy_tiers": (["--out"], lambda r: set(r["tiers"]) == {"easy", "medium", "hard"} and r["steps"] > 0),
}


def test_format_oracle_takes_the_cheapest_right_format_per_problem():
    """bench_toy_grpo's format oracle on hand-made rows: the cheapest right format, long CoT when none is right."""
    spec = importlib.util.spec_from_file_location("bench_toy_grpo_oracle", SCRIPTS / "bench_toy_grpo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def row(pid, mode, difficulty, correct, tokens):
        return {"problem_id": pid, "mode": mode, "difficulty": difficulty, "correct": correct, "num_tokens": tokens}

    rows = [row("a", "direct", 1, True, 5), row("a", "short_cot", 1, True, 12), row("a", "long_cot", 1, True, 80),
            row("b", "direct", 7, False, 5), row("b", "short_cot", 7, True, 15), row("b", "long_cot", 7, True, 120),
            row("c", "direct", 7, False, 5), row("c", "code", 7, False, 30), row("c", "long_cot", 7, False, 140)]
    result = module.summarize_oracle(rows, {1: "easy", 7: "hard"})
    assert result["oracle"]["all"] == {"n": 3, "accuracy": round(2 / 3, 3),
                                       "mean_tokens": round((5 + 15 + 140) / 3, 1)}
    assert result["oracle"]["easy"] == {"n": 1, "accuracy": 1.0, "mean_tokens": 5.0}
    assert result["oracle"]["hard"] == {"n": 2, "accuracy": 0.5, "mean_tokens": 77.5}
    assert result["formats"]["hard"]["long_cot"] == {"n": 2, "accuracy": 0.5, "mean_tokens": 130.0}


def test_format_entropy_is_one_for_equal_shares_and_zero_for_one_format():
    spec = importlib.util.spec_from_file_location("bench_toy_grpo_entropy", SCRIPTS / "bench_toy_grpo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    equal = {"format_mix": {"direct": 0.2, "short_cot": 0.2, "code": 0.2, "long_cot": 0.2, "unknown": 0.2}}
    assert module.format_entropy(equal) == pytest.approx(1.0)
    assert module.format_entropy({"format_mix": {"long_cot": 0.9, "unknown": 0.1}}) == 0.0
    assert module.format_entropy({"format_mix": {"direct": 0.5, "long_cot": 0.5}}) == pytest.approx(0.5)
    assert module.format_entropy({"format_mix": {"unknown": 1.0}}) is None and module.format_entropy(None) is None


def test_saving_needed_keeps_the_hard_tier_and_says_when_0_6x_is_out_of_reach():
    spec = importlib.util.spec_from_file_location("bench_toy_grpo_saving", SCRIPTS / "bench_toy_grpo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # totals: easy 10 x 50 = 500, medium 10 x 100 = 1000, hard 10 x 150 = 1500; 0.4 x 3000 = 1200 of the 1500
    collapsed = {"easy": {"n": 10, "mean_tokens": 50.0}, "medium": {"n": 10, "mean_tokens": 100.0},
                 "hard": {"n": 10, "mean_tokens": 150.0}}
    assert module.saving_needed(collapsed) == pytest.approx(0.8)
    # short answers on easy and medium already: 0.4 x 1700 = 680 of 200 tokens, more than all of them
    adapted = {"easy": {"n": 10, "mean_tokens": 5.0}, "medium": {"n": 10, "mean_tokens": 15.0},
               "hard": {"n": 10, "mean_tokens": 150.0}}
    assert module.saving_needed(adapted) == pytest.approx(3.4)
    assert module.saving_needed({"hard": {"n": 3, "mean_tokens": 9.0}}) is None


def test_total_variation_of_format_mixes():
    spec = importlib.util.spec_from_file_location("bench_toy_grpo_tv", SCRIPTS / "bench_toy_grpo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    easy = {"format_mix": {"direct": 0.5, "short_cot": 0.5}}
    assert module.total_variation(easy, easy) == 0.0
    assert module.total_variation(easy, {"format_mix": {"long_cot": 1.0}}) == 1.0
    assert module.total_variation(easy, {"format_mix": {"direct": 0.25, "long_cot": 0.75}}) == pytest.approx(0.75)
    assert module.total_variation(easy, None) is None


def test_bench_toy_grpo_refuses_a_finished_run_of_another_sft_model(tmp_path):
    """A finished run is reused only when ``thrifty_run.json`` names the same SFT model and arguments."""
    from thrifty.errors import UserInputError
    from thrifty.jsonl import write_json
    from thrifty.models import model_fingerprint
    from thrifty.paths import TOY_BASE_DIR

    spec = importlib.util.spec_from_file_location("bench_toy_grpo_reuse", SCRIPTS / "bench_toy_grpo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run = tmp_path / "ada_seed0"
    run.mkdir()
    (run / "model.safetensors").write_bytes(b"finished")
    write_json(run / "train_log.json", [{"step": 5, "reward": 0.5}])
    same = {"sft_model_fingerprint": model_fingerprint(str(TOY_BASE_DIR)), "variant": "ada", "seed": 0,
            "extra_args": []}
    write_json(run / "thrifty_run.json", same)
    assert module.train("ada", TOY_BASE_DIR, run, 0, []) == [{"step": 5, "reward": 0.5}]
    write_json(run / "thrifty_run.json", {**same, "sft_model_fingerprint": "another"})
    with pytest.raises(UserInputError, match=r"ada_seed0 holds a run of other inputs.*sft_model_fingerprint"):
        module.train("ada", TOY_BASE_DIR, run, 0, [])
    (run / "thrifty_run.json").unlink()  # a finished run from before records existed: its SFT model is unknown
    with pytest.raises(UserInputError, match="ada_seed0 holds a finished run but no thrifty_run.json"):
        module.train("ada", TOY_BASE_DIR, run, 0, [])


def test_every_script_has_a_smoke_run():
    assert {p.stem for p in SCRIPTS.glob("*.py")} == set(SMOKE)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SMOKE))
def test_script_smoke(name, tmp_path, monkeypatch, capsys, request):
    if name in ("bench_builders", "bench_rewards", "bench_real_model"):
        request.getfixturevalue("shared_data")  # they read ../shared/data (skipped with a reason where absent)
    monkeypatch.syspath_prepend(str(SCRIPTS))  # bench_toy_mind imports bench_toy_grpo
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.chdir(tmp_path)
    extra, check = SMOKE[name]
    argv = ["--smoke", *([extra[0], str(tmp_path / "out")] if extra else [])]
    if name == "bench_real_model":  # the session's imported SmolLM2 (download and import are the fixture's)
        argv += ["--model", str(request.getfixturevalue("real_model_dir"))]
    if name == "bench_toy_methods":  # compare.md's fresh-seeds command (another method in grpo/): copies its files,
        # touches no page; the baselines with rows of their own (ARM2's bars, L1's budgets, AdaptThink), plain GRPO,
        # and the recipes no other test trains: Ada-GRPO + Kimi length, and Efficient RL with the official loss and
        # batch whitening (Ada-GRPO's is trained in test_grpo)
        argv += ["--docs", str(tmp_path / "docs"), "--section", "fresh", "--method", "efficient",
                 "--baselines", "arm2", "plain", "ada_length", "efficient_official", "l1_exact", "adaptthink",
                 "--grpo-args", "--learning_rate 2e-4"]
    spec = importlib.util.spec_from_file_location(f"smoke_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = module.main(argv)
    lines = [line for line in capsys.readouterr().out.strip().splitlines() if line.strip()]
    result = json.loads(lines[-1])
    assert code == 0, result
    assert result["smoke"] is True and result["pass"] is None and result["bar"], result
    assert check(result), result
    if name == "bench_toy_methods":
        assert {f.name for f in (tmp_path / "docs").iterdir()} == {"results.json", "pareto.png", "table.md"}
        assert result["grpo_args"] == ["--learning_rate", "2e-4"]  # every method trained with the screen's setting
        for run in ("grpo", "grpo_arm2", "grpo_adaptthink", "grpo_efficient_official"):
            record = json.loads((tmp_path / "out" / "arm_seed0" / run / "thrifty_train_run.json").read_text())
            assert record["learning_rate"] == 2e-4, (run, record["learning_rate"])
        official = json.loads((tmp_path / "out" / "arm_seed0" / "grpo_efficient_official" / "thrifty_train_run.json")
                              .read_text())
        assert (official["loss_type"], official["scale_rewards"]) == ("grpo", "batch"), official
