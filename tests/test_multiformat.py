"""ARM multi-format builder: toy world, LLM-written code/short CoT from a local server, kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from _llm_server import FakeLLMServer

from thrifty.backends import BackendArguments
from thrifty.data_builders.multiformat import MultiformatArguments, build_multiformat, parse_code_reply
from thrifty.data_builders.sources import SourceArguments
from thrifty.formats import ARM_FORMATS, parse_arm

REPO = Path(__file__).resolve().parents[1]


def _toy_traces(toy_world, path: Path, n: int) -> list[dict]:
    rows = [{"id": p.id, "question": p.question, "answer": p.answer, "trace": toy_world.trace(p)}
            for p in toy_world.problems("train", n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def _toy_args(out: Path) -> MultiformatArguments:
    return MultiformatArguments(output_dir=str(out), short_cot_source="toy", code_source="toy", balanced=True)


def _toy_source(path: Path) -> SourceArguments:
    return SourceArguments(source=str(path), source_name="toy", id_field="id", trace_field="trace",
                           trace_dialect="think")


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_toy_world_all_four_formats(toy_world, tmp_path, tiny_model_dir):
    rows = _toy_traces(toy_world, tmp_path / "traces.jsonl", 40)
    args = _toy_args(tmp_path / "out")
    args.tokenizer_name_or_path = str(tiny_model_dir)
    stats = build_multiformat(args, _toy_source(tmp_path / "traces.jsonl"), BackendArguments())
    out = _read(tmp_path / "out" / "train.jsonl")
    assert stats["rows_per_format"] == {fmt: len(rows) for fmt in ARM_FORMATS}
    gold = {r["id"]: r["answer"] for r in rows}
    for row in out:
        parsed = parse_arm(row["messages"][-1]["content"])
        assert parsed.format == row["format"] and parsed.answer == gold[row["problem_id"]]
        assert row["source"] == "toy" and row["id"] == f"{row['problem_id']}-{row['format']}"
    tokens = stats["tokens_per_format"]
    assert stats["tokenizer"] == str(tiny_model_dir)
    assert tokens["direct"]["mean"] < tokens["short_cot"]["mean"] < tokens["long_cot"]["mean"]


def test_llm_code_and_short_cot_verified_and_balanced(tmp_path):
    problems = [{"q": f"What is {a} + {b}?", "a": str(a + b), "sol": f"{a} + {b} = {a + b}, so \\boxed{{{a + b}}}."}
                for a, b in [(2, 3), (4, 4), (7, 1), (9, 9)]]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(p) + "\n" for p in problems))

    def responder(prompt: str) -> str:
        a, b = (int(x) for x in prompt.split("What is ", 1)[1].split("?")[0].split(" + "))
        if prompt.startswith("Write a short Python program"):
            wrong = 1 if a == 7 else 0  # the model gets 7 + 1 wrong
            return f"```python\ndef f():\n    return {a} + {b}\n>>> f()\n{a + b + wrong}\n```"
        return f"Add them: {a + b}. The answer is \\boxed{{{a + b}}}."

    with FakeLLMServer(responder) as srv:
        backend = BackendArguments(llm_backend="openai", llm_model="m", llm_base_url=srv.base_url,
                                   llm_cache=str(tmp_path / "llm_cache.jsonl"))
        source = SourceArguments(source=str(tmp_path / "p.jsonl"), question_field="q", answer_field="a",
                                 solution_field="sol")
        args = MultiformatArguments(output_dir=str(tmp_path / "o"), formats=["direct", "short_cot", "code"],
                                    short_cot_source="llm", balanced=True)
        stats = build_multiformat(args, source, backend)
        n_requests = len(srv.requests)
        unbalanced = build_multiformat(
            MultiformatArguments(output_dir=str(tmp_path / "o2"), formats=["direct", "short_cot", "code"],
                                 short_cot_source="llm"), source, backend)
        assert len(srv.requests) == n_requests == 8  # same prompts, shared cache: the rerun costs nothing
    assert stats["rows_per_format"] == {"direct": 3, "short_cot": 3, "code": 3}
    assert stats["dropped"] == {"code:wrong_answer": 1, "unbalanced": 1}
    assert unbalanced["rows_per_format"] == {"direct": 4, "short_cot": 4, "code": 3}
    rows = _read(tmp_path / "o" / "train.jsonl")
    code = next(r for r in rows if r["format"] == "code")["messages"][-1]["content"]
    assert code.startswith("<CODE>\ndef f():") and ">>> f()\n5\n</CODE>\n<ANSWER>\n5\n</ANSWER>" in code
    assert parse_code_reply("no call line here") is None


def test_kill_9_then_rerun_no_duplicate_no_missing(toy_world, tmp_path):
    n = 3000
    rows = _toy_traces(toy_world, tmp_path / "traces.jsonl", n)
    out = tmp_path / "out"
    code = (
        "import sys\n"
        "from thrifty.data_builders.multiformat import cmd_build_multiformat\n"
        "sys.exit(cmd_build_multiformat(sys.argv[1:]))\n"
    )
    cmd = [sys.executable, "-c", code, "--source", str(tmp_path / "traces.jsonl"), "--id_field", "id",
           "--trace_field", "trace", "--short_cot_source", "toy", "--code_source", "toy", "--balanced", "true",
           "--output_dir", str(out), "--batch_size", "8"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    train = out / "train.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not train.exists() or train.stat().st_size < 20_000):
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    partial = len(train.read_text().splitlines())
    assert 0 < partial < 4 * n, "the kill should land in the middle of the build"
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    ids = [r["id"] for r in _read(train)]
    assert len(ids) == len(set(ids)), "duplicate rows after resume"
    assert set(ids) == {f"{r['id']}-{fmt}" for r in rows for fmt in ARM_FORMATS}, "missing rows after resume"
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows"] == 4 * n and stats["problems"] == n


def test_gsm8k_and_aqua_short_cots_read_the_stated_answer(tmp_path, shared_data):
    """D8: GSM8K solutions end with ``#### N`` and carry ``<<a=b>>`` calculator notes; AQuA rationales end with
    ``ANS:A`` or ``Answer: D) 109 rolls``. The short CoT keeps the reasoning without the notes."""
    from thrifty.data_builders.answers import clean_solution, stated_answer

    note = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nShe sold 48+24 = <<48+24=72>>72 clips.\n#### 72"
    assert stated_answer(note) == "72"
    assert clean_solution(note) == "Natalia sold 48/2 = 24 clips in May.\nShe sold 48+24 = 72 clips."
    assert stated_answer("so he buys 5 rolls.\nANS:A", choice=True) == "A"
    assert stated_answer("x = 109\nAnswer: D) 109 rolls", choice=True) == "D"
    assert stated_answer("a) first we compute the sum", choice=True) is None
    assert stated_answer("= 8000\nANSWER D 8000", choice=True) == "D"
    assert stated_answer("= 50%. Thus, C is the correct answer", choice=True) == "C"
    aqua = [json.loads(line) for line in (shared_data / "aqua" / "dev.jsonl").read_text().splitlines()]
    read = [stated_answer(r["rationale"], choice=True) for r in aqua]
    assert sum(a == r["correct"] for a, r in zip(read, aqua, strict=True)) >= 230  # 219 before; the rest state none
    assert all(a in (None, r["correct"]) for a, r in zip(read, aqua, strict=True))
    source = SourceArguments(source=str(shared_data / "gsm8k" / "train.jsonl"), question_field="question",
                             answer_field="answer", solution_field="answer", max_samples=60)
    args = MultiformatArguments(output_dir=str(tmp_path / "gsm"), formats=["direct", "short_cot"],
                                short_cot_source="solution")
    stats = build_multiformat(args, source, BackendArguments())
    assert stats["rows_per_format"]["short_cot"] >= 57, stats["dropped"]
    shorts = [r for r in _read(tmp_path / "gsm" / "train.jsonl") if r["format"] == "short_cot"]
    for row in shorts:
        body = row["messages"][-1]["content"]
        assert "<<" not in body and "####" not in body
        assert body.endswith(f"<ANSWER>\n{row['answer']}\n</ANSWER>")
