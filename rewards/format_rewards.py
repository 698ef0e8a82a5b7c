"""Format rewards: ARM format validity, MinD turn structure, ``<think>`` structure.

- ``arm_format`` (ARM, Wu et al. 2025): 1.0 when the completion is in one of the four ARM formats
  (:func:`thrifty.formats.detect_format`) *and* has a non-empty closed ``<ANSWER>`` block; 0.0 for ``unknown``
  (no opening tag, another format's tags mixed in, a reasoning block opened twice) or a missing answer.
- ``mind_format`` (MinD, Zeng et al. 2025, R_format): 1.0 when the completion is one or more turns
  ``<think>\\n{unit}\\n</think>\\n{answer with \\boxed{}}``: nothing but whitespace before the first ``<think>``,
  every thinking block closed and non-empty, every turn's answer text holding a ``\\boxed{}``; else 0.0.
- ``think_format``: 1.0 for exactly one ``<think>...</think>`` block at the start followed by a non-empty
  answer, else 0.0 (TRL's ``think_format_reward`` only accepts conversational completions; this takes both).
- ``r1_zero_format`` (the format reward of DeepSeek-R1-Zero's template, ``prompt_template: r1_zero``): 1.0 when the
  completion is exactly one ``<think> ... </think>`` block then one non-empty ``<answer> ... </answer>`` block,
  whitespace around the tags free (the template ends with ``Assistant:``, so completions start `` <think>``), else
  0.0 (:func:`thrifty.formats.is_r1_format`). ``open_r1_newlines: true`` applies open-r1's own ``format_reward``
  regex instead, verbatim: ``^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$`` (huggingface/open-r1,
  ``src/open_r1/rewards.py``), which wants a newline around every tag and nothing before ``<think>``.
"""

from __future__ import annotations

from typing import Any

from thrifty.formats import UNKNOWN, TurnDelimiters, is_r1_format, parse_arm, split_turns

from .common import completion_texts


def arm_format_reward(prompts: list, completions: list, completion_ids: list | None = None, **columns: Any) -> list[float]:
    """1.0 for a valid ARM format with a non-empty answer, else 0.0 (see the module docstring)."""
    out = []
    for text in completion_texts(completions):
        parsed = parse_arm(text)
        out.append(1.0 if parsed.format != UNKNOWN and parsed.answer and parsed.answer.strip() else 0.0)
    return out


def is_valid_mind(text: str, delimiters: TurnDelimiters) -> bool:
    """Whether ``text`` is a well-formed MinD multi-turn completion."""
    stripped = text.lstrip()
    if not stripped.startswith(delimiters.open):
        return False
    if text.count(delimiters.open) != text.count(delimiters.close):
        return False
    turns = split_turns(text, delimiters)
    return bool(turns) and all(t.unit.strip() and t.answer is not None for t in turns)


def mind_format_reward(
    prompts: list,
    completions: list,
    completion_ids: list | None = None,
    think_open: str = "<think>",
    think_close: str = "</think>",
    **columns: Any,
) -> list[float]:
    """1.0 for a well-formed MinD multi-turn completion, else 0.0 (see the module docstring)."""
    delimiters = TurnDelimiters(think_open, think_close)
    return [1.0 if is_valid_mind(t, delimiters) else 0.0 for t in completion_texts(completions)]


def think_format_reward(
    prompts: list,
    completions: list,
    completion_ids: list | None = None,
    think_open: str = "<think>",
    think_close: str = "</think>",
    **columns: Any,
) -> list[float]:
    """1.0 for one leading ``<think>`` block followed by a non-empty answer, else 0.0."""
    out = []
    for text in completion_texts(completions):
        s = text.lstrip()
        ok = (
            s.startswith(think_open)
            and s.count(think_open) == 1
            and s.count(think_close) == 1
            and bool(s.split(think_close, 1)[0][len(think_open) :].strip())
            and bool(s.split(think_close, 1)[1].strip())
        )
        out.append(1.0 if ok else 0.0)
    return out


def r1_zero_format_reward(prompts: list, completions: list, completion_ids: list | None = None,
                          open_r1_newlines: bool = False, **columns: Any) -> list[float]:
    """1.0 for R1-Zero's ``<think> ... </think> <answer> ... </answer>`` layout, else 0.0 (module docstring)."""
    return [1.0 if is_r1_format(t, open_r1_newlines) else 0.0 for t in completion_texts(completions)]
