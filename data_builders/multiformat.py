r"""ARM multi-format SFT data: ``thrifty build multiformat --config RECIPE``.

ARM (Wu et al., 2025, "ARM: Adaptive Reasoning Model", Sec. 3.1; DESIGN.md 4.1) trains on every question in
four response formats. For each problem of a source (:mod:`thrifty.data_builders.sources`) this builder
produces:

- ``direct``: the gold answer;
- ``short_cot``: the source's own short solution (``solution_field``), or an LLM rewrite of it into a compact
  rationale (``short_cot_source``), or the toy world's scratchpad;
- ``code``: an LLM-written Python program with a ``>>> f()`` line and the output the model writes for it
  (never executed), or the toy world's program;
- ``long_cot``: the thinking of the source's long-CoT trace (closed traces only, by default).

A format is kept only if the answer it ends with verifies against the gold
(:class:`thrifty.answer_check.AnswerChecker`); ``balanced: true`` keeps only problems present in all the
requested formats, as ARM's AQuA-Rat data is. Output in ``output_dir``: ``train.jsonl`` (``messages``,
``format``, ``id``, ``source``, ``problem_id``, ``answer``), ``stats.json`` (rows per format, token lengths
per format with the target tokenizer, drops by reason, the source report, LLM call counts) and the
resumability files of :mod:`thrifty.data_builders.build_common`. A format whose LLM request failed
(``llm_failed``) is not final: the problem is retried by the next run (``retry_pending`` in ``stats.json``).
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field

from thrifty.backends import BackendArguments, LLMBackend, make_backend
from thrifty.console import emit
from thrifty.formats import ARM_FORMATS, CODE, DIRECT, LONG_COT, SHORT_COT, render_arm
from thrifty.jsonl import DataError, write_json

from .answers import clean_solution, program_output, stated_answer
from .build_common import (
    DecontaminationArguments,
    ResumableBuild,
    TokenCounter,
    build_in_batches,
    build_spec,
    decontaminate_inputs,
    describe,
    drop_counts,
)
from .sources import SourceArguments, SourceItem, load_source

logger = logging.getLogger(__name__)

SHORT_COT_REWRITE_PROMPT = """Rewrite the solution below as a brief chain of thought: only the essential \
steps, a few short sentences, no restating of the problem. End with "The answer is \\boxed{{...}}".

Problem:
{question}

Solution:
{solution}"""

SHORT_COT_SOLVE_PROMPT = """Solve the problem with a brief chain of thought: only the essential steps, a few \
short sentences. End with "The answer is \\boxed{{...}}".

Problem:
{question}"""

CODE_PROMPT = """Write a short Python program that solves the problem: define a function f() that returns \
the answer, then write a line ">>> f()" and, on the next line, the value it returns. Output only the code, \
no explanation.

Problem:
{question}"""


@dataclass
class MultiformatArguments:
    """Recipe keys of the ARM multi-format builder (with :class:`SourceArguments` and :class:`BackendArguments`)."""

    output_dir: str = field(default="runs/arm_data", metadata={"help": "output folder (resumable)"})
    formats: list[str] = field(default_factory=lambda: list(ARM_FORMATS), metadata={"help": "formats to build"})
    balanced: bool = field(default=False, metadata={"help": "keep only problems present in every format"})
    short_cot_source: str = field(
        default="solution_or_llm", metadata={"help": "solution | llm | solution_or_llm | toy"}
    )
    code_source: str = field(default="llm", metadata={"help": "llm | toy"})
    long_cot_require_closed: bool = field(default=True, metadata={"help": "only traces whose thinking closed"})
    max_long_cot_chars: int | None = field(default=None, metadata={"help": "drop longer long-CoT bodies"})
    system_prompt: str | None = field(default=None, metadata={"help": "optional system message of every row"})
    tokenizer_name_or_path: str | None = field(default=None, metadata={"help": "target tokenizer for the stats"})
    batch_size: int = field(default=64, metadata={"help": "problems per LLM/verification batch"})

    def __post_init__(self) -> None:  # refused before anything is loaded or written
        from thrifty.recipes import RecipeError

        unknown = set(self.formats) - set(ARM_FORMATS)
        if unknown:
            raise RecipeError(f"recipe key formats: unknown {sorted(unknown)}; use {', '.join(ARM_FORMATS)}")
        if self.short_cot_source not in SHORT_COT_SOURCES:
            raise RecipeError(f"recipe key short_cot_source: {self.short_cot_source!r}; use "
                              f"{' | '.join(SHORT_COT_SOURCES)}")
        if self.code_source not in CODE_SOURCES:
            raise RecipeError(f"recipe key code_source: {self.code_source!r}; use {' | '.join(CODE_SOURCES)}")
        if self.batch_size < 1:
            raise RecipeError(f"recipe key batch_size: {self.batch_size}; use 1 or more")


SHORT_COT_SOURCES = ("solution", "llm", "solution_or_llm", "toy")
CODE_SOURCES = ("llm", "toy")


# ---------------------------------------------------------------------------------------------------------
# Candidate renderings (before verification)
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Candidate:
    """A format's reasoning body and the answer it ends with, awaiting verification."""

    answer: str
    reasoning: str | None


