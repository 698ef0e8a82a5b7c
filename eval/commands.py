"""Command-line entry points of eval, wired into ``thrifty`` by :mod:`thrifty.cli`:

- ``thrifty eval --config RECIPE [--key value ...]`` -> :func:`cmd_eval` (``thrifty eval score ...`` is
  forwarded to :func:`cmd_eval_score`);
- ``thrifty eval score --benchmark B --predictions FILE [--data-dir DIR] [--seed S] [--tokenizer PATH]``
  -> :func:`cmd_eval_score`: scores completions made elsewhere, prints one JSON object;
- ``thrifty report RUN_DIR [RUN_DIR ...] [--out DIR] [--names A B ...]`` -> :func:`cmd_report`.

Each returns a process exit code; user errors raise :class:`thrifty.jsonl.DataError` /
:class:`thrifty.recipes.RecipeError`, which the CLI turns into one clear line.
"""

from __future__ import annotations

import argparse
import logging
from collections import defaultdict
from pathlib import Path

from thrifty.console import emit
from thrifty.jsonl import DataError, iter_jsonl_numbered

logger = logging.getLogger(__name__)


def cmd_eval(argv: list[str]) -> int:
    """``thrifty eval --config RECIPE [--key value ...]``; ``thrifty eval score ...`` goes to :func:`cmd_eval_score`."""
    if argv and argv[0] == "score":
        return cmd_eval_score(argv[1:])
    from thrifty.recipes import parse_recipe

    from .run_folder import REPORT_FILE, SUMMARY_FILE
    from .runner import EvalConfig, run_eval

    (cfg,) = parse_recipe((EvalConfig,), argv)
    out = run_eval(cfg)
    emit({"summary": str(out / SUMMARY_FILE), "report": str(out / REPORT_FILE)})
    return 0


def score_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thrifty eval score",
                                     description="Score completions produced elsewhere against a benchmark.")
    parser.add_argument("--benchmark", required=True,
                        help="a registered benchmark (math500, aime24, ..., toy) or a JSONL file of id, problem, "
                             "answer[, options, kind]")
    parser.add_argument("--predictions", required=True,
                        help="JSONL of id, completion (optional: sample, num_tokens); several rows per id are samples")
    parser.add_argument("--data-dir", "--data_dir", dest="data_dir", default=None, help="local benchmark folder (default $THRIFTY_DATA_DIR, else Hub)")
    parser.add_argument("--seed", type=int, default=0, help="GPQA option shuffle / toy world seed of the predictions")
    parser.add_argument("--toy-per-difficulty", type=int, default=20)
    parser.add_argument("--tokenizer", default=None, help="count output tokens with this tokenizer when rows lack num_tokens")
    parser.add_argument("--timeout", type=float, default=5.0, help="math-verify timeout per answer (s)")
    parser.add_argument("--out", default=None, help="also write the scored rows (JSONL) here")
    parser.add_argument("--extraction", default="auto", choices=["auto", "math_verify", "strict", "answer_tag"],
                        help="answer extraction: math_verify (math-verify over the whole completion, as lighteval and "
                             "open-r1 score), strict (<ANSWER>, last MinD turn or \\boxed{} only), answer_tag (the "
                             "last <answer> block: DeepSeek-R1-Zero's template); auto = strict for the toy benchmark, "
                             "else math_verify")
    return parser


