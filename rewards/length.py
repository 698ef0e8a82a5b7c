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
