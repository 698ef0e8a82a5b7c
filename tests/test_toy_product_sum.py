"""The candidate hard toy family ``product_sum`` (x_i = (x_{i-1} + a_i * b_i) mod 10) and its tier probe."""

import importlib.util
import re
from collections import Counter
from pathlib import Path

import pytest

from thrifty.formats import ARM_FORMATS, detect_format, extract_final_answer, parse_arm, split_turns
from thrifty.toy_world import (
    MULTITURN,
    TEST,
    TRAIN,
    ProductSumTask,
    RunningSumTask,
    ToyWorld,
)

STEP = re.compile(r"(\d) \* (\d) = (\d+) so (\d) \.")


@pytest.fixture(scope="module")
def world():
    return ToyWorld(task=ProductSumTask(), seed=0)


def test_questions_answers_and_alignment(world):
    problems = world.problems(TRAIN, 600)
    assert sorted(Counter(p.difficulty for p in problems)) == list(range(1, 10))
    for p in problems:
        k = p.difficulty
        a, b = p.inputs[:k], p.inputs[k:]
        assert len(a) == len(b) == k and p.task == "product_sum"
        assert p.answer == str(sum(x * y for x, y in zip(a, b, strict=True)) % 10)
        slots = p.question.split()
        # both rows padded to 9 slots: a_i and b_i sit at the same positions for every k
        assert len(slots) == 19 and slots[9] == "|"
        assert slots[:k] == [str(x) for x in a] and slots[10:10 + k] == [str(y) for y in b]
        assert set(slots[k:9]) <= {"_"} and set(slots[10 + k:]) <= {"_"}
        assert world.task.parse_question(p.question) == p.inputs


def test_every_rendering_is_consistent(world):
    for p in world.problems(TRAIN, 400):
        k = p.difficulty
        a, b = p.inputs[:k], p.inputs[k:]
        running = [sum(x * y for x, y in zip(a[:i], b[:i], strict=True)) % 10 for i in range(1, k + 1)]
        for fmt in ARM_FORMATS:
            text = world.render(p, fmt)
            parsed = parse_arm(text)
            assert parsed.format == fmt == detect_format(text) and parsed.answer == p.answer
        assert world.render(p, "short_cot").split("\n")[1].split() == [str(x) for x in running]
        code = world.render(p, "code")
        expression = re.search(r"return (.*)\n", code).group(1)
        assert str(eval(expression)) == p.answer  # the written program computes the answer
        assert re.search(r">>> f\(\)\n(\d)\n", code).group(1) == p.answer
        solve = world.thinking_units(p)[0]
        steps = STEP.findall(solve)
        assert [(int(x), int(y)) for x, y, _, _ in steps] == list(zip(a, b, strict=True))  # one written step per pair
        for (x, y, product, value), want in zip(steps, running, strict=True):
            assert int(product) == int(x) * int(y) and int(value) == want
        assert extract_final_answer(world.render(p, "long_cot")) == p.answer
        turns = split_turns(world.render(p, MULTITURN))
        assert len(turns) >= 2 and all(t.answer == p.answer for t in turns)


def test_slips_are_caught_and_long_cot_grows(world):
    problems = world.problems(TRAIN, 1000, difficulty=6)
    solves = [world.thinking_units(p)[0] for p in problems]
    slips = [s for s in solves if " wait , " in s]
    assert 0.04 < len(slips) / len(solves) < 0.2
    for s in slips:
        m = re.search(r"(\d) \* (\d) = (\d+) \. wait , (\d) \* (\d) = (\d+) so", s)
        assert m and m.group(1, 2) == m.group(4, 5)
        assert int(m.group(3)) != int(m.group(1)) * int(m.group(2)) == int(m.group(6))
    lengths = {k: len(world.render(world.problems(TRAIN, 1, k)[0], "long_cot").split()) for k in (1, 5, 9)}
    assert lengths[1] < lengths[5] < lengths[9]


def test_bad_inputs_and_splits(world):
    task = world.task
    with pytest.raises(ValueError, match="2k inputs"):
        task.make_problem("x", [1, 2, 3])
    with pytest.raises(ValueError, match="2k inputs"):
        task.make_problem("x", [1] * 20)
    running_sum_question = RunningSumTask().make_problem("x", [1, 2]).question
    for bad in (running_sum_question, "1 2 _ _ _ _ _ _ _ | 3 _ _ _ _ _ _ _ _", "1 _ _ _ _ _ _ _ _ 3 _ _ _ _ _ _ _ _ _"):
        with pytest.raises(ValueError, match="not a product_sum question"):
            task.parse_question(bad)
    train = {tuple(p.inputs) for p in world.problems(TRAIN, 2000)}
    test = {tuple(p.inputs) for p in world.test_set(30)}
    assert train and test and not train & test
    assert "product_sum" not in ToyWorld(seed=0).task.families  # tried, not shipped (docs/experiments/toy_tiers.md)


def _probe():
    path = Path(__file__).resolve().parents[1] / "scripts" / "probe_toy_tiers.py"
    spec = importlib.util.spec_from_file_location("probe_toy_tiers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_probe_tier_bars():
    """The probe pools a tier's k weighted by n and checks each bar in its direction."""
    probe = _probe()

    def cell(acc, n=50):
        return {"n": n, "accuracy": acc, "mean_tokens": 1.0}

    acc = {"running_sum": {"direct": {1: cell(1.0), 2: cell(0.8), 5: cell(0.2), 6: cell(0.1)},
                           "short_cot": {5: cell(0.95), 6: cell(0.9)}},
           "product_sum": {"short_cot": {8: cell(0.7, 100), 9: cell(0.4, 100)},
                           "long_cot": {8: cell(1.0), 9: cell(0.9)}}}
    rep = probe.tier_report(acc)
    assert rep["tiers"]["easy"]["accuracy"]["direct"] == pytest.approx(0.9)
    assert rep["tiers"]["medium"]["bars"] == {"direct <= 0.3": True, "short_cot >= 0.9": True}
    assert rep["tiers"]["hard"]["accuracy"]["short_cot"] == pytest.approx(0.55)
    assert rep["tiers"]["hard"]["bars"] == {"short_cot <= 0.6": True, "long_cot >= 0.9": True}
    assert rep["pass"] is True
    acc["product_sum"]["long_cot"][9] = cell(0.7)
    rep = probe.tier_report(acc)
    assert rep["tiers"]["hard"]["bars"]["long_cot >= 0.9"] is False and rep["pass"] is False
    del acc["running_sum"]["direct"]
    assert probe.tier_report(acc)["tiers"]["easy"]["bars"] == {"direct >= 0.9": False}


def test_probe_vocab_covers_the_renderings(world):
    probe = _probe()
    worlds = {"running_sum": ToyWorld(seed=0), "product_sum": world}
    vocab = probe.build_vocab(worlds)
    for w in worlds.values():
        for p in w.problems(TEST, 100):
            for fmt in probe.FORMATS:
                ids = vocab.encode(w.render(p, fmt))
                assert vocab.stoi["<unk>"] not in ids or "alternatively" in w.render(p, fmt)
                assert vocab.decode(ids).split() == w.render(p, fmt).split() or "alternatively" in w.render(p, fmt)
