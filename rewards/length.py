"""Length rewards on completion tokens (simple, dense signals; also what the toy tests learn from).

- ``short_length``: ``1 - min(len, max_len) / max_len``, where ``len`` is the completion's token count: 1 for an
  immediate stop, 0 at ``max_len`` tokens. A plain conciseness shaping term (cf. Kimi k1.5's length penalty,
  which is relative within a group; this is absolute and bounded).
"""

from __future__ import annotations

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
