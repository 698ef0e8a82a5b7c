"""Direct Preference Optimization on TRL's ``DPOTrainer``: ``thrifty dpo --config RECIPE``.

DPO (Rafailov et al. 2023) trains the policy pi on pairs (prompt x, chosen y_w, rejected y_l) with

    loss = -log sigmoid(beta * [(log pi(y_w|x) - log ref(y_w|x)) - (log pi(y_l|x) - log ref(y_l|x))])

LongWriter (Bai et al. 2024, section 4.3) applies it after long-output SFT, with pairs whose chosen answer
follows the requested length and writes better (:mod:`thrifty.data_builders.preference_pairs`). With
``use_peft: true`` (the default here) the policy is a LoRA adapter on the base model and the reference is
that same base with the adapter disabled (``ref_model=None`` with a PEFT model), so no second copy of the
weights is held in memory. With ``use_peft: false`` TRL copies the model as a frozen reference.
``model_name_or_path`` may be a LoRA adapter folder (the usual LoRA SFT -> DPO pipeline):
:func:`thrifty.models.load_trainable_model` loads it on its base and DPO continues that adapter, with TRL's
frozen copy of it (``ref`` adapter) as the reference, so the reference is the SFT model, not the bare base;
with ``use_peft: false`` the adapter is merged into its base first.

Data (``dataset_name``): rows of ``prompt``, ``chosen``, ``rejected``, either conversational (``prompt`` a list of
messages, ``chosen``/``rejected`` lists holding one assistant message; the chat template is applied) or plain
strings. Logged by TRL each step: ``rewards/chosen``, ``rewards/rejected``, ``rewards/margins``,
``rewards/accuracies`` (the implicit rewards ``beta * log pi/ref``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from trl import DPOConfig, DPOTrainer, ModelConfig, get_peft_config

from thrifty.data import load_any, require_columns
from thrifty.jsonl import DataError
from thrifty.recipes import parse_recipe

from .common import preflight, run_spec, train_and_save, wandb_defaults

logger = logging.getLogger(__name__)

PAIR_COLUMNS = ["prompt", "chosen", "rejected"]


@dataclass
class DPODataArguments:
    """Which preference pairs to train on."""

    dataset_name: str = field(default=None, metadata={"help": "JSONL/JSON/parquet file, dataset folder or Hub id"})
    dataset_split: str = field(default="train", metadata={"help": "split to train on"})
    eval_dataset_name: str | None = field(default=None, metadata={"help": "optional evaluation pairs"})
    eval_split: str = field(default="test", metadata={"help": "split of eval_dataset_name"})
    max_train_samples: int | None = field(default=None, metadata={"help": "truncate the training set"})


@dataclass
class ThriftyDPOConfig(DPOConfig):
    """TRL's ``DPOConfig``; ``beta`` and ``loss_type`` should be written in recipes (TRL defaults may change)."""

    report_to: str | list[str] = field(default="none", metadata={"help": "none, wandb, tensorboard, ..."})


def load_pairs(data_args: DPODataArguments):
    """The training (and optional eval) pairs, with their columns checked."""
    if not data_args.dataset_name:
        raise DataError("dataset_name is required: a JSONL file of prompt, chosen, rejected (or a dataset/Hub id)")
    train = load_any(data_args.dataset_name, data_args.dataset_split)
    require_columns(train, PAIR_COLUMNS, data_args.dataset_name)
    if data_args.max_train_samples:
        train = train.select(range(min(data_args.max_train_samples, len(train))))
    evaluation = None
    if data_args.eval_dataset_name:
        evaluation = load_any(data_args.eval_dataset_name, data_args.eval_split)
        require_columns(evaluation, PAIR_COLUMNS, data_args.eval_dataset_name)
    if len(train) == 0:
        raise DataError(f"{data_args.dataset_name}: no preference pairs")
    return train, evaluation


def _check_chat_template(train, tokenizer, model: str, source: str) -> None:
    """Conversational pairs need a chat template: a base model without one is refused in one line (plain-text
    pairs train as they are), never transformers' traceback."""
    from thrifty.prompt_templates import PromptTemplateError, has_chat_template

    if len(train) and isinstance(train[0]["prompt"], list) and not has_chat_template(tokenizer):
        raise PromptTemplateError(f"{model}: the tokenizer has no chat template, so the conversational pairs of "
                                  f"{source} cannot be rendered (a base model?); write prompt, chosen and rejected as "
                                  "plain text, or train from a model with a chat template")


def build_dpo_trainer(data_args: DPODataArguments, training_args: ThriftyDPOConfig,
                      model_args: ModelConfig) -> DPOTrainer:
    """The trainer: model from ``model_args``; LoRA + frozen base as reference when ``use_peft``."""
    from thrifty.models import load_tokenizer, load_trainable_model, tokenizer_source

    preflight(model_args.model_name_or_path, training_args)
    wandb_defaults(training_args)
    train, evaluation = load_pairs(data_args)
    model, has_adapter = load_trainable_model(model_args, training_args)
    tokenizer = load_tokenizer(tokenizer_source(model_args.model_name_or_path), padding_side="left",
                               revision=model_args.model_revision,
                               trust_remote_code=training_args.trust_remote_code)
    _check_chat_template(train, tokenizer, model_args.model_name_or_path, data_args.dataset_name)
    peft_config = None if has_adapter else get_peft_config(model_args)
    if has_adapter:
        logger.info("continuing the LoRA adapter %s: TRL keeps a frozen copy of it as the reference",
                    model_args.model_name_or_path)
    elif peft_config is None:
        logger.info("use_peft is false: full-parameter DPO, TRL keeps a frozen copy of the model as reference")
    return DPOTrainer(
        model=model,
        ref_model=None,  # PEFT: the base with the adapter disabled (a continued adapter: its frozen copy)
        args=training_args,
        train_dataset=train,
        eval_dataset=evaluation,
        processing_class=tokenizer,
        peft_config=peft_config,
    )


def run_dpo(data_args: DPODataArguments, training_args: ThriftyDPOConfig, model_args: ModelConfig) -> str:
    """Train and save the adapter (or model) and tokenizer to ``output_dir``; returns ``output_dir``."""
    return train_and_save(build_dpo_trainer(data_args, training_args, model_args), training_data=dict(
        stage="dpo", dataset=data_args.dataset_name, split=data_args.dataset_split,
        base_model=model_args.model_name_or_path), spec=run_spec("dpo", data_args, training_args, model_args))


def parse_dpo_args(argv: list[str]) -> tuple[DPODataArguments, ThriftyDPOConfig, ModelConfig]:
    """``--config RECIPE [--key value ...]`` into the three dataclasses."""
    return parse_recipe((DPODataArguments, ThriftyDPOConfig, ModelConfig), argv)


def cmd_dpo(argv: list[str]) -> int:
    """``thrifty dpo --config RECIPE [--key value ...]``; returns the exit status (2 for a user error)."""
    out = run_dpo(*parse_dpo_args(argv))  # user errors: one line, exit 2 (thrifty.cli)
    logger.info("DPO model written to %s", out)
    return 0
