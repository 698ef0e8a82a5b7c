"""``thrifty eval``: generate, score and report a model on benchmarks x inference modes, resumably.

For every benchmark and mode of an :class:`EvalConfig`, problems are processed in chunks: generate ``n``
samples per problem (:mod:`thrifty.eval.modes`), score them (:mod:`thrifty.eval.scoring`) and append one row
per sample to ``OUTPUT_DIR/samples.jsonl`` (flushed per row). A rerun reads that file and skips every
(benchmark, mode, problem, sample) already written, so an interrupted eval continues where it stopped and a
finished one only rebuilds its reports. Then it writes ``summary.json`` (:mod:`thrifty.eval.stats`),
``report.md`` and ``plots/*.png`` (:mod:`thrifty.eval.report`). The settings that decide what a sample is
(model, decoding, prompt) are kept in ``eval_config.json``; resuming with different ones is refused (the model
is compared by its fingerprint, so ``./sft/`` and ``sft`` are the same model). Every benchmark is loaded and
checked, and every setting validated, before the run folder is created: a refused command leaves nothing.

Before generating, the training data recorded with the model (``thrifty_training_data.json``, written by the
trainers) is checked against each benchmark's questions (:mod:`thrifty.eval.contamination`, open-r1's 8-gram
overlap): an overlap is logged as a warning and listed in ``summary.json`` under ``training_data_overlap``.

Rows hold ids, gold answers, predictions and completions but never the problem text (GPQA's questions must
not be written out).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from tqdm.auto import tqdm

from thrifty.answer_check import AnswerChecker
from thrifty.benchmarks import BENCHMARK_NAMES, Problem, load_benchmark
from thrifty.jsonl import ResumableJsonlWriter, write_json
from thrifty.l1_budget import L1_INSTRUCTION
from thrifty.prompt_templates import (
    CHAT,
    PromptTemplate,
    apply_chat_template_path,
    check_prompt_keys,
    check_prompt_setup,
    resolve_prompt_template,
)
from thrifty.recipes import RecipeError, recipe_dict

from .contamination import warn_if_trained_on
from .generation import BACKENDS, SamplingParams, make_generator
from .modes import generate_mode, validate_modes
from .run_folder import (
    CONFIG_FILE,
    HEAVY_FIELDS,
    PROBLEMS_FILE,
    SAMPLES_FILE,
    SUMMARY_FILE,
    light_row,
    load_run,  # noqa: F401 - public here too (``from thrifty.eval.runner import load_run``)
)
from .scoring import EXTRACTIONS, resolve_extraction, score_completions
from .stats import summarize

logger = logging.getLogger(__name__)

#: Settings that change what a sample is; a resumed run must use the same values (``model_fingerprint``: the
#: model's config and weights, :func:`thrifty.models.model_fingerprint`, so a retrained model in the same folder
#: is not mixed with the old one).
SAMPLE_DEFINING = ("model_name_or_path", "model_fingerprint", "backend", "dtype", "temperature", "top_p",
                   "max_new_tokens", "seed", "system_prompt", "prompt_template", "chat_template_path", "data_dir",
                   "extraction", "l1_instruction")
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class EvalConfig:
    """Recipe fields of ``thrifty eval`` (flat YAML; every key can be overridden with ``--key value``)."""

    model_name_or_path: str | None = field(default=None, metadata={"help": "model folder, Hub id or adapter folder"})
    output_dir: str = field(default="runs/eval", metadata={"help": "run folder: samples, summary, report, plots"})
    run_name: str | None = field(default=None, metadata={"help": "label in reports (default: the model's name)"})
    benchmarks: list[str] = field(default_factory=lambda: ["toy"],
                                  metadata={"help": f"some of {', '.join(BENCHMARK_NAMES)}, or JSONL files"})
    modes: list[str] = field(default_factory=lambda: ["adaptive"],
                             metadata={"help": "adaptive, direct, short_cot, code, long_cot, multiturn, consensus; "
                                               "l1_exact:N / l1_max:N (L1's budget prompts, N tokens; the summary "
                                               "adds the length error)"})
    l1_instruction: str = field(default=L1_INSTRUCTION, metadata={
        "help": "l1_exact:N / l1_max:N modes: the sentence between the problem and the budget (empty: the budget "
                "alone, as the toy recipes train)"})
    data_dir: str | None = field(default=None, metadata={
        "help": "local folder laid out like ../shared/data (default $THRIFTY_DATA_DIR, else the Hub)"})
    limit: int | None = field(default=None, metadata={"help": "first N problems of each benchmark"})
    toy_per_difficulty: int = field(default=20, metadata={"help": "toy benchmark: problems per difficulty"})
    backend: str = field(default="transformers", metadata={"help": f"one of {', '.join(BACKENDS)}"})
    batch_size: int = field(default=64, metadata={"help": "prompts per generate call (transformers backend)"})
    max_sequences_per_call: int = field(default=256, metadata={
        "help": "at most this many sequences (prompts x num_samples) in one generate call (transformers backend): "
                "bounds memory when batch_size x num_samples is large"})
    dtype: str = field(default="auto", metadata={"help": "auto, float32, bfloat16 or float16"})
    num_samples: int = field(default=1, metadata={"help": "samples per problem (pass@k, maj@k)"})
    temperature: float = field(default=0.0, metadata={"help": "0 = greedy"})
    top_p: float = 1.0
    max_new_tokens: int = 1024
    seed: int = field(default=0, metadata={"help": "sampling seed; also GPQA's option shuffle and the toy world"})
    system_prompt: str | None = None
    prompt_template: str | None = field(default=None, metadata={
        "help": "how a problem becomes the prompt (thrifty.prompt_templates): unset = the model's chat template with "
                "the problem as the user message; r1_zero (DeepSeek-R1-Zero's plain-text prompt, answers read from "
                "<answer> tags) or plain (the problem as it is) for base models; or a text (or file) with {problem}: "
                "the user message of a chat template, the whole prompt on a model without one"})
    chat_template_path: str | None = field(default=None, metadata={
        "help": "a Jinja chat template file for a model whose tokenizer has none"})
    chunk_size: int = field(default=256, metadata={"help": "problems per generate-score-write step (resume unit)"})
    verify_timeout_s: float = field(default=5.0, metadata={"help": "math-verify timeout per answer"})
    extraction: str = field(default="auto", metadata={
        "help": "answer extraction: math_verify (math-verify over the whole completion, as lighteval/open-r1 score), "
                "strict (<ANSWER>, last MinD turn or \\boxed{} only), answer_tag (the last <answer> block, R1-Zero's "
                "rule), auto (the prompt template's rule (answer_tag for r1_zero), else strict for toy and ARM format "
                "modes, else math_verify)"})
    max_turns: int = field(default=16, metadata={"help": "multi-turn outputs: score 'after turn k' up to this k"})
    plots: bool = True
    tensor_parallel_size: int = field(default=1, metadata={"help": "vllm backend"})
    gpu_memory_utilization: float = field(default=0.9, metadata={"help": "vllm backend"})
    max_model_len: int | None = field(default=None, metadata={"help": "vllm backend"})
    report_to: list[str] = field(default_factory=lambda: ["none"], metadata={
        "help": "wandb: log the summary, a table of samples and the plots (offline unless WANDB_MODE says)"})
    wandb_project: str | None = field(default=None, metadata={"help": "wandb project (default $WANDB_PROJECT, else thrifty)"})

    def validate(self) -> None:
        """Check every value before anything is loaded or written; a :class:`RecipeError` names the key."""
        from thrifty.models import check_model_source

        if not self.model_name_or_path:
            raise RecipeError("model_name_or_path is required (a model folder, Hub id or adapter folder)")
        try:
            validate_modes(self.modes)
        except ValueError as err:
            raise RecipeError(f"modes: {err}") from None
        if self.backend not in BACKENDS:
            raise RecipeError(f"backend {self.backend!r}: use one of {', '.join(BACKENDS)}")
        check_backend_installed(self.backend)
        if self.dtype not in DTYPES:
            raise RecipeError(f"dtype {self.dtype!r}: use one of {', '.join(DTYPES)}")
        for key in ("num_samples", "chunk_size", "batch_size", "max_new_tokens", "max_turns", "toy_per_difficulty",
                    "max_sequences_per_call", "tensor_parallel_size"):
            if getattr(self, key) < 1:
                raise RecipeError(f"{key} is {getattr(self, key)}: it must be >= 1")
        if self.limit is not None and self.limit < 1:
            raise RecipeError(f"limit is {self.limit}: give a number of problems >= 1, or leave it unset for all")
        if self.temperature < 0:
            raise RecipeError(f"temperature is {self.temperature}: it must be >= 0 (0 = greedy)")
        if not 0 < self.top_p <= 1:
            raise RecipeError(f"top_p is {self.top_p}: it must be in (0, 1]")
        if self.verify_timeout_s <= 0:
            raise RecipeError(f"verify_timeout_s is {self.verify_timeout_s}: it must be > 0 seconds")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise RecipeError(f"gpu_memory_utilization is {self.gpu_memory_utilization}: it must be in (0, 1]")
        if not self.benchmarks:
            raise RecipeError(f"benchmarks is empty: name some of {', '.join(BENCHMARK_NAMES)} or JSONL files")
        for name in self.benchmarks:
            if name not in BENCHMARK_NAMES and not (Path(name).suffix in (".jsonl", ".json") and Path(name).is_file()):
                hint = " (no such file)" if Path(name).suffix in (".jsonl", ".json") else ""
                raise RecipeError(f"benchmarks: unknown benchmark {name!r}{hint}; use some of "
                                  f"{', '.join(BENCHMARK_NAMES)} or a JSONL file of id, problem, answer")
        if self.num_samples > 1 and self.temperature <= 0:
            logger.warning("num_samples=%d with greedy decoding: every sample is the same", self.num_samples)
        if self.extraction not in EXTRACTIONS:
            raise RecipeError(f"extraction {self.extraction!r}: use one of {', '.join(EXTRACTIONS)}")
        check_prompt_keys(self.prompt_template, self.chat_template_path, self.system_prompt)
        check_model_source(self.model_name_or_path)

    @cached_property
    def template(self) -> PromptTemplate:
        """The resolved ``prompt_template`` (:func:`thrifty.prompt_templates.resolve_prompt_template`; resolved
        once: a template file is read once per run, not per chunk)."""
        return resolve_prompt_template(self.prompt_template)

    @property
    def label(self) -> str:
        return self.run_name or Path(str(self.model_name_or_path).rstrip("/")).name


def check_backend_installed(backend: str) -> None:
    """A :class:`RecipeError` naming ``backend`` when its package is not installed (vLLM is an optional extra that
    needs a GPU), so the eval is refused before anything is loaded or written."""
    import importlib.util

    if backend == "vllm" and importlib.util.find_spec("vllm") is None:
        raise RecipeError("backend 'vllm': vLLM is not installed here (pip install 'thrifty[gpu]', GPU only); "
                          "use --backend transformers to run on this machine")


def sample_id(benchmark: str, mode: str, problem_id: str, sample: int) -> str:
    return f"{benchmark}/{mode}/{problem_id}/{sample}"


def _check_resume(cfg: EvalConfig, out: Path) -> dict:
    """The settings that define a sample; a :class:`RecipeError` naming each changed key with its old and new
    value when ``out`` already holds samples made with others (nothing is written here)."""
    from thrifty.models import model_fingerprint

    path = out / CONFIG_FILE
    current = {k: getattr(cfg, k) for k in SAMPLE_DEFINING if k != "model_fingerprint"}
    if cfg.template.name == CHAT:  # the chat template with the bare problem: recorded as runs before the key had names
        current["prompt_template"] = "{problem}"
    current["model_fingerprint"] = model_fingerprint(str(cfg.model_name_or_path))
    if path.exists() and (out / SAMPLES_FILE).exists() and (out / SAMPLES_FILE).stat().st_size:
        try:
            previous = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise RecipeError(f"{path} is not valid JSON, so {out / SAMPLES_FILE} cannot be resumed safely; "
                              "use another output_dir or delete it") from None
        changed = changed_settings(SAMPLE_DEFINING, previous, current)
        if changed:
            what = " (the model's config or weights changed)" if "model_fingerprint" in changed else ""
            raise RecipeError(f"{out} holds samples made with other settings ({changed}){what}; "
                              "use another output_dir, or delete it to start over")
    return current


def _same_path(a, b) -> bool:
    """Two path settings name the same place (``./sft/`` and ``sft``, relative and absolute); equal strings too."""
    if a == b:
        return True
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def changed_settings(keys, previous: dict, current: dict) -> str:
    """``"key: old -> new; ..."`` for the ``keys`` recorded in ``previous`` that differ in ``current``
    (:func:`_same_setting`); empty when none does. How a resumed run (eval, eval-longwrite) names what changed."""
    changed = [k for k in keys if k in previous and not _same_setting(k, previous, current)]
    return "; ".join(f"{k}: {previous[k]!r} -> {current[k]!r}" for k in changed)


def _same_setting(key: str, previous: dict, current: dict) -> bool:
    """One sample-defining setting is unchanged. The model is the same when its fingerprint is (its path may be
    written another way, or the folder moved); ``data_dir`` when it resolves to the same folder."""
    if key == "model_name_or_path" and previous.get("model_fingerprint") is not None:
        fingerprint = previous["model_fingerprint"]
        return fingerprint == current["model_fingerprint"] and not str(fingerprint).startswith("hub:") \
            or previous[key] == current[key]
    if key == "data_dir":
        return _same_path(previous[key], current[key])
    return previous[key] == current[key]


def problem_fingerprint(problem: Problem) -> str:
    """SHA-256 (16 hex digits) over one problem's id, text, answer and options."""
    import hashlib

    return hashlib.sha256(json.dumps([problem.id, problem.problem, problem.answer, problem.options]).encode()
                          ).hexdigest()[:16]


