"""Segmenting a long chain of thought into MinD thinking units.

MinD (Zeng et al., 2025, "Done Is Better than Perfect: Unlocking Efficient Reasoning by Structured Multi-Turn
Decomposition", Sec. 3) splits a long CoT into *thinking units*: the first unit is a complete first attempt
that reaches an answer; every later unit reflects, verifies, revises or explores and is followed by an answer
again. The paper uses an LLM (GPT-4o) for the split; thrifty offers both that and a rule-based segmenter.

Rule-based algorithm (:func:`segment_rule_based`):

1. Split the thinking into paragraphs at blank lines; a unit never cuts a paragraph, so no equation or
   list is torn apart.
2. Walk the paragraphs. A paragraph that opens with a reflection marker ("Wait", "Alternatively", "Hmm",
   "Let me verify", "Double-check", "Another way", ...) starts a new unit **only if the current unit has
   already stated a candidate answer** (:func:`thrifty.data_builders.answers.stated_answer`, the trace's own
   answer written as ``... = answer``, or a terse R1 ending, :func:`~thrifty.data_builders.answers.terse_answer`:
   "... so 8+4 = 13.", "Yes, 28."). So turn 1 is always a complete attempt with an answer (a wrong one stays
   turn 1's answer), a "wait" in the middle of a first attempt stays in it, and a verification that ends
   "Yes, 28." is a unit of its own rather than swallowing the next "Hmm," unit.
3. Units shorter than ``min_unit_chars`` are merged into the unit before them (tiny reflections like
   "Wait, no." do not become turns of their own).
4. While there are more than ``max_turns`` units, the adjacent pair with the smallest combined length is
   merged (a merge never moves the end of turn 1 before its answer).

Each unit keeps the answer the prefix up to its end last stated (the intermediate answer MinD completes per
prefix); :mod:`thrifty.data_builders.multiturn` sets the final unit's answer to the trace's own answer.

LLM segmentation (:func:`validate_llm_units`): the model returns ``{"units": ["...", ...]}``; the units are
accepted only if, concatenated, they reproduce the thinking exactly up to whitespace (no text added,
dropped or reordered). Otherwise the caller falls back to the rule-based split and counts it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from .answers import stated_answer, states_value, terse_answer

#: Openings of a paragraph that reflects, verifies, revises or explores (case-insensitive, after "**"/"- ").
REFLECTION_MARKERS: tuple[str, ...] = (
    r"wait",
    r"but wait",
    r"hold on",
    r"hmm+",
    r"alternatively",
    r"actually",
    r"on second thought",
    r"oh",
    r"no\s*,",
    r"let me (?:double[- ]?check|check|verify|confirm|make sure|recheck|re-?examine|reconsider|re-?evaluate"
    r"|see if|try (?:another|a different|again)|think (?:again|differently|about (?:it|this) differently)"
    r"|consider (?:another|a different|whether)|look (?:at|for) (?:this|it|another))",
    r"let's (?:double[- ]?check|check|verify|confirm|make sure|recheck|try (?:another|a different))",
    r"let us (?:double[- ]?check|check|verify|confirm)",
    r"(?:just )?to (?:double[- ]?check|check|verify|confirm|be sure|make sure)",
    r"double[- ]?check(?:ing)?",
    r"verif(?:y|ying|ication)",
    r"i (?:should|need to|want to|can|could|will|might|must) (?:also )?"
    r"(?:double[- ]?check|check|verify|confirm|make sure|consider|reconsider)",
    r"is (?:there|that) (?:another|any other|a better|a simpler|a different|correct|right)",
    r"another (?:way|approach|method|thought|idea|check)",
    r"maybe i (?:should|can|could|made|need|missed)",
    r"perhaps i (?:should|can|could|made|need|missed)",
    r"i think i (?:made|need|should|missed)",
    r"but let me",
    r"but i (?:should|need to|want to) (?:check|verify|confirm|make sure|double[- ]?check)",
)

_MARKER = re.compile(r"^\s*(?:\*\*|[-*]\s+)?(?:" + "|".join(REFLECTION_MARKERS) + r")\b", re.IGNORECASE)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")


def is_reflection(paragraph: str) -> bool:
    """Whether ``paragraph`` opens with a reflection marker."""
    return bool(_MARKER.match(paragraph))


def paragraphs(text: str) -> list[str]:
    """Non-empty paragraphs of ``text`` (split at blank lines), stripped."""
    return [p.strip() for p in _PARAGRAPH_BREAK.split(text) if p.strip()]


@dataclass
class Unit:
    """A thinking unit: its text and the answer the thinking had last stated when the unit ends."""

    text: str
    answer: str | None
    states_answer: bool


@dataclass
class _Para:
    text: str
    reflection: bool
    answer: str | None


def _join(parts: list[_Para]) -> str:
    return "\n\n".join(p.text for p in parts)


def _finalize(groups: list[list[_Para]], max_turns: int, min_unit_chars: int) -> list[Unit]:
    """Merge tiny groups backwards, cap the count at ``max_turns``, and attach each unit's prefix answer."""
    merged: list[list[_Para]] = [groups[0]]
    for g in groups[1:]:
        if len(_join(g)) < min_unit_chars:
            merged[-1] = merged[-1] + g
        else:
            merged.append(g)
    while len(merged) > max(1, max_turns):
        sizes = [len(_join(merged[i])) + len(_join(merged[i + 1])) for i in range(len(merged) - 1)]
        i = sizes.index(min(sizes))
        merged[i : i + 2] = [merged[i] + merged[i + 1]]
    units, last = [], None
    for g in merged:
        own = [p.answer for p in g if p.answer is not None]
        if own:
            last = own[-1]
        units.append(Unit(_join(g), last, bool(own)))
    return units


