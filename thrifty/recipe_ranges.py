"""The valid range of every numeric recipe key, checked before any work starts.

:func:`thrifty.recipes.parse_recipe` checks each numeric value of a recipe and of the command-line overrides
against :data:`RANGES` *before* the dataclasses are built (so before TRL's own ``__post_init__``, which would
divide by ``num_generations: 0``, and long before a model is loaded): a value out of range is a one-line
:class:`~thrifty.recipes.RecipeError` naming the key, the value, where it came from and the valid range. The
table covers every numeric field of every dataclass a command parses (TRL's SFT/GRPO/DPO configs, PEFT's LoRA
keys in TRL's ``ModelConfig``, and thrifty's own); a test walks those dataclasses and fails on a numeric field
with no entry here, so a field added by a TRL upgrade or by thrifty cannot slip by unchecked. NaN and infinity
are refused everywhere.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Range:
    """``lo``/``hi`` bounds (None: unbounded; ``*_open``: the bound itself is excluded), ``also``: sentinel
    values accepted outside the bounds (``max_steps: -1``), ``why``: a short reason added to the error."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    also: tuple[float, ...] = ()
    why: str = ""

    def accepts(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if value in self.also:
            return True
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            return False
        return not (self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi)))

    def __str__(self) -> str:
        if self.lo is not None and self.hi is not None:
            text = f"in {'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}{')' if self.hi_open else ']'}"
        elif self.lo is not None:
            text = f"{'>' if self.lo_open else '>='} {_num(self.lo)}"
        elif self.hi is not None:
            text = f"{'<' if self.hi_open else '<='} {_num(self.hi)}"
        else:
            text = "a finite number"
        if self.also:
            text = " or ".join(_num(v) for v in self.also) + f" or {text}"
        return text


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


ANY = Range()  # finite, any sign (reward weights, a loss coefficient whose sign means something)
NON_NEGATIVE = Range(0)
POSITIVE = Range(0, lo_open=True)
AT_LEAST_1 = Range(1)
FRACTION = Range(0, 1)  # [0, 1]
OPEN_FRACTION = Range(0, 1, lo_open=True)  # (0, 1]: top_p, memory shares
SEED = Range(0, 2**32 - 1, why="numpy's seeds")
STEPS_OR_RATIO = Range(0, lo_open=True, why="a number of steps, or a ratio of the total steps below 1")
PORT = Range(1, 65535)

