"""The toy world's training stages: ``thrifty toy pretrain`` (a toy base model from scratch)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from trl import ModelConfig

from thrifty.data_builders.toy_build import build_toy_dataset
from thrifty.data_builders.toy_world import ToyWorld
from thrifty.recipes import parse_recipe
from thrifty.tiny import TinyModelConfig, build_tiny_model, train_tokenizer

from .sft import DataArguments, ThriftySFTConfig, run_sft

logger = logging.getLogger(__name__)

FINAL_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
               "tokenizer_config.json", "chat_template.jinja")


def init_toy_model(out_dir: str | Path, world: ToyWorld | None = None, shape: TinyModelConfig | None = None) -> Path:
    """Train the toy tokenizer and build a randomly initialised tiny Qwen2 in ``out_dir``."""
    world = world or ToyWorld()
    out_dir = Path(out_dir)
    tokenizer = train_tokenizer(world.corpus(), out_dir)
    build_tiny_model(tokenizer, shape, out_dir=out_dir)
    return out_dir


def pretrain_toy_base(out_dir: str | Path, recipe: str | Path, overrides: list[str] | None = None,
                      n_train: int = 200000, seed: int = 0) -> Path:
    """Build the toy data, a fresh tiny model, and train it with the SFT recipe; resumable.

    The final model is copied to ``out_dir/final``.
    """
    out_dir = Path(out_dir)
    world = ToyWorld(seed=seed)
    data_dir = out_dir / "data"
    if not (data_dir / "sft.jsonl").exists():
        build_toy_dataset(data_dir, n_train=n_train, world=world)
    init_dir = out_dir / "init"
    if not (init_dir / "model.safetensors").exists():
        init_toy_model(init_dir, world)
    argv = ["--config", str(recipe), *(overrides or []),
            "--model_name_or_path", str(init_dir), "--dataset_name", str(data_dir / "sft.jsonl"),
            "--output_dir", str(out_dir / "checkpoints")]
    data_args, training_args, model_args = parse_recipe((DataArguments, ThriftySFTConfig, ModelConfig), argv)
    run_sft(data_args, training_args, model_args)
    final = out_dir / "final"
    final.mkdir(parents=True, exist_ok=True)
    for name in FINAL_FILES:
        src = Path(training_args.output_dir) / name
        if src.exists():
            shutil.copy2(src, final / name)
    logger.info("toy base model written to %s", final)
    return final
