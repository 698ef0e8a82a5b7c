"""MinD multi-turn builder: segmentation rules, the 90% bar on real traces, toy traces, LLM segmentation."""

from __future__ import annotations

import json
import re

import pytest
from _llm_server import FakeLLMServer

from thrifty.answer_check import AnswerChecker
from thrifty.backends import BackendArguments
from thrifty.data_builders.multiturn import MultiturnArguments, build_multiturn, convert_rule_based
from thrifty.data_builders.segment import SegmentationError, segment_rule_based, validate_llm_units
from thrifty.data_builders.sources import SourceArguments, load_source
from thrifty.formats import extract_final_answer, render_turns, split_turns

THINKING = """Let me add. 2 + 2, wait, no: it is 2 + 3 here. So 2 + 3 = 5, and the answer is 5.

Wait, let me verify. 5 - 3 = 2, yes. So it is 5.

Alternatively, count up from 3: 4, 5. So the answer is 5.

Hmm.

Let me double-check once more: all good."""


def test_rule_segmenter_turn1_is_a_complete_attempt_and_tiny_units_merge():
    units = segment_rule_based(THINKING, "5", max_turns=8, min_unit_chars=0)
    # "Hmm." starts a unit (the one before stated an answer); "Let me double-check" does not (Hmm stated none)
    assert [u.text.split()[0] for u in units] == ["Let", "Wait,", "Alternatively,", "Hmm."]
    assert units[0].answer == "5" and "wait, no" in units[0].text  # a mid-attempt "wait" stays in turn 1
    assert units[3].answer == "5" and not units[3].states_answer  # the prefix's answer carries over
    merged = segment_rule_based(THINKING, "5", max_turns=8, min_unit_chars=50)
    assert [u.text.split()[0] for u in merged] == ["Let", "Alternatively,"]  # tiny units join the one before
    assert len(segment_rule_based(THINKING, "5", max_turns=3, min_unit_chars=0)) == 3
    assert "".join(u.text for u in units).replace("\n", "") == THINKING.replace("\n", "")


def _closed_conversion_rate(path) -> tuple[int, int]:
    items, report = load_source(
        SourceArguments(source=str(path), id_field="idx", trace_field="code[0]", trace_dialect="begin_of_thought"),
        label=False,
    )
    closed = [it for it in items if it.trace is not None and it.trace.closed]
    args = MultiturnArguments()
    rendered, wanted = [], []
    for it in closed:
        turns = convert_rule_based(it.trace, args) if it.trace.answer else []
        if len(turns) >= 2:
            rendered.append(render_turns(turns))
            wanted.append(it.trace.answer)
    with AnswerChecker() as checker:
        ok = checker.check([extract_final_answer(t) for t in rendered], wanted)
    return sum(ok), len(closed)


@pytest.mark.shared_data
def test_real_longcot_bar_90_percent(shared_data):
    total_ok = total = 0
    for name in ("sky-t1-math-correct-5k-27b_math500.jsonl", "sky-t1-math-correct-5k-32b_aime24.jsonl"):
        ok, n = _closed_conversion_rate(shared_data / "longcot" / name)
        assert n > 0 and ok / n >= 0.9, f"{name}: {ok}/{n}"
        total_ok, total = total_ok + ok, total + n
    assert total == 196 + 19 and total_ok / total >= 0.9


