"""Test-set decontamination by word n-gram overlap (the core of ``thrifty decontaminate``).

The method is open-r1's (huggingface/open-r1 ``scripts/decontaminate.py``, itself s1's
``data/decontaminate_util.py``), kept exactly:

- normalise a text: lower-case, strip, collapse every run of whitespace to one space (``normalize_string``);
- its word n-grams: the ``n`` consecutive whitespace-separated words at every position (``word_ngrams``;
  ``n = 8`` by default); a text of fewer than ``n`` words has none, so it can never be flagged;
- index the n-grams of every benchmark question (``build_ngram_lookup``), and flag a training question as
  contaminated by a benchmark when any one of its n-grams is in that benchmark's index.

Extension (thrifty's, opt-in: ``short_questions=True``, recipe key ``decontaminate_short_questions``): a benchmark
question of fewer than ``n`` words has no n-gram, so open-r1's rule can never flag a training copy of it (8 of
the 90 closed, correct MATH-500 Sky-T1 traces are such problems, e.g. "Compute $\\dbinom{8}{4}$."). With the
option, such a question's whole word sequence is indexed as one k-gram (k = its word count), so a training
question that contains it verbatim (after normalisation) is flagged.

Extension (thrifty's, always on, changes nothing for text without CJK): Chinese and Japanese write no spaces,
so every CJK character counts as one word (:func:`words`); otherwise a whole Chinese LongBench-Write prompt is
one or two "words" and can never share an 8-gram.

A row in which no question text is found (:func:`question_texts`) cannot be checked: it is counted as
``no_question`` in the report, with a warning naming it, and is never passed as clean.

Which benchmarks, and how their questions are loaded, is the caller's business (the benchmark loaders:
:func:`thrifty.benchmarks.build_index`); this module is pure and has no dependency beyond the standard library.
:func:`question_texts` takes the question(s) out of a training row of any shape thrifty reads or writes
(``messages`` / ``prompt`` / ShareGPT ``conversations``, with string or content-part messages; ``problem``,
``question``, ``instruction``, ``query``, ``input``), so the same check runs on SFT, GRPO and DPO data.
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

DEFAULT_NGRAM_SIZE = 8

#: Row fields that hold the question, tried in order when no field is named.
QUESTION_FIELDS = ("messages", "prompt", "conversations", "problem", "question", "instruction", "query", "input")
#: Fields that hold a chat (their user turns are the question).
CHAT_FIELDS = ("messages", "prompt", "conversations")


def normalize_string(text: str) -> str:
    """open-r1's normalisation: lower-case, strip, and one space between words."""
    return " ".join(text.lower().strip().split())


#: CJK ideographs (as LongBench-Write counts them, plus extension A and compatibility ideographs) and kana.
_CJK = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")


def words(text: str) -> list[str]:
    """The words of an (already normalised) text: whitespace-separated, as open-r1 splits them, except that
    every CJK character is a word of its own (thrifty's extension: Chinese and Japanese write no spaces, so a
    whole prompt would otherwise be one or two "words" and never share an n-gram). Text with no CJK character
    splits exactly as open-r1's does."""
    if not _CJK.search(text):
        return text.split()
    return _CJK.sub(r" \1 ", text).split()


def word_ngrams(text: str, n: int) -> list[str]:
    """The word n-grams (:func:`words`) of an (already normalised) text, in order; none when it has fewer than
    ``n`` words."""
    ws = words(text)
    return [" ".join(ws[i : i + n]) for i in range(len(ws) - n + 1)]


def ngram_set(text: str, n: int = DEFAULT_NGRAM_SIZE) -> set[str]:
    """The set of word n-grams of ``text`` after normalisation (open-r1's ``build_ngram_single``)."""
    return set(word_ngrams(normalize_string(text), n))


