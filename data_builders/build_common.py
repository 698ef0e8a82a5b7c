"""Shared machinery of the SFT data builders: resumable output, token-length statistics.

Resumability (DESIGN.md 7): a build writes ``train.jsonl`` (SFT rows, keyed by row ``id``) and
``progress.jsonl`` (one ledger entry per finished *problem*: which rows it produced and why others were
dropped), both through :class:`thrifty.jsonl.ResumableJsonlWriter`. A problem's rows are appended first, its
ledger entry last; a rerun skips problems in the ledger and, for a problem cut in the middle, appends only the
rows not yet written. So a build killed at any point and rerun ends with no duplicate and no missing row, and
the statistics (computed from the two files) are those of one uninterrupted run.

A problem dropped because the LLM backend gave up (``llm_failed``, ``plan_failed``, ``write_failed``) is not
recorded as finished: its rows so far are kept and the next run retries it (``retry_pending`` in stats.json;
the command exits 1 when most problems of a run failed so). One build at a time per folder (a lock file), and a
folder is resumed only with the recipe values and the source it was started with (``build_signature.json``).
A damaged line in the middle of ``train.jsonl`` or ``progress.jsonl`` stops the build with ``file:line``.
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


#: Drop reasons that mean "the LLM backend gave up", not "this problem is bad": never recorded as final, so a
#: rerun retries them (a build that ran while the server was down must not stay empty forever).
def is_retryable(reason: str) -> bool:
    """Whether a drop reason is a transient failure (``llm_failed``, ``plan_failed``, ``write_failed``...)."""
    return reason.endswith("_failed")


LOCK_FILE = ".build.lock"
SIGNATURE_FILE = "build_signature.json"


class ResumableBuild:
    """The output rows and the per-problem ledger of one build folder.

    On open it (1) takes an exclusive lock on ``output_dir/.build.lock`` (a second build into the same folder is
    refused instead of duplicating every row); (2) refuses an input file that lies in the folder, and a
    ``train.jsonl`` this build did not write (no signature; with no ``spec``, no ledger); (3) with ``spec`` (recipe values that shape the rows, and the inputs'
    fingerprints: :func:`build_spec`), checks it against the folder's ``build_signature.json`` so a folder is
    resumed only by the build that started it (:func:`thrifty.run_record.claim_build_folder`); (4) forgets
    ledger entries whose rows are missing from ``train.jsonl`` (a line repaired by hand), so they are rebuilt.
    """

    def __init__(self, output_dir: str | Path, spec: dict | None = None, inputs: tuple[str | Path, ...] = ()):
        from thrifty.errors import UserInputError

        self.dir = Path(output_dir)
        self._created = not self.dir.exists()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.pending: Counter = Counter()  # retryable drops of this run, by reason (not in the ledger)
        self.attempted = 0
        self.pending_problems = 0
        self._lock = _lock_folder(self.dir)
        try:
            for path in inputs:
                if path and Path(path).exists() and Path(path).resolve().parent == self.dir.resolve():
                    raise UserInputError(f"input {path} lies inside output_dir {self.dir}: the build would write "
                                         "into its own input; use another output_dir")
            train, progress = self.dir / "train.jsonl", self.dir / "progress.jsonl"
            has_rows = train.exists() and train.stat().st_size > 0
            has_ledger = progress.exists() and progress.stat().st_size > 0
            if has_rows and not has_ledger and spec is None:
                raise UserInputError(f"{train} exists but {progress} does not: this folder was not made by a "
                                     "thrifty build (or its ledger was deleted); use another output_dir")
            if spec is not None:
                from thrifty.run_record import claim_build_folder

                claim_build_folder(self.dir, spec, started=has_rows or has_ledger, record=SIGNATURE_FILE)
            self.rows = BatchedJsonlWriter(train, key="id")
            self.ledger = BatchedJsonlWriter(progress, key="id")
        except BaseException:
            self._unlock()
            if self._created:  # refused on open: leave no empty folder behind
                import shutil

                shutil.rmtree(self.dir, ignore_errors=True)
            raise
        self._forget_incomplete()
        if len(self.ledger):
            logger.info("resuming %s: %d problems already done", self.dir, len(self.ledger))

    def _forget_incomplete(self) -> None:
        """Drop ledger entries that name rows missing from ``train.jsonl`` (rewritten atomically) so they rebuild."""
        from thrifty.jsonl import write_jsonl

        entries = list(self.ledger.iter_rows())
        kept = [e for e in entries if all(self.rows.done(r) for r in e.get("rows", []))]
        if len(kept) == len(entries):
            return
        logger.warning("%s: %d finished problems have rows missing from train.jsonl; they will be rebuilt",
                       self.dir, len(entries) - len(kept))
        self.ledger.close()
        write_jsonl(self.ledger.path, kept)
        self.ledger = BatchedJsonlWriter(self.ledger.path, key="id")

    def done(self, problem_id: str) -> bool:
        return self.ledger.done(problem_id)

    def finish(self, problem_id: str, rows: list[dict], dropped: dict[str, str] | None = None) -> None:
        """Append the problem's rows not yet written, then its ledger entry."""
        self.finish_many([(problem_id, rows, dropped or {})])

    def finish_many(self, results: list[tuple[str, list[dict], dict[str, str]]]) -> None:
        """:meth:`finish` for a batch of problems: all their new rows (one fsync), then their ledger entries.

        A problem with a retryable drop (:func:`is_retryable`) keeps the rows it has but gets no ledger entry, so
        the next run retries it (its written rows are not written twice); it is counted in :attr:`pending`.
        """
        self.attempted += len(results)
        self.rows.append_many([r for _, rows, _ in results for r in rows if not self.rows.done(r["id"])])
        final = []
        for pid, rows, dropped in results:
            retry = [f"{w}:{r}" if w != "problem" else r for w, r in dropped.items() if is_retryable(r)]
            self.pending.update(retry)
            self.pending_problems += bool(retry)
            if not retry:
                final.append({"id": pid, "rows": [r["id"] for r in rows], "dropped": dropped})
        self.ledger.append_many(final)

    def pending_report(self) -> dict:
        """For ``stats.json``: ``retry_pending`` (retryable drops of this run by reason), ``problems_pending`` and
        ``attempted``; logs a warning when some problems await a retry."""
        if self.pending_problems:
            logger.warning("%s: the LLM backend failed for %d of %d problems (%s); they are not recorded as done: "
                           "rerun the same command to retry them", self.dir, self.pending_problems, self.attempted,
                           dict(self.pending))
        return {"retry_pending": dict(sorted(self.pending.items())), "problems_pending": self.pending_problems,
                "attempted": self.attempted}

    def close(self) -> None:
        self.rows.close()
        self.ledger.close()
        self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the descriptor releases the flock
            self._lock = None

    def __enter__(self) -> ResumableBuild:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()
        from thrifty.backends import BackendError
        from thrifty.errors import UserInputError

        if (isinstance(exc, (UserInputError, FileNotFoundError, BackendError)) and self._created
                and not len(self.ledger) and not len(self.rows)):
            import shutil  # refused before any problem was done: leave nothing behind

            shutil.rmtree(self.dir, ignore_errors=True)