#: ``field`` or ``DataclassName.field`` -> its range. The class-qualified entry wins for that class and its
#: subclasses (``GRPOConfig.temperature`` must be > 0: GRPO samples; ``temperature: 0`` in eval means greedy).
RANGES: dict[str, Range] = {
    # --- transformers' TrainingArguments (SFT, GRPO and DPO configs) ---
    "learning_rate": NON_NEGATIVE,
    "adam_beta1": Range(0, 1, hi_open=True),
    "adam_beta2": Range(0, 1, hi_open=True),
    "adam_epsilon": NON_NEGATIVE,
    "weight_decay": NON_NEGATIVE,
    "max_grad_norm": Range(0, why="0 turns clipping off"),
    "num_train_epochs": POSITIVE,
    "max_steps": Range(1, also=(-1,), why="-1 trains num_train_epochs"),
    "warmup_steps": Range(0, why="a number of steps, or a ratio of the total steps below 1"),
    "logging_steps": STEPS_OR_RATIO,
    "save_steps": STEPS_OR_RATIO,
    "eval_steps": STEPS_OR_RATIO,
    "eval_delay": NON_NEGATIVE,
    "per_device_train_batch_size": AT_LEAST_1,
    "per_device_eval_batch_size": AT_LEAST_1,
    "gradient_accumulation_steps": AT_LEAST_1,
    "eval_accumulation_steps": AT_LEAST_1,
    "seed": SEED,
    "data_seed": SEED,
    "dataloader_num_workers": NON_NEGATIVE,
    "dataloader_prefetch_factor": AT_LEAST_1,
    "dataset_num_proc": AT_LEAST_1,
    "ddp_bucket_cap_mb": AT_LEAST_1,
    "ddp_timeout": AT_LEAST_1,
    "save_total_limit": AT_LEAST_1,
    "local_rank": Range(0, also=(-1,), why="set by the launcher"),
    "torch_empty_cache_steps": AT_LEAST_1,
    "label_smoothing_factor": FRACTION,
    "neftune_noise_alpha": NON_NEGATIVE,
    "router_aux_loss_coef": NON_NEGATIVE,
    "pad_to_multiple_of": AT_LEAST_1,
    "max_length": AT_LEAST_1,
    # --- TRL's GRPOConfig ---
    "beta": NON_NEGATIVE,
    "num_generations": Range(2, why="GRPO compares at least 2 completions of each prompt"),
    "num_generations_eval": AT_LEAST_1,
    "max_completion_length": AT_LEAST_1,
    "generation_batch_size": AT_LEAST_1,
    "steps_per_generation": AT_LEAST_1,
    "num_iterations": AT_LEAST_1,
    "epsilon": NON_NEGATIVE,
    "epsilon_high": NON_NEGATIVE,
    "delta": POSITIVE,
    "GRPOConfig.temperature": Range(0, lo_open=True, why="GRPO samples its completions"),
    "top_p": OPEN_FRACTION,
    "top_k": Range(0, why="0 turns top-k off"),
    "min_p": FRACTION,
    "repetition_penalty": POSITIVE,
    "ref_model_mixup_alpha": FRACTION,
    "ref_model_sync_steps": AT_LEAST_1,
    "top_entropy_quantile": FRACTION,
    "entropy_coef": NON_NEGATIVE,
    "entropy_coef_min": NON_NEGATIVE,
    "entropy_coef_max": NON_NEGATIVE,
    "entropy_coef_delta": POSITIVE,
    "entropy_target": NON_NEGATIVE,
    "sapo_temperature_pos": POSITIVE,
    "sapo_temperature_neg": POSITIVE,
    "vespo_k_pos": NON_NEGATIVE,
    "vespo_k_neg": NON_NEGATIVE,
    "vespo_lambda_pos": NON_NEGATIVE,
    "vespo_lambda_neg": NON_NEGATIVE,
    "vllm_gpu_memory_utilization": OPEN_FRACTION,
    "vllm_group_port": PORT,
    "vllm_server_port": PORT,
    "vllm_server_timeout": POSITIVE,
    "vllm_tensor_parallel_size": AT_LEAST_1,
    "vllm_max_model_length": AT_LEAST_1,
    "vllm_importance_sampling_cap": POSITIVE,
    "vllm_importance_sampling_clip_max": POSITIVE,
    "vllm_importance_sampling_clip_min": NON_NEGATIVE,
    "off_policy_mask_threshold": POSITIVE,
    "num_completions_to_print": NON_NEGATIVE,
    "max_tool_calling_iterations": NON_NEGATIVE,
    "reward_weights": ANY,
    # --- TRL's DPOConfig ---
    "DPOConfig.beta": Range(0, lo_open=True, why="at 0 the DPO loss is flat: nothing is learned"),
    "discopop_tau": POSITIVE,
    "f_alpha_divergence_coef": ANY,
    "label_smoothing": Range(0, 0.5, hi_open=True, why="a label-flip probability (Robust DPO)"),
    "ld_alpha": FRACTION,
    "loss_weights": NON_NEGATIVE,
    "precompute_ref_batch_size": AT_LEAST_1,
    # --- TRL's ModelConfig: PEFT's LoRA keys ---
    "lora_r": AT_LEAST_1,
    "lora_alpha": POSITIVE,
    "lora_dropout": Range(0, 1, hi_open=True),
    # --- thrifty: training data and GRPO ---
    "max_train_samples": AT_LEAST_1,
    "toy_num_problems": AT_LEAST_1,
    "toy_seed": SEED,
    "toy_difficulty": AT_LEAST_1,
    "toy_levels": AT_LEAST_1,
    "ada_length_lambda": NON_NEGATIVE,
    "format_tag_loss_weight": POSITIVE,
    "l1_budget_range": AT_LEAST_1,
    "l1_budget_seed": SEED,
    "adaptthink_ref_samples": Range(0, why="0: read adaptthink_ref_file instead"),
    "adaptthink_delta": NON_NEGATIVE,
    "adaptthink_nothinking_ratio": Range(0, 1, lo_open=True, hi_open=True, why="both modes must be sampled"),
    # --- thrifty: eval, LongBench-Write, style selection (generation) ---
    "limit": AT_LEAST_1,
    "toy_per_difficulty": AT_LEAST_1,
    "batch_size": AT_LEAST_1,
    "max_sequences_per_call": AT_LEAST_1,
    "num_samples": AT_LEAST_1,
    "temperature": Range(0, why="0 is greedy"),
    "max_new_tokens": AT_LEAST_1,
    "chunk_size": AT_LEAST_1,
    "verify_timeout_s": POSITIVE,
    "max_turns": AT_LEAST_1,
    "tensor_parallel_size": AT_LEAST_1,
    "gpu_memory_utilization": OPEN_FRACTION,
    "max_model_len": AT_LEAST_1,
    "subset_size": AT_LEAST_1,
    "n_style_examples": NON_NEGATIVE,
    "toy_n": AT_LEAST_1,
    # --- thrifty: the LLM judge and the LLM backends of the builders ---
    "judge_max_concurrency": AT_LEAST_1,
    "judge_max_retries": NON_NEGATIVE,
    "judge_max_attempts": AT_LEAST_1,
    "judge_timeout_s": POSITIVE,
    "judge_backoff_base_s": NON_NEGATIVE,
    "judge_temperature": NON_NEGATIVE,
    "judge_max_tokens": AT_LEAST_1,
    "llm_max_concurrency": AT_LEAST_1,
    "llm_max_retries": NON_NEGATIVE,
    "llm_timeout_s": POSITIVE,
    "llm_backoff_base_s": NON_NEGATIVE,
    "llm_temperature": NON_NEGATIVE,
    "llm_top_p": OPEN_FRACTION,
    "llm_max_tokens": AT_LEAST_1,
    "llm_seed": SEED,
    "llm_batch_size": AT_LEAST_1,
    # --- thrifty: data builders ---
    "max_samples": AT_LEAST_1,
    "max_long_cot_chars": AT_LEAST_1,
    "min_turns": AT_LEAST_1,
    "min_unit_chars": NON_NEGATIVE,
    "length_weight": NON_NEGATIVE,
    "quality_weight": NON_NEGATIVE,
    "min_margin": NON_NEGATIVE,
    "pairs_per_prompt": AT_LEAST_1,
    "max_plan_steps": AT_LEAST_1,
    "min_paragraph_length": NON_NEGATIVE,
    "min_output_ratio": NON_NEGATIVE,
    "min_output_length": NON_NEGATIVE,
    "histogram_edges": NON_NEGATIVE,
    "decontaminate_ngram_size": AT_LEAST_1,
}


