"""GRPO with thrifty's variants on TRL's ``GRPOTrainer``: plain GRPO, Ada-GRPO (ARM), MinD GRPO and AdaptThink.

- ``plain``: TRL's GRPO (Shao et al. 2024, DeepSeekMath) with thrifty's reward registry and metrics.
- ``ada``: Ada-GRPO (ARM, Wu et al. 2025; DESIGN.md 4.2; docs/methods/arm.md). TRL 1.16 has no advantage hook,
  so :meth:`ThriftyGRPOTrainer._calculate_rewards` (which returns the rewards gathered across processes, one row
  per completion, groups = ``num_generations`` consecutive rows) first zeroes the rewards of completions that
  open with no format tag (``ada_zero_unknown``; ARM asserts their reward is 0), then multiplies each
  completion's rewards by ``alpha_i(t)`` = :func:`thrifty.rewards.ada_grpo_alpha` of its group's formats as ARM
  counts them (:func:`thrifty.formats.opening_format`), with t = ``state.global_step + 1`` (the step being
  trained, 1-based as in ARM's ``ray_trainer.py``) and T = ``state.max_steps``. TRL then normalises within each
  group as usual. Every reward function's column is scaled, so the weighted sum is scaled by exactly alpha_i.
  The default reward is ARM's (``arm_accuracy``).
- ``mind``: MinD (Zeng et al. 2025; DESIGN.md 4.3; docs/methods/mind.md): R = R_format + R_accuracy + R_unit via
  the recipe's rewards (default ``mind_format``, ``accuracy``, ``unit_compactness``); logs the turns histogram.
- ``adaptthink``: AdaptThink (Zhang et al. 2025; docs/methods/adaptthink.md): forced NoThinking / Thinking starts
  per group, advantage = accuracy - reference accuracy + delta for NoThinking, the per-sequence ratio against the
  forced sampling (:mod:`thrifty.trainers.adaptthink`).

L1's token budgets (``l1_budget_mode``; docs/methods/l1.md) are a data key of any variant: each question ends with
its budget, which the ``l1_length`` reward reads from the ``l1_budget`` column.

``format_tag_loss_weight`` (a thrifty extension, off by default; :mod:`thrifty.trainers.format_tag_weight`) makes
the tokens of each completion's opening ARM format tag count that many times in the loss (plain and ada), and with
``format_tag_weight_untagged`` also the first token of a completion that opens with no tag.

Logged every step (all variants): ``format/<fmt>`` share, ``format/<fmt>/accuracy`` (when an ``accuracy``
reward is used), ``format/<fmt>/tokens`` (mean completion tokens); ``ada/alpha_mean``, ``ada/raw_reward`` and,
beside TRL's alpha-scaled ``rewards/<name>/mean``, the unscaled ``raw_rewards/<name>/mean`` (ada);
``turns/mean`` and ``turns/<k>`` shares (mind); ``format_tag/weighted_share``, the share of completions whose
tag (with ``format_tag_weight_untagged``: or first token) was weighted (``format_tag_loss_weight``); with wandb,
the per-format numbers also as one ``train/format_table`` table per logging step. Completions are logged with
their format, and with their ``ada_alpha`` when training Ada-GRPO (``log_completions``; wandb runs offline unless
``WANDB_MODE`` says otherwise).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate.utils import gather_object
from trl import GRPOConfig, GRPOTrainer, ModelConfig, get_peft_config, get_quantization_config

from thrifty.data import load_any, require_columns
from thrifty.eval.wandb_log import log_format_table, wants_wandb
from thrifty.formats import UNKNOWN, detect_format, last_boxed, opening_format, split_turns
from thrifty.jsonl import DataError
from thrifty.l1_budget import L1_BUDGET_RANGE, L1_INSTRUCTION, L1_MODES, l1_prompt, sample_l1_budget
from thrifty.prompt_templates import (
    PromptTemplate,
    apply_chat_template_path,
    check_prompt_keys,
    check_prompt_setup,
    resolve_prompt_template,
    trl_prompt,
)
from thrifty.recipes import RecipeError, parse_recipe
from thrifty.rewards import ada_grpo_alpha_batch, build_reward_funcs, completion_texts
from thrifty.rewards.ada import ARM2_LENGTH_LAMBDA
from thrifty.rewards.adaptthink import (
    ADAPTTHINK_DELTA,
    ADAPTTHINK_NOTHINKING_RATIO,
    NOTHINKING_PREFIX,
    THINKING_PREFIX,
    adaptthink_advantage,
)

from .adaptthink import (
    REF_COLUMN,
    force_prefixes,
    importance_old_logps,
    load_reference_accuracy,
    presample_reference_accuracy,
)
from .common import preflight, run_spec, train_and_save, wandb_defaults
from .format_tag_weight import MAX_TAG_TOKENS, format_tag_loss_weights, opening_tag_token_counts

logger = logging.getLogger(__name__)

VARIANTS = ("plain", "ada", "mind", "adaptthink")
#: The rewards of each variant when a recipe names none: plain GRPO's accuracy, ARM's gated reward, MinD's paper.
DEFAULT_REWARDS: dict[str, list[str]] = {
    "plain": ["accuracy"],
    "ada": ["arm_accuracy"],
    "mind": ["mind_format", "accuracy", "unit_compactness"],
    "adaptthink": ["adaptthink_accuracy"],
}
TURNS_HISTOGRAM_MAX = 8


@dataclass
class GRPODataArguments:
    """Which prompts to train on: the toy world (no ``dataset_name``) or a file/Hub dataset with a field mapping."""

    dataset_name: str | None = field(
        default=None, metadata={"help": "JSONL/JSON/CSV/parquet, save_to_disk folder or Hub id; empty: the toy world"}
    )
    dataset_mixture: list[str] | None = field(
        default=None,
        metadata={"help": "several sources with the same prompt/answer columns, concatenated (ARM trains on GSM8K +"
                          " MATH + CSQA train: recipes/arm/grpo_qwen2.5_7b.yaml); overrides dataset_name"},
    )
    dataset_split: str = field(default="train", metadata={"help": "split to train on"})
    prompt_column: str = field(default="problem", metadata={"help": "column holding the question text"})
    answer_column: str = field(default="answer", metadata={"help": "column holding the gold answer"})
    answer_pattern: str | None = field(
        default=None, metadata={"help": "regex whose group 1 is the gold answer inside answer_column (GSM8K: '#### (.+)$')"}
    )
    system_prompt: str | None = field(default=None, metadata={"help": "optional system message"})
    prompt_template: str | None = field(default=None, metadata={
        "help": "how a question becomes the prompt (thrifty.prompt_templates): unset = the model's chat template with "
                "the question as the user message; r1_zero (DeepSeek-R1-Zero's plain-text prompt; the accuracy reward "
                "then reads the <answer> block) or plain (the question as it is) for base models, sent as TRL's "
                "non-conversational prompt strings; or a text (or file) with {problem}"})
    chat_template_path: str | None = field(default=None, metadata={
        "help": "a Jinja chat template file for a model whose tokenizer has none"})
    max_train_samples: int | None = field(default=None, metadata={"help": "truncate the training set"})
    toy_num_problems: int = field(default=256, metadata={"help": "toy world: number of training prompts"})
    toy_seed: int = field(default=0, metadata={"help": "toy world: seed"})
    toy_difficulty: int | None = field(default=None, metadata={"help": "toy world: fixed difficulty level"})
    toy_family: str | None = field(default=None, metadata={
        "help": "toy world: only this family's levels (running_sum or pair_sum; default: every tier)"})
    toy_levels: list[int] | None = field(default=None, metadata={
        "help": "toy world: only these levels of the tiered world (1-9; e.g. 1 2 7 8 9 for the easy and hard tiers)"})
    l1_budget_mode: str | None = field(default=None, metadata={
        "help": "L1/LCPO (docs/methods/l1.md): end every question with a token budget and write it to the "
                "l1_budget column the l1_length reward reads: exact ('Think for N tokens.'), max ('Think for "
                "maximum N tokens.') or both (half each, L1-Max's training data); unset: no budget"})
    l1_budget_range: list[int] = field(default_factory=lambda: list(L1_BUDGET_RANGE), metadata={
        "help": "L1: budgets are drawn uniformly from this range, both ends included (the paper: 100 4000)"})
    l1_instruction: str = field(default=L1_INSTRUCTION, metadata={
        "help": "L1: the sentence between the question and the budget (the paper's DeepScaleR instruction; empty: "
                "the budget alone)"})
    l1_budget_seed: int = field(default=0, metadata={"help": "L1: seed of the budgets (one per example, fixed)"})
    adaptthink_ref_file: str | None = field(default=None, metadata={
        "help": "AdaptThink: the reference model's accuracy per problem, the official ref_results JSON (problem, "
                "metrics.avg_acc_thinking) or JSONL (problem, ref_accuracy), matched on the question text"})
    adaptthink_ref_samples: int = field(default=0, metadata={
        "help": "AdaptThink without adaptthink_ref_file: sample this many Thinking-mode completions per prompt from "
                "the starting model before training and use their mean accuracy (the paper pre-samples 16)"})

    def __post_init__(self):
        check_prompt_keys(self.prompt_template, self.chat_template_path, self.system_prompt)
        if self.l1_budget_mode is not None:
            if self.l1_budget_mode not in L1_MODES:
                raise RecipeError(f"l1_budget_mode: {self.l1_budget_mode!r} is not one of {', '.join(L1_MODES)}")
            lo, hi = (list(self.l1_budget_range) + [0, 0])[:2]
            if len(self.l1_budget_range) != 2 or not 1 <= lo <= hi:
                raise RecipeError(f"l1_budget_range: {self.l1_budget_range} is not two token counts lo <= hi, lo >= 1")


@dataclass
class ThriftyGRPOConfig(GRPOConfig):
    """TRL's ``GRPOConfig`` plus thrifty's keys."""

    variant: str = field(default="plain", metadata={
        "help": "plain | ada (Ada-GRPO, ARM; ARM2 with ada_length_penalty) | mind (MinD) | adaptthink (AdaptThink)"})
    reward_funcs: list[str] | None = field(
        default=None,
        metadata={"help": "reward names (thrifty.rewards.available_rewards()) or 'package.module:function' paths;"
                          " default by variant: plain accuracy, ada arm_accuracy, mind mind_format accuracy"
                          " unit_compactness, adaptthink adaptthink_accuracy"},
    )
    ada_zero_unknown: bool = field(
        default=True,
        metadata={"help": "ada: rewards of completions that open with no format tag are 0 (ARM asserts this)"},
    )
    ada_length_penalty: bool = field(
        default=False,
        metadata={"help": "ada: ARM2's length-aware Ada-GRPO (Xie et al. 2025; the demo's path): alpha_i times "
                          "exp(-lambda (L_i - L_min) / (L_max - L_min)) within each group, annealed together with "
                          "cos(0.9 pi t / T) (TEAM-ARM/arm2 ada_grpo_w_length_penalty)"},
    )
    ada_length_lambda: float = field(
        default=ARM2_LENGTH_LAMBDA, metadata={"help": "ada_length_penalty's lambda (ARM2: 0.5)"},
    )
    format_tag_loss_weight: float = field(default=1.0, metadata={
        "help": "thrifty extension (in no reference; 1.0 = off): the tokens of each completion's opening ARM format "
                "tag count this many times in the loss mask, so the choice of format weighs more than one token "
                "of the completion (thrifty.trainers.format_tag_weight; docs/methods/efficient.md)"})
    format_tag_weight_untagged: bool = field(default=False, metadata={
        "help": "with format_tag_loss_weight: also weigh the first token of a completion that opens with no format "
                "tag (the choice not to open with one) by the same weight; off: that token counts once"})
    adaptthink_delta: float = field(default=ADAPTTHINK_DELTA, metadata={
        "help": "adaptthink: the NoThinking bonus delta (the released models: 0.05)"})
    adaptthink_nothinking_ratio: float = field(default=ADAPTTHINK_NOTHINKING_RATIO, metadata={
        "help": "adaptthink: the share of each group forced to start NoThinking (official: 0.5, all run long)"})
    adaptthink_nothinking_prefix: str = field(default=NOTHINKING_PREFIX, metadata={
        "help": "adaptthink: the forced start of a NoThinking rollout (official: </think>)"})
    adaptthink_thinking_prefix: str = field(default=THINKING_PREFIX, metadata={
        "help": "adaptthink: the forced start of a Thinking rollout (official: Alright)"})
    reward_kwargs: dict | str | None = field(
        default=None, metadata={"help": "per-reward keyword arguments: {reward_name: {arg: value}} (JSON on the CLI)"}
    )
    report_to: str | list[str] = field(default="none", metadata={"help": "none, wandb (offline by default), ..."})

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise RecipeError(f"variant must be one of {', '.join(VARIANTS)}, not {self.variant!r}")
        if self.ada_length_penalty and self.variant != "ada":
            raise RecipeError(f"ada_length_penalty is ARM2's length-aware Ada-GRPO: it needs variant: ada, not "
                              f"{self.variant!r}")
        if self.ada_length_lambda < 0:
            raise RecipeError(f"ada_length_lambda must be >= 0, not {self.ada_length_lambda}")
        if self.format_tag_weight_untagged and self.format_tag_loss_weight == 1.0:
            raise RecipeError("format_tag_weight_untagged weighs an untagged completion's first token by "
                              "format_tag_loss_weight, which is 1.0 (off): set the weight too")
        if self.format_tag_loss_weight != 1.0 and self.variant in ("mind", "adaptthink"):
            raise RecipeError(f"format_tag_loss_weight weighs ARM's opening format tags, which variant "
                              f"{self.variant}'s completions do not open with: leave it at 1.0")
        if self.variant == "adaptthink":
            if self.importance_sampling_level != "sequence" or self.loss_type != "grpo":
                raise RecipeError("variant adaptthink needs importance_sampling_level: sequence and loss_type: grpo "
                                  "(AdaptThink's per-sequence ratio and mean over sequences), not "
                                  f"{self.importance_sampling_level} and {self.loss_type}")
            if not 0.0 < self.adaptthink_nothinking_ratio < 1.0:
                raise RecipeError("adaptthink_nothinking_ratio must be in (0, 1), not "
                                  f"{self.adaptthink_nothinking_ratio}")
            if self.use_vllm and self.vllm_mode == "server":
                raise RecipeError("variant adaptthink forces a different prefix on each rollout of a group, which "
                                  "vllm_mode server cannot do (it samples a prompt's group at once): use vllm_mode "
                                  "colocate or use_vllm false")
        if not self.reward_funcs:
            self.reward_funcs = list(DEFAULT_REWARDS[self.variant])
        if isinstance(self.reward_kwargs, str):
            try:
                self.reward_kwargs = json.loads(self.reward_kwargs) if self.reward_kwargs.strip() else None
            except json.JSONDecodeError as err:
                raise RecipeError(f"reward_kwargs is not valid JSON: {err}") from None
        if self.reward_kwargs is not None and not isinstance(self.reward_kwargs, dict):
            raise RecipeError("reward_kwargs must map reward names to {argument: value}")
        if self.reward_weights is not None and len(self.reward_weights) != len(self.reward_funcs):
            raise RecipeError(
                f"reward_weights has {len(self.reward_weights)} values for {len(self.reward_funcs)} reward_funcs"
            )
        try:
            super().__post_init__()
        except ValueError as err:  # TRL's own check, with what the user can change to meet it
            if "divisible by num_generations" not in str(err):
                raise
            raise RecipeError(f"{err} (generation_batch_size is per_device_train_batch_size x processes x "
                              "steps_per_generation, which defaults to gradient_accumulation_steps: choose a "
                              "num_generations that divides it)") from None


class ThriftyGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` with Ada-GRPO reward scaling and per-format / per-turn metrics (module docstring)."""

    def __init__(self, *args, variant: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.variant = variant or getattr(self.args, "variant", "plain")
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {', '.join(VARIANTS)}, not {self.variant!r}")

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        mode = "train" if self.model.training else "eval"
        local_texts = completion_texts(completions)
        local_formats = [detect_format(t) for t in local_texts]
        self._log_completion_extra("format", local_formats)
        texts = gather_object(local_texts)
        formats = gather_object(local_formats)
        lengths = gather_object([len(ids) for ids in completion_ids_list])
        self._log_format_metrics(mode, rewards_per_func, formats, lengths)
        if self.variant == "mind":
            self._log_turn_metrics(mode, texts)
        if self.variant == "adaptthink" and mode == "train":
            self._adaptthink_advantages(inputs, rewards_per_func)
        if self.variant == "ada" and mode == "train":
            group = self.num_generations
            total = max(int(self.state.max_steps or 1), 1)
            arm_formats = gather_object([opening_format(t) for t in local_texts])
            if getattr(self.args, "ada_zero_unknown", True):
                unknown = torch.tensor([f == UNKNOWN for f in arm_formats], device=rewards_per_func.device)
                rewards_per_func = torch.where(unknown.unsqueeze(1) & ~rewards_per_func.isnan(), 0.0, rewards_per_func)
            for i, name in enumerate(self.reward_func_names):  # unscaled, beside TRL's alpha-scaled rewards/<name>
                self._metrics[mode][f"raw_rewards/{name}/mean"].append(torch.nanmean(rewards_per_func[:, i]).item())
            alpha = ada_grpo_alpha_batch(
                arm_formats, group, int(self.state.global_step) + 1, total,
                lengths=lengths if getattr(self.args, "ada_length_penalty", False) else None,
                length_lambda=float(getattr(self.args, "ada_length_lambda", ARM2_LENGTH_LAMBDA)))
            # the completions table takes this process's values (TRL gathers them: rank 0's rows first)
            start = self.accelerator.process_index * len(local_formats)
            self._log_completion_extra("ada_alpha", alpha[start : start + len(local_formats)])
            alpha_t = torch.tensor(alpha, dtype=rewards_per_func.dtype, device=rewards_per_func.device)
            weights = self.reward_weights.to(rewards_per_func.device)
            raw = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)
            self._metrics[mode]["ada/alpha_mean"].append(float(alpha_t.mean()))
            self._metrics[mode]["ada/raw_reward"].append(float(raw.mean()))
            rewards_per_func = rewards_per_func * alpha_t.unsqueeze(1)
        return rewards_per_func

    def _adaptthink_on(self) -> bool:
        return self.variant == "adaptthink" and self.model.training

    @functools.cached_property
    def _adaptthink_prefixes(self) -> tuple[list[int], list[int]]:
        """The token ids of the NoThinking and Thinking prefixes, tokenized once per trainer."""
        tok = self.processing_class
        return tuple(tok(text, add_special_tokens=False)["input_ids"]
                     for text in (self.args.adaptthink_nothinking_prefix, self.args.adaptthink_thinking_prefix))

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        """adaptthink: each rollout of a group gets its forced prefix (module :mod:`thrifty.trainers.adaptthink`)."""
        if not self._adaptthink_on():
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                 has_tool_images)
        no_ids, yes_ids = self._adaptthink_prefixes
        prompts, forced = force_prefixes(prompt_ids, self.accelerator.process_index * len(prompt_ids),
                                         self.num_generations, self.args.adaptthink_nothinking_ratio, no_ids, yes_ids)
        completion_ids, logprobs = super()._generate_single_turn(prompts, images, multimodal_fields, num_generations,
                                                                 has_tool_images)
        prefixes = [no_ids if f else yes_ids for f in forced]
        completion_ids = [list(pre) + list(ids) for pre, ids in zip(prefixes, completion_ids, strict=True)]
        if logprobs is not None:  # the prefix was not sampled: pi_IS's probabilities replace these in the loss
            logprobs = [[0.0] * len(pre) + list(lp) for pre, lp in zip(prefixes, logprobs, strict=True)]
        self._adaptthink_forced = forced
        self._adaptthink_prefix_lengths = [len(pre) for pre in prefixes]
        return completion_ids, logprobs

    def _adaptthink_advantages(self, inputs, rewards_per_func: torch.Tensor) -> None:
        """AdaptThink's advantage of every rollout (all processes): accuracy - ref_accuracy + delta * NoThinking,
        kept for :meth:`_generate_and_score_completions`; NoThinking and Thinking accuracy logged."""
        forced = gather_object(list(self._adaptthink_forced))
        if any(REF_COLUMN not in row for row in inputs):
            raise DataError(f"variant adaptthink needs the dataset column {REF_COLUMN!r} (adaptthink_ref_file or "
                            "adaptthink_ref_samples)")
        ref = gather_object([float(row[REF_COLUMN]) for row in inputs])
        accuracy = (rewards_per_func * self.reward_weights.to(rewards_per_func.device).unsqueeze(0)).nansum(dim=1)
        advantages = [adaptthink_advantage(float(a), r, f, self.args.adaptthink_delta)
                      for a, r, f in zip(accuracy.tolist(), ref, forced, strict=True)]
        self._adaptthink_all = torch.tensor(advantages, dtype=torch.float32)
        metrics = self._metrics["train"]
        for name, flag in (("nothinking", True), ("thinking", False)):
            picked = [a for a, f in zip(accuracy.tolist(), forced, strict=True) if f == flag]
            if picked:
                metrics[f"adaptthink/accuracy_{name}"].append(sum(picked) / len(picked))
        metrics["adaptthink/ref_accuracy"].append(sum(ref) / max(len(ref), 1))
        metrics["adaptthink/advantage_mean"].append(float(self._adaptthink_all.mean()))

    def _generate_and_score_completions(self, inputs):
        """TRL's output; adaptthink: with the advantages replaced by AdaptThink's (no group normalisation) and the
        old log-probabilities by pi_IS's on the forced prefix (:func:`thrifty.trainers.adaptthink.importance_old_logps`);
        with ``format_tag_loss_weight``: with the format tags' weights in the loss mask (:meth:`_weight_format_tags`)."""
        output = super()._generate_and_score_completions(inputs)
        if self._adaptthink_on():
            self._adaptthink_output(output, len(inputs))
        if self.model.training and self.args.format_tag_loss_weight != 1.0:
            self._weight_format_tags(output)
        return output

    def _weight_format_tags(self, output: dict[str, Any]) -> None:
        """``format_tag_loss_weight``: multiply the loss mask's entries of each completion's opening format tag (with
        ``format_tag_weight_untagged``, an untagged completion's first token) by the weight
        (:mod:`thrifty.trainers.format_tag_weight`). TRL's ``_compute_loss`` multiplies ``tool_mask`` into
        its mask (1 where there is no tool), so the weights go there; TRL counted ``num_items_in_batch`` before."""
        completion_ids, completion_mask = output["completion_ids"], output["completion_mask"]
        head = slice(0, MAX_TAG_TOKENS)  # right-padded: a tag can only be in the first tokens, so copy no more
        rows = [ids[head][mask[head].bool()].tolist() for ids, mask in zip(completion_ids, completion_mask, strict=True)]
        tokenizer = self.processing_class
        counts = opening_tag_token_counts(rows, lambda ids: tokenizer.decode(ids, skip_special_tokens=False))
        if self.args.format_tag_weight_untagged:  # no tag: the first token is where the model chose to open without
            counts = [count or min(len(row), 1) for count, row in zip(counts, rows, strict=True)]
        weights = format_tag_loss_weights(counts, tuple(completion_ids.shape), self.args.format_tag_loss_weight,
                                          completion_ids.device)
        tool_mask = output.get("tool_mask")
        output["tool_mask"] = weights if tool_mask is None else tool_mask * weights
        self._metrics["train"]["format_tag/weighted_share"].append(sum(c > 0 for c in counts) / max(len(counts), 1))

    def _adaptthink_output(self, output: dict[str, Any], n: int) -> None:
        """AdaptThink's advantages and pi_IS old log-probabilities in TRL's output (this process's ``n`` rows)."""
        local = slice(self.accelerator.process_index * n, (self.accelerator.process_index + 1) * n)
        output["advantages"] = self._adaptthink_all[local].to(output["advantages"].device)
        old = output.get("old_per_token_logps")
        if old is None:  # on-policy: pi_old is the current model; computed once here, with no gradient
            input_ids = torch.cat([output["prompt_ids"], output["completion_ids"]], dim=1)
            mask = torch.cat([output["prompt_mask"], output["completion_mask"]], dim=1)
            with torch.no_grad():
                old, _, _ = self._get_per_token_logps_and_entropies(
                    self.model, input_ids, mask, output["completion_ids"].size(1),
                    batch_size=self.args.per_device_train_batch_size)
        output["old_per_token_logps"] = importance_old_logps(old, self._adaptthink_forced,
                                                             self._adaptthink_prefix_lengths,
                                                             self.args.adaptthink_nothinking_ratio)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        super().log(logs, start_time)  # TRL averages this window's metrics into ``logs``
        if self.accelerator.is_main_process and wants_wandb(self.args.report_to):
            log_format_table(logs, int(self.state.global_step))  # the per-format numbers as one wandb table

    def _log_format_metrics(self, mode: str, rewards_per_func: torch.Tensor, formats: list[str], lengths: list[int]):
        metrics = self._metrics[mode]
        counts = Counter(formats)
        n = max(len(formats), 1)
        names = [n for n in ("accuracy", "arm_accuracy") if n in self.reward_func_names]
        acc_col = self.reward_func_names.index(names[0]) if names else None
        correct = (rewards_per_func[:, acc_col] > 0).tolist() if acc_col is not None else None
        for fmt, count in sorted(counts.items()):
            idx = [i for i, f in enumerate(formats) if f == fmt]
            metrics[f"format/{fmt}"].append(count / n)
            metrics[f"format/{fmt}/tokens"].append(sum(lengths[i] for i in idx) / len(idx))
            if correct is not None:
                metrics[f"format/{fmt}/accuracy"].append(sum(correct[i] for i in idx) / len(idx))

    def _log_turn_metrics(self, mode: str, texts: list[str]):
        turns = [len(split_turns(t)) for t in texts]
        metrics = self._metrics[mode]
        metrics["turns/mean"].append(sum(turns) / max(len(turns), 1))
        hist = Counter(min(t, TURNS_HISTOGRAM_MAX) for t in turns)
        for k in range(TURNS_HISTOGRAM_MAX + 1):
            metrics[f"turns/{k}"].append(hist.get(k, 0) / max(len(turns), 1))