def _lock_folder(folder: Path):
    """An exclusive, non-blocking ``flock`` on ``folder/.build.lock``; raises UserInputError when held."""
    import fcntl

    from thrifty.errors import UserInputError

    fh = (folder / LOCK_FILE).open("a")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise UserInputError(f"{folder} is in use by another running build (lock {folder / LOCK_FILE}); wait for "
                             "it to finish or use another output_dir") from None
    return fh


#: Recipe keys that do not change which rows a build writes (speed, retries, where things go, the stats'
#: tokenizer, which subset is built): a resumed build may change them.
NEUTRAL_KEYS = frozenset({
    "output_dir", "batch_size", "tokenizer_name_or_path", "histogram_edges", "limit", "max_samples",
    "verify_timeout_s", "llm_base_url", "llm_api_key_env", "llm_max_concurrency", "llm_max_retries",
    "llm_timeout_s", "llm_backoff_base_s", "llm_batch_size", "llm_cache", "decontaminate_data_dir",
    "push_to_hub", "hub_private", "hub_license", "dry_run",
    "source", "instructions",  # paths: the inputs' fingerprints (content) are compared instead
})


def fingerprint(path: str | Path | None) -> str | None:
    """SHA-256 of a file's bytes; for a folder, of its files' names, sizes and mtimes; else the text itself
    (a Hub id)."""
    import hashlib

    if not path:
        return None
    p = Path(path)
    h = hashlib.sha256()
    if p.is_file():
        with p.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return f"sha256:{h.hexdigest()}"
    if p.is_dir():
        for f in sorted(q for q in p.rglob("*") if q.is_file()):
            st = f.stat()
            h.update(f"{f.relative_to(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return f"dir-sha256:{h.hexdigest()}"
    return f"id:{path}"


def build_spec(builder: str, configs: tuple, inputs: dict[str, str | None]) -> dict:
    """What a build folder is made from: the builder, every recipe value that shapes the rows (not
    :data:`NEUTRAL_KEYS`) and each input's :func:`fingerprint`."""
    from dataclasses import asdict, is_dataclass

    values: dict = {}
    for cfg in configs:
        if cfg is not None and is_dataclass(cfg):
            values.update({k: v for k, v in asdict(cfg).items() if k not in NEUTRAL_KEYS})
    return {"builder": builder, "recipe": values, "inputs": {k: fingerprint(v) for k, v in inputs.items()}}


def finish_command(stats: dict, output_dir: str | Path, configs: tuple, hub, builder: str) -> int:
    """The end of every ``thrifty build`` command: exit 1 (and publish nothing) when most problems of this run
    await a retry because the LLM backend failed; else record the recipe / publish (:func:`after_build`), 0."""
    from .publish_dataset import after_build

    pending = stats.get("problems_pending", 0)
    attempted = stats.get("attempted", 0)
    if pending and 2 * pending > attempted:
        logger.error("the LLM backend failed for %d of the %d problems attempted: check the server and rerun "
                     "(finished problems are kept)", pending, attempted)
        return 1
    after_build(output_dir, configs, hub, builder)
    return 0


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

    def __post_init__(self) -> None:
        if self.decontaminate_ngram_size < 1:
            from thrifty.recipes import RecipeError

            raise RecipeError(f"recipe key decontaminate_ngram_size: {self.decontaminate_ngram_size}; use 1 or more "
                              "(open-r1: 8)")


def decontaminate_inputs(items: list, texts: list[list[str]], ids: list[str],
                         args: DecontaminationArguments) -> tuple[list, dict]:
    """Keep the items whose question texts overlap no benchmark; returns them and the report for ``stats.json``
    (``{"enabled": false}`` when switched off)."""
    if not args.decontaminate:
        logger.warning("decontamination is off (decontaminate: false): inputs are not checked against benchmarks")
        return items, {"enabled": False}
    from thrifty.benchmarks import build_index
    from thrifty.decontaminate import ContaminationReport, check_rows, normalize_string, words

    n = args.decontaminate_ngram_size
    if not args.decontaminate_short_questions and not any(
            len(words(normalize_string(t))) >= n for ts in texts for t in ts):
        # no input has n words, so none can share an n-gram: no index needed (longer toy-world questions are
        # skipped by the index itself without loading any benchmark: thrifty.benchmarks.is_toy_question)
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
