"""Shared machinery of the SFT data builders: resumable output, token-length statistics.

Resumability (DESIGN.md 7): a build writes ``train.jsonl`` (SFT rows, keyed by row ``id``) and
``progress.jsonl`` (one ledger entry per finished *problem*: which rows it produced and why others were
dropped), both through :class:`thrifty.jsonl.ResumableJsonlWriter`. A problem's rows are appended first, its
ledger entry last; a rerun skips problems in the ledger and, for a problem cut in the middle, appends only the
rows not yet written. So a build killed at any point and rerun ends with no duplicate and no missing row, and
the statistics (computed from the two files) are those of one uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from thrifty.jsonl import ResumableJsonlWriter

logger = logging.getLogger(__name__)


class BatchedJsonlWriter(ResumableJsonlWriter):
    """:class:`ResumableJsonlWriter` that can append many rows with one flush and one fsync.

    fsync costs milliseconds per call on this kind of disk; a build appends a batch of problems at once.
    Recovery on open (torn last line dropped) is the parent's.
    """

    def append_many(self, rows: list[dict]) -> None:
        fresh = []
        for row in rows:
            row_id = str(row[self.key])
            if row_id in self._done or any(str(r[self.key]) == row_id for r in fresh):
                raise ValueError(f"{self.path}: id {row_id!r} is already written")
            fresh.append(row)
        if not fresh:
            return
        self._fh.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in fresh))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        for r in fresh:
            self._done.add(str(r[self.key]))


class ResumableBuild:
    """The output rows and the per-problem ledger of one build folder."""

    def __init__(self, output_dir: str | Path):
        self.dir = Path(output_dir)
        self._created = not self.dir.exists()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rows = BatchedJsonlWriter(self.dir / "train.jsonl", key="id")
        self.ledger = BatchedJsonlWriter(self.dir / "progress.jsonl", key="id")
        if len(self.ledger):
            logger.info("resuming %s: %d problems already done", self.dir, len(self.ledger))

    def done(self, problem_id: str) -> bool:
        return self.ledger.done(problem_id)

    def finish(self, problem_id: str, rows: list[dict], dropped: dict[str, str] | None = None) -> None:
        """Append the problem's rows not yet written, then its ledger entry."""
        self.finish_many([(problem_id, rows, dropped or {})])

    def finish_many(self, results: list[tuple[str, list[dict], dict[str, str]]]) -> None:
        """:meth:`finish` for a batch of problems: all their new rows (one fsync), then their ledger entries."""
        self.rows.append_many([r for _, rows, _ in results for r in rows if not self.rows.done(r["id"])])
        self.ledger.append_many(
            [{"id": pid, "rows": [r["id"] for r in rows], "dropped": dropped} for pid, rows, dropped in results]
        )

    def close(self) -> None:
        self.rows.close()
        self.ledger.close()

    def __enter__(self) -> ResumableBuild:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        from thrifty.errors import UserInputError

        if isinstance(exc, (UserInputError, FileNotFoundError)) and self._created and not len(self.ledger):
            import shutil  # refused before any problem was done: leave nothing behind

            shutil.rmtree(self.dir, ignore_errors=True)


def build_in_batches(build: ResumableBuild, items: list, make_rows, batch_size: int, desc: str, unit: str) -> None:
    """Run ``make_rows(batch) -> [(rows, dropped), ...]`` over the items ``build`` has not finished, batch by batch,
    recording each item's rows as it completes (so a killed build resumes at the next unfinished item)."""
    from tqdm.auto import tqdm

    todo = [it for it in items if not build.done(it.id)]
    with tqdm(total=len(todo), desc=desc, unit=unit) as bar:
        for start in range(0, len(todo), max(1, batch_size)):
            batch = todo[start : start + max(1, batch_size)]
            results = make_rows(batch)
            build.finish_many([(it.id, rows, dropped) for it, (rows, dropped) in zip(batch, results, strict=True)])
            bar.update(len(batch))


def drop_counts(ledger_rows: list[dict]) -> dict[str, int]:
    """Totals of ``dropped`` reasons over the ledger (``format:reason`` or ``reason`` keys)."""
    counts: Counter = Counter()
    for entry in ledger_rows:
        for what, reason in (entry.get("dropped") or {}).items():
            counts[f"{what}:{reason}" if what != "problem" else reason] += 1
    return dict(sorted(counts.items()))


