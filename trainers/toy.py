"""The toy world's training stages: ``thrifty toy pretrain`` (a toy base model from scratch)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from trl import ModelConfig

from thrifty.data_builders.toy_build import DEFAULT_WEIGHTS, build_toy_dataset
from thrifty.errors import UserInputError
from thrifty.recipes import parse_recipe
from thrifty.run_record import claim_build_folder
from thrifty.tiny import TinyModelConfig, build_tiny_model, train_tokenizer
from thrifty.toy_world import PRETRAIN_LEVELS, TieredTask, ToyWorld

from .sft import DataArguments, ThriftySFTConfig, run_sft

logger = logging.getLogger(__name__)

#: ``OUT/toy_pretrain.json``: the inputs ``OUT/data`` and ``OUT/init`` were made from.
PRETRAIN_RECORD = "toy_pretrain.json"
FINAL_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
               "tokenizer_config.json", "chat_template.jinja")


def init_toy_model(out_dir: str | Path, world: ToyWorld | None = None, shape: TinyModelConfig | None = None) -> Path:
    """Train the toy tokenizer and build a randomly initialised tiny Qwen2 in ``out_dir``."""
    world = world or ToyWorld()
    out_dir = Path(out_dir)
    tokenizer = train_tokenizer(world.corpus(), out_dir)
    build_tiny_model(tokenizer, shape, out_dir=out_dir)
    return out_dir


#: The hard family's short CoT is a small share of the base's data (D:S:L = 1:0.3:1 against 1:1:1), so that at the
#: base's budget its one-token three-digit steps still fail where its long CoT is right (issue 17's hard tier).
PRETRAIN_FAMILY_WEIGHTS = {"pair_sum": {**DEFAULT_WEIGHTS, "short_cot": 0.3}}


def pretraining_world(seed: int = 0) -> ToyWorld:
    """What the toy base learns: every difficulty of every family (``PRETRAIN_LEVELS``), in every format."""
    return ToyWorld(task=TieredTask(levels=PRETRAIN_LEVELS), seed=seed)


def pretrain_toy_base(out_dir: str | Path, recipe: str | Path, overrides: list[str] | None = None,
                      n_train: int = 200000, seed: int = 0, init_from: str | Path | None = None) -> Path:
    """Build the toy data and train a tiny model on it with the SFT recipe; resumable.

    The model is a fresh one (a tokenizer trained on the toy world, a tiny Qwen2 from a config), or with
    ``init_from`` an existing toy model (its tokenizer too): continued pretraining. The final model is copied
    to ``out_dir/final``.

    The recipe and its overrides are parsed before anything is written. ``out_dir`` records what its data and
    initial model were made from (:data:`PRETRAIN_RECORD`: ``n_train``, ``seed``, the family weights, ``init_from``);
    a rerun into the same folder with other values is refused with an error naming them, instead of silently
    training on the old data (:func:`thrifty.run_record.claim_build_folder`).
    """
    out_dir = Path(out_dir)
    if init_from and not (Path(init_from) / "model.safetensors").exists():  # before anything is written
        raise UserInputError(f"--init-from {init_from}: no model.safetensors there (a toy model folder, or "
                             "'base' for the shipped toy base)")
    data_dir = out_dir / "data"
    init_dir = Path(init_from) if init_from else out_dir / "init"
    argv = ["--config", str(recipe), *(overrides or []),
            "--model_name_or_path", str(init_dir), "--dataset_name", str(data_dir / "sft.jsonl"),
            "--output_dir", str(out_dir / "checkpoints")]
    data_args, training_args, model_args = parse_recipe((DataArguments, ThriftySFTConfig, ModelConfig), argv)
    spec = {"n_train": n_train, "seed": seed, "family_weights": PRETRAIN_FAMILY_WEIGHTS,
            "init_from": str(Path(init_from).resolve()) if init_from else None}
    started = data_dir.exists() or (out_dir / "init").exists() or (out_dir / "checkpoints").exists()
    claim_build_folder(out_dir, spec, started, record=PRETRAIN_RECORD)
    world = pretraining_world(seed)
    if not (data_dir / "sft.jsonl").exists():
        build_toy_dataset(data_dir, n_train=n_train, world=world, family_weights=PRETRAIN_FAMILY_WEIGHTS)
    if not (init_dir / "model.safetensors").exists():
        init_toy_model(init_dir, world)
    run_sft(data_args, training_args, model_args)
    final = out_dir / "final"
    final.mkdir(parents=True, exist_ok=True)
    for name in FINAL_FILES:
        src = Path(training_args.output_dir) / name
        if src.exists():
            shutil.copy2(src, final / name)
    logger.info("toy base model written to %s", final)
    return final
