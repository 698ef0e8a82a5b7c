"""Evaluation: accuracy against tokens on benchmarks x inference modes, scoring, pass@k / maj@k, reports and plots,
LongBench-Write, the contamination check.

Import as ``from thrifty.eval import EvalConfig, run_eval``; the names below are loaded on first use. The Python
API: docs/python-api.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from thrifty.lazy_exports import lazy_exports

#: public name -> the submodule that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(("EvalConfig", "run_eval"), "runner"),
    **dict.fromkeys(("load_run",), "run_folder"),
    **dict.fromkeys(("score_predictions",), "commands"),
    **dict.fromkeys(("score_completions", "pass_at_k", "resolve_extraction", "EXTRACTIONS"), "scoring"),
    **dict.fromkeys(("summarize",), "stats"),
    **dict.fromkeys(("write_run_report", "write_comparison"), "report"),
    **dict.fromkeys(("summarize_toy", "by_tier", "TOY_MODES"), "toy"),
    **dict.fromkeys(("generate_mode", "validate_modes"), "modes"),
    **dict.fromkeys(("make_generator", "SamplingParams", "BACKENDS"), "generation"),
    **dict.fromkeys(("LongBenchWriteConfig", "run_longbench_write"), "longbench_write"),
}

__all__ = [
    "BACKENDS",
    "EXTRACTIONS",
    "EvalConfig",
    "LongBenchWriteConfig",
    "SamplingParams",
    "TOY_MODES",
    "by_tier",
    "generate_mode",
    "load_run",
    "make_generator",
    "pass_at_k",
    "resolve_extraction",
    "run_eval",
    "run_longbench_write",
    "score_completions",
    "score_predictions",
    "summarize",
    "summarize_toy",
    "validate_modes",
    "write_comparison",
    "write_run_report",
]  # the keys of _EXPORTS (tests/test_python_api.py)

if TYPE_CHECKING:  # for type checkers and editors; at run time the names load lazily (``__getattr__``)
    from .commands import score_predictions
    from .generation import BACKENDS, SamplingParams, make_generator
    from .longbench_write import LongBenchWriteConfig, run_longbench_write
    from .modes import generate_mode, validate_modes
    from .report import write_comparison, write_run_report
    from .run_folder import load_run
    from .runner import EvalConfig, run_eval
    from .scoring import EXTRACTIONS, pass_at_k, resolve_extraction, score_completions
    from .stats import summarize
    from .toy import TOY_MODES, by_tier, summarize_toy


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
