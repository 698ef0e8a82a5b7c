"""L1 / LCPO's token budgets in the prompt (Aggarwal and Welleck 2025, arXiv 2503.04697; official code cmu-l3/l1,
``scripts/data/deepscaler_dataset.py``): the budget sentence, the prompt it ends, and the per-example budget draw.
Shared by the GRPO data (``thrifty grpo`` with ``l1_budget_mode``), the reward (:mod:`thrifty.rewards.l1`) and
the eval modes ``l1_exact:N`` / ``l1_max:N`` (:mod:`thrifty.eval.modes`).

A budget is a signed integer, as in the official data (``reward_model.num_tokens``): N > 0 asks for N tokens
(L1-Exact, ``Think for N tokens.``), N < 0 for at most |N| (L1-Max, ``Think for maximum N tokens.``).
"""

from __future__ import annotations

import random
import re
import statistics

#: The budget range of the paper's training data (``random.randint(100, 4000)``).
L1_BUDGET_RANGE = (100, 4000)
#: The instruction DeepScaleR's prompts end with, before the budget (``deepscaler_dataset.py``).
L1_INSTRUCTION = "Let's think step by step and output the final answer within \\boxed{}."
L1_MODES = ("exact", "max", "both")


def l1_budget_text(budget: int) -> str:
    """The budget sentence of the prompt: ``Think for N tokens.`` (N > 0) or ``Think for maximum |N| tokens.``."""
    if budget == 0:
        raise ValueError("an L1 budget is a non-zero number of tokens (negative: L1-Max)")
    return f"Think for {budget} tokens." if budget > 0 else f"Think for maximum {-budget} tokens."


def l1_prompt(question: str, budget: int, instruction: str = L1_INSTRUCTION) -> str:
    """``question`` with the instruction and the budget appended, as ``deepscaler_dataset.py`` writes it:
    ``f"{question} {instruction} Think for N tokens."`` (an empty ``instruction`` is left out)."""
    return " ".join(part for part in (question, instruction, l1_budget_text(budget)) if part)


def sample_l1_budget(seed: int, index: int, mode: str = "exact", budget_range: tuple[int, int] = L1_BUDGET_RANGE) -> int:
    """Example ``index``'s budget: uniform on ``budget_range`` (both ends included); ``max``: negative;
    ``both``: negative with probability 0.5 (the official ``--use_both_both``). Seeded per example, so a dataset
    row keeps its budget across epochs and restarts, as the official data (drawn once, stored) does."""
    if mode not in L1_MODES:
        raise ValueError(f"l1 budget mode {mode!r} is not one of {', '.join(L1_MODES)}")
    lo, hi = budget_range
    rng = random.Random(f"l1:{seed}:{index}")
    budget = rng.randint(lo, hi)
    if mode == "max" or (mode == "both" and rng.random() < 0.5):
        budget = -budget
    return budget


_L1_MODE = re.compile(r"^l1_(exact|max):([1-9][0-9]*)$")


def l1_mode_budget(mode: str) -> int | None:
    """The signed budget of the eval mode ``l1_exact:N`` (N) or ``l1_max:N`` (-N); None for any other mode."""
    match = _L1_MODE.match(mode)
    if match is None:
        return None
    return int(match.group(2)) * (1 if match.group(1) == "exact" else -1)


def l1_length_stats(lengths: list[int], budget: int) -> dict:
    """How far outputs of ``lengths`` tokens land from the signed ``budget`` N (|N| tokens asked for):

    - ``length_error``: the paper's ``(mean length - |N|) / |N|`` (section 4, "mean deviation"), signed;
    - ``mean_abs_error`` (tokens) and ``mean_abs_error_rel`` (over |N|): the mean of ``|n - |N||`` per output;
    - ``over_budget_rate``: the share of outputs longer than |N| (what L1-Max must keep low)."""
    target = abs(budget)
    if not lengths or target == 0:
        return {}
    mean = statistics.fmean(lengths)
    abs_err = statistics.fmean(abs(n - target) for n in lengths)
    return {"budget": budget, "mode": "exact" if budget > 0 else "max", "mean_tokens": mean,
            "length_error": (mean - target) / target, "mean_abs_error": abs_err,
            "mean_abs_error_rel": abs_err / target, "over_budget_rate": sum(n > target for n in lengths) / len(lengths)}
