"""Response formats, defined once and used by the data builders, the rewards and eval.

ARM formats (Wu et al., 2025, "ARM: Adaptive Reasoning Model"), tags exactly as the ARM release uses them,
each opening the assistant turn:

- direct:     ``<ANSWER>\\n{answer}\\n</ANSWER>``
- short_cot:  ``<COT>\\n{reasoning}\\n</COT>\\n<ANSWER>\\n{answer}\\n</ANSWER>``
- code:       ``<CODE>\\n{program, ">>> f()" and its output}\\n</CODE>\\n<ANSWER>\\n{answer}\\n</ANSWER>``
- long_cot:   ``<LONG_COT>\\n{long reasoning}\\n</LONG_COT>\\n<ANSWER>\\n{answer}\\n</ANSWER>``

A completion's format is the tag it opens with; one that opens with none, or that contains another
format's tags, is ``unknown``.

MinD multi-turn format (Zeng et al., 2025, "Done Is Better than Perfect: Unlocking Efficient Reasoning by
Structured Multi-Turn Decomposition"): each turn is ``<think>\\n{unit}\\n</think>\\n{answer with \\boxed{}}``
and turns follow one another in one assistant message.

Long-CoT trace dialects (``<think>``, ``<|begin_of_thought|>``, plain text) are normalised to a
:class:`Trace` of (question, thinking, solution, answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DIRECT = "direct"
SHORT_COT = "short_cot"
CODE = "code"
LONG_COT = "long_cot"
UNKNOWN = "unknown"

#: The four ARM formats in order of increasing reasoning cost.
ARM_FORMATS: tuple[str, ...] = (DIRECT, SHORT_COT, CODE, LONG_COT)

#: The reasoning block tag of every format that has one (``direct`` has none).
REASONING_TAGS: dict[str, str] = {SHORT_COT: "COT", CODE: "CODE", LONG_COT: "LONG_COT"}
ANSWER_TAG = "ANSWER"

#: The tag a completion of each format opens with; used to pre-fill the assistant turn
#: ("instruction-guided" inference) and to detect a completion's format.
OPENING_TAGS: dict[str, str] = {
    DIRECT: "<ANSWER>",
    SHORT_COT: "<COT>",
    CODE: "<CODE>",
    LONG_COT: "<LONG_COT>",
}

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

#: Every tag string the formats use; tokenizers add them as single tokens.
FORMAT_TAG_TOKENS: tuple[str, ...] = tuple(
    t
    for name in (ANSWER_TAG, *REASONING_TAGS.values())
    for t in (f"<{name}>", f"</{name}>")
) + (THINK_OPEN, THINK_CLOSE)

_ANY_ARM_TAG = re.compile(r"</?(ANSWER|COT|CODE|LONG_COT)>")
_ANSWER_BLOCK = re.compile(r"<ANSWER>\s*(.*?)\s*</ANSWER>", re.DOTALL)


# ---------------------------------------------------------------------------------------------------------
# ARM formats
# ---------------------------------------------------------------------------------------------------------
def render_arm(fmt: str, answer: str, reasoning: str | None = None) -> str:
    """Render a completion in one of the four ARM formats.

    ``reasoning`` is the body of the ``COT``/``CODE``/``LONG_COT`` block and must be given for every format
    but ``direct``.
    """
    if fmt not in ARM_FORMATS:
        raise ValueError(f"unknown ARM format {fmt!r}; expected one of {', '.join(ARM_FORMATS)}")
    answer_block = f"<{ANSWER_TAG}>\n{answer}\n</{ANSWER_TAG}>"
    if fmt == DIRECT:
        return answer_block
    if reasoning is None:
        raise ValueError(f"format {fmt!r} needs a reasoning text")
    tag = REASONING_TAGS[fmt]
    return f"<{tag}>\n{reasoning}\n</{tag}>\n{answer_block}"


def detect_format(completion: str) -> str:
    """Return the ARM format of ``completion``: the tag it opens with, or ``unknown``.

    A completion is ``unknown`` when it opens with no format tag, when it contains a reasoning tag that
    belongs to another format, or when its reasoning block is opened more than once.
    """
    text = completion.lstrip()
    opened = None
    for fmt in (SHORT_COT, CODE, LONG_COT, DIRECT):
        if text.startswith(OPENING_TAGS[fmt]):
            opened = fmt
            break
    if opened is None:
        return UNKNOWN
    own_tags = {ANSWER_TAG} | ({REASONING_TAGS[opened]} if opened in REASONING_TAGS else set())
    for match in _ANY_ARM_TAG.finditer(text):
        if match.group(1) not in own_tags:
            return UNKNOWN
    if opened in REASONING_TAGS and text.count(OPENING_TAGS[opened]) != 1:
        return UNKNOWN
    return opened


def opening_format(completion: str) -> str:
    """The ARM format ``completion`` opens with, exactly as ARM's Ada-GRPO counts formats; else ``unknown``.

    TEAM-ARM/ARM ``verl/verl/trainer/ppo/core_algos.py`` ``get_reasoning_format`` looks for ``"Assistant:<TAG>"``
    in the decoded prompt + response (its chat template ends the prompt with ``Assistant:``), i.e. the response
    must start with the tag, with nothing (not even whitespace) before it. Unlike :func:`detect_format` it does
    not look for another format's tags: ARM's reward zeroes those (:mod:`thrifty.rewards.arm`), but a mixed
    completion still counts in its opening format's F(o_i).
    """
    for fmt in (SHORT_COT, CODE, DIRECT, LONG_COT):
        if completion.startswith(OPENING_TAGS[fmt]):
            return fmt
    return UNKNOWN


@dataclass(frozen=True)
class ParsedArm:
    """A completion split into its ARM parts; ``answer`` is None when no closed ``<ANSWER>`` block exists."""

    format: str
    reasoning: str | None
    answer: str | None


def parse_arm(completion: str) -> ParsedArm:
    """Split an ARM completion into (format, reasoning body, answer)."""
    fmt = detect_format(completion)
    reasoning = None
    if fmt in REASONING_TAGS:
        tag = REASONING_TAGS[fmt]
        m = re.search(rf"<{tag}>\n?(.*?)\n?</{tag}>", completion, re.DOTALL)
        reasoning = m.group(1) if m else None
    answers = _ANSWER_BLOCK.findall(completion)
    return ParsedArm(fmt, reasoning, answers[-1] if answers else None)


# ---------------------------------------------------------------------------------------------------------
# \boxed{} extraction
# ---------------------------------------------------------------------------------------------------------
def last_boxed(text: str) -> str | None:
    r"""Content of the last ``\boxed{...}`` (or ``\fbox{...}``) in ``text``, braces balanced; None if absent."""
    best = None
    for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text):
        depth, start = 1, m.end()
        i = start
        while i < len(text) and depth:
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
            i += 1
        if depth == 0:
            best = text[start : i - 1]
    return best


# ---------------------------------------------------------------------------------------------------------
# MinD multi-turn format
# ---------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TurnDelimiters:
    """Delimiters of one MinD turn: ``{open}\\n{unit}\\n{close}\\n{answer}``."""

    open: str = THINK_OPEN
    close: str = THINK_CLOSE


DEFAULT_TURNS = TurnDelimiters()


@dataclass(frozen=True)
class Turn:
    """One MinD turn: a thinking unit and the answer text written after it."""

    unit: str
    answer_text: str

    @property
    def answer(self) -> str | None:
        """The turn's answer: its last ``\\boxed{}``, else None."""
        return last_boxed(self.answer_text)


