"""AdaptThink and L1 (LCPO): each "same" row of docs/methods/adaptthink.md and docs/methods/l1.md, on cases worked
from the official code (THU-KEG/AdaptThink 84cf948, cmu-l3/l1 93dd330 and 9b888fb), and the trainer hooks on
the toy world for real (a tiny model, two GRPO steps)."""

from __future__ import annotations

import math

import pytest

from thrifty.l1_budget import l1_length_stats, l1_mode_budget, l1_prompt, sample_l1_budget
from thrifty.rewards import get_reward
from thrifty.rewards.adaptthink import (
    adaptthink_advantage,
    clipped_sequence_loss,
    forced_nothinking,
    importance_first_logprob,
    sequence_ratio,
    think_gate,
)
from thrifty.rewards.l1 import l1_exact_reward, l1_max_reward, l1_reward


# ---------------------------------------------------------------------------------------------------------------
# L1
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("correct", "length", "budget", "expected"), [
    (True, 1200, 1000, 0.94), (False, 1200, 1000, -0.06), (True, 4096, 100, -0.1988), (True, 2000, 2000, 1.0),
])
def test_l1_exact_reward_matches_the_official_linear_reward(correct, length, budget, expected):
    """math_reward.py (linear_reward, alpha 0.0003): delta_score - 1 + correctness, not clipped."""
    assert l1_exact_reward(correct, length, budget) == pytest.approx(expected, abs=1e-12)
    assert l1_reward(correct, length, budget) == pytest.approx(expected, abs=1e-12)


def test_l1_exact_first_release_alpha():
    """9b888fb: 1 - |d|/3000, minus 1 when wrong."""
    assert l1_exact_reward(True, 1200, 1000, alpha=1 / 3000) == pytest.approx(0.933333, abs=1e-6)
    assert l1_exact_reward(False, 1200, 1000, alpha=1 / 3000) == pytest.approx(-0.0666667, abs=1e-6)


@pytest.mark.parametrize(("length", "expected"), [(800, 0.7), (1000, 0.5), (1250, 0.25), (2000, 0.0), (200, 1.0)])
def test_l1_max_reward_matches_the_first_release(length, expected):
    """9b888fb: (clip(d/500, -1, 1) + 1) / 2 * correct, budget -1000 (max)."""
    assert l1_reward(True, length, -1000) == pytest.approx(expected, abs=1e-12)
    assert l1_max_reward(True, length, 1000) == pytest.approx(expected, abs=1e-12)
    assert l1_reward(False, length, -1000) == 0.0


def test_l1_prompt_and_budgets_are_the_official_data():
    """deepscaler_dataset.py: f"{question} {instruction} Think for N tokens." / "Think for maximum N tokens.";
    N uniform on 100..4000, once per example; --use_both_both: max with probability 0.5."""
    assert l1_prompt("What is 2+2?", 512) == (
        "What is 2+2? Let's think step by step and output the final answer within \\boxed{}. Think for 512 tokens.")
    assert l1_prompt("Q", -64, "") == "Q Think for maximum 64 tokens."
    exact = [sample_l1_budget(0, i) for i in range(2000)]
    assert all(100 <= b <= 4000 for b in exact) and min(exact) < 300 and max(exact) > 3800
    assert exact == [sample_l1_budget(0, i) for i in range(2000)]  # fixed per example
    assert all(b < 0 for b in (sample_l1_budget(0, i, "max") for i in range(50)))
    both = [sample_l1_budget(3, i, "both") for i in range(2000)]
    assert 0.45 < sum(b < 0 for b in both) / len(both) < 0.55
    with pytest.raises(ValueError, match="not one of exact, max, both"):
        sample_l1_budget(0, 0, "loose")


def test_l1_length_reward_reads_the_budget_column_and_counts_every_token():
    """The registered reward: correctness from the shared checker, n = every completion token (EOS included)."""
    reward = get_reward("l1_length", kind="number", exact_alpha=0.01)
    out = reward(prompts=["q", "q", "q"], completions=["<ANSWER>\n7\n</ANSWER>", "<ANSWER>\n3\n</ANSWER>",
                                                        "<ANSWER>\n7\n</ANSWER>"],
                 completion_ids=[[1] * 30, [1] * 10, [1] * 30], answer=["7", "7", "7"], l1_budget=[10, 10, -20])
    assert out == pytest.approx([1 - 0.01 * 20, 0 - 0.0, 1.0 * (max(-1, min(1, 0.002 * (20 - 30))) + 1) / 2])
    with pytest.raises(KeyError, match="l1_budget"):
        reward(prompts=["q"], completions=["x"], completion_ids=[[1]], answer=["7"])


