"""Eval results on the Hub: ``model-index`` metadata for model cards, and attaching a new eval report to a card
that is already published (``thrifty publish --eval-only RUN_DIR --repo-id ID``).

``model-index`` is the card metadata the Hub reads for its evaluation-results widget and leaderboards (spec:
huggingface/hub-docs ``modelcard.md``; written with ``huggingface_hub``'s :class:`~huggingface_hub.EvalResult`
and ``ModelCardData(eval_results=...)``). A ``thrifty eval`` summary becomes, per benchmark and inference mode,
two results on the same task and dataset:

- ``accuracy``: pass@1 (unbiased, averaged over problems) as a fraction;
- ``mean_output_tokens``: mean output tokens per sample, counted with the model's tokenizer;

both with ``metric_config`` = the mode (``adaptive``, ``direct``, ...), so one dataset entry lists every mode,
and ``metric_args`` = the decoding settings (temperature, top_p, samples per problem, max_new_tokens, seed), the
answer-extraction policy (``extraction``) and the number of problems evaluated (``n_problems``, plus ``limit``
for a partial run, whose metric name says so too).
The dataset is the benchmark's Hub id, config and split from :data:`thrifty.benchmarks.BENCHMARKS`; the toy
world and user JSONL files are named by the benchmark's name.

``--eval-only`` updates a card in place: the new results replace the ones with the same (dataset, config, split,
metric, mode, decoding settings), a measurement made again, and every other result is kept; the card text gets (or, for the same run label, has replaced) one
section between ``<!-- thrifty-eval:LABEL -->`` markers; everything else in the card is left as it was. The eval
report's files go to ``eval/LABEL/`` in the repository; nothing else is uploaded.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .publish_common import (
    ACCURACY_PLOT,
    CARD_FINGERPRINTS,
    EVAL_PLOTS,
    EVAL_REPORT,
    EVAL_SUMMARY,
    EvalReport,
    PublishError,
    evaluated_model,
    find_eval_report,
)

logger = logging.getLogger(__name__)

TASK_TYPE = "text-generation"
TOY_DATASET = "thrifty/toy-world"
ACCURACY_METRIC = "accuracy"
TOKENS_METRIC = "mean_output_tokens"
DECODING_KEYS = ("temperature", "top_p", "num_samples", "max_new_tokens", "seed")


def _dataset(benchmark: str) -> tuple[str, str, str | None, str | None]:
    """(type, pretty name, config, split) of a benchmark for ``model-index``."""
    from thrifty.benchmarks import BENCHMARKS

    pretty = {"math500": "MATH-500", "aime24": "AIME 2024", "aime25": "AIME 2025", "amc23": "AMC 2023",
              "gpqa_diamond": "GPQA-Diamond", "gsm8k": "GSM8K", "aqua": "AQuA-RAT", "csqa": "CommonsenseQA",
              "toy": "thrifty toy world (running sum mod 10)"}
    bench = BENCHMARKS.get(benchmark)
    if benchmark == "toy":
        return TOY_DATASET, pretty["toy"], None, "test"
    if bench is not None and bench.hub:
        hub_id, config, split = bench.hub
        return hub_id, pretty.get(benchmark, benchmark), config, split
    return benchmark, benchmark, None, None  # a user's JSONL benchmark (named by its file stem)


def eval_results(summary: dict[str, Any]) -> list:
    """``huggingface_hub.EvalResult`` objects of a ``thrifty eval`` summary: accuracy and mean output tokens per
    benchmark and mode (``metric_config`` = mode). Results with no value (no samples) are left out."""
    from huggingface_hub import EvalResult

    cfg = summary.get("config") or {}
    decoding = {k: cfg[k] for k in DECODING_KEYS if cfg.get(k) is not None}
    limit = cfg.get("limit")
    out = []
    for bench, by_mode in summary.get("results", {}).items():
        dataset_type, dataset_name, config, split = _dataset(bench)
        for mode, stats in by_mode.items():
            args = {**decoding, "extraction": extraction_used(summary, bench, mode)}
            if stats.get("n_problems") is not None:
                args["n_problems"] = stats["n_problems"]
            if limit:
                args["limit"] = limit
            partial = f", first {stats.get('n_problems', limit)} problems only (limit {limit})" if limit else ""
            for metric, key, label in ((ACCURACY_METRIC, "accuracy", "accuracy (pass@1)"),
                                       (TOKENS_METRIC, "mean_tokens", "mean output tokens")):
                value = stats.get(key)
                if value is None:
                    continue
                out.append(EvalResult(
                    task_type=TASK_TYPE, task_name="Reasoning (accuracy against output tokens)",
                    dataset_type=dataset_type, dataset_name=dataset_name, dataset_config=config,
                    dataset_split=split, metric_type=metric, metric_name=f"{label}, {mode}{partial}",
                    metric_config=mode, metric_args=args,
                    metric_value=round(float(value), 4 if metric == ACCURACY_METRIC else 1),
                ))
    return out


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def results_table(summary: dict) -> str:
    """Markdown table of an eval summary: one row per (benchmark, mode)."""
    lines = ["| benchmark | mode | problems | samples | accuracy | mean tokens | median tokens | tokens/correct |",
             "|---|---|---|---|---|---|---|---|"]
    for bench, by_mode in summary["results"].items():
        for mode, s in by_mode.items():
            lines.append(
                f"| {bench} | {mode} | {s.get('n_problems', '-')} | {s.get('n_samples', '-')} | "
                f"{_fmt(s.get('accuracy'), '.3f')} | {_fmt(s.get('mean_tokens'), '.1f')} | "
                f"{_fmt(s.get('median_tokens'), '.1f')} | {_fmt(s.get('tokens_per_correct'), '.1f')} |"
            )
    return "\n".join(lines)


def extraction_used(summary: dict, bench: str, mode: str) -> str:
    """The answer-extraction policy a summary's (benchmark, mode) was scored with (``math_verify`` or
    ``strict``; the run's policy, or ``strict`` for summaries older than extraction policies)."""
    extraction = summary.get("extraction") or {}
    return str((extraction.get("used") or {}).get(f"{bench}/{mode}") or extraction.get("policy") or "strict")


