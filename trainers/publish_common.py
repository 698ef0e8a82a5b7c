"""What ``thrifty publish`` (:mod:`thrifty.trainers.publish`), ``--eval-only`` (:mod:`thrifty.trainers.eval_card`)
and its routing (:mod:`thrifty.trainers.publish_routes`) share: the error they raise, and the eval report a card
is made from (where it is found, what it holds, which model it was made on).

Each of those modules imports these from here, so none of them imports another to know them: ``publish`` uses
``publish_routes`` and ``eval_card``, ``publish_routes`` uses ``eval_card``, and all of them use this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from thrifty.errors import UserInputError
from thrifty.eval.run_folder import CONFIG_FILE, REPORT_FILE, SUMMARY_FILE

EVAL_SUMMARY = SUMMARY_FILE
EVAL_REPORT = REPORT_FILE
EVAL_PLOTS = "plots"
#: Card metadata key: the fingerprints (:func:`thrifty.models.model_fingerprint`) of the published model, as trained
#: and as published, so that ``--eval-only`` can refuse an eval of another model.
CARD_FINGERPRINTS = "thrifty_model_fingerprints"
EVAL_CONFIG = CONFIG_FILE  # the model fingerprint the eval was made on
ACCURACY_PLOT = "accuracy_vs_tokens.png"


class PublishError(UserInputError):
    """A run cannot be published as asked; the message says what to do."""


@dataclass
class EvalReport:
    """A ``thrifty eval`` run folder: its summary, Markdown report and plots."""

    folder: Path
    summary: dict

    @property
    def accuracy_plot(self) -> Path | None:
        path = self.folder / EVAL_PLOTS / ACCURACY_PLOT
        return path if path.exists() else None


def _eval_candidates(run_dir: Path) -> list[Path]:
    candidates = [run_dir / "eval", run_dir]
    if (run_dir / "eval").is_dir():
        candidates[1:1] = sorted(p for p in (run_dir / "eval").iterdir() if p.is_dir())
    return candidates


def find_eval_report(run_dir: str | Path, eval_dir: str | Path | None = None) -> EvalReport:
    """The eval report of a run: ``eval_dir`` when given, else ``RUN_DIR/eval``, ``RUN_DIR/eval/*/`` (the first
    with a summary), ``RUN_DIR``. A :class:`PublishError` says how to make one when there is none."""
    run_dir = Path(run_dir)
    candidates = [Path(eval_dir)] if eval_dir else _eval_candidates(run_dir)
    for folder in candidates:
        path = folder / EVAL_SUMMARY
        if not path.is_file():
            continue
        try:
            summary = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise PublishError(f"{path} is not valid JSON ({err}); rerun `thrifty eval` into {folder}") from None
        if not isinstance(summary, dict) or not isinstance(summary.get("results"), dict):
            raise PublishError(f"{path} is not a `thrifty eval` summary (no 'results'); rerun `thrifty eval` "
                               f"with --output_dir {folder}")
        return EvalReport(folder, summary)
    looked = ", ".join(str(c / EVAL_SUMMARY) for c in candidates)
    raise PublishError(
        f"no eval report for {run_dir} (looked for {looked}). Evaluate the run first, e.g. "
        f"`thrifty eval --config recipes/toy/eval.yaml --model_name_or_path {run_dir} --output_dir {run_dir}/eval`, "
        "or point to an existing eval folder with --eval-dir DIR"
    )


def evaluated_model(report: EvalReport) -> tuple[str | None, str | None]:
    """The fingerprint of the model an eval report was made on (its ``eval_config.json``; None from an older
    thrifty) and the model's name as the report gives it."""
    path = report.folder / EVAL_CONFIG
    recorded = None
    if path.is_file():
        try:
            recorded = json.loads(path.read_text()).get("model_fingerprint")
        except (json.JSONDecodeError, AttributeError):
            recorded = None
    return recorded, (report.summary.get("config") or {}).get("model_name_or_path") or report.summary.get("model")