_FENCE = re.compile(r"^```[\w+-]*[ \t]*\n(.*?)(?:\n```[ \t]*(?:\n|\Z)|\Z)", re.DOTALL | re.MULTILINE)


def strip_fence(text: str) -> str:
    """The code of a reply: the first Markdown code fence's content (any preamble before it dropped), and, when
    the fence closes before the ``>>> f()`` line, the call and output lines that follow it; a reply with no
    fence, stripped."""
    text = text.strip()
    m = _FENCE.search(text)
    if not m:
        return text
    code = m.group(1).strip("\n")
    if ">>> " not in code:
        after = text[m.end():].strip("\n")
        call = after.split("\n\n", 1)[0] if after.lstrip().startswith(">>> ") else ""
        code = f"{code}\n{call}" if call else code
    return code


def parse_code_reply(reply: str) -> Candidate | None:
    """A ``code`` candidate from an LLM reply: the program through ``>>> f()``, the output line = the answer."""
    found = program_output(strip_fence(reply))
    if found is None:
        return None
    program, output = found
    answer = output.strip().strip("'\"")
    return Candidate(answer, f"{program}\n{output}") if answer else None


def toy_problem_from_question(question: str, problem_id: str):
    """Rebuild a toy-world problem from its question text (``3 8 5 _ _ _``)."""
    from thrifty.toy_world import ToyWorld

    task = ToyWorld().task
    try:
        inputs = task.parse_question(question)
    except ValueError as err:
        raise DataError(f"{problem_id}: {err}") from None
    return task, task.make_problem(problem_id, inputs)


def _is_choice(gold: str) -> bool:
    return len(gold) == 1 and gold.upper() in "ABCDE"


