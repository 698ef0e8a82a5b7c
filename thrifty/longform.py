"""Long-form output length: one counting rule and the LongBench-Write length score (DESIGN.md 4.4).

LongWriter (Bai et al. 2024, "LongWriter: Unleashing 10,000+ Word Generation from Long Context LLMs") measures
the length of a text as its number of English words plus its number of Chinese characters, so that one
required length ("write 2000 words" / "写2000字") means the same for both languages. :func:`count_length` is
that rule and is the only length function of thrifty: the AgentWrite builder (words per output), the
LongBench-Write length score and the preference-pair builder all call it.

- A *word* is a run of Latin letters or digits (accented Latin letters included), with inner apostrophes
  or hyphens kept inside it (``don't``, ``well-known`` and ``2024`` are one word each).
- Every CJK ideograph (CJK Unified Ideographs, Extension A, Compatibility Ideographs) and every Japanese
  kana counts as one; CJK punctuation counts as nothing.

Length score (LongBench-Write, l = required length, l' = produced length)::

    S_l = 100 * max(0, 1 - (l'/l - 1) / 3)   if l' > l
    S_l = 100 * max(0, 1 - (l/l' - 1) / 2)   otherwise

so S_l = 100 at l' = l, falls to 0 at l' = l/3 (too short) and at l' = 4l (too long). An empty output
(l' = 0) scores 0.
"""

from __future__ import annotations

import re

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_CHAR = re.compile(f"[{_CJK}]")
_WORD = re.compile(r"[A-Za-z0-9\u00c0-\u024f]+(?:['\u2019\-][A-Za-z0-9\u00c0-\u024f]+)*")

#: LongBench-Write's required-length buckets: [0, 500), [500, 2000), [2000, 4000), [4000, 20000).
LENGTH_BUCKETS: tuple[tuple[int, int], ...] = ((0, 500), (500, 2000), (2000, 4000), (4000, 20000))


def count_length(text: str | None) -> int:
    """English (Latin-script) words plus CJK characters of ``text`` (see the module docstring)."""
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
