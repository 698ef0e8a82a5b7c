"""AdaptThink: teach a reasoning model when to think (Zhang et al. 2025, "AdaptThink: Reasoning Models Can Learn
When to Think", arXiv 2505.13417; official code THU-KEG/AdaptThink, read at ``84cf948``; docs/methods/adaptthink.md).

The constrained objective (paper section 3.1; ``src/adapt_think_reward_manager.py`` l.184-189) gives every
completion the advantage

    A(x, y) = 1[y is NoThinking] * delta + R(x, y) - Rbar_ref(x)

with R the accuracy (0 or 1), Rbar_ref(x) the reference (initial) model's mean accuracy on x in Thinking mode,
pre-sampled (16 samples per problem, ``src/presampling_ref_responses.py``), and delta = 0.05. No group mean or std:
the advantage is the reward as it is (``adv_estimator=naive``, ``src/adapt_think_core_algos.py`` l.8-15).
"NoThinking" is the sampled mode, not the text: in each group of ``G`` rollouts the first ``round(G * 0.5)`` start
with the forced ``</think>`` and the rest with ``Alright`` (``src/adapt_think_vllm_rollout.py`` l.255-303), the
importance-sampling distribution pi_IS, which puts 0.5 on each first token and pi_old on every later one
(``adapt_think_core_algos.py`` l.89-105): the policy ratio is ``exp(mean_t log pi_theta(y_t) - mean_t log
pi_IS(y_t))``, per sequence, clipped at 1 +- 0.2, the loss the mean over sequences.

The official accuracy (``src/adapt_think_rm.py`` l.523-557) is 0 unless the response has no ``<think>`` and exactly
one ``</think>``; the answer is the last ``\\boxed{}`` after it: :class:`AdaptThinkAccuracyReward`.
"""

from __future__ import annotations

import math
from typing import Any

from .accuracy import AccuracyReward
from .common import completion_texts

#: The NoThinking bonus delta of the released models (``..._delta0.05_...sh``: ``nothinking_bonus=0.05``).
ADAPTTHINK_DELTA = 0.05
#: The share of each group forced to NoThinking (``nothinking_ratio=0.5``), for the whole run.
ADAPTTHINK_NOTHINKING_RATIO = 0.5
#: The forced first tokens: ``</think>`` (id 151649) for NoThinking, ``Alright`` (id 71486) for Thinking.
NOTHINKING_PREFIX, THINKING_PREFIX = "</think>", "Alright"


def adaptthink_advantage(accuracy: float, ref_accuracy: float, nothinking: bool, delta: float = ADAPTTHINK_DELTA) -> float:
    """``1[nothinking] * delta + accuracy - ref_accuracy`` (the reward is the advantage: no group normalisation)."""
    return float(accuracy) - float(ref_accuracy) + (delta if nothinking else 0.0)


def forced_nothinking(global_index: int, group_size: int, ratio: float = ADAPTTHINK_NOTHINKING_RATIO) -> bool:
    """Whether rollout ``global_index`` of the batch (groups of ``group_size`` consecutive rollouts) is forced to
    NoThinking: its place in the group is below ``round(group_size * ratio)``, the official [NoThinking..., Thinking...]
    layout."""
    return global_index % group_size < round(group_size * ratio)


def importance_first_logprob(nothinking: bool, ratio: float = ADAPTTHINK_NOTHINKING_RATIO) -> float:
    """log pi_IS of the forced first token: ``log(ratio)`` for NoThinking, ``log(1 - ratio)`` for Thinking."""
    return math.log(ratio if nothinking else 1.0 - ratio)


def sequence_ratio(logps: list[float], sampling_logps: list[float]) -> float:
    """The official per-sequence ratio: ``exp(mean_t log pi_theta(y_t) - mean_t log pi_IS(y_t))`` over the
    response tokens (the geometric mean of the token ratios)."""
    return math.exp(sum(a - b for a, b in zip(logps, sampling_logps, strict=True)) / len(logps))


def clipped_sequence_loss(advantage: float, ratio: float, clip: float = 0.2) -> float:
    """PPO's clipped loss of one sequence: ``max(-A r, -A clip(r, 1 - clip, 1 + clip))``."""
    return max(-advantage * ratio, -advantage * min(max(ratio, 1.0 - clip), 1.0 + clip))


def think_gate(text: str, think_open: str = "<think>", think_close: str = "</think>") -> str | None:
    """The answer region the official accuracy reads: the text after the one ``</think>``, or None (accuracy 0)
    when the response holds ``<think>`` or not exactly one ``</think>`` (``adapt_think_rm.py`` l.537-545)."""
    if think_open in text or text.count(think_close) != 1:
        return None
    return text.split(think_close)[-1]


class AdaptThinkAccuracyReward(AccuracyReward):
    """AdaptThink's R(x, y): the official format gate (:func:`think_gate`) and then the correctness of the answer
    after ``</think>`` (the shared answer checker; the last ``\\boxed{}`` with the default ``strict`` extraction)."""

    __name__ = "adaptthink_accuracy"

    def __call__(self, prompts: list, completions: list, completion_ids: list | None = None, **columns: Any):
        regions = [think_gate(t, self.delimiters.open, self.delimiters.close) for t in completion_texts(completions)]
        verdicts, _ = self.verdicts([r or "" for r in regions], columns)
        return [self.correct if region is not None and ok else self.wrong for region, ok in zip(regions, verdicts,
                                                                                                    strict=True)]
