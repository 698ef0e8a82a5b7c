"""Benchmark contamination: the ``thrifty decontaminate`` command, and the check ``thrifty eval`` runs on the
evaluated model's recorded training data.

- :func:`thrifty.benchmarks.build_index` (core, so the data builders use it too) loads the questions of the named
  benchmarks with the benchmark loaders (``longbench_write`` = LongBench-Write and LongWrite-Ruler prompts): from
  the Hub by default, or from a folder laid out like ``../shared/data`` (``data_dir`` or ``$THRIFTY_DATA_DIR``).
  The index is open-r1's 8-gram lookup (:mod:`thrifty.decontaminate`).
- ``thrifty decontaminate DATA [--benchmarks ...] [--ngram-size 8] [--data-dir DIR] [--out CLEAN.jsonl]``
  checks a dataset's questions (:func:`thrifty.decontaminate.question_texts`), prints a JSON report and, with
  ``--out``, writes the rows that overlap no benchmark.
- Every trainer records its training data in ``OUTPUT_DIR/thrifty_training_data.json``
  (:func:`thrifty.decontaminate.write_training_record`, chained through the base model's record), and
  :func:`warn_if_trained_on` (called by ``thrifty eval`` per benchmark) warns when those datasets overlap the
  benchmark evaluated, naming the dataset and the number of benchmark questions hit.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from thrifty.benchmarks import (  # noqa: F401 - all four stay importable from here, their former home
    DEFAULT_BENCHMARKS,
    LONGBENCH_WRITE,
    TOY,
    benchmark_questions,
    build_index,
)
from thrifty.console import emit
from thrifty.decontaminate import (
    DEFAULT_NGRAM_SIZE,
    NgramIndex,
    check_rows,
    normalize_string,
    question_texts,
    read_training_record,
)
from thrifty.jsonl import DataError, write_jsonl

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------------
# The evaluated model's training data
# ---------------------------------------------------------------------------------------------------------
def load_rows(source: str, split: str = "train") -> list[dict]:
    """Every row of a dataset as a dict: JSONL files read line by line (rows keep their own keys), anything else
    through :func:`thrifty.data.load_any`."""
    from thrifty.data import load_any
    from thrifty.jsonl import read_jsonl

    path = Path(source)
    if path.is_file() and path.suffix.lower() == ".jsonl":
        return read_jsonl(path)
    return list(load_any(source, split))


def _dataset_rows(entry: dict) -> list[dict] | None:
    """Rows of a recorded training dataset, or None when it cannot be read here (logged). Hub ids are not
    fetched at eval time (a training set can be large): check those with ``thrifty decontaminate ID``."""
    if not Path(entry["dataset"]).exists():
        logger.info("training data %s is not a local file or folder: not checked for overlap (run thrifty "
                    "decontaminate on it)", entry["dataset"])
        return None
    try:
        return load_rows(entry["dataset"], entry.get("split") or "train")
    except Exception as err:  # noqa: BLE001 - a missing/remote dataset must not stop an eval
        logger.info("cannot read the training data %s to check contamination (%s)", entry["dataset"], err)
        return None


def _recipe_record(model: str) -> list[dict]:
    """The dataset named by ``MODEL/thrifty_recipe.yaml`` (written by ``scripts/launch.sh`` and ``thrifty demo``),
    for runs that predate ``thrifty_training_data.json``."""
    path = Path(model) / "thrifty_recipe.yaml"
    if not path.is_file():
        return []
    import yaml

    try:
        recipe = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError):
        return []
    if not isinstance(recipe, dict) or not recipe.get("dataset_name"):
        return []
    return [{"stage": "recipe", "dataset": str(recipe["dataset_name"]), "split": recipe.get("dataset_split", "train"),
             "question_field": recipe.get("prompt_column")}]


_QUESTIONS_CACHE: dict[tuple, list[list[str]] | None] = {}


def _training_questions(entry: dict) -> list[list[str]] | None:
    """The question texts of a recorded training dataset, read once per process (an eval checks it against
    every benchmark); None when it cannot be read here."""
    path = Path(entry["dataset"])
    key = (entry["dataset"], entry.get("split"), entry.get("question_field"),
           path.stat().st_mtime if path.exists() else None)
    if key not in _QUESTIONS_CACHE:
        rows = _dataset_rows(entry)
        _QUESTIONS_CACHE[key] = None if rows is None else [question_texts(r, entry.get("question_field")) for r in rows]
    return _QUESTIONS_CACHE[key]


class ExactIndex:
    """Matches a text only when it *is* one of the benchmark's questions (after open-r1's normalisation).

    Used for the toy world: its train and test problems are split by inputs, and its questions (digits and
    padding, up to 13 words) share 8-grams without being the same problem, so n-gram overlap would flag clean
    problems; a trained-on toy test problem shows up as the very same question."""

    def __init__(self, benchmark: str, questions: list[str]):
        self.ngram_size = 0
        self.benchmarks = [benchmark]
        self._name = benchmark
        self._lookup: dict[str, set[int]] = {}
        for i, question in enumerate(questions):
            self._lookup.setdefault(normalize_string(question), set()).add(i)

    def matches(self, text: str) -> dict[str, set[int]]:
        hit = self._lookup.get(normalize_string(text))
        return {self._name: set(hit)} if hit else {}


def warn_if_trained_on(model: str | None, benchmark: str, questions: list[str],
                       ngram_size: int = DEFAULT_NGRAM_SIZE, exact: bool | None = None) -> list[dict]:
    """Check the training data recorded with ``model`` against one benchmark's questions; logs a warning per
    overlapping dataset and returns ``[{"dataset", "stage", "rows_overlapping", "benchmark_questions_hit"}]``.

    ``exact`` matches whole questions instead of ``ngram_size``-grams (:class:`ExactIndex`); by default it is on
    for the toy benchmark only."""
    found = []
    record = (read_training_record(model) or _recipe_record(model)) if model else []
    if not record:
        return found
    exact = benchmark == TOY if exact is None else exact
    index = ExactIndex(benchmark, questions) if exact else NgramIndex({benchmark: questions}, ngram_size)
    how = "the very same question as" if exact else f"{ngram_size}-grams with"
    for entry in record:
        texts = _training_questions(entry)
        if texts is None:
            continue
        _, report = check_rows(((str(i), t) for i, t in enumerate(texts)), index)
        hit = report.to_dict()["benchmark_questions_overlapped"].get(benchmark, 0)
        if report.contaminated:
            logger.warning("%s was trained (%s) on %s, whose questions share %s %d of the %d %s "
                           "problems (%d training rows): its score on them is not a held-out score "
                           "(thrifty decontaminate)", model, entry.get("stage"), entry["dataset"], how,
                           hit, len(questions), benchmark, report.contaminated)
            found.append({"dataset": entry["dataset"], "stage": entry.get("stage"),
                          "rows_overlapping": report.contaminated, "benchmark_questions_hit": hit})
    return found


# ---------------------------------------------------------------------------------------------------------
# thrifty decontaminate
# ---------------------------------------------------------------------------------------------------------
def decontaminate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="thrifty decontaminate",
        description="Word n-gram overlap of a dataset's questions with the benchmarks (open-r1's "
                    "scripts/decontaminate.py): prints a JSON report; --out writes the clean rows.")
    p.add_argument("dataset", help="JSONL/JSON/CSV/parquet file, save_to_disk folder or Hub id")
    p.add_argument("--split", default="train")
    p.add_argument("--question-field", "--question_field", dest="question_field", default=None,
                   help="field holding the question (default: messages' user turns, prompt, problem, question, "
                        "instruction)")
    p.add_argument("--benchmarks", nargs="+", default=list(DEFAULT_BENCHMARKS),
                   help=f"benchmarks to check against (default: {' '.join(DEFAULT_BENCHMARKS)}); a JSONL file of "
                        "id, problem, answer works too")
    p.add_argument("--ngram-size", "--ngram_size", dest="ngram_size", type=int, default=DEFAULT_NGRAM_SIZE)
    p.add_argument("--data-dir", "--data_dir", dest="data_dir", default=None,
                   help="benchmark folder laid out like ../shared/data (default $THRIFTY_DATA_DIR, else the Hub)")
    p.add_argument("--short-questions", "--short_questions", dest="short_questions", action="store_true",
                   help="also flag rows holding a whole benchmark question of fewer than n words (thrifty's "
                        "extension; open-r1's rule cannot see such questions)")
    p.add_argument("--out", default=None, help="write the rows that overlap no benchmark here (JSONL)")
    return p


def cmd_decontaminate(argv: list[str]) -> int:
    """``thrifty decontaminate DATA [...]``: prints the report (JSON); exit code 0."""
    args = decontaminate_parser().parse_args(argv)
    rows = load_rows(args.dataset, args.split)
    index = build_index(args.benchmarks, args.data_dir, args.ngram_size, key="--benchmarks",
                        short_questions=args.short_questions)
    texts = [question_texts(r, args.question_field) for r in rows]
    if rows and not any(texts):
        raise DataError(f"{args.dataset}: no question found in its rows (fields {', '.join(rows[0])}); "
                        "name it with --question-field")
    ids = [str(r.get("id", i)) for i, r in enumerate(rows)]
    # rows with no readable question are flagged by check_rows (counted as ``no_question``): never written as clean
    flags, report = check_rows(zip(ids, texts, strict=True), index)
    result = {"dataset": args.dataset, "rows": len(rows), **report.to_dict()}
    if args.out:
        write_jsonl(args.out, (r for r, bad in zip(rows, flags, strict=True) if not bad))
        result["clean_rows"] = flags.count(False)
        result["out"] = str(Path(args.out))
    emit(result)
    return 0

