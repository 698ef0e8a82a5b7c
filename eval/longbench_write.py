"""LongBench-Write and LongWrite-Ruler: ``thrifty eval-longwrite --config RECIPE``.

LongBench-Write (LongWriter, Bai et al. 2024, section 2; DESIGN.md 4.4) asks for texts of a stated length
(``length``: English words or Chinese characters) in seven genres (``type``). A model is scored by

- the length score S_l (:func:`thrifty.longform.length_score`; lengths are English words + CJK characters,
  :func:`thrifty.longform.count_length`), averaged over all outputs;
- the quality score S_q from an LLM judge on six dimensions, 1-5 each mapped to ``(s - 1) * 25``
  (:mod:`thrifty.quality_judge`: temperature 0.5, up to 5 draws per item until its reply holds
  the six scores, as THUDM/LongWriter ``evaluation/eval_quality.py``), averaged over the judged outputs; items
  the judge never scored are dropped from S_q and counted (``judge_dropped`` in ``summary.json``);
- S = (S_l + S_q) / 2, computed from the two averages (per row too, where the row was judged).

Results come overall, by required-length bucket ([0,500), [500,2k), [2k,4k), [4k,20k)) and by type. The
LongWrite-Ruler subset (``subset: longwrite_ruler``, 8 prompts x 6 lengths from 1,000 to 20,000) is made to
draw the "ruler" plot of required against produced length (``ruler.png``, both log scale, with the line
produced = required); the plot is drawn for every subset.

Data: ``{data_dir}/longbench_write/{subset}.jsonl`` (``prompt``, ``type``, ``length``; ``data_dir`` defaults to
``$THRIFTY_DATA_DIR``), or a JSONL file given as ``dataset``, or the Hub dataset ``hub_dataset`` when no local
folder is set. Generation uses the eval backends (:func:`thrifty.eval.generation.make_generator`:
transformers or vLLM) with the model's chat template; or score outputs made elsewhere with
``predictions: FILE`` (JSONL of ``id``, ``response``). Outputs are appended to ``outputs.jsonl`` per chunk and
judge replies are cached in ``judge_cache.jsonl``, so an interrupted run resumes and a rerun costs nothing.
Files: ``outputs.jsonl``, ``scored.jsonl``, ``summary.json``, ``report.md``, ``ruler.png``. As ``thrifty eval``
does, the model's recorded training data is checked against the prompts (``training_data_overlap``, a warning).
"""

from __future__ import annotations

import logging
import os
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from thrifty.benchmarks import LONGBENCH_WRITE_SUBSETS as SUBSETS
from thrifty.benchmarks import load_longbench_write
from thrifty.console import emit
from thrifty.jsonl import DataError, ResumableJsonlWriter, read_jsonl, write_json, write_jsonl, write_text
from thrifty.longform import bucket_label, bucket_labels, count_length, length_score
from thrifty.quality_judge import DIMENSIONS, JudgeArguments, judge, make_judge

from .contamination import warn_if_trained_on

logger = logging.getLogger(__name__)

OUTPUTS_FILE = "outputs.jsonl"
SCORED_FILE = "scored.jsonl"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.md"
RULER_FILE = "ruler.png"
#: What made ``outputs.jsonl``: the model (and its fingerprint), decoding settings and a fingerprint per prompt
#: id; a resume with other values is refused (as ``thrifty eval`` does with its ``eval_config.json``).
CONFIG_FILE = "eval_config.json"
OUTPUT_DEFINING = ("model_name_or_path", "model_fingerprint", "backend", "dtype", "temperature", "top_p",
                   "max_new_tokens", "seed", "system_prompt")


