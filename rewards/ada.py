"""Ada-GRPO format-balanced reward scaling (ARM, Wu et al. 2025, "ARM: Adaptive Reasoning Model", eq. for
alpha_i(t); thrifty DESIGN.md section 4.2).

For a group of G completions o_1..o_G of one prompt, F(o_i) = number of completions of the group whose format
is o_i's (``unknown`` counts as a format of its own), t = current step, T = total steps:

    alpha_i(t) = (G / F(o_i)) * decay_i(t)
    decay_i(t) = F(o_i)/G + 0.5 * (1 - F(o_i)/G) * (1 + cos(pi * t / T))

equivalently alpha = 1 + 0.5 * (G/F - 1) * (1 + cos(pi t / T)): G/F at t = 0, 1 at t = T. The trainer multiplies
each completion's reward by alpha_i before the group normalisation A_i = (r'_i - mean(r')) / (std(r') + eps),
so rare formats are boosted (no "format collapse" onto long CoT).

What the decay anneals depends on the group. Where some completions are wrong, r'_i = alpha_i r_i and the
advantages move from the boosted ones towards plain GRPO's as t -> T. Where every completion is right (r_i = 1),
r'_i = 1 + c(t) (G/F_i - 1) with c(t) = 0.5 (1 + cos(pi t / T)): the normalisation divides c(t) out, so the
advantages (G/F_i - mean) / std keep their full size until c(t) std(G/F) nears eps in the last steps, and only
t = T is plain GRPO (zero advantages). ARM's ``compute_ada_grpo_outcome_advantage`` normalises the same way
(eps 1e-6 there, TRL's 1e-4 here), so this is the reference's behaviour; ``tests/test_rewards.py`` pins it.

**ARM2's length-aware variant** (opt-in, ``ada_length_penalty: true``; Xie et al. 2025, "ARM2: Adaptive
Reasoning Model with Vision Understanding and Executable Code", arXiv 2510.08163; official code TEAM-ARM/arm2,
``verl/verl/trainer/ppo/core_algos.py`` ``compute_ada_grpo_w_length_penalty_outcome_advantage``): with L_i the
completion's token count and L_min, L_max the group's shortest and longest (right or wrong),

    beta_i = exp(-lambda (L_i - L_min) / (L_max - L_min + 1e-4))      (beta_i = 1 when every length is equal)
    r'_i = r_i * (1 + 0.5 (alpha_i beta_i - 1) (1 + cos(0.9 pi t / T))),  alpha_i = G / F(o_i), lambda = 0.5

so the format boost and the length factor are annealed together, and not quite to 1 (the 0.9: at t = T the
multiplier is 1 + 0.024 (alpha_i beta_i - 1)). Within a group the shortest completion keeps its boost whole and
the longest has it multiplied by exp(-lambda) = 0.61.
"""

from __future__ import annotations

import math
from collections import Counter


def ada_grpo_alpha(formats: list[str], step: int, total_steps: int) -> list[float]:
    """alpha_i(t) for each completion of ONE group, given the group's formats in order (pure function).

    ``step`` is clamped to ``[0, total_steps]``; ``total_steps`` must be positive.
    """
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if not formats:
        return []
    group = len(formats)
    counts = Counter(formats)
    t = min(max(step, 0), total_steps)
    cosine = 1.0 + math.cos(math.pi * t / total_steps)
    out = []
    for fmt in formats:
        share = counts[fmt] / group
        decay = share + 0.5 * (1.0 - share) * cosine
        out.append((group / counts[fmt]) * decay)
    return out


#: ARM2's constants (``compute_ada_grpo_w_length_penalty_outcome_advantage``): the length penalty's lambda, the
#: epsilon of its normalisation, and the factor on the cosine's phase.
ARM2_LENGTH_LAMBDA = 0.5
ARM2_LENGTH_EPSILON = 1e-4
ARM2_DECAY_PHASE = 0.9


def arm2_length_alpha(
    formats: list[str], lengths: list[int], step: int, total_steps: int, length_lambda: float = ARM2_LENGTH_LAMBDA
) -> list[float]:
    """ARM2's reward multiplier for each completion of ONE group (module docstring; pure function):
    ``1 + 0.5 (alpha_i beta_i - 1)(1 + cos(0.9 pi t / T))`` with ``alpha_i = G / F(o_i)`` and
    ``beta_i = exp(-lambda (L_i - L_min) / (L_max - L_min + 1e-4))``, ``lengths`` in tokens."""
    if total_steps <= 0:
        raise ValueError(f"total_steps must be positive, got {total_steps}")
    if len(lengths) != len(formats):
        raise ValueError(f"{len(formats)} formats but {len(lengths)} lengths")
    if not formats:
        return []
    group = len(formats)
    counts = Counter(formats)
    lo, hi = min(lengths), max(lengths)
    denominator = float(hi - lo) + ARM2_LENGTH_EPSILON
    t = min(max(step, 0), total_steps)
    cosine = 1.0 + math.cos(math.pi * t / total_steps * ARM2_DECAY_PHASE)
    out = []
    for fmt, length in zip(formats, lengths, strict=True):
        ratio = (length - lo) / denominator if denominator > ARM2_LENGTH_EPSILON else 0.0
        boost = (group / counts[fmt]) * math.exp(-length_lambda * ratio)
        out.append(1.0 + 0.5 * (boost - 1.0) * cosine)
    return out


def ada_grpo_alpha_batch(
    formats: list[str], group_size: int, step: int, total_steps: int,
    lengths: list[int] | None = None, length_lambda: float = ARM2_LENGTH_LAMBDA,
) -> list[float]:
    """The multipliers for a whole gathered batch: consecutive runs of ``group_size`` completions are the groups.
    With ``lengths`` (token counts), ARM2's length-aware multiplier (:func:`arm2_length_alpha`), else ARM's alpha."""
    if group_size <= 0 or len(formats) % group_size:
        raise ValueError(f"{len(formats)} completions do not split into groups of {group_size}")
    out: list[float] = []
    for start in range(0, len(formats), group_size):
        group = formats[start : start + group_size]
        if lengths is None:
            out.extend(ada_grpo_alpha(group, step, total_steps))
        else:
            out.extend(arm2_length_alpha(group, lengths[start : start + group_size], step, total_steps, length_lambda))
    return out