def render_turns(turns: list[Turn], delimiters: TurnDelimiters = DEFAULT_TURNS) -> str:
    """Render MinD turns as one assistant message."""
    return "\n".join(f"{delimiters.open}\n{t.unit}\n{delimiters.close}\n{t.answer_text}" for t in turns)


def split_turns(completion: str, delimiters: TurnDelimiters = DEFAULT_TURNS) -> list[Turn]:
    """Split a MinD completion into turns; text before the first ``<think>`` is ignored.

    An unclosed final thinking block becomes a turn with an empty answer text (so it has no answer).
    """
    turns = []
    op, cl = re.escape(delimiters.open), re.escape(delimiters.close)
    pattern = re.compile(rf"{op}\n?(.*?)(?:\n?{cl}(.*?)(?={op})|\n?{cl}(.*)$|$)", re.DOTALL)
    for m in pattern.finditer(completion):
        unit = m.group(1)
        after = m.group(2) if m.group(2) is not None else (m.group(3) or "")
        turns.append(Turn(unit=unit.strip("\n"), answer_text=after.strip()))
    return turns


def count_turns(completion: str, delimiters: TurnDelimiters = DEFAULT_TURNS) -> int:
    """Number of MinD turns in ``completion``."""
    return len(split_turns(completion, delimiters))