def score_predictions(benchmark: str, predictions: str | Path, data_dir: str | None = None, seed: int = 0,
                      toy_per_difficulty: int = 20, tokenizer=None, timeout_s: float = 5.0,
                      extraction: str = "auto") -> tuple[dict, list[dict]]:
    """Score a predictions file; returns the summary (``accuracy``, ``n``, ``extraction``...) and the scored rows.

    ``extraction``: see :mod:`thrifty.eval.scoring` (``auto``: strict for the toy benchmark, else math_verify)."""
    from thrifty.answer_check import AnswerChecker
    from thrifty.benchmarks import load_benchmark

    from .scoring import resolve_extraction, score_completions
    from .stats import summarize_group

    used = resolve_extraction(extraction, Path(str(benchmark)).stem if str(benchmark).endswith(".jsonl") else benchmark)

    predicted = read_predictions(predictions)  # the local file first: before the benchmark comes from the Hub
    problems = {p.id: p for p in load_benchmark(benchmark, data_dir, seed=seed, toy_per_difficulty=toy_per_difficulty)}
    items, counters = [], defaultdict(int)
    for lineno, row in predicted:
        where = f"{predictions}:{lineno}"
        pid = str(row["id"])
        if pid not in problems:
            raise DataError(f"{where}: id {pid!r} is not in benchmark {benchmark} (check --benchmark/--seed)")
        sample = int(row.get("sample", counters[pid]))
        counters[pid] += 1
        items.append((row, problems[pid], sample))
    with AnswerChecker(timeout_s=timeout_s) as checker:
        scores = score_completions([r["completion"] for r, _, _ in items], [p for _, p, _ in items], checker,
                                   tokenizer=tokenizer, extraction=used)
    rows = []
    for (row, problem, sample), score in zip(items, scores, strict=True):
        tokens = row.get("num_tokens")
        if tokens is None and tokenizer is not None:
            tokens = len(tokenizer.encode(row["completion"], add_special_tokens=False))
        out = {"id": f"{problem.id}/{sample}", "problem_id": problem.id, "sample": sample, "answer": problem.answer,
               "kind": problem.kind, **score, "num_tokens": tokens}
        if "difficulty" in problem.meta:
            out["difficulty"] = problem.meta["difficulty"]
        rows.append(out)
    stats = summarize_group(rows)
    summary = {"benchmark": benchmark, "extraction": used, "n": len(rows), "accuracy": stats["accuracy"],
               "n_problems": stats["n_problems"], "coverage": stats["n_problems"] / len(problems), **{
                   k: stats[k] for k in ("pass_at_k", "maj_at_k", "mean_tokens", "median_tokens", "tokens_per_correct",
                                         "format_mix") if k in stats},
               "no_answer": sum(r["prediction"] is None for r in rows) / len(rows)}
    for key in ("turn_mix", "after_turn", "by_difficulty"):
        if key in stats:
            summary[key] = stats[key]
    return summary, rows


def read_predictions(predictions: str | Path) -> list[tuple[int, dict]]:
    """``[(line, row)]`` of a predictions file, each row with an ``id`` and a string ``completion``; every mistake
    is a :class:`DataError` naming ``file:line`` (a missing file, a folder, no rows)."""
    path = Path(predictions)
    if not path.exists():
        raise DataError(f"--predictions {predictions}: no such file")
    rows = list(iter_jsonl_numbered(path))
    for lineno, row in rows:
        where = f"{predictions}:{lineno}"
        if "id" not in row or "completion" not in row:
            raise DataError(f"{where}: each row needs 'id' and 'completion'")
        if not isinstance(row["completion"], str):
            raise DataError(f"{where}: 'completion' must be a string")
    if not rows:
        raise DataError(f"{predictions}: no predictions")
    return rows


def cmd_eval_score(argv: list[str]) -> int:
    """``thrifty eval score --benchmark B --predictions FILE ...``: prints a JSON object with ``accuracy`` and ``n``."""
    args = score_parser().parse_args(argv)
    read_predictions(args.predictions)  # local inputs before anything is fetched from the Hub (tokenizer, benchmark)
    benchmark_file = Path(args.benchmark)
    if benchmark_file.suffix in (".jsonl", ".json") and not benchmark_file.is_file():
        raise DataError(f"--benchmark {args.benchmark}: no such file")
    tokenizer = None
    if args.tokenizer:
        from thrifty.models import check_model_source, load_tokenizer

        check_model_source(args.tokenizer, "--tokenizer")
        tokenizer = load_tokenizer(args.tokenizer)
    summary, rows = score_predictions(args.benchmark, args.predictions, args.data_dir, args.seed,
                                      args.toy_per_difficulty, tokenizer, args.timeout, args.extraction)
    if args.out:
        from thrifty.jsonl import write_jsonl

        write_jsonl(args.out, rows)
    emit(summary)
    return 0


def report_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="thrifty report", description="Put several `thrifty eval` runs side by side: "
                                     "per benchmark a table, an accuracy-against-tokens plot with the Pareto front "
                                     "marked, and the deltas against the first run.")
    parser.add_argument("runs", nargs="+", help="run folders written by `thrifty eval`")
    parser.add_argument("--out", default="runs/report", help="output folder (default runs/report)")
    parser.add_argument("--names", nargs="+", default=None, help="labels for the runs, in order")
    parser.add_argument("--no-plots", action="store_true")
    return parser


def cmd_report(argv: list[str]) -> int:
    """``thrifty report RUN_DIR [RUN_DIR ...] [--out DIR] [--names ...] [--no-plots]``."""
    args = report_parser().parse_args(argv)
    from .report import write_comparison

    try:
        path = write_comparison(args.runs, args.out, args.names, plots=not args.no_plots)
    except ValueError as err:
        if isinstance(err, DataError):
            raise
        raise DataError(str(err)) from None
    emit(path)
    return 0
