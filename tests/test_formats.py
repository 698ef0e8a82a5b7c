"""Response formats: render/parse round trips, format detection, MinD turns, trace dialects."""

import json

import pytest

from thrifty.formats import (
    ARM_FORMATS,
    UNKNOWN,
    Turn,
    TurnDelimiters,
    answer_after_turn,
    count_turns,
    detect_format,
    extract_final_answer,
    last_boxed,
    normalize_trace,
    parse_arm,
    render_arm,
    render_turns,
    split_turns,
)


@pytest.mark.parametrize("fmt", ARM_FORMATS)
def test_arm_round_trip(fmt):
    reasoning = None if fmt == "direct" else "step one\n\nstep two with {braces}"
    text = render_arm(fmt, r"\frac{1}{2}", reasoning)
    parsed = parse_arm(text)
    assert parsed.format == fmt
    assert parsed.answer == r"\frac{1}{2}"
    assert parsed.reasoning == reasoning
    assert extract_final_answer(text) == r"\frac{1}{2}"


def test_arm_exact_tags():
    assert render_arm("direct", "7") == "<ANSWER>\n7\n</ANSWER>"
    assert render_arm("short_cot", "7", "3+4") == "<COT>\n3+4\n</COT>\n<ANSWER>\n7\n</ANSWER>"
    assert render_arm("long_cot", "7", "r").startswith("<LONG_COT>\nr\n</LONG_COT>\n<ANSWER>")
    assert render_arm("code", "7", "x").startswith("<CODE>\nx\n</CODE>")
    with pytest.raises(ValueError, match="needs a reasoning"):
        render_arm("code", "7")
    with pytest.raises(ValueError, match="unknown ARM format"):
        render_arm("essay", "7")


@pytest.mark.parametrize(
    "text",
    [
        "The answer is 7",  # no tag
        "<COT>\nx\n</COT>\n<LONG_COT>\ny\n</LONG_COT>\n<ANSWER>\n7\n</ANSWER>",  # mixed formats
        "<ANSWER>\n7\n</ANSWER><CODE>x</CODE>",  # direct that contains a code block
        "<COT>\na\n</COT><COT>\nb\n</COT><ANSWER>\n7\n</ANSWER>",  # block opened twice
        "hello <ANSWER>\n7\n</ANSWER>",  # does not open with a tag
    ],
)
def test_unknown_formats(text):
    assert detect_format(text) == UNKNOWN


def test_last_boxed_nested_and_unbalanced():
    assert last_boxed(r"\boxed{1} then \boxed{\frac{a}{b}}") == r"\frac{a}{b}"
    assert last_boxed(r"\boxed{\frac{1}{2") is None
    assert last_boxed("no box 12 apples") is None


def test_final_answer_rules():
    assert extract_final_answer("I think 12 apples") is None  # a number in text is not an answer
    assert extract_final_answer(r"\boxed{4} ... actually \boxed{3}") == "3"
    assert extract_final_answer("<ANSWER>\n\\boxed{5}\n</ANSWER>") == "5"


def test_turns_round_trip_and_answer_after_turn():
    turns = [Turn("first try", r"\boxed{4}"), Turn("Wait, check", r"so \boxed{5}"), Turn("verify", r"\boxed{5}")]
    text = render_turns(turns)
    back = split_turns(text)
    assert [t.unit for t in back] == ["first try", "Wait, check", "verify"]
    assert [t.answer for t in back] == ["4", "5", "5"]
    assert count_turns(text) == 3
    assert answer_after_turn(text, 1) == "4"
    assert answer_after_turn(text, 2) == "5"
    assert extract_final_answer(text) == "5"


def test_turns_custom_delimiters_and_unclosed():
    d = TurnDelimiters("<step>", "</step>")
    text = render_turns([Turn("a", r"\boxed{1}"), Turn("b", r"\boxed{2}")], d)
    assert count_turns(text, d) == 2 and count_turns(text) == 0
    cut = render_turns([Turn("a", r"\boxed{1}")]) + "\n<think>\nrunning out of tok"
    assert count_turns(cut) == 2
    assert extract_final_answer(cut) == "1"  # the cut-off last turn never answered: the previous answer stands
    assert answer_after_turn(cut, 2) == "1"


def test_trace_dialects():
    r1 = normalize_trace("q", "<think>\nlet me see\n</think>\nSo the answer is \\boxed{42}.")
    assert (r1.dialect, r1.thinking, r1.answer, r1.closed) == ("think", "let me see", "42", True)
    sky = normalize_trace(
        "q",
        "<|begin_of_thought|>\n\nhmm\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\nthus \\boxed{7}\n\n<|end_of_solution|>",
    )
    assert (sky.dialect, sky.thinking, sky.solution, sky.answer) == ("begin_of_thought", "hmm", "thus \\boxed{7}", "7")
    cut = normalize_trace("q", "<|begin_of_thought|>\nwe get \\boxed{3} maybe, wait")
    assert not cut.closed and cut.answer == "3"
    plain = normalize_trace("q", "Add them: \\boxed{9}")
    assert plain.dialect == "plain" and plain.answer == "9"


def test_real_sky_t1_traces(shared_data):
    path = shared_data / "longcot" / "sky-t1-math-correct-5k-32b_aime24.jsonl"
    rows = [json.loads(line) for line in path.open()]
    traces = [normalize_trace(r["question"], r["code"][0]) for r in rows]
    closed = [t for t in traces if t.closed]
    assert len(closed) == 19  # the data README: 19/30 close the thought block
    assert all(t.dialect == "begin_of_thought" and t.thinking for t in traces)
    # the extracted answer matches the harness's own extraction wherever the trace closed and has a box
    agree = sum(str(t.answer).strip() == str(r["pred"][0]).strip() for t, r in zip(traces, rows, strict=False) if t.closed and t.answer)
    assert agree >= 0.8 * sum(1 for t in closed if t.answer)


def test_traces_whose_opening_tag_was_in_the_prompt_and_plain_traces(shared_data):
    """D9: a Sky-T1 trace whose ``<|begin_of_thought|>`` was part of the prompt is still that dialect (its
    closing tag is not left in the thinking), and plain text, which cannot show it was finished, is not closed
    unless the recipe declares plain traces (``trace_dialect: plain``)."""
    from thrifty.data_builders.sources import SourceArguments, load_source, parse_trace

    no_opener = normalize_trace("q", "hmm\n<|end_of_thought|>\n<|begin_of_solution|>\nso \\boxed{7}\n<|end_of_solution|>")
    assert (no_opener.dialect, no_opener.thinking, no_opener.answer, no_opener.closed) == (
        "begin_of_thought", "hmm", "7", True)
    r1 = normalize_trace("q", "let me see\n</think>\nSo \\boxed{4}.")
    assert (r1.dialect, r1.thinking, r1.answer, r1.closed) == ("think", "let me see", "4", True)
    cut = normalize_trace("q", "we get \\boxed{3} maybe, wait")
    assert cut.dialect == "plain" and not cut.closed
    assert parse_trace("q", "Add them: \\boxed{9}", "plain").closed
    path = shared_data / "longcot" / "sky-t1-math-correct-5k-27b_math500.jsonl"

    def closed(dialect: str) -> set:
        items, _ = load_source(SourceArguments(source=str(path), id_field="idx", question_field="question",
                                               answer_field="answer", trace_field="code[0]", trace_dialect=dialect),
                               require_trace=True, require_closed=True, label=False)
        assert not any("<|end_of_thought|>" in it.trace.thinking for it in items)
        return {it.id for it in items}

    assert closed("auto") == closed("begin_of_thought")