def answer_after_turn(completion: str, k: int, delimiters: TurnDelimiters = DEFAULT_TURNS) -> str | None:
    """Answer a user would read if they stopped after turn ``k`` (1-based): the last answer given so far."""
    if k < 1:
        raise ValueError("k is 1-based")
    answer = None
    for turn in split_turns(completion, delimiters)[:k]:
        if turn.answer is not None:
            answer = turn.answer
    return answer


# ---------------------------------------------------------------------------------------------------------
# Final-answer extraction shared by rewards and eval
# ---------------------------------------------------------------------------------------------------------
def extract_final_answer(completion: str, delimiters: TurnDelimiters = DEFAULT_TURNS) -> str | None:
    r"""The final answer of any completion thrifty produces, or None.

    In order: the last ``<ANSWER>`` block (ARM); for MinD output the last answer any turn gave (a final turn
    cut off before answering leaves the previous turn's answer, which is what a user who stops reading there
    has); else the last ``\boxed{}`` anywhere. A number merely mentioned in text is not an answer.
    """
    answers = _ANSWER_BLOCK.findall(completion)
    if answers:
        inner = answers[-1]
        return last_boxed(inner) or inner
    if delimiters.open in completion:
        turns = split_turns(completion, delimiters)
        return answer_after_turn(completion, len(turns), delimiters) if turns else None
    return last_boxed(completion)


# ---------------------------------------------------------------------------------------------------------
# R1-Zero's <think> </think> <answer> </answer> format (thrifty.prompt_templates: prompt_template r1_zero)
# ---------------------------------------------------------------------------------------------------------
R1_ANSWER_OPEN, R1_ANSWER_CLOSE = "<answer>", "</answer>"
_R1_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
#: R1-Zero's layout: one thinking block, then one answer block, whitespace around them free (the template
#: ends with "Assistant:", so completions start " <think>"; the paper writes the tags with spaces inside).
_R1_LAYOUT = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)
#: open-r1's ``format_reward`` regex, verbatim (huggingface/open-r1 src/open_r1/rewards.py; re.DOTALL | re.MULTILINE).
OPEN_R1_FORMAT = r"^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$"


def extract_answer_tag(completion: str) -> str | None:
    r"""The answer of an R1-Zero completion: the content of its last closed ``<answer>...</answer>`` block (the
    content of a ``\boxed{}`` inside it where there is one), stripped; None without a closed block or when it is
    empty. As Dr. GRPO's ``answer_tag_reward_fn`` (sail-sg/understand-r1-zero ``math_grader.py``) and
    Open-Reasoner-Zero read it; a number written outside the tags is not an answer."""
    blocks = _R1_ANSWER_BLOCK.findall(completion)
    if not blocks:
        return None
    inner = blocks[-1]
    answer = (last_boxed(inner) if "\\boxed" in inner or "\\fbox" in inner else None) or inner
    return answer.strip() or None


