"""AgentWrite long-output SFT data: ``thrifty build agentwrite --config RECIPE``.

AgentWrite (LongWriter, Bai et al. 2024, section 3; DESIGN.md 4.4; official code THUDM/LongWriter
``agentwrite/plan.py``, ``agentwrite/write.py``) makes an LLM whose single replies are short write texts of
10,000+ words, in two stages:

1. **Plan.** The LLM breaks the writing instruction into paragraphs, one line each:
   ``Paragraph N - Main Point: ... - Word Count: ...`` (200-1000 words per paragraph).
2. **Write.** Every line of the plan is a step, as in ``write.py``: ``plan.strip().replace('\n\n', '\n')
   .split('\n')`` (``plan_steps: lines``; ``plan_steps: paragraph_lines`` keeps only the lines that parse as
   ``Paragraph N - Main Point: ... - Word Count: ...``, a thrifty option). For each step in order, the LLM gets
   the instruction, the whole plan (``plan.strip()``), everything written so far (the earlier replies joined by
   blank lines; empty at the first step) and the step's line, and writes only that paragraph; it may open it
   with a small subtitle, must not repeat the text already written, and leaves out open-ended conclusions
   (the text goes on). The paragraphs, joined by blank lines, are the output.

Both stages sample at ``temperature`` 1.0 by default (``get_response_gpt4``'s default in both official
scripts); plans of more than ``max_plan_steps`` (50) steps are skipped, and an instruction whose step gets no
reply is dropped, as in ``write.py``. Every LLM reply is kept in ``steps.jsonl`` keyed by ``(instruction id,
step)`` (step 0 is the plan), flushed as it arrives, so a build killed at any point resumes from the last
finished step of every instruction and never pays twice for a reply (``write.py`` caches per (prompt, step
line) the same way). Instructions advance in batches, one step at a time, so the backend's concurrent requests
serve several instructions at once.

Not finished, and retried by the next run (``retry_pending`` in ``stats.json``): ``plan_failed`` /
``write_failed`` (the backend gave up; replies already stored are not asked again). Dropped (and counted by
reason in ``stats.json``): ``write_empty`` (an empty reply to a step, which ends the item in ``write.py`` too),
``plan_unparseable`` (an empty plan, or no ``Paragraph N`` line with ``plan_steps: paragraph_lines``),
``plan_too_long``, ``duplicate`` (an instruction seen before), and thrifty's own cleaning, off with 0 / false:
``paragraph_too_short`` (a step under ``min_paragraph_length``), ``too_short`` (the output under
``min_output_ratio`` of the planned total or under ``min_output_length``), and ``Paragraph N`` markers the LLM
echoes stripped from every paragraph (``strip_paragraph_markers``).

Lengths are :func:`thrifty.longform.count_length` (LongBench-Write's rule). Output in ``output_dir``:
``train.jsonl`` (``id``, ``messages``, ``length``, ``plan_steps``, ``planned_length``), ``stats.json`` (rows,
drops, length statistics and a words-per-output histogram, LLM call counts) and the resumability files of
:mod:`thrifty.data_builders.build_common`. The prompts are thrifty's own wording of the official ones; both can
be replaced from the recipe (``plan_prompt``, ``write_prompt``; ``{name}`` placeholders below, or the official
files' ``$INST$``, ``$PLAN$``, ``$TEXT$``, ``$STEP$``).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from thrifty.backends import BackendArguments, LLMBackend, make_backend
from thrifty.console import emit
from thrifty.jsonl import DataError, ResumableJsonlWriter, read_jsonl, write_json
from thrifty.longform import count_length

from .build_common import (
    DecontaminationArguments,
    ResumableBuild,
    build_spec,
    decontaminate_inputs,
    describe,
    drop_counts,
)

logger = logging.getLogger(__name__)

#: Placeholders: ``{instruction}`` (or ``$INST$``). Same content as the official ``agentwrite/prompts/plan.txt``.
PLAN_PROMPT = """Help me split the long writing task below into subtasks, one per paragraph of the text. Each \
subtask says what its paragraph covers and how long it must be.

Writing task:
{instruction}

Write one line per subtask, in this form:
Paragraph 1 - Main Point: [what the paragraph covers, in detail] - Word Count: [its length, e.g. 400 words]
Paragraph 2 - Main Point: [what the paragraph covers, in detail] - Word Count: [its length, e.g. 1000 words]
...