def _paragraph_answer(paragraph: str, final_answer: str | None) -> str | None:
    stated = stated_answer(paragraph)
    if stated is not None:
        return stated
    if final_answer is not None and states_value(paragraph, final_answer):
        return final_answer
    return terse_answer(paragraph)


def segment_rule_based(
    thinking: str, final_answer: str | None = None, max_turns: int = 8, min_unit_chars: int = 200
) -> list[Unit]:
    """Split ``thinking`` into MinD units by the rules in the module docstring.

    ``final_answer`` (the trace's own answer), when given, also marks a paragraph that ends with
    ``... = {final_answer}`` as stating a candidate answer, which finds the end of turn 1 in traces that write
    their first result as a bare equation.
    """
    paras = [_Para(p, is_reflection(p), _paragraph_answer(p, final_answer)) for p in paragraphs(thinking)]
    if not paras:
        return []
    groups: list[list[_Para]] = [[paras[0]]]
    has_answer = paras[0].answer is not None
    for para in paras[1:]:
        if para.reflection and has_answer:
            groups.append([para])
            has_answer = para.answer is not None
        else:
            groups[-1].append(para)
            has_answer = has_answer or para.answer is not None
    return _finalize(groups, max_turns, min_unit_chars)


# ---------------------------------------------------------------------------------------------------------
# LLM segmentation
# ---------------------------------------------------------------------------------------------------------
SEGMENT_PROMPT = """You are given the internal reasoning of a model solving a problem. Split it into thinking \
units, following these rules:
- The first unit is the model's first complete attempt, up to the point where it first reaches an answer.
- Every later unit starts where the model reflects, verifies, revises, or explores another approach.
- Copy the text exactly: every unit is a contiguous piece of the reasoning, in order; together the units must \
reproduce the whole reasoning with nothing added, removed or reordered.
Return only JSON of the form {{"units": ["unit 1 text", "unit 2 text", ...]}}.

Problem:
{question}

Reasoning:
{thinking}"""


class SegmentationError(ValueError):
    """An LLM segmentation that cannot be used (not JSON, wrong shape, or not a split of the thinking)."""


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def parse_json_object(text: str) -> dict:
    """The first JSON object in ``text`` (models often wrap it in a ```json fence or prose)."""
    start = text.find("{")
    if start < 0:
        raise SegmentationError("no JSON object in the reply")
    decoder = json.JSONDecoder()
    for i in range(start, len(text)):
        if text[i] != "{":
            continue
        try:
            obj, _ = decoder.raw_decode(text[i:])
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            return obj
    raise SegmentationError("no valid JSON object in the reply")


def validate_llm_units(reply: str, thinking: str) -> list[str]:
    """Units from an LLM reply, accepted only if they are an exact in-order split of ``thinking``."""
    obj = parse_json_object(reply)
    units = obj.get("units")
    if not isinstance(units, list) or not units or not all(isinstance(u, str) and u.strip() for u in units):
        raise SegmentationError('expected {"units": [non-empty strings]}')
    if _squash("".join(units)) != _squash(thinking):
        raise SegmentationError("the units do not reproduce the thinking (text added, dropped or reordered)")
    return [u.strip() for u in units]


def units_from_texts(texts: list[str], max_turns: int = 8, min_unit_chars: int = 200) -> list[Unit]:
    """Units (with their stated answers) from given unit texts, with the same merging rules as the rule split."""
    if not texts:
        return []
    return _finalize([[_Para(t, False, stated_answer(t))] for t in texts], max_turns, min_unit_chars)
