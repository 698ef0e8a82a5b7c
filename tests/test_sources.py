"""Trace/problem sources: field mapping, dialects, correctness labels, drop report, clear errors."""

from __future__ import annotations

import json

import pytest

from thrifty.data_builders.sources import SourceArguments, get_field, load_source, normalize_gold
from thrifty.jsonl import DataError

ROWS = [
    {"id": "a", "q": "1+1?", "gold": "$\\boxed{2}$", "out": ["<think>\nso 2\n</think>\nThe answer is \\boxed{2}."]},
    {"id": "b", "q": "2+2?", "gold": "4",
     "out": ["<|begin_of_thought|>\nhmm\n<|end_of_thought|>\n<|begin_of_solution|>\n\\boxed{5}\n<|end_of_solution|>"]},
    {"id": "c", "q": "3+3?", "gold": "6", "out": ["I think it is \\boxed{6}"]},                  # plain dialect
    {"id": "d", "q": "4+4?", "gold": "8", "out": ["<think>\nthinking, cut by the length cap"]},  # no answer
    {"id": "e", "q": "5+5?", "gold": "10", "out": ["thinking without its opener\n<|end_of_thought|>\n"
                                                  "<|begin_of_solution|>\\boxed{10}<|end_of_solution|>"]},
    {"id": "f", "q": "", "gold": "1", "out": ["x"]},                                           # no question
]


def write(tmp_path, rows, name="src.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def args(path, **kw) -> SourceArguments:
    base = dict(source=str(path), id_field="id", question_field="q", answer_field="gold", trace_field="out[0]")
    base.update(kw)
    return SourceArguments(**base)


def test_dialects_labels_and_drop_report(tmp_path):
    path = write(tmp_path, ROWS)
    items, report = load_source(args(path, trace_dialect="begin_of_thought"), require_trace=True)
    by_id = {it.id: it for it in items}
    assert sorted(by_id) == ["a", "b", "c", "e"]
    assert by_id["a"].gold == "2" and by_id["a"].trace.dialect == "think" and by_id["a"].correct is True
    assert by_id["b"].trace.answer == "5" and by_id["b"].correct is False
    assert by_id["e"].trace.dialect == "begin_of_thought" and by_id["e"].correct is True  # opener restored
    assert report.total == 6 and report.kept == 4
    assert report.dropped == {"no_question": 1, "trace_no_answer": 1}
    items, report = load_source(args(path, trace_dialect="begin_of_thought"), require_correct=True)
    assert sorted(it.id for it in items) == ["a", "c", "e"] and report.dropped["trace_incorrect"] == 1


def test_malformed_jsonl_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n\n" + '{"id": "x", "q": ' + "\n")
    with pytest.raises(DataError, match=r"bad\.jsonl:3: invalid JSON"):
        load_source(args(path))


def test_missing_mapped_field_names_field_key_and_file(tmp_path):
    path = write(tmp_path, ROWS[:2])
    with pytest.raises(DataError, match=r"src\.jsonl:1: field 'problem' \(recipe key question_field\) is missing"):
        load_source(args(path, question_field="problem"))


def test_csv_and_parquet_sources(tmp_path):
    import pandas as pd

    flat = [{"question": "1+1?", "answer": "2", "solution": "1+1=2, so \\boxed{2}"},
            {"question": "2+3?", "answer": "5", "solution": "\\boxed{5}"}]
    pd.DataFrame(flat).to_csv(tmp_path / "p.csv", index=False)
    pd.DataFrame(flat).to_parquet(tmp_path / "p.parquet")
    for name in ("p.csv", "p.parquet"):
        items, report = load_source(SourceArguments(source=str(tmp_path / name), solution_field="solution"))
        assert [it.gold for it in items] == ["2", "5"] and items[0].solution.endswith("\\boxed{2}")
        assert items[0].id == "p-0" and report.kept == 2
    with pytest.raises(DataError, match="p.csv.*field 'rationale'"):
        load_source(SourceArguments(source=str(tmp_path / "p.csv"), solution_field="rationale"))


def test_field_specs_and_gold_normalisation():
    row = {"code": ["t0", "t1"], "meta": {"answer": "7"}}
    assert get_field(row, "code[1]") == "t1" and get_field(row, "meta.answer") == "7"
    assert get_field(row, "code[5]") is None
    assert normalize_gold("Natalia sold 48 clips ... #### 72") == "72"
    assert normalize_gold("$\\boxed{\\frac{1}{2}}$") == "\\frac{1}{2}" and normalize_gold("$x^2$") == "x^2"


def test_real_longcot_traces_and_aqua(shared_data):
    src = shared_data / "longcot" / "sky-t1-math-correct-5k-27b_math500.jsonl"
    items, report = load_source(
        SourceArguments(source=str(src), id_field="idx", trace_field="code[0]", trace_dialect="begin_of_thought"),
        require_closed=True,
        label=False,
    )
    # README: 196/500 traces close the thought block; 8 of those have no answer anywhere
    assert report.total == 500 and report.dropped["trace_unclosed"] == 304
    assert report.kept + report.dropped["trace_no_answer"] == 196
    aqua, _ = load_source(SourceArguments(source=str(shared_data / "aqua" / "dev.jsonl"), options_field="options",
                                          answer_field="correct", solution_field="rationale", max_samples=5))
    assert len(aqua) == 5 and "Options:\nA)" in aqua[0].question and aqua[0].gold == "A"