Make every subtask clear and specific, and let the subtasks together cover the whole task. Do not split too \
finely: each paragraph should be between 200 and 1000 words long. Write nothing but the subtask lines."""

#: Placeholders: ``{instruction}``, ``{plan}``, ``{text}`` (written so far), ``{step}`` (number),
#: ``{step_plan}`` (this step's plan line), ``{words}`` (its word count, 0 if the line states none); or the
#: official ``$INST$``, ``$PLAN$``, ``$TEXT$``, ``$STEP$`` (= ``{step_plan}``). Same content as the official
#: ``agentwrite/prompts/write.txt``.
WRITE_PROMPT = """You are a skilled writing assistant. Below are a writing task, the plan of steps for writing \
it, and the text written so far. Write the next paragraph, in keeping with all three.

Writing task:
{instruction}

Plan of the whole text:
{plan}

Text written so far:
{text}

Now write paragraph {step}, following this line of the plan:
{step_plan}

You may open the paragraph with a short subtitle if it helps. Write only this paragraph: do not repeat the text \
already written. The text is not finished yet, so do not end with an open-ended conclusion or any other \
rhetorical hook."""

#: The official placeholders and their thrifty names.
OFFICIAL_PLACEHOLDERS = {"$INST$": "instruction", "$PLAN$": "plan", "$TEXT$": "text", "$STEP$": "step_plan"}
_WORD_COUNT = re.compile(r"(?:Word Count|字数要求|字数)\s*\**\s*[:\uff1a]\s*\D*?(\d{1,3}(?:,\d{3})+|\d+)", re.IGNORECASE)

_PLAN_LINE = re.compile(
    r"^\W*(?:Paragraph|Section|段落|第)\s*(\d+)\s*段?\s*\**\s*[-\u2013\u2014:\uff1a.]\s*"
    r"(?:Main Point|主要内容|要点)\s*\**\s*[:\uff1a]\s*(.*?)\s*\**\s*[-\u2013\u2014]\s*\**\s*"
    r"(?:Word Count|字数要求|字数)\s*\**\s*[:\uff1a]\s*\D*?(\d{1,3}(?:,\d{3})+|\d+)",
    re.IGNORECASE,
)


def _count(digits: str) -> int:
    """A plan's word count: ``1,200`` -> 1200."""
    return int(digits.replace(",", ""))
_MARKER_LINE = re.compile(
    r"^\W*(?:Paragraph\s*\d+|第\s*\d+\s*段)\W*(?:(?:Main Point|主要内容).*)?$", re.IGNORECASE | re.MULTILINE
)
_MARKER_PREFIX = re.compile(
    r"^[\s#*]*(?:Paragraph\s*\d+|第\s*\d+\s*段)\s*\**\s*[:\uff1a.\-\u2013\u2014]\s*\**\s*", re.IGNORECASE | re.MULTILINE
)


@dataclass
class AgentWriteArguments:
    """Recipe keys of the AgentWrite builder (with :class:`BackendArguments` for the LLM)."""

    instructions: str = field(default=None, metadata={"help": "JSONL of writing instructions"})
    instruction_field: str = field(default="prompt", metadata={"help": "field holding the instruction text"})
    id_field: str | None = field(default=None, metadata={"help": "field holding a row id (default: hash of the text)"})
    output_dir: str = field(default="runs/agentwrite", metadata={"help": "output folder (resumable)"})
    limit: int | None = field(default=None, metadata={"help": "first N instructions only"})
    temperature: float = field(
        default=1.0, metadata={"help": "sampling temperature of the plan and write calls (official: 1.0)"}
    )
    plan_steps: str = field(
        default="lines", metadata={"help": "lines: every plan line is a step (official write.py) | paragraph_lines: "
                                           "only 'Paragraph N - Main Point: ... - Word Count: ...' lines"}
    )
    plan_prompt: str = field(default=PLAN_PROMPT, metadata={"help": "plan prompt; {instruction}"})
    write_prompt: str = field(
        default=WRITE_PROMPT, metadata={"help": "write prompt; {instruction} {plan} {text} {step} {step_plan} {words}"}
    )
    max_plan_steps: int = field(default=50, metadata={"help": "skip plans with more steps"})
    min_paragraph_length: int = field(
        default=20, metadata={"help": "drop the instruction if a step is shorter (thrifty; 0 = official)"}
    )
    strip_paragraph_markers: bool = field(
        default=True, metadata={"help": "strip echoed 'Paragraph N' lines and prefixes (thrifty; false = official)"}
    )
    min_output_ratio: float = field(
        default=0.5, metadata={"help": "drop outputs under this share of the plan (thrifty; 0 = official)"}
    )
    min_output_length: int = field(default=0, metadata={"help": "drop outputs shorter than this (words)"})
    batch_size: int = field(default=16, metadata={"help": "instructions advanced together, one step at a time"})
    system_prompt: str | None = field(default=None, metadata={"help": "optional system message of every row"})
    histogram_edges: list[int] = field(
        default_factory=lambda: [0, 500, 1000, 2000, 4000, 8000, 10000, 20000],
        metadata={"help": "words-per-output histogram bin edges (last bin is open)"},
    )