def test_l1_grpo_prompts_end_with_the_budget(tmp_path):
    """thrifty grpo with l1_budget_mode: each toy question ends with its budget sentence, the budget in l1_budget."""
    from thrifty.trainers.grpo import GRPODataArguments, toy_prompts

    data = toy_prompts(GRPODataArguments(toy_num_problems=20, l1_budget_mode="both", l1_budget_range=[10, 320],
                                         l1_instruction=""))
    assert set(data.column_names) >= {"prompt", "answer", "l1_budget"}
    for row in data:
        text = row["prompt"][-1]["content"]
        n = row["l1_budget"]
        assert 10 <= abs(n) <= 320
        assert text.endswith(f" Think for {n} tokens." if n > 0 else f" Think for maximum {-n} tokens.")
    assert {b < 0 for b in data["l1_budget"]} == {True, False}


def test_l1_eval_modes_and_length_error():
    from thrifty.eval.modes import mode_prefill, validate_modes

    assert l1_mode_budget("l1_exact:512") == 512 and l1_mode_budget("l1_max:64") == -64
    assert l1_mode_budget("adaptive") is None and l1_mode_budget("l1_exact:0") is None
    assert mode_prefill("l1_exact:512") == ""
    validate_modes(["adaptive", "l1_exact:32", "l1_max:96"])
    with pytest.raises(ValueError, match="l1_exact:N"):
        validate_modes(["l1_exact:"])
    stats = l1_length_stats([80, 120, 130], 100)
    assert stats["length_error"] == pytest.approx(0.1) and stats["mean_abs_error"] == pytest.approx(70 / 3)
    assert stats["over_budget_rate"] == pytest.approx(2 / 3) and stats["mode"] == "exact"


# ---------------------------------------------------------------------------------------------------------------
# AdaptThink
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("nothinking", "acc", "ref", "expected"), [
    (True, 1, 0.75, 0.30), (False, 1, 0.75, 0.25), (True, 0, 0.75, -0.70), (False, 0, 0.0625, -0.0625)])
def test_adaptthink_advantage_matches_the_reward_manager(nothinking, acc, ref, expected):
    """adapt_think_reward_manager.py l.184-189 (delta 0.05), used as the advantage (adv_estimator=naive)."""
    assert adaptthink_advantage(acc, ref, nothinking) == pytest.approx(expected, abs=1e-12)


def test_adaptthink_ratio_and_loss_match_the_official_policy_loss():
    """adapt_think_core_algos.py l.89-105: old log-prob of token 0 = log 0.5, per-sequence mean, clip 0.2."""
    no = sequence_ratio([math.log(0.01), math.log(0.9), math.log(0.8)],
                        [importance_first_logprob(True), math.log(0.9), math.log(0.8)])
    assert no == pytest.approx(0.271442, abs=1e-6)
    assert clipped_sequence_loss(0.30, no) == pytest.approx(-0.0814325, abs=1e-7)
    assert clipped_sequence_loss(-0.70, no) == pytest.approx(0.56, abs=1e-12)
    yes = sequence_ratio([math.log(0.6), math.log(0.9), math.log(0.8)],
                         [importance_first_logprob(False), math.log(0.9), math.log(0.8)])
    assert yes == pytest.approx(1.062659, abs=1e-6)
    assert clipped_sequence_loss(0.25, yes) == pytest.approx(-0.265665, abs=1e-6)
    assert clipped_sequence_loss(-0.0625, yes) == pytest.approx(0.0664162, abs=1e-7)


def test_adaptthink_forces_the_first_half_of_each_group():
    """adapt_think_vllm_rollout.py: n_nothinking = round(n * 0.5), the group laid out [NoThinking, Thinking]."""
    assert [forced_nothinking(i, 16) for i in range(32)] == ([True] * 8 + [False] * 8) * 2
    assert [forced_nothinking(i, 4, 0.25) for i in range(4)] == [True, False, False, False]


