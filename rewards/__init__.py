"""Rewards for GRPO: a registry with plug-ins, accuracy (shared answer checker), format rewards, Ada-GRPO
scaling (ARM), MinD fewer-turns / unit-compactness, length; TRL's own rewards registered by name.

Import as ``from thrifty.rewards import ...``. This package never imports ``thrifty.trainers``.
"""

from __future__ import annotations

from .accuracy import AccuracyReward
from .ada import ada_grpo_alpha, ada_grpo_alpha_batch, arm2_length_alpha
from .adaptthink import AdaptThinkAccuracyReward, adaptthink_advantage
from .arm import ARM_INVALID_TAGS, ArmAccuracyReward, KimiLengthReward, arm_answer, arm_format_valid
from .common import completion_text, completion_texts
from .efficient import ArmEfficientLengthReward, EfficientLengthReward
from .format_rewards import (
    arm_format_reward,
    is_valid_mind,
    mind_format_reward,
    r1_zero_format_reward,
    think_format_reward,
)
from .l1 import L1LengthReward, l1_exact_reward, l1_max_reward, l1_prompt, l1_reward, sample_l1_budget
from .length import short_length_reward
from .mind import EXPLORATION_MARKERS, FewerTurnsReward, UnitCompactnessReward, turn_counts
from .registry import (
    RewardError,
    available_rewards,
    build_reward_funcs,
    describe_rewards,
    get_reward,
    register_reward,
)

# thrifty's rewards
register_reward("accuracy", AccuracyReward, factory=True, doc="1 if the final answer verifies (math-verify), else 0")
register_reward(
    "arm_accuracy", ArmAccuracyReward, factory=True,
    doc="ARM's reward: <ANSWER> accuracy, 0 unless the completion opens with a format tag and mixes no other's",
)
register_reward("arm_format", arm_format_reward, doc="1 for a valid ARM format with an answer; unknown/mixed tags 0")
register_reward("mind_format", mind_format_reward, doc="1 for well-formed MinD turns, each with a boxed answer")
register_reward("think_format", think_format_reward, doc="1 for one leading <think> block and an answer")
register_reward("r1_zero_format", r1_zero_format_reward,
                doc="1 for R1-Zero's <think> </think> <answer> </answer> layout (open_r1_newlines: open-r1's regex)")
register_reward("fewer_turns", FewerTurnsReward, factory=True, doc="extension (not MinD's): correct * w * (1 - (turns-1)/(max_turns-1))")
register_reward("unit_compactness", UnitCompactnessReward, factory=True, doc="MinD R_unit: penalty for turns that open several explorations")
register_reward("short_length", short_length_reward, doc="1 - min(tokens, max_len)/max_len")
register_reward("adaptthink_accuracy", AdaptThinkAccuracyReward, factory=True,
                doc="AdaptThink's R: 0 unless no <think> and one </think>, then the accuracy of the answer after it")
register_reward("l1_length", L1LengthReward, factory=True,
                doc="L1/LCPO: correct - 0.0003|N - n| (exact budget), correct * clip(0.001(N - n) + 0.5, 0, 1) (max)")
register_reward("kimi_length", KimiLengthReward, factory=True,
                doc="extension (not ARM's): Kimi k1.5 length reward within a prompt's group, ARM correctness")
register_reward("efficient_length", EfficientLengthReward, factory=True,
                doc="Arora & Zanette 2025: -alpha*sigmoid(z) on a correct answer, z its length against the group's "
                    "correct ones; add to accuracy")
register_reward("arm_efficient_length", ArmEfficientLengthReward, factory=True,
                doc="efficient_length with ARM's correctness; add to arm_accuracy")

# TRL's own rewards (trl.rewards), by name, imported lazily
register_reward("trl_accuracy", "trl.rewards:accuracy_reward", doc="TRL: math-verify accuracy vs column 'solution'")
register_reward(
    "trl_reasoning_accuracy", "trl.rewards:reasoning_accuracy_reward", doc="TRL: accuracy of the text after </think>"
)
register_reward("trl_think_format", "trl.rewards:think_format_reward", doc="TRL: <think> format (conversational)")
register_reward(
    "cosine_scaled", "trl.rewards:get_cosine_scaled_reward", factory=True, doc="TRL: cosine length-scaled accuracy"
)
register_reward(
    "repetition_penalty", "trl.rewards:get_repetition_penalty_reward", factory=True, doc="TRL: n-gram repetition penalty"
)
register_reward(
    "soft_overlong_punishment",
    "trl.rewards:get_soft_overlong_punishment",
    factory=True,
    doc="TRL (DAPO): soft punishment of over-long completions",
)

__all__ = [
    "ARM_INVALID_TAGS",
    "AccuracyReward",
    "AdaptThinkAccuracyReward",
    "ArmAccuracyReward",
    "ArmEfficientLengthReward",
    "EXPLORATION_MARKERS",
    "EfficientLengthReward",
    "FewerTurnsReward",
    "KimiLengthReward",
    "L1LengthReward",
    "RewardError",
    "UnitCompactnessReward",
    "ada_grpo_alpha",
    "adaptthink_advantage",
    "ada_grpo_alpha_batch",
    "arm2_length_alpha",
    "arm_answer",
    "arm_format_reward",
    "arm_format_valid",
    "available_rewards",
    "build_reward_funcs",
    "completion_text",
    "completion_texts",
    "describe_rewards",
    "get_reward",
    "is_valid_mind",
    "l1_exact_reward",
    "l1_max_reward",
    "l1_prompt",
    "l1_reward",
    "mind_format_reward",
    "r1_zero_format_reward",
    "register_reward",
    "sample_l1_budget",
    "short_length_reward",
    "think_format_reward",
    "turn_counts",
]