@dataclass
class PlanStep:
    """One plan line: its number, main point, requested length and the line itself."""

    number: int
    main_point: str
    words: int
    line: str


# ---------------------------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------------------------
def fill(template: str, **values: object) -> str:
    """Replace ``{name}`` placeholders and the official ``$INST$``-style ones (other braces stay literal, so
    templates may contain JSON)."""
    for official, name in OFFICIAL_PLACEHOLDERS.items():
        if name in values:
            template = template.replace(official, str(values[name]))
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return template


def check_template(template: str, required: tuple[str, ...], key: str) -> None:
    """Raise a :class:`DataError` naming the recipe key when a required placeholder is missing."""
    official = {v: k for k, v in OFFICIAL_PLACEHOLDERS.items()}
    missing = [name for name in required if "{" + name + "}" not in template and official.get(name, "\0") not in template]
    if missing:
        raise DataError(f"recipe key {key}: the prompt lacks placeholder(s) {', '.join('{' + m + '}' for m in missing)}")


def parse_plan(text: str) -> list[PlanStep]:
    """The ``Paragraph N - Main Point: ... - Word Count: ...`` lines of a plan, in order (others ignored)."""
    steps = []
    for raw in text.splitlines():
        m = _PLAN_LINE.match(raw.strip())
        if m:
            steps.append(PlanStep(int(m.group(1)), m.group(2).strip(), _count(m.group(3)), raw.strip()))
    return steps


def plan_lines(text: str) -> list[PlanStep]:
    """Every line of a plan is a step, exactly as THUDM/LongWriter ``agentwrite/write.py`` splits it:
    ``plan.strip().replace('\\n\\n', '\\n').split('\\n')``. A line's word count is read when it states one
    (``Word Count: 400``), else 0. An empty plan has no step."""
    plan = text.strip().replace("\n\n", "\n")
    if not plan:
        return []
    steps = []
    for i, line in enumerate(plan.split("\n"), 1):
        m = _WORD_COUNT.search(line)
        steps.append(PlanStep(i, line.strip(), _count(m.group(1)) if m else 0, line))
    return steps