@dataclass
class LongBenchWriteConfig:
    """Recipe keys of ``thrifty eval-longwrite`` (with :class:`JudgeArguments` for the S_q judge)."""

    model_name_or_path: str | None = field(default=None, metadata={"help": "model folder, Hub id or adapter"})
    output_dir: str = field(default="runs/eval_longwrite", metadata={"help": "run folder"})
    run_name: str | None = field(default=None, metadata={"help": "label in the report (default: model name)"})
    subset: str = field(default="longbench_write", metadata={"help": f"one of {', '.join(SUBSETS)}"})
    dataset: str | None = field(default=None, metadata={"help": "a JSONL file of prompt, type, length instead"})
    data_dir: str | None = field(default=None, metadata={"help": "folder laid out like ../shared/data"})
    hub_dataset: str = field(default="THUDM/LongBench-Write", metadata={"help": "Hub id used with no local data"})
    limit: int | None = field(default=None, metadata={"help": "first N prompts only"})
    predictions: str | None = field(default=None, metadata={"help": "JSONL of id, response: score, don't generate"})
    backend: str = field(default="transformers", metadata={"help": "transformers | vllm"})
    batch_size: int = field(default=8, metadata={"help": "prompts per generate call"})
    dtype: str = field(default="auto", metadata={"help": "auto, float32, bfloat16 or float16"})
    temperature: float = field(default=0.5, metadata={"help": "0 = greedy"})
    top_p: float = 0.8
    max_new_tokens: int = field(default=32768, metadata={"help": "LongBench-Write asks for up to 20k words"})
    seed: int = 0
    system_prompt: str | None = None
    chunk_size: int = field(default=32, metadata={"help": "prompts per generate-and-append step (resume unit)"})
    tensor_parallel_size: int = field(default=1, metadata={"help": "vllm backend"})
    gpu_memory_utilization: float = field(default=0.9, metadata={"help": "vllm backend"})
    max_model_len: int | None = field(default=None, metadata={"help": "vllm backend"})
    plots: bool = True


# ---------------------------------------------------------------------------------------------------------
# Generation (resumable)
# ---------------------------------------------------------------------------------------------------------
def _prompt_fingerprint(item: dict) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps([item["prompt"], item["length"]]).encode()).hexdigest()[:16]


def check_resume(cfg: LongBenchWriteConfig, items: list[dict], out_dir: Path) -> dict:
    """The settings that define an output (``CONFIG_FILE``'s content). When ``out_dir`` already holds outputs,
    a :class:`~thrifty.recipes.RecipeError` names each setting that changed since (another model, other
    decoding) and any prompt id whose prompt changed (another subset or file); nothing is written here."""
    import json

    from thrifty.models import model_fingerprint
    from thrifty.recipes import RecipeError

    from .runner import changed_settings

    current = {k: getattr(cfg, k) for k in OUTPUT_DEFINING if k != "model_fingerprint"}
    current["model_fingerprint"] = model_fingerprint(str(cfg.model_name_or_path))
    current["prompts"] = {it["id"]: _prompt_fingerprint(it) for it in items}
    outputs, path = out_dir / OUTPUTS_FILE, out_dir / CONFIG_FILE
    if not (outputs.is_file() and outputs.stat().st_size):
        return current
    if not path.is_file():
        raise RecipeError(f"{outputs} holds outputs with no {CONFIG_FILE} saying which model made them (an older "
                          "thrifty); use another output_dir, or delete it to start over")
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise RecipeError(f"{path} is not valid JSON, so {outputs} cannot be resumed safely; use another "
                          "output_dir or delete it") from None
    changed = changed_settings(OUTPUT_DEFINING, previous, current)
    if changed:
        raise RecipeError(f"{out_dir} holds outputs made with other settings ({changed}); use another "
                          "output_dir, or delete it to start over")
    old_prompts = previous.get("prompts") or {}
    moved = sorted(i for i, fp in current["prompts"].items() if i in old_prompts and old_prompts[i] != fp)
    if moved:
        raise RecipeError(f"{out_dir} holds outputs for other prompts under the same ids ({len(moved)}, e.g. id "
                          f"{moved[0]!r}: another subset or dataset); use another output_dir, or delete it")
    current["prompts"] = {**old_prompts, **current["prompts"]}
    return current


