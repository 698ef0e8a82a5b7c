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

An ``output_dir`` belongs to one run: :func:`train_and_save` records the run's inputs (:func:`run_spec`: model
fingerprint, data arguments, the training keys that change what is computed, not ``max_steps``) in
``output_dir/thrifty_train_run.json`` (:mod:`thrifty.run_record`) and refuses to resume checkpoints recorded for other
inputs, naming the keys that differ. A rerun of a finished run trains no further step and keeps its final model,
also when the run kept no checkpoint (``save_strategy: no``: :data:`TRAIN_DONE` records where it ended);
``resume_from_checkpoint: false`` moves the old checkpoints into ``previous_run_<time>/`` instead of leaving them
for a later ``auto``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import zipfile
from pathlib import Path
from typing import Any

from thrifty.l1_budget import L1_BUDGET_RANGE, L1_INSTRUCTION
from thrifty.recipes import RecipeError
from thrifty.rewards.ada import ARM2_LENGTH_LAMBDA
from thrifty.rewards.adaptthink import (
    ADAPTTHINK_DELTA,
    ADAPTTHINK_NOTHINKING_RATIO,
    NOTHINKING_PREFIX,
    THINKING_PREFIX,
)

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


# ---------------------------------------------------------------------------------------------------------
# Which run an output_dir belongs to (thrifty.run_record), finished runs, wandb folders
# ---------------------------------------------------------------------------------------------------------
#: Training keys that change what a resumed run computes: a resume with another value of any of them is refused.
#: ``max_steps``/``num_train_epochs`` are left out on purpose (extending a finished run is a resume).
RUN_SPEC_TRAINING_KEYS = (
    "learning_rate", "lr_scheduler_type", "warmup_steps", "warmup_ratio", "weight_decay", "seed",
    "per_device_train_batch_size", "gradient_accumulation_steps", "max_length", "packing", "loss_averaging",
    "assistant_only_loss", "completion_only_loss", "variant", "reward_funcs", "reward_weights", "reward_kwargs",
    "ada_zero_unknown", "num_generations", "max_completion_length", "temperature", "beta", "loss_type",
    "scale_rewards", "ada_length_penalty", "ada_length_lambda", "importance_sampling_level", "adaptthink_delta",
    "adaptthink_nothinking_ratio", "adaptthink_nothinking_prefix", "adaptthink_thinking_prefix",
)
#: Keys added to the run spec (training keys of :data:`RUN_SPEC_TRAINING_KEYS`, and ``data.`` keys of a recipe's data
#: arguments) after runs were recorded without them: left out of the spec while at these defaults, so that such
#: runs still resume after an upgrade.
RUN_SPEC_LATER_DEFAULTS: dict[str, Any] = {
    "ada_length_penalty": False, "ada_length_lambda": ARM2_LENGTH_LAMBDA, "importance_sampling_level": "token",
    "adaptthink_delta": ADAPTTHINK_DELTA, "adaptthink_nothinking_ratio": ADAPTTHINK_NOTHINKING_RATIO,
    "adaptthink_nothinking_prefix": NOTHINKING_PREFIX, "adaptthink_thinking_prefix": THINKING_PREFIX,
    "data.l1_budget_mode": None, "data.l1_budget_range": list(L1_BUDGET_RANGE), "data.l1_instruction": L1_INSTRUCTION,
    "data.l1_budget_seed": 0, "data.adaptthink_ref_file": None, "data.adaptthink_ref_samples": 0,
}
RUN_SPEC_MODEL_KEYS = ("use_peft", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "use_rslora",
                       "use_dora", "dtype")


