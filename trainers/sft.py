"""Supervised fine-tuning on TRL's ``SFTTrainer``: full or LoRA, loss on completions only, per-token or
per-sequence loss averaging, packing, resume from checkpoint.

Assistant-only loss on ``messages`` data (``assistant_only_loss: true``, the default): a template with
``{% generation %}`` markers masks itself; a template TRL knows is swapped for TRL's marked training copy
(``trl.chat_template_utils.get_training_chat_template``); any other template (SmolLM2's ChatML, many fine-tunes
and GGUF imports) is masked by thrifty from the template's own rendering (:mod:`thrifty.assistant_mask`): the
data is tokenized here into ``input_ids`` + ``assistant_masks`` and TRL builds the labels from them.

Starting model: a model folder, a Hub id, or a LoRA adapter folder (continued with ``use_peft: true``, merged
into its base and trained in full otherwise: :func:`thrifty.models.load_trainable_model`). Data rows are
checked before training (:func:`check_sft_rows`): a bad row is a ``DataError`` naming the file and row.

Loss averaging: ``token`` (TRL's default) divides the summed token losses of a batch by its number of
completion tokens, so every token weighs the same and long outputs are not under-weighted (LongWriter, Bai et
al. 2024, section 4.2). ``sequence`` first averages each sequence's token losses, then averages sequences, so
every example weighs the same whatever its length.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from trl import ModelConfig, SFTConfig, SFTTrainer, get_peft_config

from thrifty.assistant_mask import THRIFTY, add_assistant_masks, assistant_masking_plan
from thrifty.data import load_any

from .common import preflight, run_spec, train_and_save, wandb_defaults

logger = logging.getLogger(__name__)


@dataclass
class DataArguments:
    """Which data to train on."""

    dataset_name: str = field(
        default=None, metadata={"help": "JSONL/JSON/CSV/parquet file, save_to_disk folder or Hub dataset id"}
    )
    dataset_split: str = field(default="train", metadata={"help": "split to train on"})
    eval_dataset_name: str | None = field(default=None, metadata={"help": "optional evaluation data"})
    eval_split: str = field(default="test", metadata={"help": "split of eval_dataset_name"})
    formats: list[str] | None = field(
        default=None, metadata={"help": "keep only rows whose 'format' column is one of these"}
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "truncate the training set"})


@dataclass
class ThriftySFTConfig(SFTConfig):
    """TRL's ``SFTConfig`` plus thrifty's options."""

    loss_averaging: str = field(
        default="token", metadata={"help": "'token' (every token weighs the same) or 'sequence'"}
    )
    assistant_only_loss: bool = field(
        default=True, metadata={"help": "train on assistant turns only (conversational 'messages' data)"}
    )
    report_to: str | list[str] = field(default="none", metadata={"help": "none, wandb, tensorboard, ..."})

    def __post_init__(self):
        validate_loss_averaging(self.loss_averaging, self.packing)
        super().__post_init__()


def validate_loss_averaging(loss_averaging: str, packing: bool) -> None:
    """Refuse what ``loss_averaging`` cannot do: an unknown value, and ``sequence`` with ``packing``, where one
    packed row holds several examples, so the per-row mean would weigh examples by their share of the row
    instead of equally."""
    from thrifty.recipes import RecipeError

    if loss_averaging not in ("token", "sequence"):
        raise RecipeError(f"loss_averaging must be 'token' or 'sequence', not {loss_averaging!r}")
    if loss_averaging == "sequence" and packing:
        raise RecipeError("loss_averaging: sequence with packing: true would average per packed row, not per "
                          "example; set packing: false, or loss_averaging: token")


def sequence_mean_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over sequences of each sequence's mean next-token NLL (labels of -100 are ignored)."""
    targets = labels[:, 1:]
    mask = targets != -100
    nll = F.cross_entropy(
        logits[:, :-1].float().transpose(1, 2), targets.clamp(min=0), reduction="none"
    ) * mask
    has_tokens = mask.any(dim=1)
    per_sequence = nll.sum(dim=1) / mask.sum(dim=1).clamp(min=1)
    return per_sequence[has_tokens].mean() if has_tokens.any() else nll.sum() * 0.0