# ---------------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------------
def _prompter(data_args: GRPODataArguments, tokenizer=None):
    """``(question, row index) -> (TRL prompt, extra columns)``: the prompt is chat messages, or a plain string with
    a plain-text ``prompt_template`` (:func:`thrifty.prompt_templates.trl_prompt`; the template resolved once).
    With ``l1_budget_mode`` the question first gets L1's instruction and the row's budget
    (:func:`thrifty.l1_budget.l1_prompt`, :func:`~thrifty.l1_budget.sample_l1_budget`), and the budget is
    returned as the ``l1_budget`` column; with ``adaptthink_ref_file`` the row's reference accuracy is the
    ``ref_accuracy`` column."""
    template = resolve_prompt_template(data_args.prompt_template)

    reference = load_reference_accuracy(data_args.adaptthink_ref_file) if data_args.adaptthink_ref_file else None

    def prompt(question: str, idx: int) -> tuple[Any, dict[str, Any]]:
        extra: dict[str, Any] = {}
        if reference is not None:
            if question.strip() not in reference:
                raise DataError(f"adaptthink_ref_file {data_args.adaptthink_ref_file} has no reference accuracy for "
                                f"training row {idx} ({question.strip()[:80]!r})")
            extra[REF_COLUMN] = reference[question.strip()]
        if data_args.l1_budget_mode:
            budget = sample_l1_budget(data_args.l1_budget_seed, idx, data_args.l1_budget_mode,
                                      tuple(data_args.l1_budget_range))
            question, extra["l1_budget"] = l1_prompt(question, budget, data_args.l1_instruction), budget
        return trl_prompt(question, template, tokenizer, data_args.system_prompt), extra

    return prompt