def run_spec(stage: str, data_args, training_args, model_args) -> dict[str, Any]:
    """What a training run is made of, for :mod:`thrifty.run_record`: the stage, the model (name and
    :func:`thrifty.models.model_fingerprint`), every data argument and the training/model keys that change what
    the run computes (:data:`RUN_SPEC_TRAINING_KEYS`, :data:`RUN_SPEC_MODEL_KEYS`)."""
    from dataclasses import asdict

    from thrifty.models import model_fingerprint

    model = model_args.model_name_or_path
    spec: dict[str, Any] = {"stage": stage, "model_name_or_path": model, "model_fingerprint": model_fingerprint(model)}
    training = {key: getattr(training_args, key) for key in RUN_SPEC_TRAINING_KEYS if hasattr(training_args, key)}
    data = {f"data.{k}": v for k, v in sorted(asdict(data_args).items())}
    spec.update({key: value for key, value in {**data, **training}.items()
                 if key not in RUN_SPEC_LATER_DEFAULTS or value != RUN_SPEC_LATER_DEFAULTS[key]})
    for key in RUN_SPEC_MODEL_KEYS:
        if hasattr(model_args, key):
            spec[key] = getattr(model_args, key)
    return json.loads(json.dumps(spec, default=str))


def _checkpoints(output_dir: Path) -> list[Path]:
    if not output_dir.is_dir():
        return []
    return sorted((p for p in output_dir.iterdir() if p.is_dir() and _CHECKPOINT.match(p.name)),
                  key=lambda p: int(_CHECKPOINT.match(p.name).group(1)))


def _move_old_checkpoints_aside(output_dir: Path) -> None:
    """``resume_from_checkpoint: false`` with checkpoints of an earlier run in ``output_dir``: move them (and that
    run's record) into ``output_dir/previous_run_<UTC time>/`` so no later ``auto`` resumes from them and nothing
    is deleted."""
    import time

    from thrifty.run_record import TRAIN_RECORD

    old = _checkpoints(output_dir)
    if not old:
        return
    aside = output_dir / time.strftime("previous_run_%Y%m%dT%H%M%SZ", time.gmtime())
    aside.mkdir()
    for path in [*old, output_dir / TRAIN_RECORD]:
        if path.exists():
            path.rename(aside / path.name)
    logger.warning("resume_from_checkpoint is false, but %s held checkpoints of an earlier run (%s): moved them to "
                   "%s; this run starts from step 0", output_dir, ", ".join(p.name for p in old), aside)


def check_run_record(output_dir: str, spec: dict[str, Any], resume: str | None, is_main: bool = True) -> None:
    """Refuse to resume ``output_dir`` for a run of other inputs, then record ``spec`` as its run.

    With a checkpoint to resume (``resume``), the record of the run that wrote the checkpoints
    (``output_dir/thrifty_train_run.json``, :func:`thrifty.run_record.reuse_finished_run`) must equal ``spec``: a
    :class:`~thrifty.recipes.RecipeError` names every differing key. Checkpoints written before thrifty kept this
    record are resumed with a warning. With no checkpoint to resume, leftover checkpoints (``resume_from_checkpoint:
    false``) are moved aside (:func:`_move_old_checkpoints_aside`). The main process then writes ``spec``
    (:func:`thrifty.run_record.record_finished_run`)."""
    from thrifty.errors import UserInputError
    from thrifty.run_record import TRAIN_RECORD, record_finished_run, reuse_finished_run

    out = Path(output_dir)
    if resume is not None and Path(resume).parent.resolve() == out.resolve():
        try:
            recorded = reuse_finished_run(out, spec, finished_file=TRAIN_RECORD, record_name=TRAIN_RECORD)
        except UserInputError as err:
            raise RecipeError(f"output_dir {out}: cannot resume {Path(resume).name}: it was written by another run; "
                              f"{err}. Use a new output_dir, or resume_from_checkpoint: false to start over "
                              "(the old checkpoints are moved aside)") from None
        if not recorded:
            logger.warning("%s has no %s (written before thrifty recorded runs): resuming %s without checking that "
                           "it was trained with the same recipe and data", out, TRAIN_RECORD, resume)
    elif resume is None and is_main:
        _move_old_checkpoints_aside(out)
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        record_finished_run(out, spec, record_name=TRAIN_RECORD)