def _numeric_kind(hint: Any) -> type | None:
    """``int`` or ``float`` when a field's type holds a number (``int | None``, ``list[float]``, ``int | str``),
    else None (``bool`` is not a number here)."""
    members = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    kinds = set()
    for member in members:
        if typing.get_origin(member) in (list, tuple):
            kinds.update(typing.get_args(member))
        else:
            kinds.add(member)
    if bool in kinds:
        return None
    return float if float in kinds else int if int in kinds else None


def numeric_fields(dataclass_type: type) -> dict[str, type]:
    """``{field: int or float}`` for the numeric recipe keys of ``dataclass_type``."""
    hints = typing.get_type_hints(dataclass_type)
    out = {}
    for f in dataclasses.fields(dataclass_type):
        kind = _numeric_kind(hints.get(f.name)) if f.init else None
        if kind is not None:
            out[f.name] = kind
    return out


def range_of(dataclass_type: type, name: str) -> Range | None:
    """The declared range of ``dataclass_type``'s field ``name`` (class-qualified entries first, along the MRO)."""
    for cls in dataclass_type.__mro__:
        found = RANGES.get(f"{cls.__name__}.{name}")
        if found is not None:
            return found
    return RANGES.get(name)


def out_of_range(dataclass_types: Iterable[type], values: dict[str, Any],
                 where: Callable[[str], str]) -> str | None:
    """The first error among ``values`` (argparse's parsed recipe, ``{key: value}``) as one line
    ``WHERE: KEY = VALUE is out of range: it must be RANGE``, or None when every numeric value is in range."""
    for dtype in dataclass_types:
        for name, kind in numeric_fields(dtype).items():
            value = values.get(name)
            bounds = range_of(dtype, name) or ANY
            for item in value if isinstance(value, (list, tuple)) else [value]:
                number = _as_number(item, kind)
                if number is None or bounds.accepts(number):
                    continue
                finite = math.isfinite(number)
                shown = f"{_num(number)} is out of range" if finite else f"{number} is not a finite number"
                kind_word = "an integer " if kind is int else ""
                why = f" ({bounds.why})" if bounds.why else ""
                return f"{where(name)}: {name} = {shown}: it must be {kind_word}{bounds}{why}"
    return None


def _as_number(value: Any, kind: type) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and kind is int:  # ``int | str`` fields (pad_to_multiple_of: auto)
        try:
            return float(int(value))
        except ValueError:
            return None
    return None
