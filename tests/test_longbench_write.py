"""LongBench-Write: the length score at hand-computed edges, the judge parser, and scoring end to end on the
real ../shared/data prompts with a judge served on 127.0.0.1; generation with the tiny model; recipes parse."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _llm_server import FakeLLMServer

from thrifty.data_builders.quality_judge import DIMENSIONS, JudgeArguments, parse_judge_reply, quality_score
from thrifty.eval.longbench_write import (
    LongBenchWriteConfig,
    cmd_eval_longbench_write,
    load_longbench_write,
    run_longbench_write,
)
from thrifty.jsonl import DataError, read_jsonl
from thrifty.longform import bucket_label, count_length, length_score

RECIPES = Path(__file__).resolve().parents[1] / "recipes" / "longwriter"


@pytest.mark.parametrize("required,produced,expected", [
    (1000, 1000, 100.0),  # l' = l
    (900, 300, 0.0),  # l' = l/3: 1 - (3 - 1)/2 = 0
    (1000, 4000, 0.0),  # l' = 4l: 1 - (4 - 1)/3 = 0
    (1000, 0, 0.0),  # empty output
    (1000, 2000, 100 * (1 - 1 / 3)),  # l' = 2l
    (1000, 500, 50.0),  # l' = l/2: 1 - (2 - 1)/2
    (1000, 250, 0.0),  # shorter than l/3: clipped at 0
    (1000, 5000, 0.0),  # longer than 4l: clipped at 0
    (300, 400, 100 * (1 - (4 / 3 - 1) / 3)),
])
def test_length_score_edges(required, produced, expected):
    assert length_score(required, produced) == pytest.approx(expected)


def test_count_length_and_buckets():
    assert count_length("The well-known river, don't you think? 2024") == 7
    assert count_length("长城很长。Great Wall") == 4 + 2
    assert count_length("") == 0 and count_length(None) == 0
    assert [bucket_label(x) for x in (0, 499, 500, 1999, 2000, 3999, 4000, 19999, 20000)] == [
        "[0,500)", "[0,500)", "[500,2000)", "[500,2000)", "[2000,4000)", "[2000,4000)", "[4000,20000)",
        "[4000,20000)", ">=20000"]


def test_judge_reply_parsing():
    full = {d: 4 for d in DIMENSIONS}
    assert parse_judge_reply("Fine.\n```json\n" + json.dumps(full) + "\n```") == full
    assert quality_score(full) == 75.0 and quality_score({d: 1 for d in DIMENSIONS}) == 0.0
    loose = '{"relevance": 5, "accuracy": "3", "coherence": 2, "clarity": 1, "breadth_and_depth": 4, ' \
            '"reading experience": 5}'
    assert parse_judge_reply(loose) == dict(zip(DIMENSIONS, [5, 3, 2, 1, 4, 5], strict=True))
    assert parse_judge_reply(json.dumps({**full, "Clarity": 6})) is None  # out of range
    assert parse_judge_reply(json.dumps({d: 3 for d in DIMENSIONS[:5]})) is None  # a dimension missing
    assert parse_judge_reply("no scores here") is None and parse_judge_reply(None) is None


def judge_responder(prompt: str) -> str:
    """Scores 4 everywhere, but Clarity 2 for answers containing 'murky'; 'GARBAGE' answers get no JSON."""
    answer = prompt.split("[Answer]\n", 1)[1]
    if "GARBAGE" in answer:
        return "I refuse to give numbers."
    scores = {d: 4 for d in DIMENSIONS}
    if "murky" in answer:
        scores["Clarity"] = 2
    return "Reasoning: solid.\n" + json.dumps(scores)


def judge_args(server, **kw) -> JudgeArguments:
    opts = dict(judge_backend="openai", judge_model="judge", judge_base_url=server.base_url, judge_max_retries=2,
                judge_backoff_base_s=0.01, judge_timeout_s=5.0, judge_max_concurrency=4)
    opts.update(kw)
    return JudgeArguments(**opts)


def test_scoring_end_to_end_with_local_judge(shared_data, tmp_path):
    items = load_longbench_write("longbench_write_en", data_dir=shared_data)
    assert len(items) == 60 and {"prompt", "type", "length"} <= set(items[0])
    chosen = [items[i] for i in (0, 5, 20, 40, 59)]  # spread over the length buckets
    factors = [1.0, 0.5, 2.0, 1 / 3, 0.0]
    preds = []
    for k, (it, f) in enumerate(zip(chosen, factors, strict=True)):
        n = round(it["length"] * f)
        text = " ".join((["murky"] if k == 2 else []) + ["word"] * (n - (k == 2)))
        if k == 3:
            text += " [malformedx1]"  # the judge's first reply to it is broken: retried
        if k == 4:
            text = "GARBAGE"  # the judge returns no JSON for it
        preds.append({"id": it["id"], "response": text})
    subset = tmp_path / "subset.jsonl"
    subset.write_text("".join(json.dumps({k: it[k] for k in ("id", "prompt", "type", "length")}) + "\n"
                              for it in chosen))
    pred_file = tmp_path / "preds.jsonl"
    pred_file.write_text("".join(json.dumps(p) + "\n" for p in preds))
    cfg = LongBenchWriteConfig(dataset=str(subset), predictions=str(pred_file), output_dir=str(tmp_path / "run"),
                               run_name="canned")
    with FakeLLMServer(judge_responder) as server:
        summary = run_longbench_write(cfg, judge_args(server))
        n_requests = len(server.requests)
        again = run_longbench_write(cfg, judge_args(server))  # judge replies come from the cache
        assert len(server.requests) == n_requests and again["overall"] == summary["overall"]
    rows = {r["id"]: r for r in read_jsonl(tmp_path / "run" / "scored.jsonl")}
    lengths = [count_length(p["response"]) for p in preds]
    expected_sl = [length_score(it["length"], n) for it, n in zip(chosen, lengths, strict=True)]
    assert [rows[it["id"]]["S_l"] for it in chosen] == pytest.approx(expected_sl)
    assert expected_sl[0] == 100.0 and expected_sl[1] == pytest.approx(50.0, abs=0.5)
    o = summary["overall"]
    assert o["n"] == 5 and o["n_judged"] == 4  # GARBAGE's reply is unparseable
    assert o["S_l"] == pytest.approx(sum(expected_sl) / 5, abs=0.01)
    murky_sq = (5 * 75 + 25) / 6  # Clarity 2 -> 25; the other five 4 -> 75
    assert rows[chosen[2]["id"]]["S_q"] == pytest.approx(murky_sq)
    assert o["S_q"] == pytest.approx((3 * 75 + murky_sq) / 4, abs=0.01)
    assert o["S"] == pytest.approx((o["S_l"] + o["S_q"]) / 2, abs=0.01)
    assert rows[chosen[4]["id"]]["S_q"] is None and rows[chosen[0]["id"]]["S"] == pytest.approx((100 + 75) / 2)
    assert list(summary["by_length"]) == sorted(summary["by_length"], key=lambda b: int(re.findall(r"\d+", b)[0]))
    assert sum(g["n"] for g in summary["by_length"].values()) == 5
    assert set(summary["by_type"]) == {it["type"] for it in chosen}
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## By required length" in report and "## By type" in report
    assert (tmp_path / "run" / "ruler.png").read_bytes()[:4] == b"\x89PNG"


def test_generation_with_tiny_model_resumes(tiny_model_dir, shared_data, tmp_path, monkeypatch):
    argv = ["--model_name_or_path", str(tiny_model_dir), "--subset", "longwrite_ruler", "--data_dir",
            str(shared_data), "--limit", "3", "--max_new_tokens", "8", "--temperature", "0", "--judge_backend",
            "none", "--output_dir", str(tmp_path / "gen"), "--chunk_size", "2"]
    assert cmd_eval_longbench_write(argv) == 0
    outputs = read_jsonl(tmp_path / "gen" / "outputs.jsonl")
    assert [o["id"] for o in outputs] == ["0", "1", "2"] and all(o["num_tokens"] <= 9 for o in outputs)
    summary = json.loads((tmp_path / "gen" / "summary.json").read_text())
    assert summary["overall"]["n"] == 3 and summary["overall"]["S_q"] is None and summary["overall"]["S"] is None

    def no_generation(*a, **k):
        raise AssertionError("a finished run must not generate again")

    monkeypatch.setattr("thrifty.eval.generation.make_generator", no_generation)
    assert cmd_eval_longbench_write(argv) == 0


def test_data_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "write", "type": "x", "length": "many"}) + "\n")
    with pytest.raises(DataError, match="bad.jsonl row 1: 'length' must be an integer"):
        load_longbench_write(dataset=str(bad))
    with pytest.raises(DataError, match="subset 'nope'"):
        load_longbench_write("nope", data_dir=tmp_path)


def test_longwriter_recipes_parse(monkeypatch):
    from thrifty.data_builders.agentwrite import AgentWriteArguments
    from thrifty.data_builders.backends import BackendArguments
    from thrifty.data_builders.preference_pairs import PreferencePairArguments
    from thrifty.recipes import parse_recipe

    monkeypatch.chdir(RECIPES.parents[1])
    cfg, judge = parse_recipe((LongBenchWriteConfig, JudgeArguments), ["--config", str(RECIPES / "eval_longbench_write.yaml")])
    assert cfg.subset == "longbench_write" and judge.judge_api_key_env == "OPENAI_API_KEY"
    for name in ("agentwrite_local.yaml", "agentwrite_openai.yaml"):
        args, backend = parse_recipe((AgentWriteArguments, BackendArguments), ["--config", str(RECIPES / name)])
        assert backend.llm_backend == "openai" and args.max_plan_steps == 50
    pairs, judge = parse_recipe((PreferencePairArguments, JudgeArguments),
                                ["--config", str(RECIPES / "preference_pairs.yaml")])
    assert pairs.length_weight == pairs.quality_weight == 0.5
