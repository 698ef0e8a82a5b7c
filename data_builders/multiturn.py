r"""MinD multi-turn SFT data: ``thrifty build multiturn --config RECIPE``.

MinD (Zeng et al., 2025, "Done Is Better than Perfect: Unlocking Efficient Reasoning by Structured Multi-Turn
Decomposition", Sec. 3.1; DESIGN.md 4.3) rewrites a long chain of thought as turns
``<think>\n{unit}\n</think>\n{answer}``: turn 1 a complete first attempt with an answer, later turns
reflecting / verifying / exploring, each followed by an answer again. Steps, per trace of a source:

1. rejection sampling: keep traces whose answer verifies against the gold (``require_correct``) and whose
   thinking block is closed (``require_closed``);
2. segment the thinking into units (:mod:`thrifty.data_builders.segment`): rule-based on reflection markers
   and candidate-answer paragraphs, or an LLM prompt returning ``{"units": [...]}`` (validated: the units must
   reproduce the thinking exactly; otherwise the rule-based split is used and counted);
3. an intermediate answer per unit: the one the thinking had stated by the end of the unit (``stated``), or an
   LLM's completion of the thinking prefix (``llm``, MinD's way); the final turn's answer is the trace's own;
4. merge tiny units (``min_unit_chars``), cap turns (``max_turns``), render with
   :func:`thrifty.formats.render_turns`, and check the rendered row: its final answer
   (:func:`thrifty.formats.extract_final_answer`) must verify equal to the trace's answer, and it must have at
   least ``min_turns`` turns.

Output in ``output_dir``: ``train.jsonl`` (``messages``, ``format: multiturn``, ``id``, ``source``,
``num_turns``, ``answer``), ``stats.json`` (turns histogram, tokens before/after with the target tokenizer,
drops by reason, ``dropped_too_few_units``, segmentation fallbacks) and the resumability files of
:mod:`thrifty.data_builders.build_common`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from thrifty.backends import BackendArguments, LLMBackend, make_backend
from thrifty.console import emit
from thrifty.formats import Trace, Turn, TurnDelimiters, extract_final_answer, last_boxed, render_turns
from thrifty.jsonl import write_json

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
from .segment import (
    SEGMENT_PROMPT,
    SegmentationError,
    Unit,
    segment_rule_based,
    units_from_texts,
    validate_llm_units,
)
from .sources import SourceArguments, SourceItem, load_source

logger = logging.getLogger(__name__)

MULTITURN = "multiturn"

PREFIX_ANSWER_PROMPT = """Below is a problem and the beginning of someone's reasoning about it. Based only on \
this reasoning so far, what is their current answer? Reply with the answer alone, as \\boxed{{...}}.

Problem:
{question}

Reasoning so far:
{prefix}"""


@dataclass
class MultiturnArguments:
    """Recipe keys of the MinD multi-turn builder (with :class:`SourceArguments` and :class:`BackendArguments`)."""

    output_dir: str = field(default="runs/mind_data", metadata={"help": "output folder (resumable)"})
    segmenter: str = field(default="rule", metadata={"help": "rule | llm (falls back to rule when invalid)"})
    intermediate_answer: str = field(default="stated", metadata={"help": "stated | llm"})
    max_turns: int = field(default=8, metadata={"help": "at most this many turns (smallest neighbours merged)"})
    min_turns: int = field(default=1, metadata={"help": "drop traces that give fewer turns"})
    min_unit_chars: int = field(default=200, metadata={"help": "units shorter than this merge into the previous"})
    require_correct: bool = field(default=True, metadata={"help": "keep only traces whose answer verifies"})
    require_closed: bool = field(default=True, metadata={"help": "keep only traces whose thinking closed"})
    turn_open: str = field(default="<think>", metadata={"help": "turn opening delimiter"})
    turn_close: str = field(default="</think>", metadata={"help": "turn closing delimiter"})
    system_prompt: str | None = field(default=None, metadata={"help": "optional system message of every row"})
    tokenizer_name_or_path: str | None = field(default=None, metadata={"help": "target tokenizer for the stats"})
    batch_size: int = field(default=64, metadata={"help": "traces per LLM/verification batch"})

    def __post_init__(self) -> None:  # refused before anything is loaded or written
        from thrifty.recipes import RecipeError

        if self.segmenter not in ("rule", "llm"):
            raise RecipeError(f"recipe key segmenter: {self.segmenter!r}; use rule or llm")
        if self.intermediate_answer not in ("stated", "llm"):
            raise RecipeError(f"recipe key intermediate_answer: {self.intermediate_answer!r}; use stated or llm")
        for key in ("max_turns", "min_turns", "batch_size"):
            if getattr(self, key) < 1:
                raise RecipeError(f"recipe key {key}: {getattr(self, key)}; use 1 or more")


def boxed(answer: str) -> str:
    r"""``answer`` as a turn's answer text: ``\boxed{answer}``."""
    return f"\\boxed{{{answer}}}"