def generate_outputs(cfg: LongBenchWriteConfig, items: list[dict], out_dir: Path) -> dict[str, dict]:
    """``{id: {"response", "num_tokens", "finish_reason"}}``: generated in chunks, appended to outputs.jsonl."""
    writer = ResumableJsonlWriter(out_dir / OUTPUTS_FILE, key="id")
    try:
        todo = [it for it in items if not writer.done(it["id"])]
        if todo:
            from .generation import SamplingParams, make_generator, render_prompt

            if not cfg.model_name_or_path:
                raise DataError("model_name_or_path is required to generate (or give predictions: FILE)")
            vllm_kwargs = {}
            if cfg.backend == "vllm":
                vllm_kwargs = dict(tensor_parallel_size=cfg.tensor_parallel_size, max_model_len=cfg.max_model_len,
                                   gpu_memory_utilization=cfg.gpu_memory_utilization)
            generator = make_generator(cfg.backend, cfg.model_name_or_path, batch_size=cfg.batch_size,
                                       dtype=cfg.dtype, **vllm_kwargs)
            params = SamplingParams(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                                    top_p=cfg.top_p, n=1, seed=cfg.seed)
            bar = tqdm(total=len(todo), desc="longbench-write", unit="prompt")
            for start in range(0, len(todo), max(1, cfg.chunk_size)):
                chunk = todo[start : start + cfg.chunk_size]
                prompts = [render_prompt(generator.tokenizer, [{"role": "user", "content": it["prompt"]}],
                                         system=cfg.system_prompt) for it in chunk]
                gens = generator.generate(prompts, params, desc="generating")
                for it, (gen,) in zip(chunk, gens, strict=True):
                    writer.append({"id": it["id"], "response": gen.text, "num_tokens": gen.num_tokens,
                                   "finish_reason": gen.finish_reason})
                bar.update(len(chunk))
            bar.close()
        return {r["id"]: r for r in writer.rows}
    finally:
        writer.close()


def read_predictions(path: str | os.PathLike, items: list[dict]) -> dict[str, dict]:
    """``{id: {"response": ...}}`` from a JSONL of ``id``, ``response`` (every prompt needs one)."""
    known = {it["id"] for it in items}
    out: dict[str, dict] = {}
    for lineno, row in enumerate(read_jsonl(path), 1):
        where = f"{path}:{lineno}"
        if "id" not in row or not isinstance(row.get("response"), str):
            raise DataError(f"{where}: each row needs 'id' and a string 'response'")
        pid = str(row["id"])
        if pid not in known:
            raise DataError(f"{where}: id {pid!r} is not a prompt of this subset")
        out[pid] = {"response": row["response"], "num_tokens": row.get("num_tokens")}
    missing = known - set(out)
    if missing:
        raise DataError(f"{path}: no response for {len(missing)} prompt(s), e.g. id {sorted(missing)[0]!r}")
    return out


