"""SFT trains for real on the toy data: loss falls, LoRA saves an adapter, per-sequence averaging, resume."""

import json

import pytest
import torch
from trl import ModelConfig

from thrifty.data_builders.toy_build import build_toy_dataset
from thrifty.recipes import parse_recipe
from thrifty.trainers.sft import (
    DataArguments,
    ThriftySFTConfig,
    build_sft_trainer,
    run_sft,
    sequence_mean_nll,
)

SFT_TYPES = (DataArguments, ThriftySFTConfig, ModelConfig)


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory, toy_world):
    out = tmp_path_factory.mktemp("toy_data")
    return build_toy_dataset(out, n_train=512, n_test_per_difficulty=5, world=toy_world)


def _args(model, data, out, *extra):
    return ["--model_name_or_path", str(model), "--dataset_name", data, "--output_dir", str(out),
            "--per_device_train_batch_size", "8", "--learning_rate", "3e-3", "--logging_steps", "1",
            "--report_to", "none", "--disable_tqdm", "true", "--save_strategy", "no", "--seed", "0", *extra]


def _losses(trainer):
    return [log["loss"] for log in trainer.state.log_history if "loss" in log]


def test_full_sft_loss_falls(tiny_model_dir, toy_data, tmp_path):
    trainer = build_sft_trainer(*parse_recipe(SFT_TYPES, _args(tiny_model_dir, toy_data["sft"], tmp_path, "--max_steps", "40",
                                                         "--lr_scheduler_type", "constant")))
    trainer.train()
    losses = _losses(trainer)
    first, last = losses[0], sum(losses[-3:]) / 3
    assert last < 0.5 * first, losses  # stated margin: the loss at least halves in 40 steps


def test_lora_sft_saves_adapter_and_formats_filter(tiny_model_dir, toy_data, tmp_path):
    args = _args(tiny_model_dir, toy_data["sft"], tmp_path, "--max_steps", "3", "--use_peft", "true",
                 "--lora_r", "4", "--lora_alpha", "8", "--lora_target_modules", "q_proj", "v_proj",
                 "--formats", "direct", "short_cot")
    run_sft(*parse_recipe(SFT_TYPES, args))
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 4
    assert (tmp_path / "tokenizer_config.json").exists()
    from thrifty.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(str(tmp_path))
    assert tok("<COT>")["input_ids"] and hasattr(model, "peft_config")


def test_sequence_mean_nll_weighs_examples_equally():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 11)
    labels = torch.tensor([[-100, 1, 2, 3, 4, 5], [-100, -100, -100, -100, 7, -100]])
    per_token = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), labels[:, 1:].clamp(min=0), reduction="none")
    mask = labels[:, 1:] != -100
    expected = ((per_token * mask).sum(1) / mask.sum(1)).mean()
    assert torch.allclose(sequence_mean_nll(logits, labels), expected)
    token_mean = (per_token * mask).sum() / mask.sum()
    assert not torch.allclose(token_mean, expected)  # the two averagings really differ


def test_sequence_averaging_trains(tiny_model_dir, toy_data, tmp_path):
    trainer = build_sft_trainer(*parse_recipe(SFT_TYPES, _args(
        tiny_model_dir, toy_data["sft"], tmp_path, "--max_steps", "20", "--loss_averaging", "sequence",
        "--gradient_accumulation_steps", "2")))
    trainer.train()
    losses = _losses(trainer)
    assert losses[-1] < 0.7 * losses[0], losses


def test_resume_continues_from_checkpoint(tiny_model_dir, toy_data, tmp_path):
    base = _args(tiny_model_dir, toy_data["sft"], tmp_path, "--save_strategy", "steps", "--save_steps", "3",
                 "--resume_from_checkpoint", "auto")
    run_sft(*parse_recipe(SFT_TYPES, [*base, "--max_steps", "3"]))
    assert (tmp_path / "checkpoint-3").is_dir()
    trainer = build_sft_trainer(*parse_recipe(SFT_TYPES, [*base, "--max_steps", "5"]))
    from thrifty.trainers.common import resolve_resume

    resume = resolve_resume("auto", str(tmp_path))
    assert resume.endswith("checkpoint-3")
    from transformers import TrainerCallback

    ran = []

    class CountSteps(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            ran.append(state.global_step)

    trainer.add_callback(CountSteps())
    trainer.train(resume_from_checkpoint=resume)
    assert ran == [4, 5]  # only the remaining steps ran, numbered after the checkpoint's
    assert [log["step"] for log in trainer.state.log_history if "loss" in log] == [1, 2, 3, 4, 5]