def toy_prompts(data_args: GRPODataArguments, tokenizer=None):
    """GRPO prompts from the toy world: ``prompt`` (chat messages, or text with a plain-text ``prompt_template``),
    ``answer``, ``difficulty``, ``id``."""
    import datasets

    from thrifty.toy_world import TieredTask, ToyWorld

    world = ToyWorld(seed=data_args.toy_seed)
    tiered, levels = world.task, None
    if data_args.toy_levels and (data_args.toy_family or data_args.toy_difficulty):
        raise RecipeError("toy_levels cannot be combined with toy_family or toy_difficulty")
    if data_args.toy_family:
        levels = [level for level in tiered.levels if level[0] == data_args.toy_family]
        if not levels:
            raise RecipeError(f"toy_family: {data_args.toy_family!r} is not a family of the toy world "
                              f"({', '.join(sorted(tiered.families))})")
    if data_args.toy_levels:
        wrong = [d for d in data_args.toy_levels if not 1 <= d <= len(tiered.levels)]
        if wrong:
            raise RecipeError(f"toy_levels: {wrong} are not levels of the toy world (1..{len(tiered.levels)})")
        levels = [tiered.levels[d - 1] for d in sorted(set(data_args.toy_levels))]
    if levels is not None:  # a part of the tiered world; each problem keeps its family's train/test split
        world = ToyWorld(task=TieredTask(levels=levels, families=tiered.families), seed=data_args.toy_seed)
    problems = world.problems("train", data_args.toy_num_problems, difficulty=data_args.toy_difficulty)
    prompt = _prompter(data_args, tokenizer)
    rows = []
    for idx, p in enumerate(problems):
        text, extra = prompt(p.question, idx)
        rows.append({"prompt": text, "answer": p.answer, "difficulty": p.difficulty, "id": p.id, **extra})
    return datasets.Dataset.from_list(rows)