def problems_fingerprint(problems: list[Problem]) -> str:
    """SHA-256 over every problem's id, text, answer and options, in order."""
    import hashlib

    digest = hashlib.sha256()
    for p in problems:
        digest.update(json.dumps([p.id, p.problem, p.answer, p.options]).encode())
    return digest.hexdigest()


def _known_problems(out: Path) -> dict:
    path = out / PROBLEMS_FILE
    if not path.exists():
        return {}
    try:
        known = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise RecipeError(f"{path} is not valid JSON, so {out / SAMPLES_FILE} cannot be resumed safely; "
                          "use another output_dir or delete it") from None
    return known if isinstance(known, dict) else {}


def _check_problems(out: Path, bench_name: str, problems: list[Problem], done: set[str], known: dict) -> dict:
    """The per-problem fingerprints ``{id: fingerprint}`` to record for ``bench_name`` (those of earlier runs
    kept, so a smaller ``limit`` forgets nothing); a :class:`RecipeError` when a problem that already has
    samples in ``out`` (its id in ``done``) changed since (a new toy world, an edited problems file). Problems
    added by a larger ``limit`` are simply new. Nothing is written here."""
    previous = known.get(bench_name)
    current = {p.id: problem_fingerprint(p) for p in problems}
    if isinstance(previous, str):  # written before per-problem fingerprints: only the whole list can be compared
        if done and previous != problems_fingerprint(problems):
            raise RecipeError(f"{out} holds {bench_name} samples recorded with a whole-benchmark fingerprint that "
                              "does not match these problems (an older thrifty, another limit, or changed "
                              "problems); use another output_dir, or delete it to start over")
        return current
    previous = previous if isinstance(previous, dict) else {}
    changed = sorted(pid for pid in done if pid in previous and pid in current and previous[pid] != current[pid])
    if changed:
        raise RecipeError(f"{out} holds samples of other {bench_name} problems under the same ids ({len(changed)} "
                          f"changed, e.g. id {changed[0]!r}: the benchmark's problems changed since that run); "
                          "use another output_dir, or delete it to start over")
    return {**previous, **current}


