"""Benchmark loaders on ../shared/data and the correctness bars of issue 6.

Bars: MATH-500 gold solutions scored as completions >= 99%; AIME 2024 / AIME 2025 / AMC 2023 gold answers in
``\\boxed{}`` 100% and off by one 0%; GPQA-Diamond gold letters 100%, wrong letters 0%. GPQA questions are
never printed: assertions only touch ids, letters and counts.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from thrifty.answer_check import AnswerChecker
from thrifty.benchmarks import (
    BENCHMARK_NAMES,
    DATA_DIR_ENV,
    integer_answer,
    load_benchmark,
    load_problems_file,
    problem_text,
    user_message,
)
from thrifty.eval.commands import cmd_eval_score
from thrifty.eval.scoring import score_completions
from thrifty.jsonl import DataError, read_jsonl, write_jsonl

pytestmark = pytest.mark.shared_data


@pytest.fixture(scope="module")
def checker():
    with AnswerChecker(timeout_s=10.0) as c:
        yield c


def _accuracy(completions, problems, checker) -> float:
    scores = score_completions(completions, problems, checker)
    return sum(s["correct"] for s in scores) / len(scores)


def test_every_benchmark_loads_locally(shared_data):
    expected = {"math500": 500, "aime24": 30, "aime25": 30, "amc23": 40, "gpqa_diamond": 198, "gsm8k": 1319,
                "aqua": 254, "csqa": 1221}
    for name, n in expected.items():
        problems = load_benchmark(name, shared_data)
        assert len(problems) == n, name
        assert all(p.id and p.problem and p.answer for p in problems), name
    assert set(expected) | {"toy"} == set(BENCHMARK_NAMES)


def test_data_dir_from_environment(shared_data, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(shared_data))
    assert len(load_benchmark("aime25")) == 30
    with pytest.raises(DataError, match="aime24"):
        load_benchmark("aime24", shared_data / "gsm8k")


def test_answer_quirks(shared_data):
    aime24 = load_benchmark("aime24", shared_data)
    raw = {str(r["id"]): r["answer"] for r in read_jsonl(shared_data / "aime24.jsonl")}
    padded = [p for p in aime24 if raw[p.id].startswith("0")]
    assert padded and all(p.answer == str(int(raw[p.id])) for p in padded)
    amc = load_benchmark("amc23", shared_data)
    assert [p.answer for p in amc][:4] == ["27", "36", "45", "3159"]
    aime25 = load_benchmark("aime25", shared_data)
    assert not any(ch in p.problem for p in aime25 for ch in "\x0c\t")
    assert "\\frac" in aime25[18].problem and "\\triangle" in aime25[19].problem
    assert integer_answer(-1.0) == "-1" and integer_answer("025") == "25" and integer_answer("2.5") == "2.5"
    gsm = load_benchmark("gsm8k", shared_data, limit=3)
    assert gsm[0].answer == "18" and len(gsm) == 3
    aqua = load_benchmark("aqua", shared_data, limit=1)[0]
    assert len(aqua.options) == 5 and not aqua.options[0].startswith("A)")
    assert "(A) " in problem_text(aqua) and user_message(aqua, "Q: {problem}\n\\boxed{}").endswith("\\boxed{}")


def test_gpqa_options_shuffled_per_seed(shared_data):
    a = load_benchmark("gpqa_diamond", shared_data, seed=0)
    b = load_benchmark("gpqa_diamond", shared_data, seed=0)
    c = load_benchmark("gpqa_diamond", shared_data, seed=1)
    assert [p.answer for p in a] == [p.answer for p in b]  # deterministic
    assert sum(x.answer != y.answer for x, y in zip(a, c, strict=True)) > 100  # another seed, another order
    letters = Counter(p.answer for p in a)
    assert set(letters) == set("ABCD") and min(letters.values()) > 25  # not always the first option
    for x, y in zip(a, c, strict=True):
        assert x.id == y.id and sorted(x.options) == sorted(y.options)
        assert x.options["ABCD".index(x.answer)] == y.options["ABCD".index(y.answer)]


def test_bar_math500_gold_solutions(shared_data, checker):
    problems = load_benchmark("math500", shared_data)
    solutions = {r["unique_id"]: r["solution"] for r in read_jsonl(shared_data / "math500.jsonl")}
    assert _accuracy([solutions[p.id] for p in problems], problems, checker) >= 0.99


@pytest.mark.parametrize("name", ["aime24", "aime25", "amc23"])
def test_bar_competition_boxed_answers(shared_data, checker, name):
    problems = load_benchmark(name, shared_data)
    raw = [r["answer"] for r in read_jsonl(shared_data / f"{name}.jsonl")]
    gold = [f"The answer is $\\boxed{{{a}}}$." for a in raw]  # written as the file has it ("025", 27.0)
    assert _accuracy(gold, problems, checker) == 1.0
    off = [f"The answer is $\\boxed{{{int(float(a)) + 1}}}$." for a in raw]
    assert _accuracy(off, problems, checker) == 0.0


def test_bar_gpqa_letters(shared_data, checker):
    problems = load_benchmark("gpqa_diamond", shared_data, seed=0)
    right = [f"<ANSWER>\n{p.answer}\n</ANSWER>" for p in problems]
    assert _accuracy(right, problems, checker) == 1.0
    wrong = [f"The final answer is \\boxed{{{'ABCD'[('ABCD'.index(p.answer) + 1) % 4]}}}" for p in problems]
    assert _accuracy(wrong, problems, checker) == 0.0


def test_eval_score_registered_benchmark(shared_data, tmp_path, capsys):
    problems = load_benchmark("gpqa_diamond", shared_data, seed=3)
    preds = tmp_path / "preds.jsonl"
    rows = []
    for p in problems[:20]:
        rows.append({"id": p.id, "completion": f"\\boxed{{{p.answer}}}"})
        rows.append({"id": p.id, "completion": "\\boxed{" + "ABCD"[("ABCD".index(p.answer) + 1) % 4] + "}"})
    write_jsonl(preds, rows)
    assert cmd_eval_score(["--benchmark", "gpqa_diamond", "--predictions", str(preds), "--data-dir",
                           str(shared_data), "--seed", "3"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["n"] == 40 and out["n_problems"] == 20
    assert out["accuracy"] == pytest.approx(0.5) and out["pass_at_k"]["2"] == pytest.approx(1.0)
    assert out["coverage"] == pytest.approx(20 / 198)


def test_user_problem_file_errors(tmp_path):
    path = tmp_path / "p.jsonl"
    write_jsonl(path, [{"id": "a", "problem": "x"}])
    with pytest.raises(DataError, match="p.jsonl:1: missing key 'answer'"):
        load_problems_file(path)
    write_jsonl(path, [{"id": "a", "problem": "x", "answer": "1"}, {"id": "a", "problem": "y", "answer": "2"}])
    with pytest.raises(DataError, match="duplicate problem id"):
        load_benchmark(str(path))
    with pytest.raises(DataError, match="unknown benchmark"):
        load_benchmark("math5000")