def load_grpo_prompts(data_args: GRPODataArguments, tokenizer=None):
    """Load the prompts: the toy world, or ``dataset_name`` mapped through ``prompt_column``/``answer_column``.

    A ``\\boxed{}`` gold (MATH) is reduced to its content; ``answer_pattern`` extracts the gold from a worked
    solution (GSM8K). An ``answer_kind`` column, when present, is kept for the accuracy reward. With
    ``dataset_mixture`` every source is loaded this way and the results are concatenated in order, each row
    tagged with its ``data_source``. Prompts follow ``prompt_template`` (:func:`_prompter`; ``tokenizer`` decides
    whether a custom template is a user message or the whole prompt).
    """
    if data_args.dataset_mixture:
        import datasets

        parts = [_tag(_load_source(s, data_args, tokenizer), s) for s in data_args.dataset_mixture]
        if any("answer_kind" in p.column_names for p in parts):  # a source without the column: the reward's kind
            parts = [p if "answer_kind" in p.column_names else p.add_column("answer_kind", [None] * len(p))
                     for p in parts]
        data = datasets.concatenate_datasets(parts)
    elif not data_args.dataset_name:
        data = toy_prompts(data_args, tokenizer)
    else:
        data = _load_source(data_args.dataset_name, data_args, tokenizer)
    if data_args.max_train_samples:
        data = data.select(range(min(data_args.max_train_samples, len(data))))
    return data