def load_all_benchmarks(cfg: EvalConfig) -> dict[str, list[Problem]]:
    """``{benchmark name: problems}`` for every benchmark of ``cfg``, all loaded (and checked) before anything
    is generated or written, so a bad row in the last benchmark costs no generation; a :class:`DataError`
    names its ``path:line``."""
    loaded: dict[str, list[Problem]] = {}
    for benchmark in cfg.benchmarks:
        bench_name = Path(benchmark).stem if benchmark not in BENCHMARK_NAMES else benchmark
        if bench_name in loaded:
            raise RecipeError(f"benchmarks: {benchmark!r} is named twice (as {bench_name!r}); list each once")
        loaded[bench_name] = load_benchmark(benchmark, cfg.data_dir, seed=cfg.seed, limit=cfg.limit,
                                            toy_per_difficulty=cfg.toy_per_difficulty)
    return loaded


def _has_samples(out: Path) -> bool:
    """``out`` already holds sample rows (a resume)."""
    path = out / SAMPLES_FILE
    return path.is_file() and path.stat().st_size > 0


def _done_problem_ids(path: Path) -> dict[str, set[str]]:
    """``{benchmark: ids of the problems with at least one sample row}`` of a samples file (read-only; a torn
    last line is ignored here and dropped by the writer)."""
    done: dict[str, set[str]] = {}
    with path.open(encoding="utf-8", errors="replace") as fh:  # a damaged line: the writer's recovery names it
        for line in fh:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and "benchmark" in row and "problem_id" in row:
                done.setdefault(str(row["benchmark"]), set()).add(str(row["problem_id"]))
    return done


