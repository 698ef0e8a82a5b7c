"""What every training stage shares: train (resuming where asked, from the last *complete* checkpoint) and save
model + tokenizer.

A checkpoint counts only when what the Trainer reloads is all there and readable. transformers writes a
checkpoint folder in place, in this order (``Trainer._save_checkpoint``): weights, optimizer and scheduler,
RNG state, then ``trainer_state.json`` last; a kill during saving leaves a folder with only some of these, or with
a torn file. :func:`checkpoint_problem` checks that ``trainer_state.json`` parses and names its step, that the
weights are present and complete (safetensors headers cover the whole file; every shard of an index exists;
DeepSpeed's ``latest`` names an existing folder) and that every torch file (``optimizer.pt``, ``scheduler.pt``,
``rng_state*.pth``, ``*.bin``) is an intact zip archive (its central directory, written last, reads). This costs
a few header reads, not a load of the weights. ``resume_from_checkpoint: auto`` then takes the newest complete
checkpoint and logs every newer one it skips.
"""

from __future__ import annotations

import json
import logging
import os
import re
import zipfile
from pathlib import Path

from thrifty.recipes import RecipeError

logger = logging.getLogger(__name__)

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
_WEIGHT_FILES = ("model.safetensors", "adapter_model.safetensors", "pytorch_model.bin", "adapter_model.bin")
_INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def _torch_file_problem(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            archive.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        return f"{path.name} is torn ({err})"
    return None


def _safetensors_problem(path: Path) -> str | None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), "pt") as handle:
            handle.keys()
    except Exception as err:  # noqa: BLE001 - SafetensorError is not importable as a class everywhere
        return f"{path.name} is torn ({err})"
    return None


def _weights_problem(ckpt: Path) -> str | None:
    for index_name in _INDEX_FILES:
        index = ckpt / index_name
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                return f"{index_name} is torn ({err})"
            for shard in shards:
                if not (ckpt / shard).is_file():
                    return f"shard {shard} of {index_name} is missing"
                check = _safetensors_problem if shard.endswith(".safetensors") else _torch_file_problem
                if problem := check(ckpt / shard):
                    return problem
            return None
    found = [ckpt / name for name in _WEIGHT_FILES if (ckpt / name).is_file()]
    latest = ckpt / "latest"  # DeepSpeed: the engine's own checkpoint folder
    if latest.is_file():
        tag = latest.read_text().strip()
        if not tag or not (ckpt / tag).is_dir():
            return f"DeepSpeed's 'latest' names {tag!r}, which is not a folder"
        torn = [p for p in (ckpt / tag).glob("*.pt") if _torch_file_problem(p)]
        if torn:
            return f"{tag}/{torn[0].name} is torn"
    elif not found:
        return "no model weights (" + ", ".join(_WEIGHT_FILES) + ")"
    for path in found:
        check = _safetensors_problem if path.suffix == ".safetensors" else _torch_file_problem
        if problem := check(path):
            return problem
    return None


def checkpoint_problem(ckpt: str | Path) -> str | None:
    """Why ``ckpt`` cannot be resumed from (module docstring), or None when it is complete."""
    ckpt = Path(ckpt)
    if not ckpt.is_dir():
        return "no such folder"
    try:
        state = json.loads((ckpt / "trainer_state.json").read_text())
        step = int(state["global_step"])
    except FileNotFoundError:
        return "no trainer_state.json (the run was killed while saving it)"
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        return f"trainer_state.json is torn ({err})"
    match = _CHECKPOINT.match(ckpt.name)
    if match and int(match.group(1)) != step:
        return f"trainer_state.json says step {step}, the folder name says {match.group(1)}"
    if problem := _weights_problem(ckpt):
        return problem
    for path in sorted([*ckpt.glob("*.pt"), *ckpt.glob("*.pth")]):
        if problem := _torch_file_problem(path):
            return problem
    return None


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The newest ``checkpoint-N`` in ``output_dir`` that :func:`checkpoint_problem` accepts (newer, incomplete
    ones are logged and skipped), or None."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return None
    found = sorted(((int(m.group(1)), p) for p in output_dir.iterdir()
                    if p.is_dir() and (m := _CHECKPOINT.match(p.name))), reverse=True)
    for _, ckpt in found:
        problem = checkpoint_problem(ckpt)
        if problem is None:
            return str(ckpt)
        logger.warning("skipping incomplete checkpoint %s: %s", ckpt, problem)
    if found:
        logger.warning("no complete checkpoint in %s: training starts from the beginning", output_dir)
    return None


def resolve_resume(resume: str | bool | None, output_dir: str) -> str | None:
    """``auto``/``true``: the last complete checkpoint in ``output_dir`` if any; a path: itself, once checked
    complete (else a :class:`RecipeError`); else None."""
    if resume in (None, False, "false", "none", ""):
        return None
    if resume in (True, "true", "auto"):
        last = last_complete_checkpoint(output_dir)
        if last:
            logger.info("resuming from %s", last)
        return last
    _check_explicit_checkpoint(str(resume))
    logger.info("resuming from %s", resume)
    return str(resume)


def _check_explicit_checkpoint(resume: str) -> None:
    problem = checkpoint_problem(resume)
    if problem:
        raise RecipeError(f"resume_from_checkpoint {resume}: cannot resume from it: {problem}; "
                          "name a complete checkpoint or use 'auto' (the newest complete one)")


def preflight(model_name_or_path: str | None, training_args) -> None:
    """What a training stage checks before it builds anything (so a refused run writes nothing): the model loads
    (:func:`thrifty.models.check_model_source`) and an explicit ``resume_from_checkpoint`` is complete."""
    from thrifty.models import check_model_source

    check_model_source(model_name_or_path)
    resume = getattr(training_args, "resume_from_checkpoint", None)
    if resume not in (None, False, True, "", "false", "none", "true", "auto"):
        _check_explicit_checkpoint(str(resume))


def train_and_save(trainer, training_data: dict | None = None) -> str:
    """Train (resuming per ``args.resume_from_checkpoint``), then save the model or adapter and the tokenizer to
    ``args.output_dir``; returns ``output_dir``. ``training_data`` (the keyword arguments of
    :func:`thrifty.decontaminate.write_training_record`) records the dataset, so ``thrifty eval`` can warn when
    it overlaps a benchmark."""
    args = trainer.args
    if getattr(args, "hub_token", None):  # the Trainer pickles its args into every checkpoint: keep the token out
        os.environ["HF_TOKEN"] = args.hub_token  # huggingface_hub reads it from here for push_to_hub
        args.hub_token = None
    trainer.train(resume_from_checkpoint=resolve_resume(args.resume_from_checkpoint, args.output_dir))
    trainer.save_model(args.output_dir)
    if trainer.accelerator.is_main_process:
        trainer.processing_class.save_pretrained(args.output_dir)
        if training_data and training_data.get("dataset"):
            from thrifty.decontaminate import write_training_record

            write_training_record(args.output_dir, **training_data)
    return args.output_dir