# ---------------------------------------------------------------------------------------------------------
# Scoring and aggregation
# ---------------------------------------------------------------------------------------------------------
def score_rows(items: list[dict], outputs: dict[str, dict], judge_backend, judge_prompt: str,
               judge_max_attempts: int = 5) -> list[dict]:
    """One scored row per prompt: produced length, S_l, judge scores and S_q (None when not judged), S."""
    rows = []
    for it in items:
        response = outputs[it["id"]]["response"]
        produced = count_length(response)
        rows.append({"id": it["id"], "type": it["type"], "required_length": it["length"],
                     "bucket": bucket_label(it["length"]), "length": produced,
                     "num_tokens": outputs[it["id"]].get("num_tokens"),
                     "S_l": length_score(it["length"], produced), "scores": None, "S_q": None, "S": None})
    if judge_backend is not None:
        verdicts = judge(judge_backend, judge_prompt, [it["prompt"] for it in items],
                         [outputs[it["id"]]["response"] for it in items], max_attempts=judge_max_attempts)
        for row, verdict in zip(rows, verdicts, strict=True):
            if verdict is not None:
                row.update(scores=verdict["scores"], S_q=verdict["S_q"], S=(row["S_l"] + verdict["S_q"]) / 2)
    return rows


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def aggregate(rows: list[dict]) -> dict:
    """S_l (all rows), S_q (judged rows), S = (S_l + S_q) / 2, per-dimension means, lengths."""
    judged = [r for r in rows if r["S_q"] is not None]
    s_l, s_q = _mean([r["S_l"] for r in rows]), _mean([r["S_q"] for r in judged])
    return {
        "n": len(rows),
        "n_judged": len(judged),
        "S_l": s_l,
        "S_q": s_q,
        "S": round((s_l + s_q) / 2, 2) if s_l is not None and s_q is not None else None,
        "dimensions": {d: _mean([(r["scores"][d] - 1) * 25.0 for r in judged]) for d in DIMENSIONS} if judged else {},
        "mean_required_length": _mean([r["required_length"] for r in rows]),
        "mean_length": _mean([r["length"] for r in rows]),
        "median_length": float(statistics.median([r["length"] for r in rows])) if rows else None,
    }


def summarize(rows: list[dict]) -> dict:
    """Overall, by required-length bucket (in bucket order) and by type (sorted)."""
    by_bucket, by_type = defaultdict(list), defaultdict(list)
    for r in rows:
        by_bucket[r["bucket"]].append(r)
        by_type[r["type"]].append(r)
    order = [b for b in bucket_labels() if b in by_bucket] + sorted(set(by_bucket) - set(bucket_labels()))
    return {
        "overall": aggregate(rows),
        "by_length": {b: aggregate(by_bucket[b]) for b in order},
        "by_type": {t: aggregate(by_type[t]) for t in sorted(by_type)},
    }


def _fmt(value) -> str:
    return "-" if value is None else (f"{value:.1f}" if isinstance(value, float) else str(value))


def render_report(summary: dict, title: str) -> str:
    """Markdown: overall scores, then tables by required length and by type."""
    cols = ("n", "n_judged", "S_l", "S_q", "S", "mean_required_length", "mean_length")
    head = "| {} | " + " | ".join(cols) + " |\n|" + "---|" * (len(cols) + 1) + "\n"

    def table(name: str, groups: dict) -> str:
        lines = head.format(name)
        for key, agg in groups.items():
            lines += f"| {key} | " + " | ".join(_fmt(agg[c]) for c in cols) + " |\n"
        return lines

    o = summary["overall"]
    dims = ", ".join(f"{d} {_fmt(v)}" for d, v in o["dimensions"].items()) or "not judged"
    return (f"# LongBench-Write: {title}\n\n"
            f"S = {_fmt(o['S'])} (S_l = {_fmt(o['S_l'])}, S_q = {_fmt(o['S_q'])}); {o['n']} prompts, "
            f"{o['n_judged']} judged.\n\nQuality by dimension (0-100): {dims}.\n\n"
            f"## By required length\n\n{table('required length', summary['by_length'])}\n"
            f"## By type\n\n{table('type', summary['by_type'])}")