def is_r1_format(completion: str, open_r1_newlines: bool = False) -> bool:
    """Whether ``completion`` is exactly one ``<think>`` block then one non-empty ``<answer>`` block, nothing else
    (whitespace around the tags free). ``open_r1_newlines``: open-r1's stricter regex instead
    (:data:`OPEN_R1_FORMAT`: a newline after and before every tag, nothing before ``<think>``)."""
    if open_r1_newlines:
        return re.match(OPEN_R1_FORMAT, completion, re.DOTALL | re.MULTILINE) is not None
    if completion.count("<think>") != 1 or completion.count("</think>") != 1:
        return False
    if completion.count(R1_ANSWER_OPEN) != 1 or completion.count(R1_ANSWER_CLOSE) != 1:
        return False
    match = _R1_LAYOUT.fullmatch(completion)
    return match is not None and bool(match.group(2).strip())


#: Final-answer extraction rules by name (``strict``: :func:`extract_final_answer`; ``answer_tag``:
#: :func:`extract_answer_tag`), shared by eval's extraction policies and the accuracy reward.
EXTRACTORS = {"strict": extract_final_answer, "answer_tag": lambda text, delimiters=DEFAULT_TURNS: extract_answer_tag(text)}


def extract_answer(completion: str, rule: str = "strict", delimiters: TurnDelimiters = DEFAULT_TURNS) -> str | None:
    """The final answer of ``completion`` under the extraction ``rule`` (:data:`EXTRACTORS`)."""
    try:
        extractor = EXTRACTORS[rule]
    except KeyError:
        raise ValueError(f"unknown answer extraction {rule!r}; use one of {', '.join(EXTRACTORS)}") from None
    return extractor(completion, delimiters)


# ---------------------------------------------------------------------------------------------------------
# Long-CoT trace dialects
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Trace:
    """A long chain-of-thought trace normalised across dialects.

    ``closed`` tells whether the thinking block was closed (False for traces cut by a length cap).
    """

    question: str
    thinking: str
    solution: str
    answer: str | None
    dialect: str
    closed: bool = True
    meta: dict = field(default_factory=dict)


_DIALECTS = (
    ("think", "<think>", "</think>", None, None),
    (
        "begin_of_thought",
        "<|begin_of_thought|>",
        "<|end_of_thought|>",
        "<|begin_of_solution|>",
        "<|end_of_solution|>",
    ),
)


def normalize_trace(question: str, text: str, plain_closed: bool = False) -> Trace:
    r"""Normalise a long-CoT generation in any known dialect to a :class:`Trace`.

    Dialects: ``<think>…</think>solution`` (DeepSeek-R1), ``<|begin_of_thought|>…<|end_of_thought|>
    <|begin_of_solution|>…<|end_of_solution|>`` (Sky-T1 / Bespoke), and plain text (all thinking, the
    answer taken from its last ``oxed{}``). The answer is the solution's last ``oxed{}``, falling back to
    the thinking's for traces whose thinking block was never closed.

    A trace whose opening tag was in the prompt (so the text starts inside the thinking) is recognised by its
    closing tag, or by its solution tags. Plain text has no tag that tells a finished trace from one cut by a
    length cap, so it is ``closed`` only when the caller says so (``plain_closed``: ``trace_dialect: plain``).
    """
    for name, t_open, t_close, s_open, s_close in _DIALECTS:
        if t_open in text:
            after_open = text.split(t_open, 1)[1]
        elif t_close in text or (s_open and s_open in text):
            after_open = text  # the opening tag was part of the prompt
        else:
            continue
        closed = t_close in after_open
        thinking, rest = after_open.split(t_close, 1) if closed else (after_open, "")
        solution = rest
        if s_open and s_open in rest:
            solution = rest.split(s_open, 1)[1]
            solution = solution.split(s_close, 1)[0] if s_close in solution else solution
        elif s_open and s_open in thinking and not closed:  # solution tags but no end-of-thought tag
            thinking, solution = thinking.split(s_open, 1)
            solution = solution.split(s_close, 1)[0] if s_close in solution else solution
        thinking, solution = thinking.strip(), solution.strip()
        answer = last_boxed(solution) if solution else None
        if answer is None and not closed:
            answer = last_boxed(thinking)
        return Trace(question, thinking, solution, answer, name, closed)
    plain = text.strip()
    return Trace(question, plain, "", last_boxed(plain), "plain", plain_closed)
