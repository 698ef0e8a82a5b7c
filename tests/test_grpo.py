"""Real GRPO runs on the tiny toy model (CPU): plain, Ada-GRPO and MinD; plug-in rewards; learning dynamics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thrifty.recipes import RecipeError
from thrifty.trainers.grpo import build_grpo_trainer, cmd_grpo, parse_grpo_args

REPO = Path(__file__).resolve().parents[1]
TINY = [
    "--num_generations", "4", "--per_device_train_batch_size", "4", "--max_completion_length", "24",
    "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none", "--toy_num_problems", "32",
    "--disable_tqdm", "true", "--resume_from_checkpoint", "false",
]


def _train(recipe: str, model_dir: Path, out: Path, *extra: str):
    argv = ["--config", str(REPO / recipe), "--model_name_or_path", str(model_dir), "--output_dir", str(out),
            *TINY, *extra]
    data_args, training_args, model_args = parse_grpo_args(argv)
    trainer = build_grpo_trainer(data_args, training_args, model_args)
    trainer.train()
    return trainer, [h for h in trainer.state.log_history if "reward" in h]


@pytest.mark.slow
def test_plain_grpo_steps(tiny_model_dir, tmp_path):
    trainer, logs = _train("recipes/toy/grpo_plain.yaml", tiny_model_dir, tmp_path, "--max_steps", "2")
    assert len(logs) == 2
    for h in logs:
        assert "rewards/arm_accuracy/mean" in h  # the toy recipes use ARM's reward
        assert any(k.startswith("format/") and k.endswith("/tokens") for k in h)
        assert "ada/alpha_mean" not in h


@pytest.mark.slow
def test_ada_grpo_steps_log_alpha_and_formats(tiny_model_dir, tmp_path):
    trainer, logs = _train("recipes/toy/grpo_ada.yaml", tiny_model_dir, tmp_path, "--max_steps", "2")
    assert trainer.variant == "ada" and len(logs) == 2
    for h in logs:
        assert h["ada/alpha_mean"] >= 1.0
        shares = {k: v for k, v in h.items() if k.startswith("format/") and k.count("/") == 1}
        assert shares and abs(sum(shares.values()) - 1.0) < 1e-6
        assert any(k.endswith("/accuracy") for k in h)


@pytest.mark.slow
def test_mind_grpo_steps_log_turns(tiny_model_dir, tmp_path):
    _, logs = _train("recipes/toy/grpo_mind.yaml", tiny_model_dir, tmp_path, "--max_steps", "2")
    assert len(logs) == 2
    for h in logs:
        assert "turns/mean" in h and abs(sum(h[f"turns/{k}"] for k in range(9)) - 1.0) < 1e-6
        for name in ("mind_format", "accuracy", "unit_compactness"):  # the paper's R; no fewer_turns
            assert f"rewards/{name}/mean" in h
        assert "rewards/fewer_turns/mean" not in h


@pytest.mark.slow
def test_ada_alpha_matches_pure_function(tiny_model_dir, tmp_path):
    """The trainer zeroes the rewards of completions with no opening format tag (ARM asserts they are 0), scales
    each group's rewards by exactly ada_grpo_alpha of the group's formats as ARM counts them (opening tag only), at
    t = global_step + 1 (ARM's 1-based step), logs those alphas as the completions table's ``ada_alpha`` column,
    and logs the unscaled rewards as ``raw_rewards/<name>/mean``."""
    import torch

    from thrifty.rewards import ada_grpo_alpha_batch

    argv = ["--config", str(REPO / "recipes/toy/grpo_ada.yaml"), "--model_name_or_path", str(tiny_model_dir),
            "--output_dir", str(tmp_path), *TINY, "--max_steps", "4", "--reward_funcs", "short_length",
            "--reward_weights", "1.0", "--reward_kwargs", "{}"]
    data_args, training_args, model_args = parse_grpo_args(argv)
    trainer = build_grpo_trainer(data_args, training_args, model_args)
    trainer.state.global_step, trainer.state.max_steps = 1, 4
    # direct, no tag, short CoT mixing a code tag (counts as short_cot for alpha, as in ARM), direct
    completions = ["<ANSWER>\n1\n</ANSWER>", "x", "<COT>\n<CODE>\n</COT>", "<ANSWER>\n2\n</ANSWER>"]
    ids = [[1, 2], [1] * 6, [1] * 4, [1] * 3]
    trainer.model.train()
    out = trainer._calculate_rewards([{"answer": "1"}] * 4, ["p"] * 4, completions, ids)
    raw = torch.tensor([1 - len(i) / 64 for i in ids]).unsqueeze(1)
    raw[1] = 0.0  # no opening tag: 0
    expected = ada_grpo_alpha_batch(["direct", "unknown", "short_cot", "direct"], 4, 2, 4)
    assert expected == pytest.approx([1.5, 2.5, 2.5, 1.5])  # t=2 of T=4: 1 + 0.5 (G/F - 1) (1 + cos(pi/2))
    assert torch.allclose(out, raw * torch.tensor(expected).unsqueeze(1))
    # one process: its slice of the gathered alphas is all of them (2 processes: tests/test_launch_ada.py)
    assert trainer._pending_extra_logs["ada_alpha"] == expected
    assert trainer._metrics["train"]["raw_rewards/short_length/mean"] == [pytest.approx(float(raw.mean()))]

    trainer.args.ada_zero_unknown = False  # opt out: the untagged completion keeps its reward
    out = trainer._calculate_rewards([{"answer": "1"}] * 4, ["p"] * 4, completions, ids)
    assert float(out[1, 0]) == pytest.approx((1 - 6 / 64) * 2.5)

    # ARM2's length-aware variant (opt-in): the same groups, each multiplier from the formats AND token counts
    trainer.args.ada_zero_unknown, trainer.args.ada_length_penalty = True, True
    out = trainer._calculate_rewards([{"answer": "1"}] * 4, ["p"] * 4, completions, ids)
    expected = ada_grpo_alpha_batch(["direct", "unknown", "short_cot", "direct"], 4, 2, 4, lengths=[2, 6, 4, 3])
    assert expected[0] > expected[3]  # two direct answers: the shorter keeps more of its boost
    assert torch.allclose(out, raw * torch.tensor(expected).unsqueeze(1))


def test_variant_default_rewards(tmp_path):
    """A recipe that names no reward gets its variant's: ARM's gated reward, MinD's paper rewards, accuracy."""
    for variant, rewards in (("ada", ["arm_accuracy"]), ("mind", ["mind_format", "accuracy", "unit_compactness"]),
                             ("plain", ["accuracy"])):
        _, training_args, _ = parse_grpo_args(["--variant", variant, "--output_dir", str(tmp_path)])
        assert training_args.reward_funcs == rewards


@pytest.mark.slow
def test_plugin_reward_appears_in_logged_metrics(tiny_model_dir, tmp_path, monkeypatch):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "team_rewards.py").write_text(
        "def digit_bonus(prompts, completions, completion_ids=None, bonus=1.0, **columns):\n"
        "    assert 'answer' in columns and 'trainer_state' in columns\n"
        "    return [bonus * sum(ch.isdigit() for ch in c[-1]['content']) / 10 for c in completions]\n"
    )
    monkeypatch.syspath_prepend(str(plugin_dir))
    kwargs = json.dumps({"team_rewards:digit_bonus": {"bonus": 0.5}})
    _, logs = _train(
        "recipes/toy/grpo_plain.yaml", tiny_model_dir, tmp_path / "out", "--max_steps", "1",
        "--reward_funcs", "arm_format", "team_rewards:digit_bonus", "--reward_weights", "1.0", "1.0",
        "--reward_kwargs", kwargs,
    )
    assert "rewards/digit_bonus/mean" in logs[0]


