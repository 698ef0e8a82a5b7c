"""The toy world: synthetic reasoning problems of controlled difficulty, and their traces in every format.

The task family sits behind :class:`ToyTask`, so it can change without touching the builders, trainers or
eval. Families:

- :class:`RunningSumTask` (FIELD-NOTES.md, "A toy task that a tiny model DOES learn in CPU-minutes"): ``k``
  single digits, right-padded with ``_`` to a fixed number of slots, answer = their sum mod 10. A ~1M-parameter
  Qwen2 answers one or two digits directly but needs the chain of partial sums beyond;
- :class:`PairSumTask`: ``k`` digit pairs, ``x_i = (x_{i-1} + a_i + b_i) mod 10``: a short CoT must add three
  digits per token, a long CoT writes the intermediate sum, so only long CoT stays right on long chains;
- :class:`ProductSumTask` (``a_i * b_i`` per step), a hard family that was tried and not learned in the base's
  budget (docs/experiments/toy_tiers.md).

The shipped world is :class:`TieredTask`, both first families on one difficulty scale in three tiers (issue
17): easy (one or two digits: direct answers work), medium (3-6 digits: a short CoT is needed) and hard (2-4
digit pairs: only long CoT works), measured on the toy base by ``scripts/bench_toy_learning.py``.

The padding puts input digit ``i`` at a constant position for every ``k``, and every reasoning step has a
fixed length, so step ``i`` always sits at the same offset from digit ``i``: a position-aligned scratchpad
is what a tiny model learns in CPU-minutes (in-context lookup does not form at this scale).

Every problem has, all consistent with one another: an R1-style long-CoT trace (a first solution written
step by step, sometimes with a slip caught at once with "wait", then 1-6 reflective units: verifications,
re-checks of a step with a slip sometimes caught, re-solutions "alternatively"; each restates the answer), and
its direct, short-CoT, code, long-CoT and MinD multi-turn (one turn per thinking unit) renderings.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
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

#: How many reflective units follow the first solution in a long-CoT trace: 1..6, weighted (mean 2.85), so a MinD
#: multi-turn rendering has 2..7 turns, 3.6 on average over k = 1..6 (fewer for k = 1 and where two steps read alike; issue 17).
REFLECTION_COUNT_WEIGHTS: tuple[float, ...] = (3, 3, 3, 2, 1, 1)
#: The hard family's traces stop at 4 reflective units (mean 2.2): its first solutions are already long.
SHORTER_REFLECTION_COUNT_WEIGHTS: tuple[float, ...] = (4, 4, 3, 2)
#: The kinds of the reflective units after the first one (always a verification of the last step), and weights.
REFLECTION_KINDS: dict[str, float] = {"verify_step": 0.3, "caught_slip": 0.2, "all_at_once": 0.25,
                                      "one_at_a_time": 0.25}


@dataclass(frozen=True)
class Reflections:
    """The material of an R1-style trace's reflective units, for one problem (see :func:`reflective_units`).

    ``steps`` are the first solution's steps (each a complete sentence ending with ``.``); ``slipped(i, rng)``
    is step ``i`` written with a slip caught at once with "no ," (a second "wait" inside a verification would be a
    second exploration in one unit for MinD's unit compactness, rewards/mind.py); ``verify_last`` re-derives the final value;
    ``all_at_once`` and ``one_at_a_time`` solve the problem again another way (None where there is none).
    """

    answer: str
    steps: list[str]
    slipped: Callable[[int, random.Random], str]
    verify_last: str
    all_at_once: str | None
    one_at_a_time: str | None


def reflective_units(material: Reflections, rng: random.Random,
                     count_weights: tuple[float, ...] = REFLECTION_COUNT_WEIGHTS) -> list[str]:
    """The reflective units after an R1-style trace's first solution (DeepSeek-R1's "wait" / "alternatively"
    episodes, which MinD turns into one turn each: Zeng et al. 2025, section 3.1).

    Up to ``len(count_weights)`` units, their number drawn with ``count_weights``: first a verification of the
    last step, then units drawn from :data:`REFLECTION_KINDS` without repeating one: re-checking an earlier step, a slip
    made while re-checking a step and caught at once, and re-solving the problem another way (all at once, or
    one term at a time without the mod). Fewer when a short problem runs out of distinct units. Every unit ends
    by restating the answer, so each is a complete MinD turn.
    """
    answer = material.answer
    n = rng.choices(range(1, len(count_weights) + 1), weights=count_weights)[0]
    units = [f"wait , let me verify . {material.verify_last} yes , the answer is {answer} ."]
    # each step is re-checked at most once; the last one was just verified
    unchecked = list(range(max(1, len(material.steps) - 1)))
    once = {"all_at_once": material.all_at_once, "one_at_a_time": material.one_at_a_time}
    while len(units) < n:
        kinds = [k for k in REFLECTION_KINDS if (once[k] is not None if k in once else unchecked)]
        if not kinds:
            break
        kind = rng.choices(kinds, weights=[REFLECTION_KINDS[k] for k in kinds])[0]
        if kind in once:
            units.append(once.pop(kind))
            continue
        i = unchecked.pop(rng.randrange(len(unchecked)))
        step = material.steps[i] if kind == "verify_step" else material.slipped(i, rng)
        unit = f"wait , let me verify {step} yes , the answer is {answer} ."
        if unit not in units:  # two equal steps (``3 + 0 = 3 so 3`` twice) are re-checked once
            units.append(unit)
    return units


class RunningSumTask:
    """Sum of ``k`` digits mod 10, written as a scratchpad of running sums.

    Question: ``3 8 5 9 _ _``; short CoT: the running sums ``3 1 6 5``; long CoT: every step written out
    (``3 + 8 = 11 so 1 .``), sometimes a slip corrected at once (``1 + 5 = 7 . wait , 1 + 5 = 6 so 6 .``), a
    verification unit and sometimes an alternative unit; code: ``return (3 + 8 + 5 + 9) % 10`` with
    ``>>> f()`` and its output written out.
    """

    name = "running_sum"
    min_difficulty = 1

    def __init__(self, max_digits: int = 6, slip_rate: float = 0.15,
                 reflection_weights: tuple[float, ...] = REFLECTION_COUNT_WEIGHTS):
        self.max_difficulty = max_digits
        self.slip_rate = slip_rate
        self.reflection_weights = reflection_weights

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

    @staticmethod
    def step(inputs: list[int], i: int, slip: int = 0, catch: str = "wait") -> str:
        """Step ``i`` of the first solution (0-based); a non-zero ``slip`` writes a wrong sum first, then
        ``catch`` and the right one."""
        sums = RunningSumTask.partial_sums(inputs)
        if i == 0:
            return f"start {inputs[0]} ."
        prev, d, r = sums[i - 1], inputs[i], sums[i]
        if slip:
            wrong = prev + d + slip if prev + d + slip >= 0 else prev + d + 1
            return f"{prev} + {d} = {wrong} . {catch} , {prev} + {d} = {prev + d} so {r} ."
        return f"{prev} + {d} = {prev + d} so {r} ."

    def units(self, problem: ToyProblem, rng: random.Random) -> list[str]:
        return running_sum_units(problem.inputs, problem.answer, rng, self.slip_rate, self.reflection_weights)


def running_sum_units(digits: list[int], answer: str, rng: random.Random, slip_rate: float,
                      reflection_weights: tuple[float, ...], one_at_a_time: bool = True) -> list[str]:
    """The thinking units of a running sum's R1-style trace over ``digits``: the first solution (one
    :meth:`RunningSumTask.step` per digit, sometimes a slip caught at once), then :func:`reflective_units`
    (re-solving "one at a time" only with ``one_at_a_time``)."""
    step = RunningSumTask.step
    k = len(digits)
    slip_step = rng.randrange(1, k) if k > 1 and rng.random() < slip_rate else None
    steps = [step(digits, i, rng.choice((1, -1)) if i == slip_step else 0) for i in range(k)]
    solve = " ".join(steps) + f" so the answer is {answer} ."
    totals = [sum(digits[:i + 1]) for i in range(k)]
    material = Reflections(
        answer=answer,
        steps=[step(digits, i) for i in range(k)],
        slipped=lambda i, r: (step(digits, i, r.choice((1, -1)), catch="no") if i > 0
                              else f"start {(digits[0] + 1) % 10} . no , start {digits[0]} ."),
        verify_last=step(digits, k - 1) if k > 1 else "one digit ,",
        all_at_once=(f"alternatively , add all at once : {' + '.join(map(str, digits))} = {totals[-1]} "
                     f"so the answer is {answer} .") if k > 1 else None,
        one_at_a_time=("alternatively , one at a time : "
                       + " , ".join(f"{totals[i - 1]} + {digits[i]} = {totals[i]}" for i in range(1, k))
                       + f" so the answer is {answer} .") if k > 1 and one_at_a_time else None,
    )
    return [solve, *reflective_units(material, rng, reflection_weights)]


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
    separator = "|"  # between the two rows of the question

    def __init__(self, max_pairs: int = 9, slip_rate: float = 0.1,
                 reflection_weights: tuple[float, ...] = SHORTER_REFLECTION_COUNT_WEIGHTS):
        self.max_difficulty = max_pairs
        self.slip_rate = slip_rate
        self.reflection_weights = reflection_weights

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
                          question=" ".join([*row_a, self.separator, *row_b]), answer=str(self.values(inputs)[-1]))

    def parse_question(self, question: str) -> list[int]:
        slots = question.split()
        n = self.max_difficulty
        bad = ValueError(f"not a {self.name} question: {question[:80]!r}")
        if len(slots) != 2 * n + 1 or slots[n] != self.separator or not slots[0].isdigit():
            raise bad
        row_a = [int(s) for s in slots[:n] if s != "_"]
        row_b = [int(s) for s in slots[n + 1:] if s != "_"]
        inputs = row_a + row_b
        if len(row_a) != len(row_b) or self.make_problem("x", inputs).question != question:
            raise bad
        return inputs

    @staticmethod
    def term(a: int, b: int) -> int:
        """What step ``i`` adds to the running value: ``a_i * b_i``."""
        return a * b

    @classmethod
    def values(cls, inputs: list[int]) -> list[int]:
        """The running values ``x_1..x_k``."""
        out, x = [], 0
        for a, b in cls.pairs(inputs):
            x = (x + cls.term(a, b)) % 10
            out.append(x)
        return out

    # -- renderings ----------------------------------------------------------------------------------------
    def short_cot(self, problem: ToyProblem) -> str:
        return " ".join(str(x) for x in self.values(problem.inputs))

    def code(self, problem: ToyProblem) -> str:
        terms = " + ".join(f"{a} * {b}" for a, b in self.pairs(problem.inputs))
        return f"def f():\n    return ({terms}) % 10\n>>> f()\n{problem.answer}"

    def step(self, inputs: list[int], i: int, slip: int = 0, catch: str = "wait") -> str:
        """Step ``i`` of the first solution (0-based): the product, then the new value; a non-zero ``slip``
        writes a wrong product first, then ``catch`` and the right one."""
        (a, b), x = self.pairs(inputs)[i], self.values(inputs)[i]
        if slip:
            wrong = a * b + slip if a * b + slip >= 0 else a * b + 1
            return f"{a} * {b} = {wrong} . {catch} , {a} * {b} = {a * b} so {x} ."
        return f"{a} * {b} = {a * b} so {x} ."

    def units(self, problem: ToyProblem, rng: random.Random) -> list[str]:
        pairs, xs = self.pairs(problem.inputs), self.values(problem.inputs)
        k = len(pairs)
        slip_step = rng.randrange(k) if rng.random() < self.slip_rate else None
        steps = [self.step(problem.inputs, i, rng.choice((1, -1)) if i == slip_step else 0) for i in range(k)]
        solve = " ".join(steps) + f" so the answer is {problem.answer} ."
        (a, b), prev = pairs[-1], (xs[-2] if k > 1 else 0)
        products = [a * b for a, b in pairs]
        totals = [sum(products[:i + 1]) for i in range(k)]
        material = Reflections(
            answer=problem.answer,
            steps=[self.step(problem.inputs, i) for i in range(k)],
            slipped=lambda i, r: self.step(problem.inputs, i, r.choice((1, -1)), catch="no"),
            verify_last=f"{prev} + {a} * {b} = {prev + a * b} so {xs[-1]} .",
            all_at_once=(f"alternatively , add all the products : {' + '.join(map(str, products))} = {totals[-1]} "
                         f"so the answer is {problem.answer} .") if k > 1 else None,
            one_at_a_time=None,  # its running totals would double the hard tier's traces
        )
        return [solve, *reflective_units(material, rng, self.reflection_weights)]


class PairSumTask(ProductSumTask):
    """The hard family: ``x_i = (x_{i-1} + a_i + b_i) mod 10`` over ``k`` digit pairs, ``x_0 = 0``.

    Each step combines two additions, so a short CoT must add three digits in one token, while a long CoT writes
    the intermediate value: it is the running sum's own long CoT over ``a_1, b_1, a_2, b_2, ...``, whose
    two-digit steps the toy base already masters (issue 17, "Make long reasoning necessary": "each step combines
    two operations, so that a short CoT must do both in one token while a long CoT writes the intermediate
    value"). The rows are ``+``-separated: ``3 8 5 _ _ _ + 2 7 1 _ _ _``. Short CoT: ``x_1..x_k`` (``5 0 6``);
    long CoT: ``start 3 . 3 + 2 = 5 so 5 . 5 + 8 = 13 so 3 . 3 + 7 = 10 so 0 .`` ..., a slip sometimes caught at
    once, then reflective units; code: ``return (3 + 2 + 8 + 7 + 5 + 1) % 10``. ``docs/experiments/toy_tiers.md``
    has the measurements (a product step, :class:`ProductSumTask`, was not learned in the base's budget).
    """

    name = "pair_sum"
    separator = "+"

    def __init__(self, max_pairs: int = 6, slip_rate: float = 0.15,
                 reflection_weights: tuple[float, ...] = SHORTER_REFLECTION_COUNT_WEIGHTS):
        super().__init__(max_pairs, slip_rate, reflection_weights)

    @staticmethod
    def term(a: int, b: int) -> int:
        return a + b

    @staticmethod
    def digits(inputs: list[int]) -> list[int]:
        """``a_1, b_1, a_2, b_2, ...``: the digits the long CoT adds one at a time."""
        return [d for pair in ProductSumTask.pairs(inputs) for d in pair]

    def step(self, inputs: list[int], i: int, slip: int = 0) -> str:
        """Sub-step ``i`` of the first solution: the running sum's step over :meth:`digits` (two per pair)."""
        return RunningSumTask.step(self.digits(inputs), i, slip)

    def code(self, problem: ToyProblem) -> str:
        terms = " + ".join(str(d) for d in self.digits(problem.inputs))
        return f"def f():\n    return ({terms}) % 10\n>>> f()\n{problem.answer}"

    def units(self, problem: ToyProblem, rng: random.Random) -> list[str]:
        # no "one at a time" re-solve: the first solution already adds one digit at a time
        return running_sum_units(self.digits(problem.inputs), problem.answer, rng, self.slip_rate,
                                 self.reflection_weights, one_at_a_time=False)


#: A level of :class:`TieredTask`: a family's name and its own difficulty ``k``.
Level = tuple[str, int]


class TieredTask:
    """Several families on one difficulty scale, grouped into named tiers (issue 17, "Make long reasoning
    necessary").

    Difficulty ``d`` (1-based) is ``levels[d - 1]``, a family and its own ``k``; ``inputs`` are ``[d, *the
    family's inputs]``, so a problem knows its level. The question, answer and every rendering are the family's
    own; ``problem.task`` is the family's name, and the train/test split is the family's (a problem is in the
    same split in every tiered world, whatever its levels). ``tiers`` names groups of levels.
    """

    name = "tiered"
    min_difficulty = 1

    def __init__(self, levels: list[Level] | None = None, tiers: dict[str, list[int]] | None = None,
                 families: dict[str, ToyTask] | None = None):
        self.families = families or {"running_sum": RunningSumTask(), "pair_sum": PairSumTask()}
        self.levels = list(levels or TIERED_LEVELS)
        self.tiers = dict(tiers if tiers is not None else (TIERS if levels is None else {}))
        for fam, k in self.levels:
            if fam not in self.families or not (self.families[fam].min_difficulty <= k
                                                 <= self.families[fam].max_difficulty):
                raise ValueError(f"level {(fam, k)} is not a difficulty of the families {sorted(self.families)}")
        for tier, ds in self.tiers.items():
            if not all(1 <= d <= len(self.levels) for d in ds):
                raise ValueError(f"tier {tier!r} names levels outside 1..{len(self.levels)}: {ds}")
        self.max_difficulty = len(self.levels)

    def _family(self, inputs: list[int]) -> tuple[int, ToyTask, list[int]]:
        level = inputs[0] if inputs else 0
        if not 1 <= level <= len(self.levels):
            raise ValueError(f"{self.name} inputs start with a level in 1..{len(self.levels)}; got {inputs[:1]}")
        return level, self.families[self.levels[level - 1][0]], list(inputs[1:])

    def tier_of(self, difficulty: int) -> str | None:
        return next((tier for tier, ds in self.tiers.items() if difficulty in ds), None)

    def identity(self, inputs: list[int]) -> tuple[str, list[int]]:
        """The family's name and inputs: what the train/test split hashes."""
        _, family, rest = self._family(inputs)
        return family.name, rest

    def sample_inputs(self, rng: random.Random, difficulty: int) -> list[int]:
        fam, k = self.levels[difficulty - 1]
        return [difficulty, *self.families[fam].sample_inputs(rng, k)]

    def family_problem(self, problem: ToyProblem) -> ToyProblem:
        """The problem as its own family writes it (difficulty ``k``, the family's inputs)."""
        _, family, rest = self._family(problem.inputs)
        return family.make_problem(problem.id, rest)

    def make_problem(self, problem_id: str, inputs: list[int]) -> ToyProblem:
        level, family, rest = self._family(inputs)
        own = family.make_problem(problem_id, rest)
        if (family.name, own.difficulty) != tuple(self.levels[level - 1]):
            raise ValueError(f"level {level} is {self.levels[level - 1]}, not {(family.name, own.difficulty)}")
        return ToyProblem(id=problem_id, task=family.name, difficulty=level, inputs=list(inputs),
                          question=own.question, answer=own.answer)

    def parse_question(self, question: str) -> list[int]:
        for family in self.families.values():
            try:
                rest = family.parse_question(question)
            except ValueError:
                continue
            k = family.make_problem("x", rest).difficulty
            if (family.name, k) in self.levels:
                return [self.levels.index((family.name, k)) + 1, *rest]
            raise ValueError(f"{family.name} with k = {k} is not a level of this world: {question[:80]!r}")
        raise ValueError(f"not a question of {', '.join(self.families)}: {question[:80]!r}")

    def units(self, problem: ToyProblem, rng: random.Random) -> list[str]:
        return self._family(problem.inputs)[1].units(self.family_problem(problem), rng)

    def short_cot(self, problem: ToyProblem) -> str:
        return self._family(problem.inputs)[1].short_cot(self.family_problem(problem))

    def code(self, problem: ToyProblem) -> str:
        return self._family(problem.inputs)[1].code(self.family_problem(problem))


#: The tiered world's levels and tiers (measured on the toy base: docs/experiments/toy_tiers.md).
TIERED_LEVELS: list[Level] = [("running_sum", k) for k in range(1, 7)] + [("pair_sum", k) for k in (2, 3, 4)]
TIERS: dict[str, list[int]] = {"easy": [1, 2], "medium": [3, 4, 5, 6], "hard": [7, 8, 9]}
#: What the toy base is pretrained on: every difficulty of both families (the hard family's short chains teach
#: its long CoT).
PRETRAIN_LEVELS: list[Level] = [("running_sum", k) for k in range(1, 7)] + [("pair_sum", k) for k in range(1, 7)]


def _rng_for(seed: int, *keys: object) -> random.Random:
    digest = hashlib.sha256(repr((seed, *keys)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def split_of(task: ToyTask, inputs: list[int], test_fraction: float) -> str:
    """Deterministic train/test assignment by content hash, so the splits are disjoint by construction."""
    name, inputs = task.identity(inputs) if hasattr(task, "identity") else (task.name, inputs)
    digest = hashlib.sha256(f"{name}:{inputs}".encode()).digest()
    return TEST if int.from_bytes(digest[:4], "big") / 2**32 < test_fraction else TRAIN


@dataclass
class ToyWorld:
    """A seeded generator of toy problems and their renderings, for one :class:`ToyTask`."""

    task: ToyTask = field(default_factory=lambda: TieredTask())
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
            "source": f"toy/{problem.task}",
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


def weighted_formats(weights: dict[str, float], n: int, seed: int, *keys: object) -> list[str]:
    """A seeded list of ``n`` format names drawn with ``weights`` (for mixing formats in SFT data); ``keys``
    select another stream of the same seed."""
    rng = _rng_for(seed, "formats", *keys)
    names = [f for f, w in weights.items() if w > 0]
    return rng.choices(names, weights=[weights[f] for f in names], k=n)