def extraction_note(summary: dict) -> str:
    """One sentence for a card: the extraction policy (DESIGN.md section 5: every report names it) and, for a
    partial run (``limit``), how many problems the numbers cover."""
    extraction = summary.get("extraction") or {}
    used = sorted(set((extraction.get("used") or {}).values()))
    text = (f"Answer extraction: `{extraction.get('policy', 'strict')}`" + (f" ({', '.join(used)})" if used else "")
            + ("" if extraction else " (the run predates extraction policies)") + ".")
    limit = (summary.get("config") or {}).get("limit")
    if limit:
        text += (f" **Partial run**: only the first {limit} problems of each benchmark were evaluated (`limit`), "
                 "so these numbers are not comparable with full-benchmark results.")
    return text


#: ``metric_args`` keys that describe how much was measured, not how: a full rerun replaces a partial result.
_COVERAGE_ARGS = ("n_problems", "limit")


def _result_key(result) -> tuple:
    args = {k: v for k, v in (result.metric_args or {}).items() if k not in _COVERAGE_ARGS}
    return (*result.unique_identifier, result.metric_type, result.metric_config, json.dumps(args, sort_keys=True))


def merge_eval_results(existing: list | None, new: list) -> list:
    """``existing`` with every result that ``new`` measures again replaced, then the rest of ``new`` appended."""
    fresh = {_result_key(r): r for r in new}
    kept = [fresh.pop(_result_key(r)) if _result_key(r) in fresh else r for r in (existing or [])]
    return kept + list(fresh.values())


def _marker(label: str) -> tuple[str, str]:
    return f"<!-- thrifty-eval:{label} -->", f"<!-- /thrifty-eval:{label} -->"


def eval_section(label: str, summary: dict, plot_name: str | None, report_dir: str) -> str:
    """The Markdown section an ``--eval-only`` report adds to a card (between its markers)."""
    cfg = summary.get("config", {})
    decoding = (f"temperature {cfg.get('temperature')}, max_new_tokens {cfg.get('max_new_tokens')}, "
                f"{cfg.get('num_samples')} sample(s) per problem, seed {cfg.get('seed')}" if cfg else "see the report")
    start, end = _marker(label)
    lines = [start, f"## Eval: {label}", "",
             f"Added with `thrifty publish --eval-only` from the eval report in `{report_dir}/report.md` (decoding: "
             f"{decoding}). Accuracy is pass@1; tokens are output tokens per sample. {extraction_note(summary)}", "",
             results_table(summary), ""]
    if plot_name:
        lines += [f"![Accuracy against output tokens: {label}]({plot_name})", ""]
    return "\n".join(lines + [end])


def update_card_text(text: str, label: str, section: str) -> str:
    """The card body with ``section`` in place of the one with the same label, or appended at the end."""
    start, end = _marker(label)
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: section, text, count=1)
    return text.rstrip("\n") + "\n\n" + section + "\n"


def updated_card(card_text: str, summary: dict, label: str, plot_name: str | None, report_dir: str,
                 model_name: str) -> str:
    """An existing card (its full text) with this eval's ``model-index`` results merged into the metadata and its
    section added; every other metadata key and every other line of the card is kept."""
    from huggingface_hub import ModelCard

    card = ModelCard(card_text, ignore_metadata_errors=True)
    data = card.data
    data.eval_results = merge_eval_results(getattr(data, "eval_results", None),
                                           eval_results(summary))
    data.model_name = getattr(data, "model_name", None) or model_name
    card.text = update_card_text(card.text, label, eval_section(label, summary, plot_name, report_dir))
    return str(card)


def default_label(folder: Path) -> str:
    """The default ``--eval-label`` when the eval set no ``run_name``: the eval folder's name
    (``runs/x/eval_math500`` -> ``eval_math500``), not the model's, so two evals of one model get two sections; a
    folder named ``eval`` is qualified by its run (``x_eval``)."""
    folder = Path(folder).resolve()
    return f"{folder.parent.name}_{folder.name}" if folder.name == "eval" and folder.parent.name else folder.name


