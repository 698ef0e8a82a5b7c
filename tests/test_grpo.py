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
        assert "rewards/accuracy/mean" in h
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
        for name in ("mind_format", "accuracy", "fewer_turns", "unit_compactness"):
            assert f"rewards/{name}/mean" in h


@pytest.mark.slow
def test_ada_alpha_matches_pure_function(tiny_model_dir, tmp_path):
    """The trainer scales each group's rewards by exactly ada_grpo_alpha of the group's formats, and logs
    those alphas as the completions table's ``ada_alpha`` column."""
    import torch

    from thrifty.rewards import ada_grpo_alpha_batch

    argv = ["--config", str(REPO / "recipes/toy/grpo_ada.yaml"), "--model_name_or_path", str(tiny_model_dir),
            "--output_dir", str(tmp_path), *TINY, "--max_steps", "4", "--reward_funcs", "short_length",
            "--reward_weights", "1.0", "--reward_kwargs", "{}"]
    data_args, training_args, model_args = parse_grpo_args(argv)
    trainer = build_grpo_trainer(data_args, training_args, model_args)
    trainer.state.global_step, trainer.state.max_steps = 1, 4
    completions = ["<ANSWER>\n1\n</ANSWER>", "x", "y", "<ANSWER>\n2\n</ANSWER>"]
    ids = [[1, 2], [1] * 6, [1] * 4, [1] * 3]
    trainer.model.train()
    out = trainer._calculate_rewards([{"answer": "1"}] * 4, ["p"] * 4, completions, ids)
    raw = torch.tensor([1 - len(i) / 64 for i in ids]).unsqueeze(1)
    expected = ada_grpo_alpha_batch(["direct", "unknown", "unknown", "direct"], 4, 1, 4)
    assert torch.allclose(out, raw * torch.tensor(expected).unsqueeze(1))
    # one process: its slice of the gathered alphas is all of them (2 processes: tests/test_launch_ada.py)
    assert trainer._pending_extra_logs["ada_alpha"] == expected


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
    with pytest.raises(RecipeError, match="num_generatons.*did you mean 'num_generations'"):
        cmd_grpo(["--config", str(REPO / "recipes/toy/grpo_plain.yaml"), "--num_generatons", "4"])


def test_real_data_recipes_parse():
    for recipe in ("recipes/arm/grpo_qwen2.5_7b.yaml", "recipes/mind/grpo_r1_distill_1.5b.yaml"):
        _, training_args, _ = parse_grpo_args(["--config", str(REPO / recipe)])
        assert training_args.loss_type and training_args.scale_rewards and training_args.beta is not None