def _checkpoint_end(ckpt: str) -> tuple[int, float]:
    """The global step and epoch the checkpoint ``ckpt`` was saved at."""
    state = json.loads((Path(ckpt) / "trainer_state.json").read_text())
    return int(state["global_step"]), float(state.get("epoch") or 0.0)


def _has_final_model(output_dir: str) -> bool:
    return any((Path(output_dir) / name).is_file() for name in (*_WEIGHT_FILES, *_INDEX_FILES))


#: Written into ``output_dir`` after its final model: the step and epoch the run ended at. The run's inputs are
#: its ``thrifty_train_run.json`` (this file is removed before a new run rewrites that), so a rerun of a run that
#: kept no checkpoint (``save_strategy: no``) is known to be finished too.
TRAIN_DONE = "thrifty_train_done.json"


def _ends_run(step: int, epoch: float, args) -> bool:
    """Whether a run that ended at ``step`` / ``epoch`` covers what ``args`` asks for (``max_steps``, else epochs)."""
    if getattr(args, "max_steps", -1) and args.max_steps > 0:
        return step >= args.max_steps
    return epoch >= float(args.num_train_epochs) - 1e-9


def _finished_without_checkpoint(args, spec: dict[str, Any]) -> int | None:
    """The step at which a finished run of ``spec`` ended in ``args.output_dir`` (its final model,
    :data:`TRAIN_DONE` and a run record equal to ``spec`` there, covering what ``args`` asks for), or None: train."""
    from thrifty.run_record import TRAIN_RECORD, spec_differences

    out = Path(args.output_dir)
    if not (out / TRAIN_DONE).is_file() or not _has_final_model(args.output_dir):
        return None
    try:
        done = json.loads((out / TRAIN_DONE).read_text())
        step, epoch = int(done["global_step"]), float(done["epoch"])
        recorded = json.loads((out / TRAIN_RECORD).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable or missing: train again, which rewrites both
    differ = spec_differences(recorded, spec)
    if differ:
        logger.warning("%s holds the final model of a run of other inputs (%s): this run replaces it",
                       args.output_dir, ", ".join(differ))
        return None
    if not _ends_run(step, epoch, args):
        logger.warning("%s ended at step %d and kept no checkpoint to continue from: training again from step 0",
                       args.output_dir, step)
        return None
    return step


#: The wandb folders thrifty pointed at an output_dir (so the next run in this process moves them to its own).
_WANDB_SET: dict[str, str] = {}
WANDB_FOLDERS = {"WANDB_DIR": "", "WANDB_CACHE_DIR": "wandb/cache", "WANDB_DATA_DIR": "wandb/data"}


def wandb_defaults(training_args) -> None:
    """With wandb in ``report_to``: offline unless ``WANDB_MODE`` says otherwise, and its run, cache and data
    folders under ``output_dir`` (``WANDB_DIR`` = ``output_dir``, so runs land in ``output_dir/wandb/``;
    ``WANDB_CACHE_DIR`` and ``WANDB_DATA_DIR`` = ``output_dir/wandb/cache`` and ``.../data``) unless the user set
    them, so nothing is written to the working directory or the home folder."""
    report_to = training_args.report_to
    values = [report_to] if isinstance(report_to, str) else list(report_to or [])
    if "wandb" not in values and "all" not in values:
        return
    os.environ.setdefault("WANDB_MODE", "offline")
    out = Path(training_args.output_dir).resolve()
    for name, sub in WANDB_FOLDERS.items():
        if name in os.environ and _WANDB_SET.get(name) != os.environ[name]:
            continue  # the user's own setting
        folder = str(out / sub) if sub else str(out)
        os.environ[name] = _WANDB_SET[name] = folder
        Path(folder).mkdir(parents=True, exist_ok=True)


def train_and_save(trainer, training_data: dict | list[dict] | None = None,
                   spec: dict[str, Any] | None = None) -> str:
    """Train (resuming per ``args.resume_from_checkpoint``), then save the model or adapter and the tokenizer to
    ``args.output_dir``; returns ``output_dir``.

    ``spec`` (:func:`run_spec`) is checked against and recorded as the run of ``output_dir``
    (:func:`check_run_record`). A checkpoint that already reached ``max_steps`` (or ``num_train_epochs``) is not
    trained further: the run is finished, and the final model is written only when it is missing (from that
    checkpoint), so rerunning a finished command changes nothing. ``training_data`` (the keyword arguments of
    :func:`thrifty.decontaminate.write_training_record`, or a list of them, one per dataset) records the data,
    after the datasets recorded with the base model, so ``thrifty eval`` can warn when it overlaps a benchmark."""
    args = trainer.args
    if getattr(args, "hub_token", None):  # the Trainer pickles its args into every checkpoint: keep the token out
        os.environ["HF_TOKEN"] = args.hub_token  # huggingface_hub reads it from here for push_to_hub
        args.hub_token = None
    is_main = trainer.accelerator.is_main_process
    resume = resolve_resume(args.resume_from_checkpoint, args.output_dir)
    if resume is None and args.resume_from_checkpoint in (True, "true", "auto") and spec is not None:
        ended = _finished_without_checkpoint(args, spec)
        trainer.accelerator.wait_for_everyone()  # every process has decided before the main one changes the folder
        if ended is not None:
            logger.warning("%s already finished (step %d, no checkpoint kept): nothing to train, and its final model "
                           "is kept as it is; raise max_steps to train again from step 0", args.output_dir, ended)
            return args.output_dir
    if is_main:
        (Path(args.output_dir) / TRAIN_DONE).unlink(missing_ok=True)  # this run is not finished until it is saved
    if spec is not None:
        check_run_record(args.output_dir, spec, resume, is_main)
    step, epoch = _checkpoint_end(resume) if resume else (0, 0.0)
    if resume and _ends_run(step, epoch, args):
        if _has_final_model(args.output_dir):
            logger.warning("%s already finished (%s is at step %d of %s): nothing to train, and the final model in "
                           "%s is kept as it is; raise max_steps to train further", args.output_dir,
                           Path(resume).name, step, args.max_steps if args.max_steps > 0 else "its epochs",
                           args.output_dir)
            return args.output_dir
        logger.warning("%s is at step %d, the end of the run: nothing to train; saving its model to %s", resume,
                       step, args.output_dir)
        trainer._load_from_checkpoint(resume)
    else:
        trainer.train(resume_from_checkpoint=resume)
        step, epoch = trainer.state.global_step, float(trainer.state.epoch or 0.0)
    trainer.save_model(args.output_dir)
    if is_main:
        trainer.processing_class.save_pretrained(args.output_dir)
        from thrifty.jsonl import write_json
        from thrifty.paths import share_files

        share_files(args.output_dir)  # the weights are written 0600: readable per umask, like the other files
        entries = [training_data] if isinstance(training_data, dict) else list(training_data or [])
        _write_training_records(args.output_dir, [e for e in entries if e.get("dataset")])
        if spec is not None:  # without a run record there is nothing to check a rerun against
            write_json(Path(args.output_dir) / TRAIN_DONE, {"global_step": step, "epoch": epoch})
    _finish_wandb_run()
    return args.output_dir


def _finish_wandb_run() -> None:
    """Close the wandb run the Trainer's callback opened, so that a next training in the same process (``thrifty
    demo``'s stages, a notebook) starts its own run instead of logging into this finished one."""
    import sys

    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish()


def _write_training_records(output_dir: str, entries: list[dict]) -> None:
    """One :func:`~thrifty.decontaminate.write_training_record` per dataset: the first inherits the base model's
    entries, every next one those just written (so a mixture lists each of its sources)."""
    from thrifty.decontaminate import write_training_record

    for i, entry in enumerate(entries):
        write_training_record(output_dir, **(entry if i == 0 else {**entry, "base_model": output_dir}))