def turns_from_units(units: list[Unit], final_answer: str, prefix_answers: list[str | None] | None = None) -> list[Turn]:
    """MinD turns: unit ``k`` gets the LLM prefix answer if given, else the stated one; the last gets the final.

    A non-final unit with no answer at all (possible only with LLM segmentation) is merged into the next unit.
    """
    turns: list[Turn] = []
    pending = ""
    for k, unit in enumerate(units):
        text = f"{pending}\n\n{unit.text}" if pending else unit.text
        if k == len(units) - 1:
            turns.append(Turn(text, boxed(final_answer)))
            break
        answer = (prefix_answers[k] if prefix_answers else None) or unit.answer
        if answer is None:
            pending = text
            continue
        pending = ""
        turns.append(Turn(text, boxed(answer)))
    return turns


def convert_rule_based(trace: Trace, args: MultiturnArguments) -> list[Turn]:
    """Rule-based conversion of one trace (no LLM): segment, attach stated answers, final answer last."""
    units = segment_rule_based(trace.thinking, trace.answer, args.max_turns, args.min_unit_chars)
    return turns_from_units(units, trace.answer) if units else []


class MultiturnBuilder:
    """Converts batches of traces into MinD rows (see the module docstring)."""

    def __init__(self, args: MultiturnArguments, backend: LLMBackend | None, checker, answer_kind: str = "auto"):
        if (args.segmenter == "llm" or args.intermediate_answer == "llm") and backend is None:
            from thrifty.recipes import RecipeError

            raise RecipeError("recipe keys segmenter/intermediate_answer: 'llm' needs llm_backend (openai or "
                              "transformers) and llm_model")
        self.args, self.backend, self.checker, self.answer_kind = args, backend, checker, answer_kind
        self.delimiters = TurnDelimiters(args.turn_open, args.turn_close)
        self.counts: Counter = Counter()

    def _ask(self, prompts: list[str]) -> list[str | None]:
        if not prompts:
            return []
        return self.backend.generate([[{"role": "user", "content": p}] for p in prompts])

    def segment(self, items: list[SourceItem]) -> list[list[Unit]]:
        a = self.args
        rule = [segment_rule_based(it.trace.thinking, it.trace.answer, a.max_turns, a.min_unit_chars) for it in items]
        if a.segmenter == "rule":
            return rule
        replies = self._ask([SEGMENT_PROMPT.format(question=it.question, thinking=it.trace.thinking) for it in items])
        out = []
        for it, reply, fallback in zip(items, replies, rule, strict=True):
            try:
                if reply is None:
                    raise SegmentationError("the LLM request failed")
                out.append(units_from_texts(validate_llm_units(reply, it.trace.thinking), a.max_turns, a.min_unit_chars))
                self.counts["llm_segmentation_ok"] += 1
            except SegmentationError as err:
                logger.debug("%s: LLM segmentation rejected (%s); rule-based split used", it.id, err)
                self.counts["llm_segmentation_fallback"] += 1
                out.append(fallback)
        return out

    def prefix_answers(self, items: list[SourceItem], units: list[list[Unit]]) -> list[list[str | None] | None]:
        if self.args.intermediate_answer != "llm":
            return [None] * len(items)
        asks = []
        for i, (it, us) in enumerate(zip(items, units, strict=True)):
            for k in range(len(us) - 1):
                prefix = "\n\n".join(u.text for u in us[: k + 1])
                asks.append((i, k, PREFIX_ANSWER_PROMPT.format(question=it.question, prefix=prefix)))
        replies = self._ask([p for _, _, p in asks])
        out: list[list[str | None] | None] = [[None] * max(0, len(us) - 1) for us in units]
        for (i, k, _), reply in zip(asks, replies, strict=True):
            out[i][k] = last_boxed(reply) if reply else None
            self.counts["llm_prefix_answer_ok" if out[i][k] else "llm_prefix_answer_missing"] += 1
        return out

    def rows(self, items: list[SourceItem]) -> list[tuple[list[dict], dict[str, str]]]:
        units = self.segment(items)
        answers = self.prefix_answers(items, units)
        rendered = []
        for it, us, pa in zip(items, units, answers, strict=True):
            turns = turns_from_units(us, it.trace.answer, pa) if us else []
            rendered.append((turns, render_turns(turns, self.delimiters) if turns else ""))
        finals = [extract_final_answer(text, self.delimiters) if text else None for _, text in rendered]
        verdicts = self.checker.check(finals, [it.trace.answer for it in items], [self.answer_kind] * len(items))
        results = []
        for it, (turns, text), ok in zip(items, rendered, verdicts, strict=True):
            if not turns:
                results.append(([], {"problem": "empty_thinking"}))
            elif not ok:
                results.append(([], {"problem": "final_answer_mismatch"}))
            elif len(turns) < self.args.min_turns:
                results.append(([], {"problem": "too_few_turns"}))
            else:
                results.append(([self._row(it, turns, text)], {}))
        return results

    def _row(self, item: SourceItem, turns: list[Turn], text: str) -> dict:
        messages = [{"role": "system", "content": self.args.system_prompt}] if self.args.system_prompt else []
        messages += [{"role": "user", "content": item.question}, {"role": "assistant", "content": text}]
        before = item.trace.thinking + ("\n\n" + item.trace.solution if item.trace.solution else "")
        return {
            "id": item.id,
            "format": MULTITURN,
            "source": item.source,
            "answer": item.gold,
            "num_turns": len(turns),
            "intermediate_answers": [t.answer for t in turns],
            "original_chars": len(before),
            "messages": messages,
        }