def _tag(data, source: str):
    return data.add_column("data_source", [source] * len(data))


def _required_text(row: dict[str, Any], column: str, source: str, idx: int) -> str:
    """``row[column]`` as text; a :class:`DataError` naming ``source`` and the row when it is missing or empty (a
    null gold would otherwise become the answer ``'None'``)."""
    value = row.get(column)
    if value is None or (isinstance(value, (str, list, dict)) and not value) or not str(value).strip():
        raise DataError(f"{source} row {idx}: '{column}' is {'missing' if value is None else 'empty'}; "
                        "fill it in or drop the row")
    return str(value)


def _load_source(source: str, data_args: GRPODataArguments, tokenizer=None):
    """One source's prompts: ``prompt`` (chat messages) and ``answer`` (plus ``answer_kind`` when present).

    Every row needs a non-empty prompt and answer, and an ``answer_kind``, where given, must be one of
    :data:`thrifty.answer_check.KINDS` (an empty one falls back to the reward's ``kind``); otherwise a
    :class:`DataError` names the source and the (0-based) row."""
    from thrifty.answer_check import KINDS

    raw = load_any(source, data_args.dataset_split)
    require_columns(raw, [data_args.prompt_column, data_args.answer_column], source)
    pattern = re.compile(data_args.answer_pattern, re.MULTILINE) if data_args.answer_pattern else None
    keep = [c for c in raw.column_names if c == "answer_kind"]

    prompt = _prompter(data_args, tokenizer)

    def convert(row: dict[str, Any], idx: int) -> dict[str, Any]:
        gold = _required_text(row, data_args.answer_column, source, idx)
        if pattern is not None:
            m = pattern.search(gold)
            if m is None:
                raise DataError(f"{source} row {idx}: answer_pattern {pattern.pattern!r} does not match {gold[-80:]!r}")
            gold = m.group(1).strip()
        gold = last_boxed(gold) or gold
        if not gold.strip():
            raise DataError(f"{source} row {idx}: the gold answer is empty after extraction from {row[data_args.answer_column]!r}")
        kind = row.get("answer_kind")
        if kind not in (None, "") and kind not in KINDS:
            raise DataError(f"{source} row {idx}: answer_kind {kind!r} is not one of {', '.join(KINDS)} "
                            "(leave it empty for the reward's own kind)")
        question = _required_text(row, data_args.prompt_column, source, idx)
        text, extra = prompt(question, idx)
        out = {"prompt": text, "answer": gold, **extra}
        if keep:
            out["answer_kind"] = kind or None
        return out

    return raw.map(convert, with_indices=True, remove_columns=[c for c in raw.column_names if c not in keep])


