"""The toy world: synthetic reasoning problems of controlled difficulty, and their traces in every format.

The task family sits behind :class:`ToyTask`, so it can change without touching the builders, trainers or
eval. The shipped family is :class:`RunningSumTask` (see FIELD-NOTES.md, "A toy task that a tiny model DOES
learn in CPU-minutes"): ``k`` single digits (difficulty ``k``), right-padded with ``_`` to a fixed number of
slots, answer = their sum mod 10. A ~1M-parameter Qwen2 answers easy problems directly but needs the chain of
partial sums for hard ones: exactly the contrast an adaptive reasoner should learn to exploit.

The padding puts input digit ``i`` at a constant position for every ``k``, and every reasoning step has a
fixed length, so step ``i`` always sits at the same offset from digit ``i``: a position-aligned scratchpad
is what a tiny model learns in CPU-minutes (in-context lookup does not form at this scale).

Every problem has, all consistent with one another: an R1-style long-CoT trace (a first solution written
step by step, sometimes with a slip caught at once with "wait", a "Wait, let me verify" unit, sometimes an
"Alternatively" unit redoing it, and a final boxed answer), and its direct, short-CoT,
code, long-CoT and MinD multi-turn renderings.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, field
from typing import Protocol

from thrifty.formats import (
    ARM_FORMATS,
    CODE,
    DIRECT,
    LONG_COT,
    SHORT_COT,
    Turn,
    render_arm,
    render_turns,
)

MULTITURN = "multiturn"
TRAIN, TEST = "train", "test"


@dataclass
class ToyProblem:
    """One toy problem. ``inputs`` is task-specific (the digits, for the running sum)."""

    id: str
    task: str
    difficulty: int
    inputs: list[int]
    question: str
    answer: str

    def to_row(self) -> dict:
        return asdict(self)


class ToyTask(Protocol):
    """A family of toy problems whose difficulty is a parameter.

    Implementations must be pure functions of their random generator, so that a seed fixes the world.
    """

    name: str
    min_difficulty: int
    max_difficulty: int

    def sample_inputs(self, rng: random.Random, difficulty: int) -> list[int]: ...

    def make_problem(self, problem_id: str, inputs: list[int]) -> ToyProblem: ...

    def parse_question(self, question: str) -> list[int]:
        """The inputs of a question this task wrote (inverse of ``make_problem``); ValueError otherwise."""
        ...

    def units(self, problem: ToyProblem, rng: random.Random) -> list[str]:
        """The thinking units of an R1-style long-CoT trace, in order."""
        ...

    def short_cot(self, problem: ToyProblem) -> str: ...

    def code(self, problem: ToyProblem) -> str: ...


class RunningSumTask:
    """Sum of ``k`` digits mod 10, written as a scratchpad of running sums.

    Question: ``3 8 5 9 _ _``; short CoT: the running sums ``3 1 6 5``; long CoT: every step written out
    (``3 + 8 = 11 so 1 .``), sometimes a slip corrected at once (``1 + 5 = 7 . wait , 1 + 5 = 6 so 6 .``), a
    verification unit and sometimes an alternative unit; code: ``return (3 + 8 + 5 + 9) % 10`` with
    ``>>> f()`` and its output written out.
    """

    name = "running_sum"
    min_difficulty = 1

    def __init__(self, max_digits: int = 6, slip_rate: float = 0.15, alternative_rate: float = 0.1):
        self.max_difficulty = max_digits
        self.slip_rate = slip_rate
        self.alternative_rate = alternative_rate

    # -- problems ------------------------------------------------------------------------------------------
    def sample_inputs(self, rng: random.Random, difficulty: int) -> list[int]:
        return [rng.randrange(10) for _ in range(difficulty)]

    def make_problem(self, problem_id: str, inputs: list[int]) -> ToyProblem:
        slots = [str(d) for d in inputs] + ["_"] * (self.max_difficulty - len(inputs))
        return ToyProblem(
            id=problem_id,
            task=self.name,
            difficulty=len(inputs),
            inputs=list(inputs),
            question=" ".join(slots),
            answer=str(sum(inputs) % 10),
        )

    def parse_question(self, question: str) -> list[int]:
        slots = question.split()
        if len(slots) != self.max_difficulty or not slots[0].isdigit():
            raise ValueError(f"not a {self.name} question: {question[:80]!r}")
        inputs = [int(s) for s in slots if s != "_"]
        if slots != [str(d) for d in inputs] + ["_"] * (self.max_difficulty - len(inputs)):
            raise ValueError(f"not a {self.name} question: {question[:80]!r}")
        return inputs

    @staticmethod
    def partial_sums(inputs: list[int]) -> list[int]:
        sums, total = [], 0
        for d in inputs:
            total = (total + d) % 10
            sums.append(total)
        return sums

    # -- renderings ----------------------------------------------------------------------------------------
    def short_cot(self, problem: ToyProblem) -> str:
        return " ".join(str(s) for s in self.partial_sums(problem.inputs))

    def code(self, problem: ToyProblem) -> str:
        terms = " + ".join(str(d) for d in problem.inputs)
        return f"def f():\n    return ({terms}) % 10\n>>> f()\n{problem.answer}"

    def units(self, problem: ToyProblem, rng: random.Random) -> list[str]:
        digits, sums = problem.inputs, self.partial_sums(problem.inputs)
        slip_step = rng.randrange(1, len(digits)) if len(digits) > 1 and rng.random() < self.slip_rate else None
        steps = [f"start {digits[0]} ."]
        for i in range(1, len(digits)):
            prev, d, r = sums[i - 1], digits[i], sums[i]
            if i == slip_step:  # a slip, caught at once and corrected
                wrong = prev + d + rng.choice((1, -1)) if prev + d > 0 else 1
                steps.append(f"{prev} + {d} = {wrong} . wait , {prev} + {d} = {prev + d} so {r} .")
            else:
                steps.append(f"{prev} + {d} = {prev + d} so {r} .")
        solve = " ".join(steps) + f" so the answer is {problem.answer} ."
        if len(digits) > 1:
            prev, d = sums[-2], digits[-1]
            verify = f"wait , let me verify . {prev} + {d} = {prev + d} so {sums[-1]} . yes , the answer is {problem.answer} ."
        else:
            verify = f"wait , let me verify . one digit , so the answer is {problem.answer} ."
        units = [solve, verify]
        if len(digits) > 1 and rng.random() < self.alternative_rate:
            terms = " + ".join(str(x) for x in digits)
            units.append(f"alternatively , add all at once : {terms} = {sum(digits)} so {problem.answer} .")
        return units


class ProductSumTask:
    """A candidate hard family: ``x_i = (x_{i-1} + a_i * b_i) mod 10`` over ``k`` digit pairs, ``x_0 = 0``.

    Each step combines two operations (a product, then a sum mod 10), so a short CoT must do both in one token
    while a long CoT writes the product first (issue 17, "Make long reasoning necessary"; FIELD-NOTES.md,
    "Looking for a tier where only long CoT works", has the measurements behind this design).

    Question: the two digit rows, each right-padded with ``_`` to ``max_pairs`` slots so that step ``i`` sits at
    a constant offset from ``a_i`` and ``b_i`` for every ``k``: ``3 8 5 _ | 2 7 1 _``. ``inputs`` holds
    ``a_1..a_k`` then ``b_1..b_k``; the difficulty is ``k``. Short CoT: the running values ``x_1..x_k``
    (``6 2 7``); long CoT: one fixed-length step per pair (``3 * 2 = 6 so 6 . 8 * 7 = 56 so 2 .``), sometimes
    a slip caught at once, a verification unit and sometimes an alternative unit that adds all the products;
    code: ``return (3 * 2 + 8 * 7 + 5 * 1) % 10``.
    """

    name = "product_sum"
    min_difficulty = 1

    def __init__(self, max_pairs: int = 9, slip_rate: float = 0.1, alternative_rate: float = 0.1):
        self.max_difficulty = max_pairs
        self.slip_rate = slip_rate
        self.alternative_rate = alternative_rate

    # -- problems ------------------------------------------------------------------------------------------
    def sample_inputs(self, rng: random.Random, difficulty: int) -> list[int]:
        return [rng.randrange(10) for _ in range(2 * difficulty)]

    @staticmethod
    def pairs(inputs: list[int]) -> list[tuple[int, int]]:
        k = len(inputs) // 2
        return list(zip(inputs[:k], inputs[k:], strict=True))

    def make_problem(self, problem_id: str, inputs: list[int]) -> ToyProblem:
        if len(inputs) % 2 or not 1 <= len(inputs) // 2 <= self.max_difficulty:
            raise ValueError(f"{self.name} needs 2k inputs (a_1..a_k, b_1..b_k), k = 1..{self.max_difficulty}; "
                             f"got {len(inputs)}")
        k = len(inputs) // 2
        pad = ["_"] * (self.max_difficulty - k)
        row_a = [str(d) for d in inputs[:k]] + pad
        row_b = [str(d) for d in inputs[k:]] + pad
        return ToyProblem(id=problem_id, task=self.name, difficulty=k, inputs=list(inputs),
                          question=" ".join([*row_a, "|", *row_b]), answer=str(self.values(inputs)[-1]))

    def parse_question(self, question: str) -> list[int]:
        slots = question.split()
        n = self.max_difficulty
        bad = ValueError(f"not a {self.name} question: {question[:80]!r}")
        if len(slots) != 2 * n + 1 or slots[n] != "|" or not slots[0].isdigit():
            raise bad
        row_a = [int(s) for s in slots[:n] if s != "_"]
        row_b = [int(s) for s in slots[n + 1:] if s != "_"]
        inputs = row_a + row_b
        if len(row_a) != len(row_b) or self.make_problem("x", inputs).question != question:
            raise bad
        return inputs

    @classmethod
    def values(cls, inputs: list[int]) -> list[int]:
        """The running values ``x_1..x_k``."""
        out, x = [], 0
        for a, b in cls.pairs(inputs):
            x = (x + a * b) % 10
            out.append(x)
        return out

    # -- renderings ----------------------------------------------------------------------------------------
    def short_cot(self, problem: ToyProblem) -> str:
        return " ".join(str(x) for x in self.values(problem.inputs))

    def code(self, problem: ToyProblem) -> str:
        terms = " + ".join(f"{a} * {b}" for a, b in self.pairs(problem.inputs))
        return f"def f():\n    return ({terms}) % 10\n>>> f()\n{problem.answer}"

    def units(self, problem: ToyProblem, rng: random.Random) -> list[str]:
        pairs, xs = self.pairs(problem.inputs), self.values(problem.inputs)
        slip_step = rng.randrange(len(pairs)) if rng.random() < self.slip_rate else None
        steps = []
        for i, ((a, b), x) in enumerate(zip(pairs, xs, strict=True)):
            if i == slip_step:  # a slip in the product, caught at once and corrected
                wrong = a * b + rng.choice((1, -1)) if a * b > 0 else 1
                steps.append(f"{a} * {b} = {wrong} . wait , {a} * {b} = {a * b} so {x} .")
            else:
                steps.append(f"{a} * {b} = {a * b} so {x} .")
        solve = " ".join(steps) + f" so the answer is {problem.answer} ."
        (a, b), x = pairs[-1], xs[-1]
        prev = xs[-2] if len(xs) > 1 else 0
        verify = (f"wait , let me verify . {prev} + {a} * {b} = {prev + a * b} so {x} . "
                  f"yes , the answer is {problem.answer} .")
        units = [solve, verify]
        if len(pairs) > 1 and rng.random() < self.alternative_rate:
            products = [a * b for a, b in pairs]
            terms = " + ".join(str(p) for p in products)
            units.append(f"alternatively , add all the products : {terms} = {sum(products)} so {problem.answer} .")
        return units


def _rng_for(seed: int, *keys: object) -> random.Random:
    digest = hashlib.sha256(repr((seed, *keys)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def split_of(task: ToyTask, inputs: list[int], test_fraction: float) -> str:
    """Deterministic train/test assignment by content hash, so the splits are disjoint by construction."""
    digest = hashlib.sha256(f"{task.name}:{inputs}".encode()).digest()
    return TEST if int.from_bytes(digest[:4], "big") / 2**32 < test_fraction else TRAIN


@dataclass
class ToyWorld:
    """A seeded generator of toy problems and their renderings, for one :class:`ToyTask`."""

    task: ToyTask = field(default_factory=RunningSumTask)
    seed: int = 0
    test_fraction: float = 0.3

    @property
    def difficulties(self) -> list[int]:
        return list(range(self.task.min_difficulty, self.task.max_difficulty + 1))

    def problems(self, split: str, n: int, difficulty: int | None = None, distinct: bool = False) -> list[ToyProblem]:
        """``n`` problems of ``split``, difficulty uniform over the task's range unless fixed.

        With ``distinct`` the problems are unique (fewer than ``n`` if the split has fewer at that difficulty).
        """
        rng = _rng_for(self.seed, "problems", split, difficulty, distinct)
        out, seen, attempts = [], set(), 0
        while len(out) < n and attempts < 50 * n + 1000:
            attempts += 1
            k = difficulty if difficulty is not None else rng.choice(self.difficulties)
            inputs = self.task.sample_inputs(rng, k)
            if split_of(self.task, inputs, self.test_fraction) != split:
                continue
            key = tuple(inputs)
            if distinct and key in seen:
                continue
            seen.add(key)
            out.append(self.task.make_problem(f"toy-{split}-k{k}-{len(out):06d}", inputs))
        return out

    def test_set(self, per_difficulty: int) -> list[ToyProblem]:
        """Distinct test problems, up to ``per_difficulty`` of each difficulty."""
        return [p for k in self.difficulties for p in self.problems(TEST, per_difficulty, k, distinct=True)]

    # -- renderings of one problem -------------------------------------------------------------------------
    def thinking_units(self, problem: ToyProblem) -> list[str]:
        return self.task.units(problem, _rng_for(self.seed, "trace", problem.id))

    def trace(self, problem: ToyProblem) -> str:
        """The R1-style long-CoT trace (``<think>`` dialect) with a boxed final answer."""
        thinking = "\n\n".join(self.thinking_units(problem))
        return f"<think>\n{thinking}\n</think>\n\nThe answer is \\boxed{{{problem.answer}}}."

    def render(self, problem: ToyProblem, fmt: str) -> str:
        """The assistant completion of ``problem`` in an ARM format or ``multiturn``."""
        if fmt == DIRECT:
            return render_arm(DIRECT, problem.answer)
        if fmt == SHORT_COT:
            return render_arm(SHORT_COT, problem.answer, self.task.short_cot(problem))
        if fmt == CODE:
            return render_arm(CODE, problem.answer, self.task.code(problem))
        if fmt == LONG_COT:
            return render_arm(LONG_COT, problem.answer, "\n\n".join(self.thinking_units(problem)))
        if fmt == MULTITURN:
            return render_turns([Turn(u, f"\\boxed{{{problem.answer}}}") for u in self.thinking_units(problem)])
        raise ValueError(f"unknown toy format {fmt!r}; expected one of {', '.join((*ARM_FORMATS, MULTITURN))}")

    def sft_row(self, problem: ToyProblem, fmt: str) -> dict:
        """A conversational SFT row (``messages`` plus metadata)."""
        return {
            "id": f"{problem.id}-{fmt}",
            "problem_id": problem.id,
            "format": fmt,
            "source": f"toy/{self.task.name}",
            "difficulty": problem.difficulty,
            "answer": problem.answer,
            "messages": [
                {"role": "user", "content": problem.question},
                {"role": "assistant", "content": self.render(problem, fmt)},
            ],
        }

    def corpus(self, n: int = 400) -> list[str]:
        """Texts covering every rendering, for training the toy tokenizer."""
        texts = []
        for p in self.problems(TRAIN, n):
            texts.append(p.question)
            texts.append(self.trace(p))
            for fmt in (*ARM_FORMATS, MULTITURN):
                texts.append(self.render(p, fmt))
        texts += ["user\nassistant\nsystem\n"] * 10
        return texts


def weighted_formats(weights: dict[str, float], n: int, seed: int) -> list[str]:
    """A seeded list of ``n`` format names drawn with ``weights`` (for mixing formats in SFT data)."""
    rng = _rng_for(seed, "formats")
    names = [f for f, w in weights.items() if w > 0]
    return rng.choices(names, weights=[weights[f] for f in names], k=n)
