"""The layout of a ``thrifty eval`` run folder, and reading a finished one back.

Written by :func:`thrifty.eval.runner.run_eval`, read by the comparison report (:mod:`thrifty.eval.report`), the
demo and the benchmark scripts: ``samples.jsonl`` (one row per sample), ``summary.json``, ``report.md`` (and
``plots/``), ``eval_config.json`` (the settings that define a sample) and ``problems.json`` (the problems'
fingerprints). Both sides import the names from here, so neither imports the other to know them.
"""

from __future__ import annotations

import json
from pathlib import Path

from thrifty.jsonl import DataError, iter_jsonl, read_text

SAMPLES_FILE = "samples.jsonl"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.md"
CONFIG_FILE = "eval_config.json"
#: ``{benchmark: {problem id: fingerprint}}`` of a run, so a resume refuses a problem that changed under the same
#: id (a new toy world, an edited problems file), while a rerun with another ``limit`` extends or narrows the run
#: in place (only the ids both runs share are compared).
PROBLEMS_FILE = "problems.json"
#: Fields of a sample row that the summary and report never read: left on disk, not loaded back.
HEAVY_FIELDS = ("completion",)


def light_row(row: dict) -> dict:
    """A sample row without the completion texts of its consensus parts (the summary reads their predictions)."""
    parts = (row.get("consensus") or {}).get("parts")
    if parts:
        for part in parts.values():
            part.pop("completion", None)
    return row


def load_run(run_dir: str | Path) -> tuple[dict, list[dict]]:
    """The summary and sample rows (without completions) of a finished run folder (clear error when it is not one)."""
    run_dir = Path(run_dir)
    path = run_dir / SUMMARY_FILE
    if not path.exists():
        raise DataError(f"{run_dir}: no {SUMMARY_FILE}; is it a `thrifty eval` output folder?")
    try:
        summary = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}); is the run finished?") from None
    samples = run_dir / SAMPLES_FILE
    rows = [light_row({k: v for k, v in r.items() if k not in HEAVY_FIELDS}) for r in iter_jsonl(samples)] \
        if samples.exists() else []
    return summary, rows