def strip_markers(paragraph: str) -> str:
    """Remove ``Paragraph N`` lines (and echoed plan lines) and ``Paragraph N:`` prefixes from a reply."""
    text = _MARKER_LINE.sub("", paragraph.strip())
    text = _MARKER_PREFIX.sub("", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def instruction_id(text: str) -> str:
    """A stable id for an instruction without one: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def histogram(values: list[int], edges: list[int]) -> dict[str, int]:
    """Counts per bin ``[edges[i], edges[i+1])``; the last bin is ``>=edges[-1]``."""
    edges = sorted(edges)
    labels = [f"[{lo},{hi})" for lo, hi in zip(edges[:-1], edges[1:], strict=True)] + [f">={edges[-1]}"]
    counts = dict.fromkeys(labels, 0)
    for v in values:
        i = sum(v >= e for e in edges) - 1
        counts[labels[max(0, i)]] += 1
    return counts


# ---------------------------------------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------------------------------------
@dataclass
class _Job:
    """One instruction in flight: its plan, paragraphs so far and, once settled, its rows or drop reason."""

    id: str
    instruction: str
    plan: list[PlanStep] | None = None
    plan_text: str = ""
    paragraphs: list[str] = field(default_factory=list)
    dropped: str | None = None
    row: dict | None = None

    @property
    def settled(self) -> bool:
        return self.dropped is not None or self.row is not None


class StepStore:
    """LLM replies keyed by ``instruction_id:step`` in ``steps.jsonl`` (flushed per reply; a torn line is dropped)."""

    def __init__(self, path: str | Path):
        self._writer = ResumableJsonlWriter(path, key="id")
        self._texts = {row["id"]: row["text"] for row in self._writer.rows}

    def __len__(self) -> int:
        return len(self._texts)

    def get(self, key: str) -> str | None:
        return self._texts.get(key)

    def put(self, key: str, text: str) -> None:
        if key not in self._texts:
            self._writer.append({"id": key, "text": text})
            self._texts[key] = text

    def close(self) -> None:
        self._writer.close()


class AgentWriter:
    """Plans and writes a batch of instructions step by step, with a per-(instruction, step) reply store."""

    def __init__(self, args: AgentWriteArguments, backend: LLMBackend, steps: StepStore):
        check_template(args.plan_prompt, ("instruction",), "plan_prompt")
        check_template(args.write_prompt, ("instruction", "plan", "text", "step_plan"), "write_prompt")
        if args.plan_steps not in ("lines", "paragraph_lines"):
            raise DataError(f"recipe key plan_steps: {args.plan_steps!r}; use lines or paragraph_lines")
        self.args, self.backend, self.steps = args, backend, steps

    @staticmethod
    def step_key(job_id: str, step: int) -> str:
        return f"{job_id}:{step}"

    def _replies(self, jobs: list[_Job], step: int, prompts: list[str]) -> list[str | None]:
        """Stored replies for (job, step), asking the backend only for the missing ones (stored on arrival)."""
        keys = [self.step_key(j.id, step) for j in jobs]
        out: list[str | None] = [self.steps.get(k) for k in keys]
        todo = [i for i, text in enumerate(out) if text is None]
        if todo:
            fresh = self.backend.generate([[{"role": "user", "content": prompts[i]}] for i in todo],
                                          temperature=self.args.temperature)
            for i, text in zip(todo, fresh, strict=True):
                out[i] = text
                if text is not None:
                    self.steps.put(keys[i], text)
        return out

    def run(self, jobs: list[_Job]) -> None:
        """Settle every job (a row or a drop reason)."""
        a = self.args
        plans = self._replies(jobs, 0, [fill(a.plan_prompt, instruction=j.instruction) for j in jobs])
        for job, plan_text in zip(jobs, plans, strict=True):
            if plan_text is None:
                job.dropped = "plan_failed"
                continue
            job.plan = plan_lines(plan_text) if a.plan_steps == "lines" else parse_plan(plan_text)
            job.plan_text = plan_text.strip()
            if not job.plan:
                job.dropped = "plan_unparseable"
            elif len(job.plan) > a.max_plan_steps:
                job.dropped = "plan_too_long"
        while True:
            active = [j for j in jobs if not j.settled and len(j.paragraphs) < len(j.plan)]
            if not active:
                break
            step = len(active[0].paragraphs) + 1
            same = [j for j in active if len(j.paragraphs) + 1 == step]
            prompts = [self._write_prompt(j, step) for j in same]
            for job, reply in zip(same, self._replies(same, step, prompts), strict=True):
                if reply is None:
                    job.dropped = "write_failed"
                    continue
                if not reply.strip():  # write.py: an empty response ends the item, which is skipped
                    job.dropped = "write_empty"
                    continue
                paragraph = strip_markers(reply) if a.strip_paragraph_markers else reply.strip()
                if count_length(paragraph) < a.min_paragraph_length:
                    job.dropped = "paragraph_too_short"
                    continue
                job.paragraphs.append(paragraph)
        for job in jobs:
            if not job.settled:
                self._finish(job)

    def _write_prompt(self, job: _Job, step: int) -> str:
        current = job.plan[step - 1]
        text = "\n\n".join(job.paragraphs).strip()  # write.py: text.strip(), empty at the first step
        return fill(self.args.write_prompt, instruction=job.instruction, plan=job.plan_text, text=text,
                    step=step, step_plan=current.line.strip(), words=current.words)

    def _finish(self, job: _Job) -> None:
        a = self.args
        output = "\n\n".join(job.paragraphs)
        length = count_length(output)
        planned = sum(s.words for s in job.plan)
        if length < a.min_output_length or length < a.min_output_ratio * planned:
            job.dropped = "too_short"
            return
        messages = [{"role": "system", "content": a.system_prompt}] if a.system_prompt else []
        messages += [{"role": "user", "content": job.instruction}, {"role": "assistant", "content": output}]
        job.row = {"id": job.id, "messages": messages, "length": length, "plan_steps": len(job.plan),
                   "planned_length": planned, "source": "agentwrite"}


def load_instructions(args: AgentWriteArguments) -> tuple[list[_Job], int]:
    """The instructions as jobs (duplicates removed) and the number of duplicates."""
    if not args.instructions:
        raise DataError("recipe key instructions: give a JSONL file of writing instructions")
    path = Path(args.instructions)
    if not path.is_file():
        raise DataError(f"instructions file {path} does not exist")
    jobs, seen, duplicates = [], set(), 0
    for lineno, row in enumerate(read_jsonl(path), 1):
        text = row.get(args.instruction_field)
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{path}:{lineno}: missing or empty field '{args.instruction_field}' "
                            f"(set instruction_field; the row has {', '.join(row)})")
        if args.id_field:
            if row.get(args.id_field) is None:
                raise DataError(f"{path}:{lineno}: missing id field '{args.id_field}'")
            jid = str(row[args.id_field])
        else:
            jid = instruction_id(text)
        if jid in seen:
            duplicates += 1
            continue
        seen.add(jid)
        jobs.append(_Job(jid, text.strip()))
    if not jobs:
        raise DataError(f"instructions file {path} has no rows: nothing to build")
    return (jobs[: args.limit] if args.limit else jobs), duplicates


def build_agentwrite(args: AgentWriteArguments, backend_args: BackendArguments,
                     decontamination: DecontaminationArguments | None = None) -> dict:
    """Run (or resume) an AgentWrite build; returns the stats written to ``stats.json``. Instructions that
    overlap a benchmark prompt (LongBench-Write's among them) are dropped first (on by default)."""
    from tqdm.auto import tqdm

    decontamination = decontamination or DecontaminationArguments()
    jobs, duplicates = load_instructions(args)
    jobs, decon = decontaminate_inputs(jobs, [[j.instruction] for j in jobs], [j.id for j in jobs],
                                       decontamination)
    spec = build_spec("agentwrite", (args, backend_args, decontamination), {"instructions": args.instructions})
    with ResumableBuild(args.output_dir, spec, inputs=(args.instructions,)) as build:
        backend = make_backend(backend_args)  # replies are stored per (instruction, step) in steps.jsonl
        if backend is None:
            raise DataError("AgentWrite needs an LLM: set llm_backend (openai or transformers) and llm_model")
        steps = StepStore(build.dir / "steps.jsonl")
        try:
            writer = AgentWriter(args, backend, steps)
            todo = [j for j in jobs if not build.done(j.id)]
            bar = tqdm(total=len(todo), desc="agentwrite", unit="instruction")
            for start in range(0, len(todo), max(1, args.batch_size)):
                batch = todo[start : start + args.batch_size]
                writer.run(batch)
                build.finish_many([(j.id, [j.row] if j.row else [], {"problem": j.dropped} if j.dropped else {})
                                   for j in batch])
                bar.update(len(batch))
            bar.close()
            llm_stats = dict(backend.stats)
        finally:
            steps.close()
            backend.close()
        stats = agentwrite_stats(build, args, duplicates, llm_stats)
        stats.update(build.pending_report())
    stats["decontamination"] = decon
    if decon.get("contaminated"):
        stats["dropped"]["contaminated"] = decon["contaminated"]
    write_json(Path(args.output_dir) / "stats.json", stats)
    logger.info("agentwrite data in %s: %d rows, dropped %s", args.output_dir, stats["rows"], stats["dropped"])
    return stats


def agentwrite_stats(build: ResumableBuild, args: AgentWriteArguments, duplicates: int, llm_stats: dict) -> dict:
    """Rows, drops by reason, output lengths (words + CJK characters) and their histogram, plan sizes."""
    rows = build.rows.rows
    lengths = [r["length"] for r in rows]
    dropped = drop_counts(build.ledger.rows)
    if duplicates:
        dropped["duplicate"] = duplicates
    return {
        "output": str(build.dir / "train.jsonl"),
        "rows": len(rows),
        "instructions": len(build.ledger.rows),
        "dropped": dropped,
        "length": describe(lengths),
        "length_histogram": histogram(lengths, args.histogram_edges),
        "plan_steps": describe([r["plan_steps"] for r in rows]),
        "llm": llm_stats,
    }


def cmd_build_agentwrite(argv: list[str]) -> int:
    """``thrifty build agentwrite --config RECIPE [--key value ...]``."""

    from thrifty.recipes import parse_recipe

    from .build_common import HubArguments, finish_command

    args, backend_args, decontamination, hub = parse_recipe(
        (AgentWriteArguments, BackendArguments, DecontaminationArguments, HubArguments), argv)
    stats = build_agentwrite(args, backend_args, decontamination)
    emit({k: stats[k] for k in ("output", "rows", "dropped", "retry_pending", "length_histogram")})
    return finish_command(stats, args.output_dir, (args, backend_args, decontamination), hub, "agentwrite")