@pytest.mark.slow
def test_mean_reward_rises_with_fixed_seed(tiny_model_dir, tmp_path):
    """A dense reward the untrained model can improve fast (short completions) rises over a few GRPO steps."""
    _, logs = _train(
        "recipes/toy/grpo_plain.yaml", tiny_model_dir, tmp_path, "--max_steps", "12",
        "--reward_funcs", "short_length", "--reward_weights", "1.0", "--reward_kwargs", '{"short_length": {"max_len": 24}}',
        "--learning_rate", "2e-2", "--num_generations", "8", "--per_device_train_batch_size", "8", "--seed", "0",
    )
    rewards = [h["reward"] for h in logs]
    first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
    assert last > first + 0.1, rewards


def test_recipe_errors_are_clear(tmp_path):
    with pytest.raises(RecipeError, match="variant must be one of plain, ada, mind"):
        parse_grpo_args(["--config", str(REPO / "recipes/toy/grpo_plain.yaml"), "--variant", "adaa",
                         "--output_dir", str(tmp_path)])
    with pytest.raises(RecipeError, match="reward_weights has 2 values for 1 reward_funcs"):
        parse_grpo_args(["--config", str(REPO / "recipes/toy/grpo_plain.yaml"), "--reward_weights", "1.0", "2.0",
                         "--output_dir", str(tmp_path)])
    with pytest.raises(RecipeError, match="ada_length_penalty .* needs variant: ada, not 'plain'"):
        parse_grpo_args(["--config", str(REPO / "recipes/toy/grpo_plain.yaml"), "--ada_length_penalty", "true",
                         "--output_dir", str(tmp_path)])
    with pytest.raises(RecipeError, match="ada_length_lambda = -1 is out of range: it must be >= 0"):
        parse_grpo_args(["--config", str(REPO / "recipes/toy/grpo_arm2.yaml"), "--ada_length_lambda", "-1",
                         "--output_dir", str(tmp_path)])
    with pytest.raises(RecipeError, match="num_generatons.*did you mean 'num_generations'"):
        cmd_grpo(["--config", str(REPO / "recipes/toy/grpo_plain.yaml"), "--num_generatons", "4"])