def describe(values: list[int]) -> dict[str, float]:
    """count / mean / median / p90 / max of a list of lengths."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    return {
        "count": len(values),
        "mean": round(statistics.fmean(values), 1),
        "median": float(statistics.median(values)),
        "p90": float(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]),
        "max": float(ordered[-1]),
    }


class TokenCounter:
    """Token counts with the target tokenizer, or whitespace words when no tokenizer is given."""

    def __init__(self, tokenizer_name_or_path: str | None):
        self.name = tokenizer_name_or_path or "whitespace"
        self._tok = None
        if tokenizer_name_or_path:
            from thrifty.models import load_tokenizer

            self._tok = load_tokenizer(tokenizer_name_or_path)

    def count(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        if self._tok is None:
            return [len(t.split()) for t in texts]
        enc = self._tok(texts, add_special_tokens=False)["input_ids"]
        return [len(ids) for ids in enc]


# ---------------------------------------------------------------------------------------------------------
# Decontamination (every builder): drop inputs that share word n-grams with a benchmark
# ---------------------------------------------------------------------------------------------------------
def _default_benchmarks() -> list[str]:
    from thrifty.benchmarks import DEFAULT_BENCHMARKS

    return list(DEFAULT_BENCHMARKS)


@dataclass
class DecontaminationArguments:
    """Recipe keys of the decontamination every builder runs on its inputs (open-r1's n-gram overlap,
    :mod:`thrifty.decontaminate`); ``decontaminate: false`` opts out."""

    decontaminate: bool = field(default=True, metadata={"help": "drop inputs whose question shares an n-gram with "
                                                                "a benchmark question (counted in stats.json)"})
    decontaminate_benchmarks: list[str] = field(
        default_factory=_default_benchmarks,
        metadata={"help": "benchmarks checked against (registered names, longbench_write, or problem JSONL files)"},
    )
    decontaminate_ngram_size: int = field(default=8, metadata={"help": "word n-gram size (open-r1: 8)"})
    decontaminate_short_questions: bool = field(
        default=False, metadata={"help": "also drop inputs holding a whole benchmark question shorter than n words "
                                         "(thrifty's extension; open-r1's rule cannot see those)"}
    )
    decontaminate_data_dir: str | None = field(
        default=None, metadata={"help": "benchmark folder laid out like ../shared/data (default $THRIFTY_DATA_DIR, "
                                        "else the Hub)"}
    )


def decontaminate_inputs(items: list, texts: list[list[str]], ids: list[str],
                         args: DecontaminationArguments) -> tuple[list, dict]:
    """Keep the items whose question texts overlap no benchmark; returns them and the report for ``stats.json``
    (``{"enabled": false}`` when switched off)."""
    if not args.decontaminate:
        logger.warning("decontamination is off (decontaminate: false): inputs are not checked against benchmarks")
        return items, {"enabled": False}
    from thrifty.benchmarks import build_index
    from thrifty.decontaminate import ContaminationReport, check_rows, normalize_string

    n = args.decontaminate_ngram_size
    if not args.decontaminate_short_questions and not any(
            len(normalize_string(t).split()) >= n for ts in texts for t in ts):
        # no input has n words, so none can share an n-gram (the toy world's problems): no index needed
        report = ContaminationReport(n, list(args.decontaminate_benchmarks), checked=len(items))
        return items, {"enabled": True, **report.to_dict(), "note": f"no input has {n} words"}
    index = build_index(args.decontaminate_benchmarks, args.decontaminate_data_dir, n,
                        short_questions=args.decontaminate_short_questions)
    flags, report = check_rows(zip(ids, texts, strict=True), index)
    kept = [it for it, bad in zip(items, flags, strict=True) if not bad]
    if report.contaminated:
        logger.warning("decontamination: dropped %d of %d inputs that share %d-grams with %s", report.contaminated,
                       report.checked, index.ngram_size, dict(report.by_benchmark))
    return kept, {"enabled": True, **report.to_dict()}


@dataclass
class HubArguments:
    """Publishing the built data as a Hub dataset with a dataset card (every builder; see
    :mod:`thrifty.data_builders.publish_dataset`)."""

    push_to_hub: str | None = field(default=None, metadata={
        "help": "Hub dataset id (OWNER/NAME) to upload the finished build to, with a dataset card; token from HF_TOKEN"})
    hub_private: bool = field(default=False, metadata={"help": "create the dataset repository private"})
    hub_license: str = field(default="apache-2.0", metadata={"help": "license id in the dataset card"})
    dry_run: str | None = field(default=None, metadata={
        "help": "with push_to_hub: write the repository folder (data, card, stats) here and upload nothing"})

    def __post_init__(self) -> None:  # refused before the build runs, so a typo costs no build time
        if self.push_to_hub is not None and "/" not in self.push_to_hub:
            from thrifty.recipes import RecipeError

            raise RecipeError(f"push_to_hub {self.push_to_hub!r}: use the form OWNER/NAME")