def build_multiturn(args: MultiturnArguments, source_args: SourceArguments, backend_args: BackendArguments,
                    decontamination: DecontaminationArguments | None = None) -> dict:
    """Run (or resume) a multi-turn build; returns the stats written to ``stats.json``. Traces whose question
    overlaps a benchmark are dropped first (``decontamination``, on by default)."""

    from thrifty.answer_check import AnswerChecker
    from thrifty.recipes import RecipeError

    if (args.segmenter == "llm" or args.intermediate_answer == "llm") and \
            (backend_args.llm_backend or "none").lower() == "none":
        raise RecipeError("recipe keys segmenter/intermediate_answer: 'llm' needs llm_backend (openai or "
                          "transformers) and llm_model")
    decontamination = decontamination or DecontaminationArguments()
    spec = build_spec("multiturn", (args, source_args, backend_args, decontamination), {"source": source_args.source})
    with AnswerChecker(timeout_s=source_args.verify_timeout_s) as checker, \
            ResumableBuild(args.output_dir, spec, inputs=(source_args.source,)) as build:
        items, report = load_source(
            source_args,
            require_trace=True,
            require_closed=args.require_closed,
            require_correct=args.require_correct,
            checker=checker,
        )
        items, decon = decontaminate_inputs(items, [[it.question] for it in items], [it.id for it in items],
                                            decontamination)
        backend = make_backend(backend_args, default_cache=build.dir / "llm_cache.jsonl")
        try:
            builder = MultiturnBuilder(args, backend, checker, source_args.answer_kind)
            build_in_batches(build, items, builder.rows, args.batch_size, desc="multiturn", unit="trace")
            extra = {**dict(builder.counts), **(dict(backend.stats) if backend is not None else {})}
        finally:
            if backend is not None:
                backend.close()
        stats = multiturn_stats(build, args, report.to_dict(), extra, items)
        stats.update(build.pending_report())
    stats["decontamination"] = decon
    if decon.get("contaminated"):
        stats["dropped"]["contaminated"] = decon["contaminated"]
    write_json(build.dir / "stats.json", stats)
    logger.info("multiturn data in %s: %d rows, turns %s", build.dir, stats["rows"], stats["turns_histogram"])
    return stats


def multiturn_stats(build: ResumableBuild, args: MultiturnArguments, source_report: dict, extra: dict, items) -> dict:
    """Turns histogram, token counts of the original traces and of the multi-turn rows, drops by reason."""
    rows = build.rows.rows
    counter = TokenCounter(args.tokenizer_name_or_path)
    by_id = {it.id: it for it in items}
    befores = [
        it.trace.thinking + ("\n\n" + it.trace.solution if it.trace.solution else "")
        for it in (by_id.get(r["id"]) for r in rows)
        if it is not None
    ]
    before = counter.count(befores)
    after = counter.count([r["messages"][-1]["content"] for r in rows])
    return {
        "output": str(build.dir / "train.jsonl"),
        "rows": len(rows),
        "traces": len(build.ledger.rows),
        "turns_histogram": dict(sorted(Counter(r["num_turns"] for r in rows).items())),
        "tokenizer": counter.name,
        "tokens_before": describe(before),
        "tokens_after": describe(after),
        "dropped": drop_counts(build.ledger.rows),
        # traces whose thinking split into fewer than min_turns units (MinD needs an intermediate answer)
        "dropped_too_few_units": drop_counts(build.ledger.rows).get("too_few_turns", 0),
        "source": source_report,
        "segmentation": args.segmenter,
        "intermediate_answer": args.intermediate_answer,
        "llm": extra,
    }


def cmd_build_multiturn(argv: list[str]) -> int:
    """``thrifty build multiturn --config RECIPE [--key value ...]``."""

    from thrifty.recipes import parse_recipe

    from .build_common import HubArguments, finish_command

    args, source_args, backend_args, decontamination, hub = parse_recipe(
        (MultiturnArguments, SourceArguments, BackendArguments, DecontaminationArguments, HubArguments), argv)
    stats = build_multiturn(args, source_args, backend_args, decontamination)
    emit({k: stats[k] for k in ("output", "rows", "turns_histogram", "dropped")})
    return finish_command(stats, args.output_dir, (args, source_args, backend_args, decontamination), hub,
                          "multiturn")
