"""Length rewards on completion tokens (simple, dense signals; also what the toy tests learn from).

- ``short_length``: ``1 - min(len, max_len) / max_len``, where ``len`` is the completion's token count: 1 for an
  immediate stop, 0 at ``max_len`` tokens. A plain conciseness shaping term (cf. Kimi k1.5's length penalty,
  which is relative within a group; this is absolute and bounded).
- Kimi k1.5's group-relative length term (:func:`kimi_length_lambdas`) and Arora & Zanette's length penalty on
  correct completions (:func:`efficient_length_penalties`): pure functions over a batch, the rewards that use them
  in :mod:`thrifty.rewards.arm` and :mod:`thrifty.rewards.efficient`.
"""

from __future__ import annotations

import math
from typing import Any


def short_length_reward(
    prompts: list, completions: list, completion_ids: list | None = None, max_len: int = 64, **columns: Any
) -> list[float]:
    """``1 - min(tokens, max_len) / max_len`` per completion (needs ``completion_ids``)."""
    if completion_ids is None:
        raise ValueError("short_length needs completion_ids (TRL passes them)")
    return [1.0 - min(len(ids), max_len) / max_len for ids in completion_ids]


def kimi_length_lambdas(lengths: list[int], groups: list[object]) -> list[float]:
    """Kimi k1.5's length term per completion (Kimi Team 2025, "Kimi k1.5", section 2.3.3, "Length Penalty"):
    within the completions of one prompt, ``lambda = 0.5 - (len - min_len) / (max_len - min_len)``, so the
    shortest gets 0.5 and the longest -0.5; 0 for every completion of a group whose lengths are all equal."""
    by_group: dict[object, list[int]] = {}
    for length, group in zip(lengths, groups, strict=True):
        by_group.setdefault(group, []).append(length)
    out = []
    for length, group in zip(lengths, groups, strict=True):
        lo, hi = min(by_group[group]), max(by_group[group])
        out.append(0.0 if hi == lo else 0.5 - (length - lo) / (hi - lo))
    return out


#: The official scripts' alpha (Zanette-Labs/efficient-reasoning ``run_rloo_1.5B.sh``, ``run_rloo_7B.sh``: 0.1; the
#: paper sweeps 0.05 to 0.4) and the epsilon of its length normalisation (``reward_server/math_server.py``).
EFFICIENT_ALPHA = 0.1
EFFICIENT_EPSILON = 1e-7


def efficient_length_penalties(lengths: list[int], correct: list[bool], groups: list[object],
                               alpha: float = EFFICIENT_ALPHA) -> list[float]:
    """The length term of Arora & Zanette 2025 ("Training Language Models to Reason Efficiently", arXiv
    2502.04463; official ``reward_server/math_server.py``, ``reward_type: sigmoid``), per completion.

    Their reward is ``correct * (1 - alpha * sigmoid((len - mean(x)) / (std(x) + 1e-7)))`` with ``mean(x)`` and
    ``std(x)`` (population std, ``np.std``) the token lengths of the CORRECT completions of the same prompt x. This
    returns the term it subtracts, ``-alpha * sigmoid(...)`` for a correct completion and 0 for a wrong one, so that
    ``accuracy + term`` (weights 1 and 1) is their reward exactly. A prompt's only correct completion gets
    ``-alpha / 2`` (z = 0). The reward that calls this checks ``alpha`` where a recipe sets it
    (:class:`~thrifty.rewards.efficient.EfficientLengthReward`)."""
    right: dict[object, list[int]] = {}
    for length, ok, group in zip(lengths, correct, groups, strict=True):
        if ok:
            right.setdefault(group, []).append(length)
    stats = {}  # per prompt: mean and population std of its correct lengths
    for group, lens in right.items():
        mean = sum(lens) / len(lens)
        stats[group] = mean, math.sqrt(sum((n - mean) ** 2 for n in lens) / len(lens))
    out = []
    for length, ok, group in zip(lengths, correct, groups, strict=True):
        if not ok:
            out.append(0.0)
            continue
        mean, std = stats[group]
        out.append(-alpha / (1.0 + math.exp(-(length - mean) / (std + EFFICIENT_EPSILON))))
    return out
