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
from thrifty.prompt_templates import (
    CHAT,
    PromptTemplate,
    PromptTemplateError,
    describe,
    has_chat_template,
    messages_to_pair,
    no_template_message,
    resolve_prompt_template,
    training_completion,
)

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
    prompt_template: str | None = field(default=None, metadata={
        "help": "how prompts are written (thrifty.prompt_templates): unset = data as it is (messages through the chat "
                "template, prompt/completion strings as plain text); r1_zero or plain (base models): prompt strings "
                "and single-turn messages become plain-text prompt/completion pairs through the template; or a text "
                "(or file) with {problem}"})

    def __post_init__(self):
        from thrifty.prompt_templates import check_prompt_keys

        check_prompt_keys(self.prompt_template)


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


def apply_prompt_template(data, template: PromptTemplate, has_chat: bool, source: str, model: str):
    """SFT data as ``prompt_template`` writes it (:mod:`thrifty.prompt_templates`).

    - plain-text template (``r1_zero``, ``plain``, or a custom one on a model without a chat template): string
      prompts are filled into the template and their completions follow its separator; ``messages`` rows (and
      conversational prompt/completion rows) with one assistant answer become such plain-text pairs, so the loss
      is on the completion only;
    - a custom template on a chat model: string prompts become the user message, completions the assistant's;
      conversational rows are kept as written;
    - unset: the data as it is. ``messages`` (or conversational rows) need a chat template: a model without one is
      refused in one line naming ``prompt_template`` and ``chat_template_path``.
    ``text`` rows are language modelling and are kept as they are."""
    columns = data.column_names
    conversational = "messages" in columns or ("prompt" in columns and len(data) and isinstance(data[0]["prompt"], list))
    if "text" in columns and "messages" not in columns and "prompt" not in columns:
        if template.name != CHAT:
            logger.info("%s: 'text' rows are trained as they are; prompt_template applies to prompts", source)
        return data
    completion = template.completion if template.completion is not None else not has_chat
    if conversational and not completion and not has_chat:
        raise PromptTemplateError(no_template_message(model))
    if template.name == CHAT or (conversational and not completion):
        if template.name != CHAT:
            logger.info("%s: conversational rows go through the chat template as written; prompt_template %s fills "
                        "string prompts only", source, describe(template))
        return data

    def convert(row: dict, idx: int) -> dict:
        where = f"{source} row {idx}"
        if "messages" in row and row["messages"] is not None:
            return messages_to_pair(row["messages"], template, where)
        if isinstance(row["prompt"], list):
            completion_msgs = row["completion"] if isinstance(row["completion"], list) else [
                {"role": "assistant", "content": row["completion"]}]
            return messages_to_pair([*row["prompt"], *completion_msgs], template, where)
        if completion:
            return {"prompt": template.fill(str(row["prompt"])),
                    "completion": training_completion(str(row["completion"]), template)}
        return {"prompt": [{"role": "user", "content": template.fill(str(row["prompt"]))}],
                "completion": [{"role": "assistant", "content": str(row["completion"])}]}

    drop = [c for c in ("messages", "prompt", "completion") if c in columns]
    logger.info("prompt_template %s: %s rows as %s prompt/completion pairs", describe(template), source,
                "plain-text" if completion else "chat")
    return data.map(convert, with_indices=True, remove_columns=drop, desc="prompt template")


def build_sft_trainer(
    data_args: DataArguments, training_args: ThriftySFTConfig, model_args: ModelConfig
) -> ThriftySFTTrainer:
    """Build the trainer (model loaded from ``model_args``, LoRA when ``use_peft``)."""
    from thrifty.models import load_tokenizer, load_trainable_model, tokenizer_source

    preflight(model_args.model_name_or_path, training_args)
    wandb_defaults(training_args)
    train, evaluation = load_train_data(data_args)
    tokenizer = load_tokenizer(tokenizer_source(model_args.model_name_or_path), padding_side="right",
                               revision=model_args.model_revision,
                               trust_remote_code=training_args.trust_remote_code)
    template = resolve_prompt_template(data_args.prompt_template)
    has_chat = has_chat_template(tokenizer) or training_args.chat_template_path is not None
    train = apply_prompt_template(train, template, has_chat, data_args.dataset_name,
                                  model_args.model_name_or_path)
    if evaluation is not None:
        evaluation = apply_prompt_template(evaluation, template, has_chat, data_args.eval_dataset_name,
                                           model_args.model_name_or_path)
    if "messages" not in train.column_names and training_args.assistant_only_loss:
        logger.info("data is not conversational 'messages': assistant_only_loss off, completion-only loss applies")
        training_args.assistant_only_loss = False
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