def _toy_traces(toy_world, tmp_path, n=60):
    path = tmp_path / "traces.jsonl"
    rows = [{"id": p.id, "question": p.question, "answer": p.answer, "trace": toy_world.trace(p)}
            for p in toy_world.problems("train", n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, rows


def _toy_source(path) -> SourceArguments:
    return SourceArguments(source=str(path), id_field="id", trace_field="trace", trace_dialect="think")


def test_toy_traces_build(toy_world, tmp_path):
    path, rows = _toy_traces(toy_world, tmp_path)
    problems = {p.id: p for p in toy_world.problems("train", len(rows))}
    args = MultiturnArguments(output_dir=str(tmp_path / "out"), min_unit_chars=0, max_turns=8)
    stats = build_multiturn(args, _toy_source(path), BackendArguments())
    capped = build_multiturn(MultiturnArguments(output_dir=str(tmp_path / "capped"), min_unit_chars=0, max_turns=4),
                             _toy_source(path), BackendArguments())
    assert max(int(k) for k in capped["turns_histogram"]) == 4 < max(int(k) for k in stats["turns_histogram"])
    out = [json.loads(line) for line in (tmp_path / "out" / "train.jsonl").read_text().splitlines()]
    assert len(out) == len(rows) == stats["rows"]
    gold = {r["id"]: r["answer"] for r in rows}
    for row in out:
        turns = split_turns(row["messages"][-1]["content"])
        assert len(turns) == row["num_turns"] >= 2
        assert turns[0].unit.startswith("start ") and turns[1].unit.startswith("wait , let me verify")
        assert all(t.answer == gold[row["id"]] for t in turns)
        # the builder recovers the toy world's own MinD rendering, one turn per thinking unit
        assert row["messages"][-1]["content"] == toy_world.render(problems[row["id"]], "multiturn")
    assert sum(stats["turns_histogram"].values()) == len(rows)
    assert stats["tokens_after"]["count"] == len(rows) and json.loads((tmp_path / "out" / "stats.json").read_text())


def test_llm_segmentation_validated_with_fallback(toy_world, tmp_path):
    def responder(prompt: str) -> str:
        if prompt.startswith("You are given"):
            thinking = prompt.split("Reasoning:\n", 1)[1]
            units = thinking.split("\n\n")
            if "k1-" in prompt or " 7 " in prompt.split("Reasoning:")[0]:
                units = units[::-1]  # reordered: must be rejected
            return "Here you go:\n```json\n" + json.dumps({"units": units}) + "\n```"
        numbers = re.findall(r"answer is (\d)", prompt)
        return f"\\boxed{{{numbers[-1]}}}" if numbers else "no idea"

    path, rows = _toy_traces(toy_world, tmp_path, n=30)
    with FakeLLMServer(responder) as srv:
        backend = BackendArguments(llm_backend="openai", llm_model="seg", llm_base_url=srv.base_url)
        args = MultiturnArguments(output_dir=str(tmp_path / "llm"), segmenter="llm", intermediate_answer="llm",
                                  min_unit_chars=0)
        stats = build_multiturn(args, _toy_source(path), backend)
    assert stats["rows"] == len(rows)
    assert stats["llm"]["llm_segmentation_ok"] > 0 and stats["llm"]["llm_segmentation_fallback"] > 0
    assert stats["llm"]["llm_prefix_answer_ok"] > 0
    with pytest.raises(SegmentationError):
        validate_llm_units('{"units": ["a b", "c EXTRA"]}', "a b\n\nc")
    assert validate_llm_units('{"units": ["a b", "c"]}', "a b\n\nc") == ["a b", "c"]


# Hand-written R1-style traces that correct themselves (final answer 28 = 8 + 4 + 16): the first attempt ends at a
# wrong result in a terse "..., so 13 + 16 = 29.", is corrected after "Wait,", then checked ("Yes, 28.") and
# explored again after "Hmm,".
SELF_CORRECTING = """First add 8 and 4, then 16. 8 + 4 = 13, so 13 + 16 = 29.

Wait, 8 + 4 is 12, not 13. So 12 + 16 = 28.

Let me verify: 16 + 12 = 28. Yes, 28.

Hmm, another way: 8 + 16 = 24, and 24 + 4 = 28. So the total is 28."""

TERSE_TRACES = {
    "correction": (SELF_CORRECTING, ["29", "28", "28", "28"]),
    # "... so 8+4 = 13." ends the first attempt; the check after "Wait," ends "Yes, 12."; "Hmm," starts a unit
    "so_ending": ("I need 8 + 4. Counting on from 8: 9, 10, 11, 12, 13, so 8+4 = 13.\n\n"
                  "Wait, I counted 8 itself. From 8: 9, 10, 11, 12 is four steps, so 8 + 4 = 12.\n\n"
                  "Let me check with 4 + 8: 4 + 6 = 10, plus 2 is 12. Yes, 12.\n\n"
                  "Hmm, also 12 - 4 = 8, which matches. So the answer is 12.", ["13", "12", "12", "12"]),
}


@pytest.mark.parametrize("name", sorted(TERSE_TRACES))
def test_rule_segmenter_keeps_the_wrong_first_answer_of_terse_traces(name):
    thinking, answers = TERSE_TRACES[name]
    units = segment_rule_based(thinking, answers[-1], max_turns=8, min_unit_chars=0)
    assert [u.answer for u in units] == answers
    assert [u.text.split()[0] for u in units] == [p.split()[0] for p in thinking.split("\n\n")]


def test_terse_answer_endings():
    from thrifty.data_builders.answers import terse_answer

    assert terse_answer("8 + 4 = 13, so 13 + 16 = 29.") == "29"
    assert terse_answer("Let me verify: 16 + 12 = 28. Yes, 28.") == "28"
    assert terse_answer("Right, it's 1,000.") == "1000"
    assert terse_answer("Yes, $\\frac{1}{2}$.") == "\\frac{1}{2}"
    assert terse_answer("so 8+4 = 13 and then we add the rest of the numbers.") is None  # not the ending
    assert terse_answer("We get x = 3 more apples.") is None and terse_answer("Yes, that works.") is None


def test_multiturn_build_of_self_correcting_traces_and_too_few_units(tmp_path):
    """Through the whole builder: turn 1 keeps the wrong answer, the last turn the right one; a trace that gives a
    single unit is dropped for too few units and counted in stats.json."""
    path = tmp_path / "traces.jsonl"
    rows = [{"id": name, "question": "What is 8 + 4 + 16?" if name == "correction" else "What is 8 + 4?",
             "answer": answers[-1], "trace": f"<think>\n{thinking}\n</think>\n\\boxed{{{answers[-1]}}}"}
            for name, (thinking, answers) in sorted(TERSE_TRACES.items())]
    rows.append({"id": "one_unit", "question": "What is 2 + 2?", "answer": "4",
                 "trace": "<think>\n2 + 2 = 4.\n</think>\n\\boxed{4}"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = MultiturnArguments(output_dir=str(tmp_path / "out"), min_unit_chars=0, min_turns=2)
    stats = build_multiturn(args, _toy_source(path), BackendArguments())
    out = {r["id"]: r for r in map(json.loads, (tmp_path / "out" / "train.jsonl").read_text().splitlines())}
    assert sorted(out) == ["correction", "so_ending"]
    for name, row in out.items():
        turns = split_turns(row["messages"][-1]["content"])
        assert [t.answer for t in turns] == TERSE_TRACES[name][1] == row["intermediate_answers"]
    on_disk = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert stats["dropped_too_few_units"] == on_disk["dropped_too_few_units"] == 1