class ThriftySFTTrainer(SFTTrainer):
    """``SFTTrainer`` with per-sequence loss averaging as an option."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.args.loss_averaging == "sequence":
            self.loss_is_scaled_for_ga = False  # our loss is a per-micro-batch mean: let Trainer divide by GA

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.args.loss_averaging == "token":
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        model_inputs = {k: v for k, v in inputs.items() if k not in ("labels", "completion_mask", "assistant_masks")}
        outputs = model(**model_inputs, use_cache=False)
        loss = sequence_mean_nll(outputs.logits, inputs["labels"])
        return (loss, outputs) if return_outputs else loss


def known_formats() -> tuple[str, ...]:
    """The ``format`` values thrifty's builders write: ARM's four formats, MinD's ``multiturn`` and LongWriter's."""
    from thrifty.formats import ARM_FORMATS

    return (*ARM_FORMATS, "multiturn", "longwriter")


def check_formats(data_args: DataArguments, train) -> None:
    """Refuse ``formats`` names that are not formats at all, or that match no row of the data."""
    from thrifty.jsonl import DataError
    from thrifty.recipes import RecipeError

    present = set(train.unique("format")) if "format" in train.column_names else set()
    valid = set(known_formats()) | {str(v) for v in present if v is not None}
    unknown = [f for f in data_args.formats if f not in valid]
    if unknown:
        import difflib

        hints = [f"'{u}'" + (f" (did you mean '{m[0]}'?)" if (m := difflib.get_close_matches(u, sorted(valid), 1, 0.5))
                             else "") for u in unknown]
        raise RecipeError(f"formats: unknown format name(s) {', '.join(hints)}; known: {', '.join(sorted(valid))}")
    if not present & set(data_args.formats):
        raise DataError(f"{data_args.dataset_name}: no row has a format in formats ({', '.join(data_args.formats)}); "
                        f"its formats are {', '.join(sorted(map(str, present))) or 'none'}")


def check_sft_rows(train, source: str) -> None:
    """Every row must be trainable: ``messages`` a list of {role, content} messages with at least one assistant
    message; ``prompt``/``completion`` and ``text`` not missing. Raises a :class:`~thrifty.jsonl.DataError`
    naming ``source`` and the (0-based) row."""
    from thrifty.jsonl import DataError

    columns = train.column_names
    for idx, row in enumerate(train):
        if "messages" in columns:
            messages = row["messages"]
            if not isinstance(messages, list) or not messages:
                raise DataError(f"{source} row {idx}: 'messages' is {'missing' if messages is None else 'empty'}; "
                                "give a list of {role, content} messages")
            if any(not isinstance(m, dict) or m.get("role") is None or m.get("content") is None for m in messages):
                raise DataError(f"{source} row {idx}: every message needs a 'role' and a 'content'")
            if not any(m["role"] == "assistant" for m in messages):
                raise DataError(f"{source} row {idx}: no assistant message, so nothing to train on; add the "
                                "assistant's answer or drop the row")
        elif "text" in columns:
            if not row["text"]:
                raise DataError(f"{source} row {idx}: 'text' is missing or empty")
        else:
            for key in ("prompt", "completion"):
                if row[key] is None or row[key] == "" or row[key] == []:
                    raise DataError(f"{source} row {idx}: '{key}' is missing or empty")


def load_train_data(data_args: DataArguments):
    """Load, check (:func:`check_sft_rows`) and filter the training (and optional eval) data of ``data_args``."""
    from thrifty.jsonl import DataError
    from thrifty.recipes import RecipeError

    if not data_args.dataset_name:
        raise RecipeError("dataset_name is required: a JSONL file, a dataset folder or a Hub id")
    train = load_any(data_args.dataset_name, data_args.dataset_split)
    if not ({"messages"} <= set(train.column_names) or {"prompt", "completion"} <= set(train.column_names)
            or "text" in train.column_names):
        raise DataError(f"{data_args.dataset_name}: SFT data needs a 'messages' column, or 'prompt' and "
                        f"'completion', or 'text'; it has {', '.join(train.column_names)}")
    if data_args.formats:
        if "format" not in train.column_names:
            raise DataError(f"{data_args.dataset_name}: 'formats' given but the data has no 'format' column; "
                            "drop the formats key or build the data with thrifty build")
        check_formats(data_args, train)
        keep = set(data_args.formats)
        train = train.filter(lambda row: row["format"] in keep)
    if data_args.max_train_samples:
        train = train.select(range(min(data_args.max_train_samples, len(train))))
    if len(train) == 0:
        raise DataError(f"{data_args.dataset_name}: no training rows")
    check_sft_rows(train, data_args.dataset_name)
    evaluation = None
    if data_args.eval_dataset_name:
        evaluation = load_any(data_args.eval_dataset_name, data_args.eval_split)
        check_sft_rows(evaluation, data_args.eval_dataset_name)
    return train, evaluation


def build_sft_trainer(
    data_args: DataArguments, training_args: ThriftySFTConfig, model_args: ModelConfig
) -> ThriftySFTTrainer:
    """Build the trainer (model loaded from ``model_args``, LoRA when ``use_peft``)."""
    from thrifty.models import load_tokenizer, load_trainable_model, tokenizer_source

    preflight(model_args.model_name_or_path, training_args)
    wandb_defaults(training_args)
    train, evaluation = load_train_data(data_args)
    if "messages" not in train.column_names and training_args.assistant_only_loss:
        logger.info("data is not conversational 'messages': assistant_only_loss off, completion-only loss applies")
        training_args.assistant_only_loss = False
    tokenizer = load_tokenizer(tokenizer_source(model_args.model_name_or_path), padding_side="right",
                               revision=model_args.model_revision,
                               trust_remote_code=training_args.trust_remote_code)
    if training_args.assistant_only_loss and training_args.chat_template_path is None:
        plan = assistant_masking_plan(tokenizer)
        logger.info("assistant-only loss: mask from the %s", plan)
        if plan == THRIFTY:
            train = add_assistant_masks(train, tokenizer, data_args.dataset_name)
            if evaluation is not None and "messages" in evaluation.column_names:
                evaluation = add_assistant_masks(evaluation, tokenizer, data_args.eval_dataset_name)
            # the data now carries input_ids + assistant_masks; TRL's own masking (which needs markers) stays off
            training_args.assistant_only_loss = False
    model, has_adapter = load_trainable_model(model_args, training_args)
    return ThriftySFTTrainer(
        model=model,
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=None if has_adapter else get_peft_config(model_args),
    )


def run_sft(data_args: DataArguments, training_args: ThriftySFTConfig, model_args: ModelConfig) -> str:
    """Train and save the model (or adapter) and tokenizer to ``output_dir``; returns ``output_dir``."""
    return train_and_save(build_sft_trainer(data_args, training_args, model_args), training_data=dict(
        stage="sft", dataset=data_args.dataset_name, split=data_args.dataset_split,
        base_model=model_args.model_name_or_path), spec=run_spec("sft", data_args, training_args, model_args))