class NgramIndex:
    """The n-grams of every benchmark's questions, and which benchmarks (and questions) hold each one."""

    def __init__(self, benchmarks: Mapping[str, Sequence[str]], ngram_size: int = DEFAULT_NGRAM_SIZE,
                 short_questions: bool = False):
        if not isinstance(ngram_size, int) or ngram_size < 1:
            from thrifty.errors import UserInputError

            raise UserInputError(f"n-gram size (--ngram-size / decontaminate_ngram_size) must be at least 1, "
                                 f"got {ngram_size}")
        self.ngram_size = ngram_size
        self.short_questions = short_questions
        self.sizes = {name: len(texts) for name, texts in benchmarks.items()}
        self._lookup: dict[str, set[tuple[str, int]]] = defaultdict(set)
        self._short: dict[int, dict[str, set[tuple[str, int]]]] = defaultdict(lambda: defaultdict(set))
        for name, texts in benchmarks.items():
            for i, text in enumerate(texts):
                for gram in ngram_set(text, ngram_size):
                    self._lookup[gram].add((name, i))
                ws = words(normalize_string(text))
                if short_questions and 0 < len(ws) < ngram_size:
                    self._short[len(ws)][" ".join(ws)].add((name, i))

    @property
    def benchmarks(self) -> list[str]:
        return list(self.sizes)

    def matches(self, text: str) -> dict[str, set[int]]:
        """Per benchmark, the indices of its questions that share at least one n-gram with ``text``."""
        found: dict[str, set[int]] = defaultdict(set)
        for gram in ngram_set(text, self.ngram_size):
            for name, i in self._lookup.get(gram, ()):
                found[name].add(i)
        for k, lookup in self._short.items():  # the opt-in extension (module docstring)
            for gram in ngram_set(text, k):
                for name, i in lookup.get(gram, ()):
                    found[name].add(i)
        return dict(found)

    def overlaps(self, texts: Iterable[str]) -> list[str]:
        """The benchmarks (sorted) that any of ``texts`` shares an n-gram with."""
        names: set[str] = set()
        for text in texts:
            names.update(self.matches(text))
        return sorted(names)


@dataclass
class ContaminationReport:
    """What a check found: rows checked and flagged, per benchmark the rows flagged and the benchmark questions
    they touch, and the ids of the first flagged rows."""

    ngram_size: int
    benchmarks: list[str]
    checked: int = 0
    contaminated: int = 0
    by_benchmark: Counter = field(default_factory=Counter)
    benchmark_questions_hit: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    example_ids: list[str] = field(default_factory=list)
    max_examples: int = 20
    no_question: int = 0
    no_question_ids: list[str] = field(default_factory=list)

    def add_unreadable(self, row_id: str) -> None:
        """Record a row with no question text found: it was not checked, so it is never reported clean."""
        self.no_question += 1
        if len(self.no_question_ids) < self.max_examples:
            self.no_question_ids.append(str(row_id))
        if self.no_question <= 3:  # a few by name; the report has the count and the first ids
            logger.warning("row %s: no question text found (fields tried: %s); not checked, so not kept as clean%s",
                           row_id, ", ".join(QUESTION_FIELDS),
                           " (further such rows are only counted)" if self.no_question == 3 else "")

    def add(self, row_id: str, matches: Mapping[str, set[int]]) -> bool:
        """Record one row's matches; True when it is contaminated."""
        self.checked += 1
        if not matches:
            return False
        self.contaminated += 1
        for name, hit in matches.items():
            self.by_benchmark[name] += 1
            self.benchmark_questions_hit[name].update(hit)
        if len(self.example_ids) < self.max_examples:
            self.example_ids.append(str(row_id))
        return True

    def to_dict(self) -> dict:
        return {
            "ngram_size": self.ngram_size,
            "benchmarks": self.benchmarks,
            "checked": self.checked,
            "contaminated": self.contaminated,
            "contaminated_by_benchmark": dict(sorted(self.by_benchmark.items())),
            "benchmark_questions_overlapped": {k: len(v) for k, v in sorted(self.benchmark_questions_hit.items())},
            "example_ids": self.example_ids,
            "no_question": self.no_question,
            "no_question_ids": self.no_question_ids,
        }