def training_data_entries(data_args: GRPODataArguments, base_model: str | None) -> list[dict[str, Any]]:
    """What :func:`~thrifty.trainers.common.train_and_save` records as this run's training data: each source of a
    mixture, the dataset, or the toy world's prompts (named by their seed, count and filters)."""
    common = dict(stage="grpo", split=data_args.dataset_split, question_field=data_args.prompt_column,
                  base_model=base_model)
    if data_args.dataset_mixture:
        return [dict(common, dataset=source) for source in data_args.dataset_mixture]
    if data_args.dataset_name:
        return [dict(common, dataset=data_args.dataset_name)]
    toy = (f"thrifty-toy-world:train(seed={data_args.toy_seed}, n={data_args.toy_num_problems}"
           f", difficulty={data_args.toy_difficulty}, family={data_args.toy_family}"
           + (f", levels={sorted(set(data_args.toy_levels))}" if data_args.toy_levels else "") + ")")
    return [dict(common, dataset=toy, question_field=None)]


# ---------------------------------------------------------------------------------------------------------
# Building and running
# ---------------------------------------------------------------------------------------------------------
#: TRL internals that ThriftyGRPOTrainer relies on (verified against trl 1.16; pyproject pins trl<1.17): the
#: method it overrides with the exact arguments it passes on, and the helper it calls.
TRL_HOOKS = {"_calculate_rewards": ["self", "inputs", "prompts", "completions", "completion_ids_list"],
             "_log_completion_extra": ["self", "column", "values"],
             "_generate_single_turn": ["self", "prompt_ids", "images", "multimodal_fields", "num_generations",
                                       "has_tool_images"],
             "_generate_and_score_completions": ["self", "inputs"]}


