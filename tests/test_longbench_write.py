"""LongBench-Write: the length score at hand-computed edges, the judge parser, and scoring end to end on the
real ../shared/data prompts with a judge served on 127.0.0.1; generation with the tiny model; recipes parse."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from _llm_server import FakeLLMServer

from thrifty.benchmarks import load_longbench_write
from thrifty.eval.longbench_write import LongBenchWriteConfig, cmd_eval_longbench_write, run_longbench_write
from thrifty.jsonl import DataError, read_jsonl
from thrifty.longform import bucket_label, count_length, length_score
from thrifty.quality_judge import DIMENSIONS, JudgeArguments, parse_judge_reply, quality_score

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


def official_count_words(text):
    """THUDM/LongWriter evaluation/pred.py, count_words, copied verbatim (the reference)."""
    chinese_characters = re.findall(r'[\u4e00-\u9fff]', text)
    english_words = re.findall(r'\b[a-zA-Z]+\b', text)

    chinese_char_count = len(chinese_characters)
    english_word_count = len(english_words)

    total_count = chinese_char_count + english_word_count

    return total_count


def test_count_length_is_the_official_count_words(shared_data):
    # worked by hand from \b[a-zA-Z]+\b: The | well | known | river | don | t | you | think; "2024" is no word
    assert count_length("The well-known river, don't you think? 2024") == 8
    # a token mixing letters with digits or accents has no word boundary inside: 3rd, GPT4, café count 0
    assert count_length("café 3rd GPT4 naïve") == 0
    assert count_length("长城很长。Great Wall") == 4 + 2  # CJK punctuation counts nothing
    assert count_length("ひらがな") == 0  # kana are outside U+4E00-U+9FFF
    assert count_length("") == 0 and count_length(None) == 0
    texts = [it["prompt"] for sub in ("longbench_write", "longwrite_ruler")
             for it in load_longbench_write(sub, data_dir=shared_data)]
    assert len(texts) == 168 and any(re.search("[\u4e00-\u9fff]", t) for t in texts)
    assert [count_length(t) for t in texts] == [official_count_words(t) for t in texts]


def test_length_buckets():
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
    # the official judge.txt's reply format: one object, the analysis first, newlines inside it (eval_quality.py
    # removes them before json.loads), braces inside the analysis; a non-integer score is a number like any other
    official = '{"Analysis": "Clear {mostly}.\nGood.", "Relevance": 5, "Accuracy": 4, "Coherence": 4,\n' \
               '"Clarity": 3, "Breadth and Depth": 3.5, "Reading Experience": 4}'
    assert parse_judge_reply(official) == dict(zip(DIMENSIONS, [5, 4, 4, 3, 3.5, 4], strict=True))
    assert parse_judge_reply("```json\n" + official + "\n```") == parse_judge_reply(official)


_DRAWS: dict[str, int] = {}


def judge_responder(prompt: str) -> str:
    """Scores 4 everywhere, but Clarity 2 for answers containing 'murky'; 'GARBAGE' answers never get JSON, and
    'GLITCH' answers get no JSON on their first two draws."""
    answer = prompt.split("[Answer]\n", 1)[1]
    _DRAWS[prompt] = _DRAWS.get(prompt, 0) + 1
    if "GARBAGE" in answer or ("GLITCH" in answer and _DRAWS[prompt] <= 2):
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
    chosen = [items[i] for i in (0, 5, 20, 40, 59, 30)]  # spread over the length buckets
    factors = [1.0, 0.5, 2.0, 1 / 3, 0.0, 1.0]
    preds = []
    for k, (it, f) in enumerate(zip(chosen, factors, strict=True)):
        n = round(it["length"] * f)
        text = " ".join((["murky"] if k == 2 else []) + ["word"] * (n - (k == 2)))
        if k == 3:
            text += " [malformedx1]"  # the judge's first reply to it is broken: retried
        if k == 4:
            text = "GARBAGE"  # the judge returns no JSON for it
        if k == 5:
            text += " GLITCH"  # no JSON on the first two draws, then scores
        preds.append({"id": it["id"], "response": text})
    subset = tmp_path / "subset.jsonl"
    subset.write_text("".join(json.dumps({k: it[k] for k in ("id", "prompt", "type", "length")}) + "\n"
                              for it in chosen))
    pred_file = tmp_path / "preds.jsonl"
    pred_file.write_text("".join(json.dumps(p) + "\n" for p in preds))
    cfg = LongBenchWriteConfig(dataset=str(subset), predictions=str(pred_file), output_dir=str(tmp_path / "run"),
                               run_name="canned")
    _DRAWS.clear()
    with FakeLLMServer(judge_responder) as server:
        summary = run_longbench_write(cfg, judge_args(server))
        n_requests = len(server.requests)
        # official eval_quality.py: temperature 0.5, max_tokens 1024, one user turn holding the filled prompt
        assert {r["body"]["temperature"] for r in server.requests} == {0.5}
        assert {r["body"]["max_tokens"] for r in server.requests} == {1024}
        def draws(response: str) -> int:
            return sum(f"[Answer]\n{response}\n" in r["body"]["messages"][-1]["content"] for r in server.requests)

        assert draws(preds[4]["response"]) == 5  # GARBAGE: 5 draws, then dropped
        assert draws(preds[5]["response"]) == 3  # GLITCH: two malformed replies, the third counts
        assert draws(preds[3]["response"]) == 2  # one broken HTTP body (retried by the backend), then scores
        assert summary["judge_dropped"] == 1 and summary["judge_calls"]["judge_malformed_replies"] == 5 + 2
        again = run_longbench_write(cfg, judge_args(server))  # judge replies (retries too) come from the cache
        assert len(server.requests) == n_requests and again["overall"] == summary["overall"]
    rows = {r["id"]: r for r in read_jsonl(tmp_path / "run" / "scored.jsonl")}
    lengths = [count_length(p["response"]) for p in preds]
    expected_sl = [length_score(it["length"], n) for it, n in zip(chosen, lengths, strict=True)]
    assert [rows[it["id"]]["S_l"] for it in chosen] == pytest.approx(expected_sl)
    assert expected_sl[0] == 100.0 and expected_sl[1] == pytest.approx(50.0, abs=0.5)
    o = summary["overall"]
    assert o["n"] == 6 and o["n_judged"] == 5  # GARBAGE's replies are unparseable
    assert o["S_l"] == pytest.approx(sum(expected_sl) / 6, abs=0.01)
    murky_sq = (5 * 75 + 25) / 6  # Clarity 2 -> 25; the other five 4 -> 75
    assert rows[chosen[2]["id"]]["S_q"] == pytest.approx(murky_sq)
    assert o["S_q"] == pytest.approx((4 * 75 + murky_sq) / 5, abs=0.01)
    assert o["S"] == pytest.approx((o["S_l"] + o["S_q"]) / 2, abs=0.01)
    assert rows[chosen[4]["id"]]["S_q"] is None and rows[chosen[0]["id"]]["S"] == pytest.approx((100 + 75) / 2)
    assert list(summary["by_length"]) == sorted(summary["by_length"], key=lambda b: int(re.findall(r"\d+", b)[0]))
    assert sum(g["n"] for g in summary["by_length"].values()) == 6
    assert set(summary["by_type"]) == {it["type"] for it in chosen}
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## By required length" in report and "## By type" in report
    assert (tmp_path / "run" / "ruler.png").read_bytes()[:4] == b"\x89PNG"


# THUDM/LongWriter evaluation/judge.txt at 3fcfdff (Apache-2.0), verbatim: the official judge prompt
OFFICIAL_JUDGE_TXT = 'You are an expert in evaluating text quality. Please evaluate the quality of an AI assistant\'s response to a user\'s writing request. Be as strict as possible.\n\nYou need to evaluate across the following six dimensions, with scores ranging from 1 to 5. The scoring criteria from 5 to 1 for each dimension are as follows:\n\n1. Relevance: From content highly relevant and fully applicable to the user\'s request to completely irrelevant or inapplicable.\n\n2. Accuracy: From content completely accurate with no factual errors or misleading information to content with numerous errors and highly misleading.\n\n3. Coherence: From clear structure with smooth logical connections to disorganized structure with no coherence.\n\n4. Clarity: From clear language, rich in detail, and easy to understand to confusing expression with minimal details.\n\n5. Breadth and Depth: From both broad and deep content with a lot of information to seriously lacking breadth and depth with minimal information.\n\n6. Reading Experience: From excellent reading experience, engaging and easy to understand content to very poor reading experience, boring and hard to understand content.\n\nPlease evaluate the quality of the following response to a user\'s request according to the above requirements.\n\n<User Request>\n\n$INST$\n\n</User Request>\n\n<Response>\n\n$RESPONSE$\n\n</Response>\n\nPlease evaluate the quality of the response. You must first provide a brief analysis of its quality, then give a comprehensive analysis with scores for each dimension. The output must strictly follow the JSON format: {"Analysis": ..., "Relevance": ..., "Accuracy": ..., "Coherence": ..., "Clarity": ..., "Breadth and Depth": ..., "Reading Experience": ...}. You do not need to consider whether the response meets the user\'s length requirements in your evaluation. Ensure that only one integer between 1 and 5 is output for each dimension score.'


def test_official_judge_prompt_file(tmp_path):
    prompt_file = tmp_path / "judge.txt"
    prompt_file.write_text(OFFICIAL_JUDGE_TXT, encoding="utf-8")
    subset = tmp_path / "subset.jsonl"
    subset.write_text(json.dumps({"id": "a", "prompt": "Write a poem about rivers.", "type": "poem",
                                  "length": 10}) + "\n")
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"id": "a", "response": "Rivers run and rivers bend, rivers never reach an end."})
                     + "\n")

    def official_judge(prompt: str) -> str:  # the reply format judge.txt asks for
        assert "$INST$" not in prompt and "$RESPONSE$" not in prompt
        assert "<User Request>\n\nWrite a poem about rivers.\n\n</User Request>" in prompt
        assert "Rivers run and rivers bend" in prompt
        return ('{"Analysis": "A short, tidy poem.", "Relevance": 5, "Accuracy": 5, "Coherence": 4, '
                '"Clarity": 4, "Breadth and Depth": 2, "Reading Experience": 3}')

    cfg = LongBenchWriteConfig(dataset=str(subset), predictions=str(preds), output_dir=str(tmp_path / "run"))
    with FakeLLMServer(official_judge) as server:
        summary = run_longbench_write(cfg, judge_args(server, judge_prompt_file=str(prompt_file)))
        assert server.requests[0]["body"]["messages"][0]["content"].startswith("You are an expert in evaluating")
    assert summary["overall"]["S_q"] == pytest.approx((4 + 4 + 3 + 3 + 1 + 2) * 25 / 6, abs=0.01)
    with pytest.raises(DataError, match="judge_prompt_file: .*does not exist"):
        run_longbench_write(cfg, judge_args(server, judge_prompt_file=str(tmp_path / "missing.txt")))
    prompt_file.write_text("Rate this: $RESPONSE$", encoding="utf-8")
    with pytest.raises(DataError, match=r"judge_prompt_file: the prompt lacks the placeholder \{instruction\}"):
        run_longbench_write(cfg, judge_args(server, judge_prompt_file=str(prompt_file)))


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
    from thrifty.backends import BackendArguments
    from thrifty.data_builders.agentwrite import AgentWriteArguments
    from thrifty.data_builders.preference_pairs import PreferencePairArguments
    from thrifty.recipes import parse_recipe

    monkeypatch.chdir(RECIPES.parents[1])
    cfg, judge = parse_recipe((LongBenchWriteConfig, JudgeArguments), ["--config", str(RECIPES / "eval_longbench_write.yaml")])
    assert cfg.subset == "longbench_write" and judge.judge_api_key_env == "OPENAI_API_KEY"
    # evaluation/pred.py samples at 0.5 with up to 32768 new tokens; eval_quality.py judges at 0.5, 1024 tokens
    for c, j in ((cfg, judge), (LongBenchWriteConfig(), JudgeArguments())):
        assert (c.temperature, c.max_new_tokens, j.judge_temperature, j.judge_max_tokens) == (0.5, 32768, 0.5, 1024)
        assert j.judge_max_attempts == 5
    for name in ("agentwrite_local.yaml", "agentwrite_openai.yaml"):
        args, backend = parse_recipe((AgentWriteArguments, BackendArguments), ["--config", str(RECIPES / name)])
        assert backend.llm_backend == "openai" and args.max_plan_steps == 50 and args.temperature == 1.0
    pairs, judge = parse_recipe((PreferencePairArguments, JudgeArguments),
                                ["--config", str(RECIPES / "preference_pairs.yaml")])
    assert pairs.length_weight == pairs.quality_weight == 0.5


def test_eval_longwrite_warns_when_the_training_data_holds_its_prompts(shared_data, tmp_path, caplog):
    import logging

    from thrifty.decontaminate import write_training_record

    items = load_longbench_write("longbench_write_en", data_dir=shared_data)[:2]
    train = tmp_path / "sft.jsonl"
    train.write_text(json.dumps({"messages": [{"role": "user", "content": items[1]["prompt"]},
                                              {"role": "assistant", "content": "text"}]}) + "\n")
    model = tmp_path / "model"
    model.mkdir()
    write_training_record(model, stage="sft", dataset=str(train))
    preds = tmp_path / "preds.jsonl"
    preds.write_text("".join(json.dumps({"id": it["id"], "response": "word " * 50}) + "\n" for it in items))
    cfg = LongBenchWriteConfig(subset="longbench_write_en", data_dir=str(shared_data), limit=2,
                               predictions=str(preds), model_name_or_path=str(model), output_dir=str(tmp_path / "r"))
    with caplog.at_level(logging.WARNING, logger="thrifty.eval.contamination"):
        summary = run_longbench_write(cfg, JudgeArguments(judge_backend="none"))
    assert summary["training_data_overlap"] == [{"dataset": str(train.resolve()), "stage": "sft",
                                                 "rows_overlapping": 1, "benchmark_questions_hit": 1}]
    assert "not a held-out score" in caplog.text