@pytest.mark.parametrize(("text", "region"), [
    ("</think> The answer is \\boxed{4}", " The answer is \\boxed{4}"),
    ("Alright, 2+2=4.</think>\\boxed{4}", "\\boxed{4}"),
    ("</think> a </think> \\boxed{4}", None), ("<think> x </think> \\boxed{4}", None), ("\\boxed{4}", None)])
def test_think_gate_is_the_official_format_check(text, region):
    """adapt_think_rm.py l.537-545: 0 for <think> or not exactly one </think>; the answer after </think>."""
    assert think_gate(text) == region
    reward = get_reward("adaptthink_accuracy", kind="number")
    assert reward(prompts=["q"], completions=[text], answer=["4"]) == [1.0 if region else 0.0]


def test_adaptthink_trains_on_the_toy_world_with_forced_starts(toy_base_dir, tmp_path):
    """Two GRPO steps of recipes/toy/grpo_adaptthink.yaml: every group's first half starts NoThinking, the second
    Thinking; the advantages are accuracy - ref_accuracy + delta * NoThinking (no group normalisation); the old
    log-probabilities are pi_IS's on the forced start (log 0.5 on its first token, 0 on the rest)."""
    import torch

    from thrifty.trainers.common import train_and_save
    from thrifty.trainers.grpo import ThriftyGRPOTrainer, build_grpo_trainer, parse_grpo_args

    seen: list[dict] = []

    class Recording(ThriftyGRPOTrainer):
        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            seen.append({"texts": [c if isinstance(c, str) else c[0]["content"] for c in completions],
                         "accuracy": rewards[:, 0].tolist(), "ref": [r["ref_accuracy"] for r in inputs]})
            return rewards

        def _generate_and_score_completions(self, inputs):
            output = super()._generate_and_score_completions(inputs)
            seen[-1].update(advantages=output["advantages"].tolist(), old=output["old_per_token_logps"],
                            forced=list(self._adaptthink_forced), prefix=list(self._adaptthink_prefix_lengths))
            return output

    argv = ["--config", "recipes/toy/grpo_adaptthink.yaml", "--model_name_or_path", str(toy_base_dir),
            "--output_dir", str(tmp_path / "at"), "--max_steps", "2", "--toy_num_problems", "8",
            "--adaptthink_ref_samples", "2", "--per_device_train_batch_size", "8", "--num_generations", "4",
            "--max_completion_length", "24", "--save_strategy", "no", "--logging_steps", "1",
            "--resume_from_checkpoint", "false"]
    trainer = build_grpo_trainer(*parse_grpo_args(argv), trainer_cls=Recording)
    reference = [r["ref_accuracy"] for r in trainer.train_dataset]
    assert len(reference) == 8 and all(0.0 <= r <= 1.0 for r in reference)
    assert (tmp_path / "at" / "adaptthink_reference.jsonl").is_file()
    train_and_save(trainer)
    assert len(seen) == 2
    for step in seen:
        assert step["forced"] == [True, True, False, False] * 2
        for text, forced in zip(step["texts"], step["forced"], strict=True):
            assert text.startswith("<ANSWER>\n" if forced else "<LONG_COT>\n")
        expected = [a - r + (0.05 if f else 0.0) for a, r, f in
                    zip(step["accuracy"], step["ref"], step["forced"], strict=True)]
        assert step["advantages"] == pytest.approx(expected, abs=1e-6)
        old = step["old"]
        assert torch.allclose(old[:, 0], torch.full((8,), math.log(0.5)))
        for row, length in enumerate(step["prefix"]):
            assert length > 1 and bool((old[row, 1:length] == 0).all())
    logs = {k for h in trainer.state.log_history for k in h}
    assert {"adaptthink/accuracy_nothinking", "adaptthink/accuracy_thinking", "adaptthink/ref_accuracy"} <= logs


def test_adaptthink_refuses_a_recipe_that_is_not_its_loss():
    from thrifty.recipes import RecipeError
    from thrifty.trainers.grpo import parse_grpo_args

    with pytest.raises(RecipeError, match="importance_sampling_level: sequence and loss_type: grpo"):
        parse_grpo_args(["--config", "recipes/toy/grpo_adaptthink.yaml", "--loss_type", "dapo"])
    with pytest.raises(RecipeError, match=r"adaptthink_nothinking_ratio = 1 is out of range: it must be in \(0, 1\)"):
        parse_grpo_args(["--config", "recipes/toy/grpo_adaptthink.yaml", "--adaptthink_nothinking_ratio", "1.0"])


