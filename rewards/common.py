"""Helpers shared by the reward functions: completion text, and the TRL reward signature.

TRL (>= 1.x) calls every reward as ``reward(prompts=..., completions=..., completion_ids=..., **columns)`` where
``columns`` are the dataset's other columns (one value per completion) plus ``trainer_state``, ``log_extra``
and ``log_metric``; it must return one ``float | None`` per completion (None = not applicable).
Completions are strings (standard data) or lists of messages ``[{"role": "assistant", "content": ...}]``
(conversational data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class RewardFunc(Protocol):
    """TRL's reward signature."""

    def __call__(
        self, prompts: list, completions: list, completion_ids: list[list[int]] | None = None, **columns: Any
    ) -> list[float | None]: ...


def completion_text(completion: str | list[dict[str, Any]] | dict[str, Any]) -> str:
    """The text of one completion, standard (a string) or conversational (assistant messages, concatenated)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content") or "")
    if isinstance(completion, list):
        return "".join(
            str(m.get("content") or "") for m in completion if isinstance(m, dict) and m.get("role", "assistant") == "assistant"
        )
    raise TypeError(f"a completion must be a string or a list of messages, not {type(completion).__name__}")


def completion_texts(completions: list) -> list[str]:
    """:func:`completion_text` of each completion."""
    return [completion_text(c) for c in completions]


def column(columns: dict[str, Any], name: str, n: int, reward: str) -> list:
    """The dataset column ``name`` (one value per completion); a clear error naming the reward if absent."""
    if name not in columns:
        available = sorted(k for k in columns if k not in ("trainer_state", "log_extra", "log_metric", "environments"))
        raise KeyError(
            f"reward '{reward}' needs the dataset column '{name}', which is missing; columns: {', '.join(available) or 'none'}"
            f" (set '{reward}': {{'answer_column': ...}} in reward_kwargs to read another column)"
        )
    values = columns[name]
    if len(values) != n:
        raise ValueError(f"reward '{reward}': column '{name}' has {len(values)} values for {n} completions")
    return list(values)


def gathered_by_prompt(prompts: list, rows: list, compute: Callable[[list, list], list[float]]) -> list[float]:
    """``compute(rows, groups)`` over the rows of ALL processes, grouped by prompt; this process's share of it.

    TRL calls a reward on each process's slice of the batch, and with several processes one prompt's group of
    ``num_generations`` completions can span processes (2 of 4 per rank in tests/test_launch_ada.py), so a
    group statistic (min/max or mean/std of lengths) must come from the whole group: every process gathers
    (prompt, row) from all processes (``accelerate.utils.gather_object``; every process calls the reward at the
    same step, as TRL does), groups by prompt (a prompt's completions share its messages), and keeps the values of
    its own rows. On one process the gather is the identity."""
    from accelerate import PartialState
    from accelerate.utils import gather_object

    local = [(repr(p), row) for p, row in zip(prompts, rows, strict=True)]
    sizes = gather_object([len(local)])
    everything = gather_object(local)
    start = sum(sizes[: PartialState().process_index])
    values = compute([row for _, row in everything], [g for g, _ in everything])
    return values[start : start + len(local)]
