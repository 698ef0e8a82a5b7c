"""R1-like toy traces (a first solution, then 1-6 reflective units) and the tiered toy world (issue 17)."""

import re
import statistics
from collections import Counter

import pytest

from thrifty.data_builders.segment import segment_rule_based
from thrifty.formats import normalize_trace, split_turns
from thrifty.toy_world import (
    MULTITURN,
    PRETRAIN_LEVELS,
    TEST,
    TIERS,
    TRAIN,
    PairSumTask,
    ProductSumTask,
    RunningSumTask,
    TieredTask,
    ToyWorld,
    split_of,
)

SUM_STEP = re.compile(r"(\d+) \+ (\d+) = (\d+)(?: so (\d))?")
PRODUCT_STEP = re.compile(r"(?<!\+ )(\d) \* (\d) = (\d+)")
VERIFY_PRODUCT = re.compile(r"(\d) \+ (\d) \* (\d) = (\d+) so (\d)")


def _reflections(world, problems):
    return [world.thinking_units(p)[1:] for p in problems]


@pytest.mark.parametrize("task", [RunningSumTask(), PairSumTask(), ProductSumTask()], ids=lambda t: t.name)
def test_reflective_units_are_r1_like_and_each_restates_the_answer(task):
    world = ToyWorld(task=task, seed=3)
    problems = world.problems(TRAIN, 1500)
    counts = Counter()
    for p, units in zip(problems, _reflections(world, problems), strict=True):
        counts[len(units)] += 1
        assert 1 <= len(units) <= 6
        assert len(set(units)) == len(units), units  # no unit is repeated
        assert units[0].startswith("wait , let me verify . ")
        for unit in units:
            assert unit.startswith(("wait , let me verify", "alternatively , ")), unit
            assert unit.endswith(f" the answer is {p.answer} ."), unit
            if unit.startswith("alternatively"):  # a re-solve: "a + b + c = t so x" or "a + b = s , s + c = t so x"
                for equation in unit.split(" : ")[1].split(" so ")[0].split(" , "):
                    lhs, rhs = equation.split(" = ")
                    assert eval(lhs) == int(rhs), unit
                assert int(unit.split(" = ")[-1].split(" so ")[0]) % 10 == int(p.answer)
                continue
            # every written sum and product is right, except a slip that "wait" corrects at once
            for m in SUM_STEP.finditer(unit):
                a, b, c, mod = m.groups()
                slipped = unit[m.end():].startswith((" . wait , ", " . no , "))
                assert (int(a) + int(b) == int(c)) != slipped, unit
                assert mod is None or int(mod) == int(c) % 10
            for m in PRODUCT_STEP.finditer(unit):
                a, b, c = (int(x) for x in m.groups())
                assert (a * b == c) != unit[m.end():].startswith((" . wait , ", " . no , ")), unit
            for m in VERIFY_PRODUCT.finditer(unit):
                x, a, b, c, mod = (int(v) for v in m.groups())
                assert x + a * b == c and c % 10 == mod == int(p.answer), unit
    top = 6 if isinstance(task, RunningSumTask) else 4
    assert set(counts) == set(range(1, top + 1))  # every number of reflective units occurs
    kinds = Counter(u.split(" ")[2] if u.startswith("alt") else "verify" for us in _reflections(world, problems)
                    for u in us)
    assert kinds["verify"] and kinds["add"] and (kinds["one"] or not isinstance(task, RunningSumTask))
    caught = sum(" no , " in u for us in _reflections(world, problems) for u in us[1:])
    assert caught > 20  # a slip made while re-checking, caught at once


def test_mind_rendering_averages_at_least_3_5_turns_and_the_segmenter_recovers_the_units():
    world = ToyWorld(seed=0)
    problems = world.problems(TRAIN, 2000)
    turns = [split_turns(world.render(p, MULTITURN)) for p in problems]
    assert statistics.fmean(len(t) for t in turns) >= 3.5
    assert max(len(t) for t in turns) == 7 and min(len(t) for t in turns) >= 2
    for p, ts in zip(problems[:300], turns[:300], strict=True):
        assert all(t.answer == p.answer for t in ts)
        trace = normalize_trace(p.question, world.trace(p))
        units = segment_rule_based(trace.thinking, trace.answer, max_turns=8, min_unit_chars=0)
        assert [u.text.strip() for u in units] == [t.unit for t in ts]  # MinD's segmenter finds the same units


def test_tiered_task_levels_tiers_and_splits():
    task = TieredTask()
    world = ToyWorld(task=task, seed=0)
    assert world.difficulties == list(range(1, len(task.levels) + 1))
    assert {d for ds in TIERS.values() for d in ds} <= set(world.difficulties)
    problems = world.problems(TRAIN, 900) + world.test_set(5)
    for p in problems:
        family, k = task.levels[p.difficulty - 1]
        own = task.family_problem(p)
        assert p.task == family == own.task and own.difficulty == k
        assert (p.question, p.answer) == (own.question, own.answer)
        assert task.parse_question(p.question) == p.inputs
        assert task.tier_of(p.difficulty) in TIERS
        # the split is the family's own: a problem is in the same split in every world that has it
        assert split_of(task, p.inputs, 0.3) == split_of(task.families[family], own.inputs, 0.3)
        for fmt in ("short_cot", "code", "long_cot", MULTITURN):
            assert world.render(p, fmt) == ToyWorld(task=task.families[family], seed=0).render(own, fmt)
    assert world.sft_row(problems[0], "direct")["source"] == f"toy/{problems[0].task}"
    pretrain = TieredTask(levels=PRETRAIN_LEVELS)
    assert set(task.levels) <= set(pretrain.levels) and pretrain.tiers == {}