def _safe_label(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label) or "eval"


def publish_eval_only(eval_run: Path, repo_id: str, dry_run: Path | None, label: str | None = None,
                      commit_message: str = "Add an eval report with thrifty publish --eval-only") -> Path | str:
    """Attach the eval report found in ``eval_run`` (a ``thrifty eval`` folder, or a run folder holding one) to
    the card of ``repo_id``. With ``dry_run`` the card is ``DRY_RUN/README.md`` (a folder written by an earlier
    ``thrifty publish --dry-run``), updated in place; otherwise the card is downloaded from the Hub and the new
    ``README.md`` and ``eval/LABEL/`` are uploaded (other files of the repository are untouched)."""
    report = find_eval_report(eval_run)
    label = _safe_label(label or (report.summary.get("config") or {}).get("run_name") or default_label(report.folder))
    if dry_run is not None:
        card_path = Path(dry_run) / "README.md"
        if not card_path.is_file():
            raise PublishError(f"--eval-only with --dry-run {dry_run}: {card_path} does not exist; point --dry-run "
                               "to a folder written by `thrifty publish RUN_DIR --dry-run OUT`")
        from thrifty.jsonl import read_text

        card_text = read_text(card_path)
    else:
        card_text = _download_card(repo_id)
    check_eval_is_of_card(report, card_text, repo_id)
    report_dir = f"eval/{label}"
    plot_name = f"{report_dir}/{EVAL_PLOTS}/{ACCURACY_PLOT}" if report.accuracy_plot else None
    text = updated_card(card_text, report.summary, label, plot_name, report_dir, repo_id.split("/")[-1])
    parent = Path(dry_run) if dry_run is not None else None
    with tempfile.TemporaryDirectory(prefix=".thrifty-eval-only-", dir=parent) as tmp:
        stage = Path(tmp)
        for name in (EVAL_SUMMARY, EVAL_REPORT):
            if (report.folder / name).is_file():
                (stage / report_dir).mkdir(parents=True, exist_ok=True)
                shutil.copy2(report.folder / name, stage / report_dir / name)
        if (report.folder / EVAL_PLOTS).is_dir():
            shutil.copytree(report.folder / EVAL_PLOTS, stage / report_dir / EVAL_PLOTS)
        (stage / "README.md").write_text(text, encoding="utf-8")
        if dry_run is not None:
            dest = Path(dry_run) / report_dir
            if dest.exists():
                shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            (stage / report_dir).rename(dest)
            (stage / "README.md").replace(Path(dry_run) / "README.md")  # same filesystem: an atomic rename
            logger.info("dry run: updated %s and wrote %s (nothing uploaded)", Path(dry_run) / "README.md", dest)
            return Path(dry_run)
        from thrifty.hub import push_folder

        url = push_folder(stage, repo_id, private=False, commit_message=commit_message)  # upload adds, never deletes
        logger.info("attached eval report %s to %s: %s", report.folder, repo_id, url)
        return url


def check_eval_is_of_card(report: EvalReport, card_text: str, repo_id: str) -> None:
    """Refuse an eval report made on another model than the one ``card_text`` publishes: the eval's recorded model
    fingerprint must be one the card records (:data:`~thrifty.trainers.publish_common.CARD_FINGERPRINTS`: the run
    as trained and as published), or ``hub:REPO_ID`` (an eval of the repository itself). A card or report without
    fingerprints (published by another tool or an older thrifty) is used with a warning."""
    from huggingface_hub import ModelCard

    recorded, evaluated = evaluated_model(report)
    published = ModelCard(card_text, ignore_metadata_errors=True).data.to_dict().get(CARD_FINGERPRINTS) or []
    if recorded is None or not published:
        logger.warning("cannot check that the eval report %s (of %s) is of the model published as %s: %s records no "
                       "model fingerprint", report.folder, evaluated, repo_id,
                       "the report" if recorded is None else "the card")
        return
    if recorded != f"hub:{repo_id}" and recorded not in published:
        raise PublishError(f"the eval report {report.folder} was made on another model ({evaluated}, fingerprint "
                           f"{recorded}) than the one published as {repo_id} (fingerprints {', '.join(published)}): "
                           f"its numbers are not that model's. Evaluate the published run or `{repo_id}` itself")


def _download_card(repo_id: str) -> str:
    """The README.md of a published model repository (a clear error when there is none)."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    from thrifty.network import hub_access

    try:
        with hub_access(f"the model card of {repo_id}", "use --dry-run OUT on the folder `thrifty publish RUN_DIR "
                        "--dry-run OUT` wrote"):
            return Path(hf_hub_download(repo_id, "README.md", repo_type="model")).read_text(encoding="utf-8")
    except (EntryNotFoundError, RepositoryNotFoundError) as err:
        raise PublishError(f"{repo_id} has no model card to update ({type(err).__name__}); publish the model "
                           "first with `thrifty publish RUN_DIR --repo-id ID`") from None