def _rows_for_chunk(benchmark: str, mode: str, chunk: list[Problem], samples: list[list[dict]], checker,
                    tokenizer, max_turns: int, extraction: str = "auto",
                    template_extraction: str | None = None) -> list[dict]:
    flat = [(p, s, sample) for p, per in zip(chunk, samples, strict=True) for s, sample in enumerate(per)]
    extraction = resolve_extraction(extraction, benchmark, mode, template_extraction)
    scores = score_completions([x["completion"] for *_, x in flat], [p for p, *_ in flat], checker,
                               tokenizer=tokenizer, prefills=[x["prefill"] for *_, x in flat], max_turns=max_turns,
                               extraction=extraction)
    rows = []
    for (p, s, sample), score in zip(flat, scores, strict=True):
        row = {"id": sample_id(benchmark, mode, p.id, s), "benchmark": benchmark, "mode": mode,
               "problem_id": p.id, "sample": s, "answer": p.answer, "kind": p.kind, **score,
               "num_tokens": sample["num_tokens"], "finish_reason": sample["finish_reason"],
               "completion": sample["completion"], "extraction": extraction}
        if "difficulty" in p.meta:
            row["difficulty"] = p.meta["difficulty"]
        if "consensus" in sample:
            row["consensus"] = sample["consensus"]
        rows.append(row)
    return rows