def test_real_data_recipes_parse():
    for recipe in ("recipes/arm/grpo_qwen2.5_7b.yaml", "recipes/mind/grpo_r1_distill_1.5b.yaml",
                   "recipes/mind/grpo_r1_distill_1.5b_fewer_turns.yaml"):
        _, training_args, _ = parse_grpo_args(["--config", str(REPO / recipe)])
        assert training_args.loss_type and training_args.scale_rewards and training_args.beta is not None


def test_efficient_rl_recipes_are_the_official_run_and_the_toy_one_differs_only_in_its_reward():
    """recipes/efficient: Zanette-Labs/efficient-reasoning run_rloo_1.5B.sh's values (docs/methods/efficient.md);
    the toy recipe is grpo_plain.yaml with the length term added and without per-group std scaling, and its
    alpha 0.2 and 0.4 variants differ from it in alpha alone."""
    data, paper, model = parse_grpo_args(["--config", str(REPO / "recipes/efficient/grpo_r1_distill_1.5b.yaml")])
    assert model.model_name_or_path == "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    assert (data.dataset_name, data.prompt_column, data.answer_column) == (
        "daman1209arora/compression_dataset", "problem", "solution")
    assert data.prompt_template == ("Please reason step by step, and put your final answer within \\boxed{}. "
                                    "Question: {problem}")
    assert paper.reward_funcs == ["accuracy", "efficient_length"] and paper.reward_weights == [1.0, 1.0]
    assert paper.reward_kwargs["efficient_length"]["alpha"] == 0.1
    assert (paper.num_generations, paper.learning_rate, paper.beta, paper.temperature, paper.max_steps, paper.seed) == (
        8, 5e-6, 0.001, 1.0, 100, 42)
    assert (paper.scale_rewards, paper.loss_type, paper.max_completion_length) == ("batch", "grpo", 32000)
    _, toy, _ = parse_grpo_args(["--config", str(REPO / "recipes/toy/grpo_efficient.yaml")])
    _, plain, _ = parse_grpo_args(["--config", str(REPO / "recipes/toy/grpo_plain.yaml")])
    assert toy.reward_funcs == ["arm_accuracy", "arm_efficient_length"] and toy.scale_rewards == "none"
    assert toy.reward_kwargs["arm_efficient_length"]["alpha"] == 0.1
    differ = {k for k, v in vars(toy).items() if v != getattr(plain, k) and k != "distributed_state"}
    assert differ == {"reward_funcs", "reward_weights", "reward_kwargs", "scale_rewards"}, differ
    for name, alpha in (("grpo_efficient_alpha02", 0.2), ("grpo_efficient_alpha04", 0.4)):  # the paper's sweep
        _, strong, _ = parse_grpo_args(["--config", str(REPO / f"recipes/toy/{name}.yaml")])
        assert strong.reward_kwargs == {**toy.reward_kwargs, "arm_efficient_length": {
            **toy.reward_kwargs["arm_efficient_length"], "alpha": alpha}}, name
        assert {k for k, v in vars(strong).items() if v != getattr(toy, k) and k != "distributed_state"} == {
            "reward_kwargs"}, name
    # the official-loss recipes: the paper recipe's loss and whitening over the batch on a toy recipe, nothing else
    for name, dapo in (("grpo_efficient_official", "grpo_efficient"),
                       ("grpo_efficient_official_alpha02", "grpo_efficient_alpha02")):
        _, mine, _ = parse_grpo_args(["--config", str(REPO / f"recipes/toy/{dapo}.yaml")])
        _, official, _ = parse_grpo_args(["--config", str(REPO / f"recipes/toy/{name}.yaml")])
        assert (official.loss_type, official.scale_rewards) == (paper.loss_type, paper.scale_rewards), name
        assert {k for k, v in vars(official).items() if v != getattr(mine, k) and k != "distributed_state"} == {
            "loss_type", "scale_rewards"}, name


