"""What every training stage shares: train (resuming where asked) and save model + tokenizer."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def resolve_resume(resume: str | bool | None, output_dir: str) -> str | None:
    """``auto``/``true``: the last checkpoint in ``output_dir`` if any; a path: itself; else None."""
    from transformers.trainer_utils import get_last_checkpoint

    if resume in (None, False, "false", "none", ""):
        return None
    if resume in (True, "true", "auto"):
        last = get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None
        if last:
            logger.info("resuming from %s", last)
        return last
    return str(resume)


def train_and_save(trainer, training_data: dict | None = None) -> str:
    """Train (resuming per ``args.resume_from_checkpoint``), then save the model or adapter and the tokenizer to
    ``args.output_dir``; returns ``output_dir``. ``training_data`` (the keyword arguments of
    :func:`thrifty.decontaminate.write_training_record`) records the dataset, so ``thrifty eval`` can warn when
    it overlaps a benchmark."""
    args = trainer.args
    trainer.train(resume_from_checkpoint=resolve_resume(args.resume_from_checkpoint, args.output_dir))
    trainer.save_model(args.output_dir)
    if trainer.accelerator.is_main_process:
        trainer.processing_class.save_pretrained(args.output_dir)
        if training_data and training_data.get("dataset"):
            from thrifty.decontaminate import write_training_record

            write_training_record(args.output_dir, **training_data)
    return args.output_dir