def plot_ruler(rows: list[dict], path: str | Path, title: str) -> Path:
    """LongWrite-Ruler: produced against required length (log-log), one point per output, the y = x line,
    and the median produced length per required length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    req = [r["required_length"] for r in rows]
    prod = [max(1, r["length"]) for r in rows]
    ax.scatter(req, prod, s=14, alpha=0.5, label="outputs")
    by_req = defaultdict(list)
    for x, y in zip(req, prod, strict=True):
        by_req[x].append(y)
    xs = sorted(by_req)
    ax.plot(xs, [statistics.median(by_req[x]) for x in xs], marker="o", color="C3", label="median")
    lo, hi = min(req + prod), max(req + prod)
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="produced = required")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("required length (words / CJK characters)")
    ax.set_ylabel("produced length")
    ax.set_title(f"LongWrite-Ruler: {title}")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------------------
def run_longbench_write(cfg: LongBenchWriteConfig, judge_args: JudgeArguments) -> dict:
    """Generate (or read predictions), score, and write the run folder; returns ``summary.json``'s content."""
    out_dir = Path(cfg.output_dir)
    items = load_longbench_write(cfg.subset, cfg.data_dir, cfg.dataset, cfg.hub_dataset, cfg.limit)
    overlap = warn_if_trained_on(cfg.model_name_or_path, cfg.subset, [it["prompt"] for it in items])
    if cfg.predictions:
        outputs = read_predictions(cfg.predictions, items)
    else:
        from thrifty.models import check_model_source
        from thrifty.recipes import RecipeError

        from .generation import BACKENDS
        from .runner import check_backend_installed

        check_model_source(cfg.model_name_or_path)  # all before anything is written
        if cfg.backend not in BACKENDS:
            raise RecipeError(f"backend {cfg.backend!r}: use one of {', '.join(BACKENDS)}")
        check_backend_installed(cfg.backend)
        defining = check_resume(cfg, items, out_dir)
        if cfg.model_name_or_path:  # LongBench-Write prompts through the chat template: a base model has none
            from thrifty.models import load_tokenizer, tokenizer_source
            from thrifty.prompt_templates import PromptTemplateError, has_chat_template

            if not has_chat_template(load_tokenizer(tokenizer_source(cfg.model_name_or_path))):
                raise PromptTemplateError(f"{cfg.model_name_or_path}: the tokenizer has no chat template, and "
                                          "LongBench-Write prompts a chat model with the instruction as the user "
                                          "message; evaluate a chat (or SFT'd) model, or give predictions: FILE")
        out_dir.mkdir(parents=True, exist_ok=True)
        write_json(out_dir / CONFIG_FILE, defining)
        outputs = generate_outputs(cfg, items, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    judge_backend = make_judge(judge_args, out_dir / "judge_cache.jsonl")
    try:
        rows = score_rows(items, outputs, judge_backend, judge_args.prompt_text(), judge_args.judge_max_attempts)
        judge_stats = dict(judge_backend.stats) if judge_backend is not None else {}
    finally:
        if judge_backend is not None:
            judge_backend.close()
    title = cfg.run_name or (Path(cfg.model_name_or_path).name if cfg.model_name_or_path else
                             Path(cfg.predictions or "predictions").stem)
    summary = {"run": title, "subset": cfg.dataset or cfg.subset, "judge": judge_args.judge_model
               if judge_backend is not None else None, **summarize(rows), "judge_calls": judge_stats,
               "judge_dropped": judge_stats.get("judge_dropped", 0), "training_data_overlap": overlap}
    write_jsonl(out_dir / SCORED_FILE, rows)
    write_json(out_dir / SUMMARY_FILE, summary)
    write_text(out_dir / REPORT_FILE, render_report(summary, title))
    if cfg.plots and rows:
        plot_ruler(rows, out_dir / RULER_FILE, title)
    o = summary["overall"]
    logger.info("LongBench-Write %s: S=%s S_l=%s S_q=%s (%d/%d judged) -> %s", title, o["S"], o["S_l"], o["S_q"],
                o["n_judged"], o["n"], out_dir)
    return summary


def cmd_eval_longbench_write(argv: list[str]) -> int:
    """``thrifty eval-longwrite --config RECIPE [--key value ...]``: prints the overall scores as JSON."""

    from thrifty.recipes import parse_recipe

    cfg, judge_args = parse_recipe((LongBenchWriteConfig, JudgeArguments), argv)
    summary = run_longbench_write(cfg, judge_args)
    emit({"output_dir": cfg.output_dir, **summary["overall"]})
    return 0