def check_trl_hooks(trainer_cls: type = GRPOTrainer) -> None:
    """Fail at start-up, with what to do, when the installed TRL changed a private hook Ada-GRPO overrides (a
    changed hook would otherwise silently stop the reward scaling)."""
    import inspect

    import trl

    for name, expected in TRL_HOOKS.items():
        method = getattr(trainer_cls, name, None)
        found = list(inspect.signature(method).parameters) if method is not None else None
        if found != expected:
            raise RecipeError(
                f"trl {trl.__version__}: GRPOTrainer.{name}{'(' + ', '.join(found) + ')' if found else ' is missing'}, "
                f"but thrifty's GRPO variants override it as {name}({', '.join(expected)}) (verified on trl 1.16); "
                "install a supported TRL: pip install 'trl>=1.16,<1.17'"
            )


def build_grpo_trainer(
    data_args: GRPODataArguments, training_args: ThriftyGRPOConfig, model_args: ModelConfig, trainer_cls=None
) -> GRPOTrainer:
    """The trainer for a parsed recipe (model from ``model_args``; LoRA when ``use_peft``)."""
    from thrifty.data import check_local_source
    from thrifty.models import (
        is_adapter_dir,
        load_tokenizer,
        load_trainable_model,
        model_init_kwargs,
        tokenizer_source,
    )

    preflight(model_args.model_name_or_path, training_args)
    for source in data_args.dataset_mixture or ([data_args.dataset_name] if data_args.dataset_name else []):
        check_local_source(source)  # a missing local file before the tokenizer may come from the Hub
    check_trl_hooks()
    wandb_defaults(training_args)
    template = resolve_prompt_template(data_args.prompt_template)
    tokenizer = load_tokenizer(tokenizer_source(model_args.model_name_or_path), padding_side="left",
                               revision=model_args.model_revision,
                               trust_remote_code=training_args.trust_remote_code)
    apply_chat_template_path(tokenizer, data_args.chat_template_path)
    check_prompt_setup(tokenizer, template, model_args.model_name_or_path, data_args.system_prompt)
    reward_funcs = build_reward_funcs(list(training_args.reward_funcs),
                                      reward_kwargs_for_template(training_args.reward_kwargs,
                                                                 list(training_args.reward_funcs), template))
    train = load_grpo_prompts(data_args, tokenizer)
    if training_args.variant == "adaptthink" and REF_COLUMN not in train.column_names:
        train = add_presampled_reference(train, data_args, training_args, model_args, tokenizer, reward_funcs)
    model, has_adapter = model_args.model_name_or_path, False
    if is_adapter_dir(model_args.model_name_or_path):  # TRL would load the folder as a plain model: do it here
        model, has_adapter = load_trainable_model(model_args, training_args)
        training_args.model_init_kwargs = None
    else:  # every ModelConfig setting reaches the model, as in SFT and DPO; the recipe's model_init_kwargs win
        training_args.model_init_kwargs = model_init_kwargs(model_args, training_args, dtype_as_name=True)
    trainer_cls = trainer_cls or ThriftyGRPOTrainer
    return trainer_cls(
        model=model,
        reward_funcs=reward_funcs,
        args=training_args,
        train_dataset=train,
        processing_class=tokenizer,
        peft_config=None if has_adapter else get_peft_config(model_args),
        quantization_config=None if model is not model_args.model_name_or_path else get_quantization_config(model_args),
    )


