r"""Problem and long-CoT trace sources for the data builders.

A source is any table of problems (JSONL, JSON, CSV, parquet, a ``save_to_disk`` folder or a Hub dataset id)
plus a *field mapping* given in the recipe (:class:`SourceArguments`): which field holds the question, the
gold answer, a short reference solution, a long-CoT trace, multiple-choice options and the id. A field spec is
a key, a dotted path, and/or list indices: ``code[0]`` (SkyThought traces), ``meta.answer``.

Every row becomes a :class:`SourceItem`: the question (options appended for multiple choice), the gold answer
(``\boxed{}`` / ``$...$`` / GSM8K ``#### x`` unwrapped), the short solution, and the trace normalised with
:func:`thrifty.formats.normalize_trace` (``<think>``, ``<|begin_of_thought|>`` and plain dialects; a trace
whose opening tag the harness put in the prompt gets it back via ``trace_dialect``). Each trace is labelled
correct or not with :class:`thrifty.answer_check.AnswerChecker` against the gold (DESIGN.md 4.3: rejection
sampling keeps correct traces).

Errors: a malformed JSONL line fails with ``file:line`` (:func:`thrifty.jsonl.iter_jsonl`); a mapped field
missing from the data fails naming the field, the recipe key and the file (and line, for JSONL). Rows that
cannot be used (no question, no gold, no trace, a trace with no answer, an unclosed or incorrect trace when
those are required) are dropped and counted by reason in a :class:`SourceReport`, never a crash.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from thrifty.formats import Trace, last_boxed, normalize_trace
from thrifty.jsonl import DataError, check_encodable, iter_jsonl, iter_jsonl_numbered, read_text

logger = logging.getLogger(__name__)

#: Opening tags by dialect, for traces whose opening tag was part of the prompt and is missing from the text.
DIALECT_OPENERS = {"think": "<think>", "begin_of_thought": "<|begin_of_thought|>"}

# drop reasons (stable strings: they are keys of the stats JSON)
NO_QUESTION = "no_question"
NO_GOLD = "no_gold"
NO_TRACE = "no_trace"
TRACE_NO_ANSWER = "trace_no_answer"
TRACE_UNCLOSED = "trace_unclosed"
TRACE_INCORRECT = "trace_incorrect"
DUPLICATE_ID = "duplicate_id"


@dataclass
class SourceArguments:
    """Where the problems/traces come from and how their fields map (recipe keys)."""

    source: str = field(default="", metadata={"help": "JSONL/JSON/CSV/parquet file, save_to_disk folder or Hub id"})
    source_split: str = field(default="train", metadata={"help": "split of a Hub dataset or folder"})
    source_name: str | None = field(default=None, metadata={"help": "label written in the `source` column"})
    id_field: str | None = field(default=None, metadata={"help": "field with a unique id (default: row number)"})
    question_field: str = field(default="question", metadata={"help": "field with the problem text"})
    answer_field: str | None = field(default="answer", metadata={"help": "field with the gold answer"})
    solution_field: str | None = field(default=None, metadata={"help": "field with a short reference solution"})
    trace_field: str | None = field(default=None, metadata={"help": "field with a long-CoT trace, e.g. code[0]"})
    options_field: str | None = field(
        default=None, metadata={"help": "field with multiple-choice options (list like ['A)21', ...])"}
    )
    trace_dialect: str = field(
        default="auto",
        metadata={"help": "auto | think | begin_of_thought | plain: the opening tag is added when missing"},
    )
    answer_kind: str = field(default="auto", metadata={"help": "verifier kind: auto | math | number | choice"})
    answer_from_thinking: bool = field(
        default=True, metadata={"help": "closed trace with no answer in its solution: use the thinking's \\boxed{}"}
    )
    max_samples: int | None = field(default=None, metadata={"help": "use only the first N rows"})
    verify_timeout_s: float = field(default=5.0, metadata={"help": "math-verify timeout per answer"})

    def __post_init__(self) -> None:  # refused before anything is loaded or written
        from thrifty.recipes import RecipeError

        dialects = ("auto", "plain", *DIALECT_OPENERS)
        if self.trace_dialect not in dialects:
            raise RecipeError(f"recipe key trace_dialect: {self.trace_dialect!r}; use {' | '.join(dialects)}")


@dataclass
class SourceItem:
    """One problem, with its gold answer, optional short solution and optional normalised trace."""

    id: str
    question: str
    gold: str
    source: str
    solution: str | None = None
    trace: Trace | None = None
    correct: bool | None = None
    meta: dict = field(default_factory=dict)


@dataclass
class SourceReport:
    """How many rows a source had, and how many were kept or dropped, by reason."""

    source: str
    total: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] += n

    def to_dict(self) -> dict:
        d = asdict(self)
        d["dropped"] = dict(sorted(self.dropped.items()))
        return d


# ---------------------------------------------------------------------------------------------------------
# Reading rows
# ---------------------------------------------------------------------------------------------------------
_SPEC_TOKEN = re.compile(r"([^.\[\]]+)|\[(-?\d+)\]")


class _Missing:
    pass


MISSING = _Missing()


def get_field(row: Any, spec: str) -> Any:
    """Value of ``spec`` (``key``, ``a.b``, ``code[0]``) in ``row``; :data:`MISSING` when a key is absent.

    An index past the end of a list, or into a null, gives None (a value that is absent in this row only).
    """
    value = row
    for name, index in _SPEC_TOKEN.findall(spec):
        if value is None:
            return None
        if name:
            if not isinstance(value, dict) or name not in value:
                return MISSING
            value = value[name]
        else:
            if not isinstance(value, (list, tuple)):
                return MISSING
            i = int(index)
            value = value[i] if -len(value) <= i < len(value) else None
    return value


def iter_rows(source: str, split: str = "train") -> Iterator[tuple[str, dict]]:
    """Yield ``(where, row)`` for every row of a source; ``where`` is ``file:line`` or ``source[row]``.

    JSONL is streamed line by line so a malformed line is reported as ``file:line``. A ``.json`` file may hold
    a list of objects, ``{"data": [...]}``, or JSON lines. Everything else goes through
    :func:`thrifty.data.load_any`.
    """
    path = Path(source)
    if path.is_file() and path.suffix.lower() == ".jsonl":
        for lineno, row in iter_jsonl_numbered(path):
            yield f"{path}:{lineno}", row
        return
    if path.is_file() and path.suffix.lower() == ".json":
        text = read_text(path)
        try:
            obj = json.loads(text)
        except json.JSONDecodeError:
            for lineno, row in enumerate(iter_jsonl(path), 1):
                yield f"{path}:{lineno}", row
            return
        rows = obj.get("data", [obj]) if isinstance(obj, dict) else obj  # one object: a one-row JSON-lines file
        if not isinstance(rows, list):
            raise DataError(f"{path}: expected a JSON list of objects (or {{'data': [...]}})")
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                raise DataError(f"{path}[{i}]: expected a JSON object, got {type(row).__name__}")
            check_encodable(row, f"{path}[{i}]")
            yield f"{path}[{i}]", row
        return
    from thrifty.data import load_any

    dataset = load_any(source, split)
    for i, row in enumerate(dataset):
        yield f"{source}[{i}]", row


# ---------------------------------------------------------------------------------------------------------
# Normalising fields
# ---------------------------------------------------------------------------------------------------------
_GSM8K_ANSWER = re.compile(r"####\s*(.+?)\s*$", re.DOTALL)


def normalize_gold(value: Any) -> str | None:
    r"""The gold answer as a string: ``\boxed{x}`` -> ``x``, ``$x$`` -> ``x``, GSM8K ``... #### x`` -> ``x``."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed.strip()
    m = _GSM8K_ANSWER.search(text)
    if m:
        return m.group(1).strip()
    if len(text) > 2 and text.startswith("$") and text.endswith("$"):
        text = text.strip("$").strip()
    return text