class MultiformatBuilder:
    """Builds the ARM rows of a batch of problems (see the module docstring)."""

    def __init__(self, args: MultiformatArguments, backend: LLMBackend | None, checker, answer_kind: str = "auto"):
        needs_llm = (CODE in args.formats and args.code_source == "llm") or (
            SHORT_COT in args.formats and args.short_cot_source == "llm"
        )
        if needs_llm and backend is None:
            raise DataError("this recipe asks an LLM for code or short CoT: set llm_backend (openai or transformers)")
        self.args, self.backend, self.checker, self.answer_kind = args, backend, checker, answer_kind

    def _llm(self, prompts: list[str]) -> list[str | None]:
        if not prompts:
            return []
        return self.backend.generate([[{"role": "user", "content": p}] for p in prompts])

    def candidates(self, items: list[SourceItem]) -> list[dict[str, Candidate | str]]:
        """Per item, ``{format: Candidate}`` or ``{format: drop reason}``."""
        a = self.args
        out: list[dict[str, Candidate | str]] = [{} for _ in items]
        short_llm, code_llm = [], []  # (item index, prompt)
        for i, item in enumerate(items):
            choice = _is_choice(item.gold)
            if DIRECT in a.formats:
                out[i][DIRECT] = Candidate(item.gold, None)
            if SHORT_COT in a.formats:
                if a.short_cot_source == "toy":
                    task, problem = toy_problem_from_question(item.question, item.id)
                    body = task.short_cot(problem)
                    out[i][SHORT_COT] = Candidate(body.split()[-1], body)
                elif item.solution and a.short_cot_source in ("solution", "solution_or_llm"):
                    ans = stated_answer(item.solution, choice=choice)
                    body = clean_solution(item.solution)
                    out[i][SHORT_COT] = Candidate(ans, body) if ans and body else "no_stated_answer"
                elif a.short_cot_source in ("llm", "solution_or_llm") and self.backend is not None:
                    prompt = (
                        SHORT_COT_REWRITE_PROMPT.format(question=item.question, solution=clean_solution(item.solution))
                        if item.solution
                        else SHORT_COT_SOLVE_PROMPT.format(question=item.question)
                    )
                    short_llm.append((i, prompt))
                else:
                    out[i][SHORT_COT] = "no_solution"
            if CODE in a.formats:
                if a.code_source == "toy":
                    task, problem = toy_problem_from_question(item.question, item.id)
                    out[i][CODE] = parse_code_reply(task.code(problem)) or "no_output"
                elif self.backend is not None:
                    code_llm.append((i, CODE_PROMPT.format(question=item.question)))
                else:
                    out[i][CODE] = "no_backend"
            if LONG_COT in a.formats:
                out[i][LONG_COT] = self._long_cot(item)
        replies = self._llm([p for _, p in short_llm] + [p for _, p in code_llm])
        for (i, _), reply in zip(short_llm, replies[: len(short_llm)], strict=True):
            if reply is None:
                out[i][SHORT_COT] = "llm_failed"
                continue
            ans = stated_answer(reply, choice=_is_choice(items[i].gold))
            out[i][SHORT_COT] = Candidate(ans, reply.strip()) if ans else "no_stated_answer"
        for (i, _), reply in zip(code_llm, replies[len(short_llm) :], strict=True):
            out[i][CODE] = "llm_failed" if reply is None else (parse_code_reply(reply) or "no_output")
        return out

    def _long_cot(self, item: SourceItem) -> Candidate | str:
        trace = item.trace
        if trace is None:
            return "no_trace"
        if self.args.long_cot_require_closed and not trace.closed:
            return "unclosed"
        if trace.answer is None:
            return "no_answer"
        if self.args.max_long_cot_chars and len(trace.thinking) > self.args.max_long_cot_chars:
            return "too_long"
        return Candidate(trace.answer, trace.thinking)

    def rows(self, items: list[SourceItem]) -> list[tuple[list[dict], dict[str, str]]]:
        """Per item: (rows kept, {format or "problem": drop reason})."""
        cands = self.candidates(items)
        checks = [
            (i, fmt, c)
            for i, per in enumerate(cands)
            for fmt, c in per.items()
            if isinstance(c, Candidate) and fmt != DIRECT
        ]
        verdicts = self.checker.check(
            [c.answer for _, _, c in checks], [items[i].gold for i, _, _ in checks], [self.answer_kind] * len(checks)
        ) if checks else []
        for (i, fmt, _), ok in zip(checks, verdicts, strict=True):
            if not ok:
                cands[i][fmt] = "wrong_answer"
        results = []
        for item, per in zip(items, cands, strict=True):
            dropped = {fmt: c for fmt, c in per.items() if isinstance(c, str)}
            kept = {fmt: c for fmt, c in per.items() if isinstance(c, Candidate)}
            if self.args.balanced and len(kept) < len(self.args.formats):
                results.append(([], {**dropped, "problem": "unbalanced"}))
                continue
            results.append(([self._row(item, fmt, c) for fmt, c in kept.items()], dropped))
        return results

    def _row(self, item: SourceItem, fmt: str, cand: Candidate) -> dict:
        messages = [{"role": "system", "content": self.args.system_prompt}] if self.args.system_prompt else []
        messages += [
            {"role": "user", "content": item.question},
            {"role": "assistant", "content": render_arm(fmt, cand.answer, cand.reasoning)},
        ]
        return {
            "id": f"{item.id}-{fmt}",
            "problem_id": item.id,
            "format": fmt,
            "source": item.source,
            "answer": item.gold,
            "messages": messages,
        }


