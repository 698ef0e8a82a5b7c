"""Long-form output length: one counting rule and the LongBench-Write length score (DESIGN.md 4.4).

LongWriter (Bai et al. 2024, "LongWriter: Unleashing 10,000+ Word Generation from Long Context LLMs") measures
the length of a text as its number of English words plus its number of Chinese characters, so that one
required length ("write 2000 words" / "写2000字") means the same for both languages. :func:`count_length` is
that rule and is the only length function of thrifty: the AgentWrite builder (words per output), the
LongBench-Write length score and the preference-pair builder all call it.

The rule is the official evaluation's ``count_words``, character for character (THUDM/LongWriter,
``evaluation/pred.py``)::

    chinese_characters = re.findall(r'[\u4e00-\u9fff]', text)
    english_words = re.findall(r'\b[a-zA-Z]+\b', text)
    return len(chinese_characters) + len(english_words)

So a *word* is a run of ASCII letters between word boundaries: ``well-known`` and ``don't`` count two each
(the hyphen and the apostrophe are boundaries), a number counts nothing, and a token that mixes letters with
digits or accented letters (``3rd``, ``café``, ``GPT4``) counts nothing either, since ``\b`` needs a non-word
character on each side. Only CJK Unified Ideographs U+4E00-U+9FFF count as characters (no kana, no
Extension A, no punctuation). The counts of LongBench-Write therefore compare with published ones.

Length score (LongBench-Write, l = required length, l' = produced length)::

    S_l = 100 * max(0, 1 - (l'/l - 1) / 3)   if l' > l
    S_l = 100 * max(0, 1 - (l/l' - 1) / 2)   otherwise

so S_l = 100 at l' = l, falls to 0 at l' = l/3 (too short) and at l' = 4l (too long). An empty output
(l' = 0) scores 0.
"""

from __future__ import annotations

import re

_CJK_CHAR = re.compile(r"[\u4e00-\u9fff]")
_WORD = re.compile(r"\b[a-zA-Z]+\b")

#: LongBench-Write's required-length buckets: [0, 500), [500, 2000), [2000, 4000), [4000, 20000).
LENGTH_BUCKETS: tuple[tuple[int, int], ...] = ((0, 500), (500, 2000), (2000, 4000), (4000, 20000))


def count_length(text: str | None) -> int:
    """LongBench-Write's length: ``\\b[a-zA-Z]+\\b`` words plus U+4E00-U+9FFF characters (module docstring)."""
    if not text:
        return 0
    return len(_WORD.findall(text)) + len(_CJK_CHAR.findall(text))


def length_score(required: float, produced: float) -> float:
    """LongBench-Write's S_l in [0, 100] for a required length ``required`` (> 0) and produced ``produced``."""
    if required <= 0:
        raise ValueError(f"required length must be positive, got {required}")
    if produced <= 0:
        return 0.0
    if produced > required:
        return 100.0 * max(0.0, 1.0 - (produced / required - 1.0) / 3.0)
    return 100.0 * max(0.0, 1.0 - (required / produced - 1.0) / 2.0)


def bucket_label(required: float) -> str:
    """The label of the required-length bucket of ``required`` (``"[500,2000)"``; ``">=20000"`` past the last)."""
    for lo, hi in LENGTH_BUCKETS:
        if lo <= required < hi:
            return f"[{lo},{hi})"
    return f">={LENGTH_BUCKETS[-1][1]}"


def bucket_labels() -> list[str]:
    """Bucket labels in order."""
    return [f"[{lo},{hi})" for lo, hi in LENGTH_BUCKETS]