def check_prompting(cfg: EvalConfig) -> None:
    """Refuse, before anything is written or the model loaded, a model that cannot be prompted as ``cfg`` says: a
    tokenizer with no chat template and no plain-text ``prompt_template`` (one line naming ``prompt_template`` and
    ``chat_template_path``), or a ``system_prompt`` with a plain-text template
    (:func:`thrifty.prompt_templates.check_prompt_setup`)."""
    from thrifty.models import load_tokenizer, tokenizer_source

    template = cfg.template
    if template.completion and not cfg.system_prompt:
        return  # a named plain-text template: no chat template involved
    tokenizer = apply_chat_template_path(load_tokenizer(tokenizer_source(str(cfg.model_name_or_path))),
                                         cfg.chat_template_path)
    check_prompt_setup(tokenizer, template, cfg.model_name_or_path, cfg.system_prompt)


def run_eval(cfg: EvalConfig) -> Path:
    """Run (or resume) the eval described by ``cfg``; returns the run folder."""
    cfg.validate()
    out = Path(cfg.output_dir)
    defining = _check_resume(cfg, out)
    benchmarks = load_all_benchmarks(cfg)  # every refusal happens before the first file is written
    check_prompting(cfg)
    known = _known_problems(out)
    done = _done_problem_ids(out / SAMPLES_FILE) if _has_samples(out) else {}
    fingerprints = {name: _check_problems(out, name, problems, done.get(name, set()), known)
                    for name, problems in benchmarks.items()}
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / CONFIG_FILE, defining)
    if fingerprints != {k: known.get(k) for k in fingerprints}:
        write_json(out / PROBLEMS_FILE, {**known, **fingerprints})
    params = SamplingParams(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p,
                            n=cfg.num_samples, seed=cfg.seed, stop=cfg.template.stop)
    generator = None
    started = time.perf_counter()
    wanted: set[tuple[str, str, str]] = set()
    texts: dict[tuple[str, str], str] = {}  # (benchmark, problem id) -> problem text, for the wandb table only
    contamination: dict[str, list[dict]] = {}  # benchmark -> training datasets of the model that overlap it
    with ResumableJsonlWriter(out / SAMPLES_FILE) as writer, AnswerChecker(timeout_s=cfg.verify_timeout_s) as checker:
        if len(writer):
            logger.info("resuming: %d samples already in %s", len(writer), out / SAMPLES_FILE)
        for bench_name, problems in benchmarks.items():
            texts.update({(bench_name, p.id): p.problem for p in problems})
            overlap = warn_if_trained_on(cfg.model_name_or_path, bench_name, [p.problem for p in problems])
            if overlap:
                contamination[bench_name] = overlap
            for mode in cfg.modes:
                wanted.update((bench_name, mode, p.id) for p in problems)
                todo = [p for p in problems if not all(
                    writer.done(sample_id(bench_name, mode, p.id, s)) for s in range(cfg.num_samples))]
                if not todo:
                    logger.info("%s / %s: all %d problems done", bench_name, mode, len(problems))
                    continue
                logger.info("%s / %s: %d of %d problems to generate", bench_name, mode, len(todo), len(problems))
                bar = tqdm(total=len(todo), desc=f"{bench_name}/{mode}", unit="problem")
                for start in range(0, len(todo), cfg.chunk_size):
                    chunk = todo[start : start + cfg.chunk_size]
                    if generator is None:
                        generator = make_generator(
                            cfg.backend, cfg.model_name_or_path, batch_size=cfg.batch_size, dtype=cfg.dtype,
                            max_sequences=cfg.max_sequences_per_call,
                            **({"tensor_parallel_size": cfg.tensor_parallel_size,
                                "gpu_memory_utilization": cfg.gpu_memory_utilization,
                                "max_model_len": cfg.max_model_len} if cfg.backend == "vllm" else {}))
                        apply_chat_template_path(generator.tokenizer, cfg.chat_template_path)
                    samples = generate_mode(generator, chunk, mode, params, cfg.template, cfg.system_prompt,
                                            checker, cfg.l1_instruction)
                    for row in _rows_for_chunk(bench_name, mode, chunk, samples, checker, generator.tokenizer,
                                               cfg.max_turns, cfg.extraction, cfg.template.extraction):
                        if not writer.done(row["id"]):
                            writer.append(row)
                    bar.update(len(chunk))
                bar.close()
        # streamed back from disk without the completions: memory holds one chunk's completions at most
        rows = [light_row(r) for r in writer.iter_rows(drop=HEAVY_FIELDS)
                if (r["benchmark"], r["mode"], r["problem_id"]) in wanted and r["sample"] < cfg.num_samples]
        checker_stats = dict(checker.stats)
    summary = {
        "run": cfg.label,
        "model": cfg.model_name_or_path,
        "config": recipe_dict(cfg),
        "results": summarize(rows),
        "extraction": {"policy": cfg.extraction, "used": {
            f"{b}/{m}": resolve_extraction(cfg.extraction, b, m, cfg.template.extraction)
            for b, m in dict.fromkeys((b, m) for b, m, _ in wanted)}},
        "answer_check": checker_stats,
        "seconds": round(time.perf_counter() - started, 2),
        "training_data_overlap": contamination,
    }
    write_json(out / SUMMARY_FILE, summary)
    from .report import write_run_report

    write_run_report(out, summary, rows, plots=cfg.plots)
    from .wandb_log import log_eval_run, wants_wandb

    if wants_wandb(cfg.report_to):
        log_eval_run(out, summary, rows, cfg.wandb_project, texts)
    logger.info("eval written to %s", out)
    return out

