"""Robustness of the data builders (audit D1-D4, D12-D16): LLM failures are retried, resume never loses rows,
one build per folder, a folder is resumed only by the recipe and source that made it, bad values and rows are
refused with a clear error, outputs get normal permissions. Real builders, a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from _llm_server import FakeLLMServer

from thrifty.backends import BackendArguments
from thrifty.data_builders.agentwrite import parse_plan, plan_lines
from thrifty.data_builders.build_common import ResumableBuild
from thrifty.data_builders.multiformat import (
    MultiformatArguments,
    build_multiformat,
    cmd_build_multiformat,
    parse_code_reply,
)
from thrifty.data_builders.multiturn import MultiturnArguments, build_multiturn
from thrifty.data_builders.sources import SourceArguments, load_source
from thrifty.errors import UserInputError
from thrifty.jsonl import DataError, ResumableJsonlWriter, read_jsonl, write_json
from thrifty.recipes import RecipeError

REPO = Path(__file__).resolve().parents[1]
PAIRS = [(2, 3), (4, 4), (7, 1), (9, 9), (5, 6), (8, 3)]


def _problems(path: Path, pairs=PAIRS) -> Path:
    rows = [{"id": f"p{a}{b}", "q": f"What is {a} + {b}?", "a": str(a + b),
             "sol": f"{a} + {b} = {a + b}, so \\boxed{{{a + b}}}."} for a, b in pairs]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _source(path: Path, **kw) -> SourceArguments:
    return SourceArguments(source=str(path), id_field="id", question_field="q", answer_field="a",
                           solution_field="sol", **kw)


def _code_responder(prompt: str) -> str:
    a, b = (int(x) for x in prompt.split("What is ", 1)[1].split("?")[0].split(" + "))
    return f"```python\ndef f():\n    return {a} + {b}\n>>> f()\n{a + b}\n```"


def _dead_url() -> str:
    with socket.socket() as s:  # a port nobody listens on: the server is down
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def _backend(url: str) -> BackendArguments:
    return BackendArguments(llm_backend="openai", llm_model="m", llm_base_url=url, llm_max_retries=1,
                            llm_backoff_base_s=0.01, llm_timeout_s=5.0)


# --------------------------------------------------------------------------------------------------- D1
def test_llm_failures_are_retried_by_the_next_run_and_the_command_fails(tmp_path):
    src = _problems(tmp_path / "p.jsonl")
    out = tmp_path / "out"
    argv = ["--source", str(src), "--id_field", "id", "--question_field", "q", "--answer_field", "a",
            "--solution_field", "sol", "--formats", "direct", "short_cot", "code", "--short_cot_source", "solution",
            "--output_dir", str(out), "--llm_backend", "openai", "--llm_model", "m", "--llm_max_retries", "1",
            "--llm_backoff_base_s", "0.01"]
    assert cmd_build_multiformat([*argv, "--llm_base_url", _dead_url()]) == 1  # every code request failed
    stats = json.loads((out / "stats.json").read_text())
    assert stats["retry_pending"] == {"code:llm_failed": 6} and stats["problems_pending"] == 6
    assert "code:llm_failed" not in stats["dropped"] and stats["rows_per_format"] == {"direct": 6, "short_cot": 6}
    with FakeLLMServer(_code_responder) as srv:
        assert cmd_build_multiformat([*argv, "--llm_base_url", srv.base_url]) == 0
        assert len(srv.requests) == 6  # only the failed code requests, once each
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows_per_format"] == {"direct": 6, "short_cot": 6, "code": 6} and stats["retry_pending"] == {}
    ids = [r["id"] for r in read_jsonl(out / "train.jsonl")]
    assert len(ids) == len(set(ids)) == 18  # the rows of the first run are not written twice


# --------------------------------------------------------------------------------------------------- D2
def test_a_bad_middle_line_is_an_error_and_only_a_torn_last_line_is_dropped(tmp_path):
    path = tmp_path / "out.jsonl"
    with ResumableJsonlWriter(path) as w:
        for i in range(5):
            w.append({"id": i})
    good = path.read_text()
    path.write_text(good + '{"id": 5, "x": "tor')  # killed mid-line
    assert len(ResumableJsonlWriter(path)) == 5 and path.read_text() == good
    lines = good.splitlines(keepends=True)
    lines[2] = '{"id": 2, oops\n'
    path.write_text("".join(lines))
    with pytest.raises(DataError, match=r"out.jsonl:3: unreadable line"):
        ResumableJsonlWriter(path)
    assert path.read_text() == "".join(lines)  # nothing was truncated


def test_ledger_problems_whose_rows_are_missing_are_rebuilt(tmp_path):
    src = _problems(tmp_path / "p.jsonl")
    args = MultiformatArguments(output_dir=str(tmp_path / "out"), formats=["direct", "short_cot"],
                                short_cot_source="solution")
    build_multiformat(args, _source(src), BackendArguments())
    train = tmp_path / "out" / "train.jsonl"
    full = read_jsonl(train)
    train.write_text("".join(json.dumps(r) + "\n" for r in full if r["id"] != "p44-short_cot"))  # a lost row
    stats = build_multiformat(args, _source(src), BackendArguments())
    assert stats["rows"] == 12 and sorted(r["id"] for r in read_jsonl(train)) == sorted(r["id"] for r in full)


# --------------------------------------------------------------------------------------------------- D3
def test_a_second_build_into_a_busy_folder_is_refused(tmp_path):
    with ResumableBuild(tmp_path / "out"):
        code = ("import sys\nfrom thrifty.data_builders.build_common import ResumableBuild\n"
                f"ResumableBuild({str(tmp_path / 'out')!r})\n")
        other = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert other.returncode != 0 and "in use by another running build" in other.stderr
    with ResumableBuild(tmp_path / "out"):  # released on close
        pass


# --------------------------------------------------------------------------------------------------- D4
def test_a_folder_is_resumed_only_with_the_same_recipe_and_source(tmp_path):
    src = _problems(tmp_path / "p.jsonl")
    args = MultiformatArguments(output_dir=str(tmp_path / "out"), formats=["direct", "short_cot"],
                                short_cot_source="solution")
    build_multiformat(args, _source(src), BackendArguments())
    other = MultiformatArguments(output_dir=str(tmp_path / "out"), formats=["direct"], balanced=True)
    with pytest.raises(UserInputError, match=r"other inputs or recipe values.*recipe.formats"):
        build_multiformat(other, _source(src), BackendArguments())
    _problems(src, PAIRS[:3])  # the source changed
    with pytest.raises(UserInputError, match=r"inputs.source"):
        build_multiformat(args, _source(src), BackendArguments())
    _problems(src)
    again = MultiformatArguments(output_dir=str(tmp_path / "out"), formats=["direct", "short_cot"],
                                 short_cot_source="solution", batch_size=2)  # neutral keys may change
    assert build_multiformat(again, _source(src, max_samples=4), BackendArguments())["rows"] == 12


def test_the_source_inside_the_output_folder_and_a_foreign_train_file_are_refused(tmp_path):
    same = tmp_path / "same"
    same.mkdir()
    src = _problems(same / "train.jsonl")
    before = src.read_text()
    args = MultiformatArguments(output_dir=str(same), formats=["direct"])
    with pytest.raises(UserInputError, match="inside output_dir"):
        build_multiformat(args, _source(src), BackendArguments())
    assert src.read_text() == before
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "train.jsonl").write_text('{"id": "x"}\n')
    with pytest.raises(UserInputError, match="holds a build but no build_signature.json"):
        build_multiformat(MultiformatArguments(output_dir=str(tmp_path / "foreign"), formats=["direct"]),
                          _source(_problems(tmp_path / "p.jsonl")), BackendArguments())


# --------------------------------------------------------------------------------------------------- D12
def test_bad_recipe_values_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(RecipeError, match="recipe key segmenter: 'rules'"):
        MultiturnArguments(segmenter="rules")
    with pytest.raises(RecipeError, match="recipe key trace_dialect: 'r1'"):
        SourceArguments(trace_dialect="r1")
    with pytest.raises(RecipeError, match="recipe key short_cot_source: 'tyo'"):
        MultiformatArguments(short_cot_source="tyo")
    with pytest.raises(RecipeError, match="recipe key code_source: 'tyo'"):
        MultiformatArguments(code_source="tyo")
    src = _problems(tmp_path / "p.jsonl")
    with pytest.raises(RecipeError, match="'llm' needs llm_backend"):
        build_multiturn(MultiturnArguments(output_dir=str(tmp_path / "mt"), segmenter="llm"),
                        _source(src, trace_field="sol"), BackendArguments())
    assert not (tmp_path / "mt").exists()
    os.environ.pop("THRIFTY_TEST_UNSET_KEY", None)
    backend = BackendArguments(llm_backend="openai", llm_model="m", llm_api_key_env="THRIFTY_TEST_UNSET_KEY")
    with pytest.raises(Exception, match="THRIFTY_TEST_UNSET_KEY"):
        build_multiformat(MultiformatArguments(output_dir=str(tmp_path / "aqua")), _source(src), backend)
    assert not (tmp_path / "aqua").exists()


def test_decontaminate_ngram_size_zero_is_a_user_error(tmp_path):
    from thrifty.decontaminate import NgramIndex

    with pytest.raises(UserInputError, match="n-gram size"):
        NgramIndex({"b": ["a question"]}, 0)
    from thrifty.data_builders.build_common import DecontaminationArguments

    with pytest.raises(RecipeError, match="recipe key decontaminate_ngram_size: 0"):
        DecontaminationArguments(decontaminate_ngram_size=0)


# --------------------------------------------------------------------------------------------------- D13/D14
def test_non_string_fields_and_lone_surrogates_name_the_row_and_key(tmp_path):
    src = tmp_path / "p.jsonl"
    src.write_text('{"id": "1", "q": "What is 1 + 1?", "a": "2"}\n{"id": "2", "q": {"a": 1}, "a": "2"}\n')
    with pytest.raises(DataError, match=r"p.jsonl:2: field 'q' \(recipe key question_field\) holds a dict"):
        load_source(SourceArguments(source=str(src), id_field="id", question_field="q", answer_field="a"),
                    label=False)
    src.write_text('{"id": "1", "q": "What is 1 + 1?", "a": "2"}\n{"id": "2", "q": "Hi \\ud83d there", "a": "2"}\n'
                   '{"id": "3", "q": "Emoji \\ud83d\\ude00 fine", "a": "2"}\n')
    with pytest.raises(DataError, match=r"p.jsonl:2: field 'q' holds a lone surrogate"):
        load_source(SourceArguments(source=str(src), id_field="id", question_field="q", answer_field="a"),
                    label=False)


# --------------------------------------------------------------------------------------------------- D15
def test_atomic_writes_get_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "stats.json", {"a": 1})
        assert stat.S_IMODE((tmp_path / "stats.json").stat().st_mode) == 0o644
    finally:
        os.umask(old)


# --------------------------------------------------------------------------------------------------- D16
def test_small_items(tmp_path):
    one = tmp_path / "one.json"
    one.write_text('{"id": "1", "q": "What is 1 + 1?", "a": "2"}\n')  # JSON lines with one row
    items, _ = load_source(SourceArguments(source=str(one), id_field="id", question_field="q", answer_field="a"),
                           label=False)
    assert [it.question for it in items] == ["What is 1 + 1?"]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DataError, match="has no rows"):
        load_source(SourceArguments(source=str(empty)), label=False)
    from thrifty.data_builders.agentwrite import AgentWriteArguments, load_instructions

    with pytest.raises(DataError, match="empty.jsonl has no rows"):
        load_instructions(AgentWriteArguments(instructions=str(empty)))
    assert plan_lines("Paragraph 1 - Main Point: intro - Word Count: 1,200 words")[0].words == 1200
    assert parse_plan("Paragraph 1 - Main Point: intro - Word Count: 1,200 words")[0].words == 1200
    fenced = "Here is the program:\n```python\ndef f():\n    return 2 + 3\n>>> f()\n5\n```\nIt returns 5."
    assert parse_code_reply(fenced).answer == "5"
    early = "```python\ndef f():\n    return 2 + 3\n```\n>>> f()\n5\n\nSo the answer is 5."
    cand = parse_code_reply(early)
    assert cand.answer == "5" and "```" not in cand.reasoning and cand.reasoning.endswith(">>> f()\n5")