def test_mind_recipes_are_the_papers_and_the_extension_is_named():
    """MinD's recipes: R = format + accuracy + unit compactness with GRPO's per-sequence normalisation; the
    fewer-turns reward only in the *_fewer_turns extension recipes, which otherwise change nothing."""
    paper = ["mind_format", "accuracy", "unit_compactness"]
    for base in ("recipes/toy/grpo_mind", "recipes/mind/grpo_r1_distill_1.5b"):
        _, mind, _ = parse_grpo_args(["--config", str(REPO / f"{base}.yaml")])
        _, ext, _ = parse_grpo_args(["--config", str(REPO / f"{base}_fewer_turns.yaml")])
        assert mind.reward_funcs == paper and mind.loss_type == "grpo", base
        assert ext.reward_funcs == [*paper, "fewer_turns"] and ext.loss_type == "grpo", base
        for key in ("learning_rate", "num_generations", "temperature", "beta", "scale_rewards", "max_completion_length"):
            assert getattr(mind, key) == getattr(ext, key), (base, key)


def test_arm_recipe_trains_on_the_papers_data_mix(shared_data, tmp_path):
    """recipes/arm/grpo_qwen2.5_7b.yaml names ARM's three RL sources (GSM8K + MATH + CSQA train, as the ARM repo
    ships them); loaded here from files laid out like them, every gold is one ARM's reward can check."""
    import json as _json

    from thrifty.rewards import get_reward
    from thrifty.trainers.grpo import load_grpo_prompts

    data_args, training_args, _ = parse_grpo_args(["--config", str(REPO / "recipes/arm/grpo_qwen2.5_7b.yaml")])
    assert [Path(p).parent.name for p in data_args.dataset_mixture] == ["gsm8k", "MATH", "csqa"]
    assert all(p.startswith("ARM/verl/data/jsonl/") for p in data_args.dataset_mixture)
    assert training_args.variant == "ada" and training_args.reward_funcs == ["arm_accuracy"]
    # TEAM-ARM/ARM verl/stage2_scripts/trainer/run.sh (and ppo_trainer.yaml's clip_ratio / grad_clip defaults)
    a = training_args
    assert (a.num_generations, a.learning_rate, a.beta, a.temperature, a.max_completion_length) == (8, 1e-6, 0.001, 1.0, 4096)
    assert (a.num_train_epochs, a.epsilon, a.max_grad_norm, a.lr_scheduler_type) == (9, 0.2, 1.0, "constant")
    # ARM's gsm8k_train.jsonl holds {question, answer: the number}: the same shape from OpenAI's file
    gsm8k = tmp_path / "gsm8k_train.jsonl"
    rows = [_json.loads(line) for line in (shared_data / "gsm8k/train.jsonl").read_text().splitlines()[:50]]
    gsm8k.write_text("".join(_json.dumps({"question": r["question"], "answer": r["answer"].split("####")[-1].strip()})
                             + "\n" for r in rows))
    data_args.dataset_mixture = [str(gsm8k), str(shared_data / "arm/MATH_train.jsonl"),
                                 str(shared_data / "arm/csqa_train.jsonl")]
    data = load_grpo_prompts(data_args)
    assert len(data) == 50 + 7496 + 4929
    sources = data["data_source"]
    firsts = {s: data[sources.index(s)] for s in data_args.dataset_mixture}
    golds = [row["answer"] for row in firsts.values()]
    assert golds[0] == rows[0]["answer"].split("####")[-1].strip() and golds[2] in "ABCDE"
    assert "\\boxed" not in golds[1]  # MATH's $\boxed{...}$ reduced to its content
    reward = get_reward("arm_accuracy", num_workers=1)
    completions = [f"<ANSWER>\n{g}\n</ANSWER>" for g in golds]
    assert reward(None, completions, None, answer=golds) == [1.0, 1.0, 1.0]