def format_options(options: Any) -> str:
    """Multiple-choice options as lines (``A)21``); a dict ``{"A": "21"}`` or a list of strings."""
    if isinstance(options, dict):
        return "\n".join(f"{k}) {v}" for k, v in options.items())
    if isinstance(options, (list, tuple)):
        return "\n".join(str(o) for o in options)
    return str(options)


def parse_trace(question: str, text: str, dialect: str = "auto") -> Trace:
    """Normalise a trace, adding the dialect's opening tag when the text lacks it (see module docstring).

    ``plain`` declares complete plain-text traces (closed); with ``auto`` a trace with no tag at all cannot be
    told finished from cut off, so it counts as unclosed (:func:`thrifty.formats.normalize_trace`).
    """
    if dialect not in ("auto", "plain", *DIALECT_OPENERS):
        from thrifty.recipes import RecipeError

        raise RecipeError(f"recipe key trace_dialect: {dialect!r}; use auto, plain, {', '.join(DIALECT_OPENERS)}")
    opener = DIALECT_OPENERS.get(dialect)
    if opener and opener not in text:
        text = f"{opener}\n{text}"
    return normalize_trace(question, text, plain_closed=dialect == "plain")


#: The Python types a mapped field may hold (anything else is a data error naming the row and key).
_FIELD_TYPES = {
    "question_field": (str,),
    "solution_field": (str,),
    "trace_field": (str,),
    "answer_field": (str, int, float),
    "id_field": (str, int),
    "options_field": (str, list, tuple, dict),
}