def test_adaptthink_reference_file_official_layout(tmp_path):
    """The official ref_results JSON (problem, metrics.avg_acc_thinking, an __OVERALL__ entry) joins on the
    question text; a training question it lacks is refused, naming the row."""
    import json

    from thrifty.jsonl import DataError
    from thrifty.trainers.grpo import GRPODataArguments, load_grpo_prompts

    ref = tmp_path / "ref.json"
    ref.write_text(json.dumps([{"problem": "__OVERALL__", "metrics": {"avg_acc_thinking": 0.5}},
                               {"problem": "What is 2+2?", "metrics": {"avg_acc_thinking": 0.75}}]))
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"problem": " What is 2+2? ", "answer": "4"}) + "\n")
    rows = load_grpo_prompts(GRPODataArguments(dataset_name=str(data), adaptthink_ref_file=str(ref)))
    assert rows["ref_accuracy"] == [0.75]
    data.write_text(json.dumps({"problem": "What is 3+3?", "answer": "6"}) + "\n")
    with pytest.raises(DataError, match="no reference accuracy for training row 0"):
        load_grpo_prompts(GRPODataArguments(dataset_name=str(data), adaptthink_ref_file=str(ref)))


def test_eval_reports_l1_length_error_and_the_nothinking_rate(tiny_model_dir, tmp_path):
    """thrifty eval with L1's budget modes: the prompt ends with the budget sentence, the summary has the length
    error against it (recounted from the samples) and every mode AdaptThink's NoThinking rate."""
    from transformers import AutoTokenizer

    from thrifty.benchmarks import Problem
    from thrifty.eval.modes import _prompts
    from thrifty.eval.runner import EvalConfig, load_run, run_eval

    class Generator:  # the prompts l1_exact:6 sends, rendered by the model's own chat template
        tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)

    (prompt,) = _prompts(Generator(), [Problem(id="p", problem="Sum 1 2.", answer="3")], "", None, None, 6, "")
    assert "Sum 1 2. Think for 6 tokens." in prompt

    out = tmp_path / "eval"
    run_eval(EvalConfig(model_name_or_path=str(tiny_model_dir), output_dir=str(out), benchmarks=["toy"],
                        modes=["adaptive", "l1_exact:6", "l1_max:4"], toy_per_difficulty=1, max_new_tokens=8,
                        l1_instruction="", plots=False))
    summary, rows = load_run(out)
    results = summary["results"]["toy"]
    for mode, budget in (("l1_exact:6", 6), ("l1_max:4", -4)):
        lengths = [r["num_tokens"] for r in rows if r["mode"] == mode]
        st = results[mode]["l1"]
        assert st["budget"] == budget and st["mean_abs_error"] == pytest.approx(
            sum(abs(n - abs(budget)) for n in lengths) / len(lengths))
        assert st["length_error"] == pytest.approx((sum(lengths) / len(lengths) - abs(budget)) / abs(budget))
    assert "l1" not in results["adaptive"] and results["adaptive"]["nothinking_rate"] == 0.0
    report = (out / "report.md").read_text()
    assert "budget 6 tokens (exact)" in report and "budget 4 tokens (max)" in report


def test_runs_recorded_before_these_keys_still_resume():
    """A GRPO run at the new keys' defaults has none of them in its run spec (thrifty.trainers.common.run_spec), so
    a checkpoint recorded before L1 and AdaptThink existed resumes after the upgrade; a set key is recorded."""
    from thrifty.trainers.common import run_spec
    from thrifty.trainers.grpo import parse_grpo_args

    spec = run_spec("grpo", *parse_grpo_args(["--config", "recipes/toy/grpo_plain.yaml", "--output_dir", "x",
                                                "--model_name_or_path", "thrifty/assets/toy_base"]))
    new = [k for k in spec if "l1_" in k or "adaptthink" in k or k == "importance_sampling_level"]
    assert new == []
    spec = run_spec("grpo", *parse_grpo_args(["--config", "recipes/toy/grpo_l1_exact.yaml", "--output_dir", "x",
                                                "--model_name_or_path", "thrifty/assets/toy_base"]))
    assert spec["data.l1_budget_mode"] == "exact" and spec["data.l1_budget_range"] == [10, 320]
