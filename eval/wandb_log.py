"""Weights & Biases logging of eval runs and of GRPO's per-format tables (only when ``report_to`` names wandb).

- :func:`log_eval_run` (``thrifty eval`` with ``report_to: [wandb]``): one wandb run (``job_type="eval"``, named
  after the eval run, its config the eval config) holding the summary's numbers as
  ``BENCHMARK/MODE/METRIC`` (in the run summary and one history row), a ``samples`` table with one row per
  sample (benchmark, problem id, problem text, mode, sample, format, tokens, correct, prediction, gold answer)
  and every PNG of the run's ``plots/`` as ``plots/NAME`` images. GPQA-Diamond's question texts are never
  logged (its authors ask that they not be published in plain text): the table holds its problem ids only.
- :func:`log_format_table` (GRPO, each logging step): the per-format share, accuracy and mean tokens the
  trainer already averages into its logs, as a ``train/format_table`` table.

wandb is imported lazily and runs offline unless ``WANDB_MODE`` says otherwise (no key, no network needed).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SAMPLE_COLUMNS = ["benchmark", "problem_id", "problem", "mode", "sample", "format", "tokens", "correct",
                  "prediction", "answer"]
FORMAT_COLUMNS = ["step", "format", "share", "accuracy", "mean_tokens"]
SCALARS = ("accuracy", "mean_tokens", "median_tokens", "tokens_per_correct", "truncated_rate", "n_samples",
           "n_problems", "consensus_fallback_rate", "mean_turns")
PRIVATE_TEXT_BENCHMARKS = ("gpqa_diamond",)


def wants_wandb(report_to: Any) -> bool:
    """Whether a ``report_to`` value (a string or list, TRL style) includes wandb."""
    values = [report_to] if isinstance(report_to, str) else list(report_to or [])
    return "wandb" in values or "all" in values


def summary_scalars(results: dict[str, dict[str, dict]]) -> dict[str, float]:
    """``BENCHMARK/MODE/METRIC`` -> value for the scalar numbers of an eval summary (pass@k / maj@k included)."""
    out: dict[str, float] = {}
    for bench, by_mode in results.items():
        for mode, stats in by_mode.items():
            for key in SCALARS:
                if isinstance(stats.get(key), (int, float)):
                    out[f"{bench}/{mode}/{key}"] = stats[key]
            for family in ("pass_at_k", "maj_at_k"):
                for k, value in (stats.get(family) or {}).items():
                    if value is not None:
                        out[f"{bench}/{mode}/{family.split('_')[0]}@{k}"] = value
    return out


def sample_rows(rows: list[dict], problem_texts: dict[tuple[str, str], str] | None = None) -> list[list]:
    """The ``samples`` table's rows (columns :data:`SAMPLE_COLUMNS`)."""
    texts = problem_texts or {}
    return [[r.get("benchmark"), str(r.get("problem_id")),
             None if r.get("benchmark") in PRIVATE_TEXT_BENCHMARKS else texts.get((r.get("benchmark"), str(r.get("problem_id")))),
             r.get("mode"), r.get("sample"), r.get("format"), r.get("num_tokens"), bool(r.get("correct")),
             None if r.get("prediction") is None else str(r.get("prediction")), str(r.get("answer"))] for r in rows]


def log_eval_run(out_dir: str | Path, summary: dict, rows: list[dict], project: str | None = None,
                 problem_texts: dict[tuple[str, str], str] | None = None) -> str:
    """Log one finished eval run (module docstring); returns the wandb run's folder."""
    os.environ.setdefault("WANDB_MODE", "offline")
    import wandb

    run = wandb.init(project=project or os.environ.get("WANDB_PROJECT") or "thrifty", name=str(summary.get("run")),
                     job_type="eval", config=summary.get("config") or {}, reinit="create_new")
    try:
        scalars = summary_scalars(summary.get("results", {}))
        run.log({**scalars, "samples": wandb.Table(columns=SAMPLE_COLUMNS, data=sample_rows(rows, problem_texts))})
        for png in sorted((Path(out_dir) / "plots").glob("*.png")):
            run.log({f"plots/{png.stem}": wandb.Image(str(png))})
        run.summary.update(scalars)
        folder = str(Path(run.dir).parent)
    finally:
        run.finish()
    logger.info("eval logged to wandb (%s mode): %s", os.environ.get("WANDB_MODE"), folder)
    return folder


_FORMAT_KEY = re.compile(r"^format/([^/]+)(?:/(accuracy|tokens))?$")


def format_table_rows(logs: dict[str, Any], step: int) -> list[list]:
    """Rows (columns :data:`FORMAT_COLUMNS`) from the ``format/<fmt>``, ``format/<fmt>/accuracy`` and
    ``format/<fmt>/tokens`` values of one GRPO log."""
    table: dict[str, dict[str, Any]] = {}
    for key, value in logs.items():
        m = _FORMAT_KEY.match(key)
        if m:
            table.setdefault(m.group(1), {})[m.group(2) or "share"] = value
    return [[step, fmt, v.get("share"), v.get("accuracy"), v.get("tokens")] for fmt, v in sorted(table.items())]


def log_format_table(logs: dict[str, Any], step: int) -> None:
    """Log GRPO's per-format table of this logging step to the active wandb run (no-op without one)."""
    rows = format_table_rows(logs, step)
    if not rows:
        return
    import wandb

    if wandb.run is not None:
        wandb.log({"train/format_table": wandb.Table(columns=FORMAT_COLUMNS, data=rows), "train/global_step": step})