def test_tiered_task_rejects_what_it_does_not_hold():
    task = TieredTask(levels=[("running_sum", 2), ("pair_sum", 5)], tiers={"easy": [1], "hard": [2]})
    with pytest.raises(ValueError, match="k = 3 is not a level"):
        task.parse_question("1 2 3 _ _ _")
    with pytest.raises(ValueError, match="not a question of"):
        task.parse_question("what is 2 + 2?")
    with pytest.raises(ValueError, match="level 1 is"):
        task.make_problem("x", [1, 4, 5, 6])
    with pytest.raises(ValueError, match="level"):
        TieredTask(levels=[("running_sum", 7)])
    with pytest.raises(ValueError, match="outside"):
        TieredTask(levels=[("running_sum", 1)], tiers={"easy": [2]})
    assert task.tier_of(2) == "hard" and task.tier_of(3) is None
    test = ToyWorld(task=task, seed=0).problems(TEST, 5, difficulty=2, distinct=True)
    assert all(p.task == "pair_sum" and len(p.question.split()) == 13 for p in test)


def test_pair_sum_long_cot_is_the_running_sum_over_the_interleaved_pairs():
    """x_i = (x_{i-1} + a_i + b_i) mod 10: the short CoT writes x_i (three digits per token), the long CoT every
    intermediate value (the running sum's own steps over a_1, b_1, a_2, b_2, ...)."""
    world = ToyWorld(task=PairSumTask(), seed=0)
    running = RunningSumTask()
    problems = world.problems(TRAIN, 500)
    assert sorted(Counter(p.difficulty for p in problems)) == list(range(1, 7))
    for p in problems:
        k = p.difficulty
        a, b = p.inputs[:k], p.inputs[k:]
        slots = p.question.split()
        assert len(slots) == 13 and slots[6] == "+" and slots[:k] == [str(x) for x in a]
        assert slots[7:7 + k] == [str(y) for y in b] and world.task.parse_question(p.question) == p.inputs
        interleaved = [d for pair in zip(a, b, strict=True) for d in pair]
        sums = running.partial_sums(interleaved)
        assert p.answer == str(sums[-1])
        assert world.render(p, "short_cot").split("\n")[1].split() == [str(x) for x in sums[1::2]]
        solve = world.thinking_units(p)[0]
        written = [int(m.group(4)) for m in SUM_STEP.finditer(solve) if m.group(4) is not None]
        assert solve.startswith(f"start {a[0]} .") and written == sums[1:]  # every intermediate value
        code = world.render(p, "code")
        assert str(eval(code.split("return ")[1].split("\n")[0])) == p.answer
    with pytest.raises(ValueError, match="not a pair_sum question"):
        world.task.parse_question("1 2 _ _ _ _ | 3 4 _ _ _ _")


def test_toy_pretrain_continues_an_existing_model_on_the_tiered_world(tiny_model_dir, tmp_path, capsys):
    """``thrifty toy pretrain --init-from DIR``: continued pretraining (the shipped base's recipe,
    recipes/toy/pretrain_continue.yaml) on every level of both families, the hard family's short CoT a small share."""
    import json

    from thrifty.cli import main

    out = tmp_path / "pretrain"
    argv = ["toy", "pretrain", "--init-from", str(tiny_model_dir), "--out", str(out), "--n-train", "96",
            "--config", "recipes/toy/pretrain_continue.yaml", "--max_steps", "2", "--per_device_train_batch_size", "8",
            "--save_steps", "2", "--logging_steps", "1"]
    assert main(argv) == 0
    final = out / "final"
    vocab = [json.loads((d / "tokenizer.json").read_text())["model"]["vocab"] for d in (final, tiny_model_dir)]
    assert (final / "model.safetensors").exists() and vocab[0] == vocab[1]  # the model's own tokenizer
    assert not (out / "init").exists()
    rows = [json.loads(line) for line in (out / "data" / "sft.jsonl").read_text().splitlines()]
    assert {r["source"] for r in rows} == {"toy/running_sum", "toy/pair_sum"}
    share = {fam: sum(r["format"] == "short_cot" for r in rows if r["source"] == f"toy/{fam}")
             / sum(r["source"] == f"toy/{fam}" for r in rows) for fam in ("running_sum", "pair_sum")}
    assert share["pair_sum"] < share["running_sum"]
    assert main(["toy", "pretrain", "--init-from", str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2
    assert "--init-from" in capsys.readouterr().err and not (tmp_path / "x").exists()  # refused before writing