def test_run_spec_names_the_length_penalty_only_when_it_is_on(tiny_model_dir, tmp_path):
    """ARM2's keys change what a GRPO run computes, so a resume with another value is refused; runs recorded before
    they existed (at their defaults) still resume, since the spec leaves them out at those defaults."""
    from thrifty.trainers.common import run_spec

    base = ["--config", str(REPO / "recipes/toy/grpo_ada.yaml"), "--model_name_or_path", str(tiny_model_dir),
            "--output_dir", str(tmp_path)]
    assert "ada_length_penalty" not in run_spec("grpo", *parse_grpo_args(base))
    arm2 = ["--config", str(REPO / "recipes/toy/grpo_arm2.yaml"), *base[2:]]
    assert run_spec("grpo", *parse_grpo_args(arm2))["ada_length_penalty"] is True
    assert run_spec("grpo", *parse_grpo_args([*arm2, "--ada_length_lambda", "0.3"]))["ada_length_lambda"] == 0.3


def test_toy_levels_train_on_those_levels_only(tmp_path):
    """``toy_levels`` picks levels of the tiered world (here the easy and hard tiers), never a test problem; bad
    values name the key."""
    from thrifty.toy_world import TIERED_LEVELS, ToyWorld
    from thrifty.trainers.grpo import toy_prompts

    base = ["--config", str(REPO / "recipes/toy/grpo_arm2.yaml"), "--output_dir", str(tmp_path)]
    data_args, _, _ = parse_grpo_args([*base, "--toy_levels", "1", "2", "7", "8", "9", "--toy_num_problems", "200"])
    rows = toy_prompts(data_args)
    world = ToyWorld()
    kinds = set()
    for row in rows:
        question = row["prompt"][-1]["content"]
        kinds.add(("pair_sum" if "+" in question else "running_sum", len(question.split("+")[0].replace("_", "").split())))
    assert kinds == {("running_sum", 1), ("running_sum", 2), ("pair_sum", 2), ("pair_sum", 3), ("pair_sum", 4)}
    assert {TIERED_LEVELS[d - 1] for d in (1, 2, 7, 8, 9)} == kinds
    test_questions = {p.question for p in world.test_set(30)}
    assert not test_questions & {row["prompt"][-1]["content"] for row in rows}
    for bad, message in ((["0", "3"], r"toy_levels = 0 is out of range"), (["10"], r"toy_levels: \[10\]")):
        with pytest.raises(RecipeError, match=message):
            toy_prompts(parse_grpo_args([*base, "--toy_levels", *bad])[0])
    with pytest.raises(RecipeError, match="toy_levels cannot be combined"):
        toy_prompts(parse_grpo_args([*base, "--toy_levels", "1", "--toy_family", "pair_sum"])[0])