def _check_type(where: str, key: str, spec: str, value: Any) -> None:
    """Raise :class:`DataError` when a mapped field holds a value of the wrong type (a dict where text belongs
    must not become the text ``"{'a': 1}"``)."""
    if value is None or isinstance(value, _FIELD_TYPES[key]) and not isinstance(value, bool):
        return
    allowed = " or ".join(t.__name__ for t in _FIELD_TYPES[key])
    raise DataError(f"{where}: field '{spec}' (recipe key {key}) holds a {type(value).__name__}, expected {allowed}"
                    f": {str(value)[:80]!r}")


# ---------------------------------------------------------------------------------------------------------
# Loading a source
# ---------------------------------------------------------------------------------------------------------
def _mapped_fields(args: SourceArguments) -> dict[str, str]:
    keys = ("id_field", "question_field", "answer_field", "solution_field", "trace_field", "options_field")
    return {k: getattr(args, k) for k in keys if getattr(args, k)}


def load_source(
    args: SourceArguments,
    require_trace: bool = False,
    require_closed: bool = False,
    require_correct: bool = False,
    label: bool = True,
    checker=None,
) -> tuple[list[SourceItem], SourceReport]:
    """Read, normalise, label and filter a source; returns the kept items and the report.

    ``require_trace`` drops rows with no trace or a trace with no answer; ``require_closed`` drops traces cut
    before the end of their thinking block; ``require_correct`` drops traces whose answer does not verify
    against the gold (implies labelling). ``checker`` is an :class:`~thrifty.answer_check.AnswerChecker`
    (one is made and closed here when not given).
    """
    if not args.source:
        raise DataError("no source given: set `source` in the recipe (a file, a folder or a Hub id)")
    name = args.source_name or Path(args.source).stem
    report = SourceReport(source=name)
    mapping = _mapped_fields(args)
    items: list[SourceItem] = []
    seen: set[str] = set()
    for index, (where, row) in enumerate(iter_rows(args.source, args.source_split)):
        if args.max_samples is not None and index >= args.max_samples:
            break
        report.total += 1
        values = {}
        for key, spec in mapping.items():
            value = get_field(row, spec)
            if value is MISSING:
                raise DataError(
                    f"{where}: field '{spec}' (recipe key {key}) is missing; the row has fields "
                    f"{', '.join(map(str, row.keys()))}"
                )
            _check_type(where, key, spec, value)
            values[key] = value
        question = str(values.get("question_field") or "").strip()
        if not question:
            report.drop(NO_QUESTION)
            continue
        if values.get("options_field"):
            question = f"{question}\nOptions:\n{format_options(values['options_field'])}"
        gold = normalize_gold(values.get("answer_field"))
        if gold is None:
            report.drop(NO_GOLD)
            continue
        row_id = str(values["id_field"]) if values.get("id_field") is not None else f"{name}-{index}"
        if row_id in seen:
            report.drop(DUPLICATE_ID)
            continue
        seen.add(row_id)
        item = SourceItem(id=row_id, question=question, gold=gold, source=name, meta={"where": where})
        solution = values.get("solution_field")
        item.solution = str(solution).strip() if solution else None
        raw_trace = values.get("trace_field")
        if raw_trace:
            trace = parse_trace(question, str(raw_trace), args.trace_dialect)
            if trace.answer is None and trace.closed and args.answer_from_thinking:
                trace.answer = last_boxed(trace.thinking)
                trace.meta["answer_from"] = "thinking"
            item.trace = trace
        if require_trace or require_closed or require_correct:
            if item.trace is None:
                report.drop(NO_TRACE)
                continue
            if require_closed and not item.trace.closed:
                report.drop(TRACE_UNCLOSED)
                continue
            if item.trace.answer is None:
                report.drop(TRACE_NO_ANSWER)
                continue
        items.append(item)
    if report.total == 0:
        raise DataError(f"source {args.source} has no rows (split {args.source_split!r}): nothing to build")
    if label or require_correct:
        _label(items, args, checker)
    if require_correct:
        kept = [it for it in items if it.correct]
        report.drop(TRACE_INCORRECT, len(items) - len(kept))
        items = kept
    report.kept = len(items)
    logger.info("source %s: %d rows, kept %d, dropped %s", name, report.total, report.kept, dict(report.dropped))
    return items, report


def _label(items: list[SourceItem], args: SourceArguments, checker) -> None:
    """Set ``item.correct`` for every item with a trace answer (math-verify against the gold)."""
    todo = [it for it in items if it.trace is not None and it.trace.answer is not None]
    if not todo:
        return
    from thrifty.answer_check import AnswerChecker

    own = checker is None
    checker = checker or AnswerChecker(timeout_s=args.verify_timeout_s)
    try:
        verdicts = checker.check(
            [it.trace.answer for it in todo], [it.gold for it in todo], [args.answer_kind] * len(todo)
        )
    finally:
        if own:
            checker.close()
    for it, ok in zip(todo, verdicts, strict=True):
        it.correct = bool(ok)
