"""Trainers on TRL: SFT, GRPO with thrifty's variants (plain, Ada-GRPO / ARM2, MinD), DPO, the demo; also launch and
publish (``thrifty.trainers.launch``, ``thrifty.trainers.publish``).

Import as ``from thrifty.trainers import ThriftyGRPOTrainer, ThriftyGRPOConfig``; the names below are loaded on
first use (TRL is imported then, not by ``import thrifty.trainers``). The Python API: docs/python-api.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from thrifty.lazy_exports import lazy_exports

#: public name -> the submodule that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("DataArguments", "ThriftySFTConfig", "ThriftySFTTrainer", "build_sft_trainer", "run_sft",
                     "load_train_data"), "sft"),
    **dict.fromkeys(("GRPODataArguments", "ThriftyGRPOConfig", "ThriftyGRPOTrainer", "build_grpo_trainer", "run_grpo",
                     "parse_grpo_args", "load_grpo_prompts", "toy_prompts", "VARIANTS", "DEFAULT_REWARDS"), "grpo"),
    **dict.fromkeys(("DPODataArguments", "ThriftyDPOConfig", "build_dpo_trainer", "run_dpo", "parse_dpo_args",
                     "load_pairs"), "dpo"),
    "run_demo": "demo",
    **dict.fromkeys(("init_toy_model", "pretrain_toy_base"), "toy"),
}

__all__ = [
    "DEFAULT_REWARDS",
    "DPODataArguments",
    "DataArguments",
    "GRPODataArguments",
    "ThriftyDPOConfig",
    "ThriftyGRPOConfig",
    "ThriftyGRPOTrainer",
    "ThriftySFTConfig",
    "ThriftySFTTrainer",
    "VARIANTS",
    "build_dpo_trainer",
    "build_grpo_trainer",
    "build_sft_trainer",
    "init_toy_model",
    "load_grpo_prompts",
    "load_pairs",
    "load_train_data",
    "parse_dpo_args",
    "parse_grpo_args",
    "pretrain_toy_base",
    "run_demo",
    "run_dpo",
    "run_grpo",
    "run_sft",
    "toy_prompts",
]  # the keys of _EXPORTS (tests/test_python_api.py)

if TYPE_CHECKING:  # for type checkers and editors; at run time the names load lazily (``__getattr__``)
    from .demo import run_demo
    from .dpo import (
        DPODataArguments,
        ThriftyDPOConfig,
        build_dpo_trainer,
        load_pairs,
        parse_dpo_args,
        run_dpo,
    )
    from .grpo import (
        DEFAULT_REWARDS,
        VARIANTS,
        GRPODataArguments,
        ThriftyGRPOConfig,
        ThriftyGRPOTrainer,
        build_grpo_trainer,
        load_grpo_prompts,
        parse_grpo_args,
        run_grpo,
        toy_prompts,
    )
    from .sft import (
        DataArguments,
        ThriftySFTConfig,
        ThriftySFTTrainer,
        build_sft_trainer,
        load_train_data,
        run_sft,
    )
    from .toy import init_toy_model, pretrain_toy_base


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