# ---------------------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------------------
def build_multiformat(
    args: MultiformatArguments, source_args: SourceArguments, backend_args: BackendArguments,
    decontamination: DecontaminationArguments | None = None,
) -> dict:
    """Run (or resume) a multi-format build; returns the stats written to ``stats.json``. Problems whose question
    overlaps a benchmark are dropped first (``decontamination``, on by default)."""

    from thrifty.answer_check import AnswerChecker

    decontamination = decontamination or DecontaminationArguments()
    spec = build_spec("multiformat", (args, source_args, backend_args, decontamination),
                      {"source": source_args.source})
    with AnswerChecker(timeout_s=source_args.verify_timeout_s) as checker, \
            ResumableBuild(args.output_dir, spec, inputs=(source_args.source,)) as build:
        items, report = load_source(source_args, label=LONG_COT in args.formats, checker=checker)
        items, decon = decontaminate_inputs(items, [[it.question] for it in items], [it.id for it in items],
                                            decontamination)
        backend = make_backend(backend_args, default_cache=build.dir / "llm_cache.jsonl")
        try:
            builder = MultiformatBuilder(args, backend, checker, source_args.answer_kind)
            build_in_batches(build, items, builder.rows, args.batch_size, desc="multiformat", unit="problem")
            llm_stats = dict(backend.stats) if backend is not None else {}
        finally:
            if backend is not None:
                backend.close()
        stats = multiformat_stats(build, args, report.to_dict(), llm_stats)
        stats.update(build.pending_report())
    stats["decontamination"] = decon
    if decon.get("contaminated"):
        stats["dropped"]["contaminated"] = decon["contaminated"]
    write_json(build.dir / "stats.json", stats)
    logger.info("multiformat data in %s: %s rows %s", build.dir, stats["rows"], stats["rows_per_format"])
    return stats


def multiformat_stats(build: ResumableBuild, args: MultiformatArguments, source_report: dict, llm_stats: dict) -> dict:
    """Rows and token lengths per format (assistant turn, target tokenizer), drops by reason."""
    rows = build.rows.rows
    counter = TokenCounter(args.tokenizer_name_or_path)
    by_format: dict[str, list[str]] = {}
    for row in rows:
        by_format.setdefault(row["format"], []).append(row["messages"][-1]["content"])
    return {
        "output": str(build.dir / "train.jsonl"),
        "rows": len(rows),
        "problems": len(build.ledger.rows),
        "problems_with_rows": len({r["problem_id"] for r in rows}),
        "rows_per_format": dict(Counter(r["format"] for r in rows)),
        "tokenizer": counter.name,
        "tokens_per_format": {fmt: describe(counter.count(texts)) for fmt, texts in by_format.items()},
        "dropped": drop_counts(build.ledger.rows),
        "balanced": args.balanced,
        "source": source_report,
        "llm": llm_stats,
    }


def cmd_build_multiformat(argv: list[str]) -> int:
    """``thrifty build multiformat --config RECIPE [--key value ...]``."""

    from thrifty.recipes import parse_recipe

    from .build_common import HubArguments, finish_command

    args, source_args, backend_args, decontamination, hub = parse_recipe(
        (MultiformatArguments, SourceArguments, BackendArguments, DecontaminationArguments, HubArguments), argv
    )
    stats = build_multiformat(args, source_args, backend_args, decontamination)
    emit({k: stats[k] for k in ("output", "rows", "rows_per_format", "dropped", "retry_pending")})
    return finish_command(stats, args.output_dir, (args, source_args, backend_args, decontamination), hub,
                          "multiformat")