def add_presampled_reference(train, data_args: GRPODataArguments, training_args: ThriftyGRPOConfig,
                              model_args: ModelConfig, tokenizer, reward_funcs: list):
    """AdaptThink's ``ref_accuracy`` column, pre-sampled from the starting model in Thinking mode
    (:func:`thrifty.trainers.adaptthink.presample_reference_accuracy`, ``adaptthink_ref_samples`` per prompt, the
    recipe's temperature and completion length), cached in ``output_dir``."""
    if data_args.adaptthink_ref_samples < 1:
        raise RecipeError("variant adaptthink needs the reference model's accuracy per problem: set "
                          "adaptthink_ref_file (the official ref_results JSON) or adaptthink_ref_samples (pre-sample it "
                          "from the starting model)")
    weights = list(training_args.reward_weights or [1.0] * len(reward_funcs))
    accuracy = presample_reference_accuracy(
        model_args.model_name_or_path, tokenizer, train, reward_funcs, weights,
        training_args.adaptthink_thinking_prefix, data_args.adaptthink_ref_samples,
        training_args.max_completion_length, training_args.temperature,
        Path(training_args.output_dir) / "adaptthink_reference.jsonl", seed=training_args.seed)
    return train.add_column(REF_COLUMN, accuracy)


def reward_kwargs_for_template(reward_kwargs: dict | None, reward_funcs: list[str],
                                template: PromptTemplate) -> dict | None:
    """``reward_kwargs`` with the template's answer extraction given to the ``accuracy`` reward where the recipe
    leaves it unset, so the reward reads the answer where the template asks for it (R1-Zero: the ``<answer>``
    block) and eval scores it (:mod:`thrifty.prompt_templates`). A recipe's own ``extraction`` wins (logged)."""
    if not template.extraction or "accuracy" not in reward_funcs:
        return reward_kwargs
    merged = {k: dict(v) if isinstance(v, dict) else v for k, v in (reward_kwargs or {}).items()}
    own = merged.setdefault("accuracy", {})
    if not isinstance(own, dict):
        return reward_kwargs  # build_reward_funcs reports the malformed entry
    if own.get("extraction", template.extraction) != template.extraction:
        logger.warning("reward_kwargs sets accuracy's extraction to %r, but prompt_template %s asks for %r: the reward "
                       "and eval may read different answers", own["extraction"], template.label, template.extraction)
    own.setdefault("extraction", template.extraction)
    logger.info("prompt_template %s: the accuracy reward reads answers with extraction %r", template.label,
                own["extraction"])
    return merged


def run_grpo(data_args: GRPODataArguments, training_args: ThriftyGRPOConfig, model_args: ModelConfig) -> str:
    """Train, save the model (or adapter) and tokenizer to ``output_dir``, and return it."""
    return train_and_save(build_grpo_trainer(data_args, training_args, model_args),
                          training_data=training_data_entries(data_args, model_args.model_name_or_path),
                          spec=run_spec("grpo", data_args, training_args, model_args))


def parse_grpo_args(argv: list[str]) -> tuple[GRPODataArguments, ThriftyGRPOConfig, ModelConfig]:
    """``--config RECIPE [--key value ...]`` -> (data, training, model) configs."""
    return parse_recipe((GRPODataArguments, ThriftyGRPOConfig, ModelConfig), argv)


def cmd_grpo(argv: list[str]) -> int:
    """``thrifty grpo --config RECIPE [--key value ...]``: returns the exit status (2 for a user error)."""
    data_args, training_args, model_args = parse_grpo_args(argv)  # user errors: one line, exit 2 (thrifty.cli)
    out = run_grpo(data_args, training_args, model_args)
    logger.info("GRPO model written to %s", out)
    return 0