def _content_text(content) -> str | None:
    """A message's text: a string, or the text parts of a list of content parts (``{"type": "text", ...}``)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        parts += [p for p in content if isinstance(p, str)]
        return "\n".join(parts) if parts else None
    return None


def _user_texts(messages) -> list[str]:
    """The user turns of a chat: OpenAI ``role``/``content`` (string or content parts) or ShareGPT
    ``from``/``value`` (``human``/``user``)."""
    if isinstance(messages, str):
        return [messages]
    texts = []
    if isinstance(messages, list):
        for m in messages:
            if not isinstance(m, dict):
                continue
            role = m.get("role", m.get("from"))
            if role in ("user", "human"):
                text = _content_text(m.get("content", m.get("value")))
                if text:
                    texts.append(text)
    return texts


def question_texts(row: Mapping, question_field: str | None = None) -> list[str]:
    """The question text(s) of a training row: the named field, else the first of :data:`QUESTION_FIELDS`
    present (chat fields, ``messages``/``prompt``/ShareGPT ``conversations``, give their user turns). Empty when
    the row holds none."""
    names = (question_field,) if question_field else QUESTION_FIELDS
    for name in names:
        value = row.get(name)
        if value is None:
            continue
        texts = _user_texts(value) if name in CHAT_FIELDS or isinstance(value, list) else [str(value)]
        if texts:
            return texts
    return []


def check_rows(rows: Iterable[tuple[str, Sequence[str]]], index: NgramIndex) -> tuple[list[bool], ContaminationReport]:
    """Flag each ``(row id, question texts)``; returns the per-row flags and the report.

    A row with no question text cannot be checked: it is counted in ``no_question`` (with a warning naming it)
    and flagged too, so it is never written out as clean.
    """
    report = ContaminationReport(index.ngram_size, index.benchmarks)
    flags = []
    for row_id, texts in rows:
        if not any(t and t.strip() for t in texts):
            report.add_unreadable(row_id)
            flags.append(True)
            continue
        matches: dict[str, set[int]] = defaultdict(set)
        for text in texts:
            for name, hit in index.matches(text).items():
                matches[name] |= hit
        flags.append(report.add(row_id, matches))
    return flags, report


# ---------------------------------------------------------------------------------------------------------
# The training data a model saw (written by the trainers, read by ``thrifty eval``)
# ---------------------------------------------------------------------------------------------------------
TRAINING_RECORD = "thrifty_training_data.json"


def read_training_record(model_dir) -> list[dict]:
    """The datasets recorded in ``model_dir/thrifty_training_data.json`` (empty when there is none)."""
    import json
    from pathlib import Path

    path = Path(str(model_dir)) / TRAINING_RECORD
    if not path.is_file():
        return []
    try:
        return list(json.loads(path.read_text(encoding="utf-8")).get("datasets", []))
    except (ValueError, AttributeError):
        return []


def write_training_record(output_dir, stage: str, dataset: str, split: str = "train",
                          question_field: str | None = None, base_model: str | None = None) -> None:
    """Record that a model in ``output_dir`` was trained (``stage``) on ``dataset``, after the datasets recorded
    with its base model (so SFT -> GRPO -> eval sees both). Local paths are written absolute."""
    from pathlib import Path

    from thrifty.jsonl import write_json

    local = Path(dataset)
    entry = {"stage": stage, "dataset": str(local.resolve()) if local.exists() else dataset, "split": split,
             "question_field": question_field}
    inherited = read_training_record(base_model) if base_model else []
    datasets = [e for e in inherited if e != entry] + [entry]
    write_json(Path(output_dir) / TRAINING_RECORD, {"datasets": datasets})
