"""Decontamination: open-r1's n-gram rule pinned against its own code, `thrifty decontaminate` on real benchmark
files, the builders dropping and counting overlaps, the MATH-500 long-CoT traces split by problem (proved clean
by `thrifty decontaminate`), and `thrifty eval` warning about a model whose recorded training data overlaps."""

from __future__ import annotations

import collections
import json
import logging

import pytest
from trl import ModelConfig

from thrifty.backends import BackendArguments
from thrifty.data_builders.build_common import DecontaminationArguments
from thrifty.data_builders.multiturn import MultiturnArguments, build_multiturn
from thrifty.data_builders.sources import SourceArguments
from thrifty.decontaminate import (
    NgramIndex,
    check_rows,
    ngram_set,
    normalize_string,
    question_texts,
    word_ngrams,
)
from thrifty.eval.contamination import cmd_decontaminate
from thrifty.jsonl import DataError, read_jsonl, write_jsonl


# huggingface/open-r1 scripts/decontaminate.py (Apache-2.0), verbatim: the reference
def open_r1_normalize_string(text: str) -> str:
    """Basic string normalization."""
    # Convert to lowercase and normalize whitespace
    text = text.lower().strip()
    # Replace multiple spaces with single space
    text = " ".join(text.split())
    return text


def open_r1_word_ngrams(text: str, n: int) -> list:
    """Generate word-level n-grams from text."""
    words = text.split()
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


def open_r1_build_ngram_lookup(documents: list[str], ngram_size: int = 8) -> dict[str, set[int]]:
    """Build ngram lookup for documents."""
    lookup = collections.defaultdict(set)

    for doc_id, document in enumerate(documents):
        normalized_text = open_r1_normalize_string(document)
        ngrams = open_r1_word_ngrams(normalized_text, ngram_size)
        for ngram in ngrams:
            lookup[ngram].add(doc_id)

    return lookup


def open_r1_build_ngram_single(document: str, ngram_size: int = 8) -> set[str]:
    normalized_text = open_r1_normalize_string(document)
    ngrams = open_r1_word_ngrams(normalized_text, ngram_size)

    return set(ngrams)


def test_ngram_rule_is_open_r1s(shared_data):
    texts = ["  What IS\tthe value of $x$ if   $2x+3 = 11$?\n ", "Find x.", "one two three four five six seven eight"]
    assert normalize_string(texts[0]) == open_r1_normalize_string(texts[0]) == "what is the value of $x$ if $2x+3 = 11$?"
    assert word_ngrams("a b c d", 8) == open_r1_word_ngrams("a b c d", 8) == []  # under 8 words: no n-gram
    assert len(word_ngrams(normalize_string(texts[2]), 8)) == 1
    # the whole rule, on real data: MATH-500 as the benchmark, the first 400 MATH train problems checked
    bench = [r["problem"] for r in read_jsonl(shared_data / "math500.jsonl")]
    train = [r["question"] for r in read_jsonl(shared_data / "arm" / "MATH_train.jsonl")[:400]]
    lookup = open_r1_build_ngram_lookup(bench)
    expected = [any(g in lookup for g in open_r1_build_ngram_single(t)) for t in train]
    flags, report = check_rows(((str(i), [t]) for i, t in enumerate(train)), NgramIndex({"math500": bench}))
    assert flags == expected and 0 < report.contaminated < len(train)
    assert all(ngram_set(t) == open_r1_build_ngram_single(t) for t in train[:50])


def test_question_texts_of_every_row_shape():
    chat = [{"role": "system", "content": "s"}, {"role": "user", "content": "q1"}, {"role": "assistant", "content": "a"}]
    assert question_texts({"messages": chat}) == ["q1"]
    assert question_texts({"prompt": chat[:2], "chosen": []}) == ["q1"]
    assert question_texts({"prompt": "plain", "completion": "x"}) == ["plain"]
    assert question_texts({"problem": "p", "question": "q"}) == ["p"]
    assert question_texts({"instr": "z"}, "instr") == ["z"] and question_texts({"x": 1}) == []


def test_cli_flags_benchmark_questions_and_writes_clean_rows(shared_data, tmp_path, capsys):
    math500 = read_jsonl(shared_data / "math500.jsonl")
    aime = read_jsonl(shared_data / "aime24.jsonl")
    gsm_train = read_jsonl(shared_data / "gsm8k" / "train.jsonl")[:3]
    rows = ([{"id": f"m{i}", "messages": [{"role": "user", "content": "Solve this: " + math500[i]["problem"]},
                                         {"role": "assistant", "content": "42"}]} for i in (3, 7)]
            + [{"id": "a0", "problem": aime[0]["problem"]}]
            + [{"id": f"g{i}", "question": r["question"]} for i, r in enumerate(gsm_train)]
            + [{"id": "short", "question": "What is 2 + 2?"}])
    data = tmp_path / "data.jsonl"
    write_jsonl(data, rows)
    clean = tmp_path / "clean.jsonl"
    argv = [str(data), "--data-dir", str(shared_data), "--out", str(clean)]
    assert cmd_decontaminate(argv) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["rows"] == 7 and report["contaminated"] == 3 and report["ngram_size"] == 8
    assert report["contaminated_by_benchmark"] == {"aime24": 1, "math500": 2}
    assert report["benchmark_questions_overlapped"] == {"aime24": 1, "math500": 2}
    assert [r["id"] for r in read_jsonl(clean)] == ["g0", "g1", "g2", "short"]
    # the n-gram size is a key: with 3-grams common phrases overlap too, so more rows are flagged
    assert cmd_decontaminate([str(data), "--data-dir", str(shared_data), "--ngram-size", "3",
                              "--benchmarks", "math500", "gsm8k"]) == 0
    loose = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert loose["contaminated"] > 2 and loose["benchmarks"] == ["math500", "gsm8k"]
    assert cmd_decontaminate([str(data), "--benchmarks", "math500", "gsm8k", "--ngram-size", "13"]) == 0  # docs/guides/build-data.md
    strict = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert strict["contaminated"] == 1  # MATH-500 problem 3 has 8 words: no 13-gram; problem 7 still matches
    with pytest.raises(DataError, match="decontamination against nope"):
        cmd_decontaminate([str(data), "--data-dir", str(shared_data), "--benchmarks", "nope"])


def _sky_t1_source(path) -> SourceArguments:
    return SourceArguments(source=str(path), source_name="sky_t1", id_field="idx", question_field="question",
                           answer_field="answer", trace_field="code[0]", trace_dialect="begin_of_thought")


def _mind_args(out) -> MultiturnArguments:
    return MultiturnArguments(output_dir=str(out), segmenter="rule", intermediate_answer="stated", max_turns=8,
                              min_turns=2, min_unit_chars=200, require_correct=True, require_closed=True)


@pytest.fixture(scope="module")
def heldout_split(shared_data, tmp_path_factory):
    """The MATH-500 Sky-T1 traces split by problem: even idx -> training traces (the first 160 problems' only, to
    keep the test short), odd idx -> held-out benchmark."""
    root = tmp_path_factory.mktemp("split")
    traces = read_jsonl(shared_data / "longcot" / "sky-t1-math-correct-5k-27b_math500.jsonl")
    train = [t for t in traces if t["idx"] % 2 == 0 and t["idx"] < 160]
    write_jsonl(root / "train_traces.jsonl", train)
    write_jsonl(root / "heldout.jsonl", ({"id": str(t["idx"]), "problem": t["question"], "answer": t["answer"]}
                                         for t in traces if t["idx"] % 2 == 1))
    return root


def test_builder_drops_math500_traces_by_default(heldout_split, tmp_path):
    # every trace is of a MATH-500 problem: the default build keeps none of them, and says why in stats.json
    stats = build_multiturn(_mind_args(tmp_path / "out"), _sky_t1_source(heldout_split / "train_traces.jsonl"),
                            BackendArguments())
    decon = stats["decontamination"]
    assert decon["enabled"] and decon["checked"] > 20  # the closed, correct traces
    assert stats["dropped"]["contaminated"] == decon["contaminated"] == decon["contaminated_by_benchmark"]["math500"]
    assert json.loads((tmp_path / "out" / "stats.json").read_text())["decontamination"] == decon
    # open-r1's rule flags every problem of 8 words or more; shorter ones ("Compute $\dbinom{8}{4}$.") have no
    # 8-gram and slip through; thrifty's opt-in decontaminate_short_questions catches them too
    short = [t for t in read_jsonl(heldout_split / "train_traces.jsonl") if len(t["question"].split()) < 8]
    assert 0 < decon["checked"] - decon["contaminated"] <= len(short)
    strict = build_multiturn(_mind_args(tmp_path / "strict"), _sky_t1_source(heldout_split / "train_traces.jsonl"),
                             BackendArguments(), DecontaminationArguments(decontaminate_short_questions=True))
    assert strict["decontamination"]["contaminated"] == decon["checked"] and strict["rows"] == 0
    # opting out builds them (and warns)
    off = build_multiturn(_mind_args(tmp_path / "off"), _sky_t1_source(heldout_split / "train_traces.jsonl"),
                          BackendArguments(), DecontaminationArguments(decontaminate=False))
    assert off["decontamination"] == {"enabled": False} and off["rows"] > 0


def test_heldout_split_is_proved_clean(heldout_split, tmp_path, capsys):
    heldout = str(heldout_split / "heldout.jsonl")
    stats = build_multiturn(_mind_args(tmp_path / "out"), _sky_t1_source(heldout_split / "train_traces.jsonl"),
                            BackendArguments(), DecontaminationArguments(decontaminate_benchmarks=[heldout]))
    assert stats["rows"] > 10
    # problems of the training half that share an 8-gram with a held-out problem were dropped too
    assert stats["decontamination"]["contaminated"] == stats["dropped"].get("contaminated", 0)
    assert cmd_decontaminate([str(tmp_path / "out" / "train.jsonl"), "--benchmarks", heldout]) == 0
    proof = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert proof["rows"] == stats["rows"] and proof["contaminated"] == 0


def test_eval_warns_when_the_training_data_overlaps(tiny_model_dir, shared_data, heldout_split, tmp_path, caplog):
    from thrifty.eval.commands import cmd_eval
    from thrifty.paths import recipe_path
    from thrifty.recipes import parse_recipe
    from thrifty.trainers.sft import DataArguments, ThriftySFTConfig, run_sft

    math500 = read_jsonl(shared_data / "math500.jsonl")
    sft_rows = [{"messages": [{"role": "user", "content": math500[i]["problem"]},
                              {"role": "assistant", "content": f"<ANSWER>\n{math500[i]['answer']}\n</ANSWER>"}]}
                for i in range(1, 16, 2)]  # problems of odd index: they fall in the held-out half below
    data = tmp_path / "sft.jsonl"
    write_jsonl(data, sft_rows)
    model = tmp_path / "model"
    run_sft(*parse_recipe((DataArguments, ThriftySFTConfig, ModelConfig), [
        "--model_name_or_path", str(tiny_model_dir), "--dataset_name", str(data), "--output_dir", str(model),
        "--max_steps", "1", "--per_device_train_batch_size", "4", "--report_to", "none", "--save_strategy", "no",
        "--max_length", "128", "--disable_tqdm", "true"]))
    record = json.loads((model / "thrifty_training_data.json").read_text())
    assert record["datasets"][-1]["dataset"] == str(data.resolve()) and record["datasets"][-1]["stage"] == "sft"
    heldout = str(heldout_split / "heldout.jsonl")
    argv = ["--config", str(recipe_path("toy/eval.yaml")), "--model_name_or_path", str(model), "--benchmarks",
            heldout, "--modes", "adaptive", "--limit", "2", "--max_new_tokens", "4", "--output_dir"]
    with caplog.at_level(logging.WARNING, logger="thrifty.eval.contamination"):
        assert cmd_eval([*argv, str(tmp_path / "eval")]) == 0
    overlap = json.loads((tmp_path / "eval" / "summary.json").read_text())["training_data_overlap"]
    assert overlap["heldout"][0]["dataset"] == str(data.resolve())
    # the two problems evaluated (held-out idx 1 and 3 = MATH-500 rows 1 and 3) are two of the eight trained on
    assert overlap["heldout"][0]["benchmark_questions_hit"] == 2 and overlap["heldout"][0]["rows_overlapping"] >= 2
    assert "not a held-out score" in caplog.text


@pytest.mark.parametrize("name", ["math_r1_rule.yaml", "math_r1_openai.yaml"])
def test_mind_data_recipes_build_from_training_problems(name):
    from thrifty.paths import REPO_ROOT
    from thrifty.recipes import parse_recipe

    args, source, _, decon = parse_recipe((MultiturnArguments, SourceArguments, BackendArguments,
                                           DecontaminationArguments), ["--config", str(REPO_ROOT / "recipes" / "mind" / name)])
    assert source.source == "open-r1/OpenR1-Math-220k" and source.trace_field == "generations[0]"
    assert decon.decontaminate and decon.decontaminate_ngram_size == 8 and "math500" in decon.decontaminate_benchmarks


def test_arm_data_recipe_builds_from_training_problems():
    from thrifty.data_builders.multiformat import MultiformatArguments
    from thrifty.paths import REPO_ROOT
    from thrifty.recipes import parse_recipe

    _, source, _, decon = parse_recipe((MultiformatArguments, SourceArguments, BackendArguments,
                                        DecontaminationArguments),
                                       ["--config", str(REPO_ROOT / "recipes" / "arm" / "math_r1_openai.yaml")])
    assert source.source == "open-r1/OpenR1-Math-220k" and source.trace_field == "generations[0]"
    assert source.solution_field == "solution" and "shared/data" not in source.source
    assert decon.decontaminate and "math500" in decon.decontaminate_benchmarks


def test_eval_check_falls_back_to_the_launch_recipe(shared_data, tmp_path):
    from thrifty.eval.contamination import warn_if_trained_on

    math500 = read_jsonl(shared_data / "math500.jsonl")
    data = tmp_path / "train.jsonl"
    write_jsonl(data, [{"problem": math500[10]["problem"], "answer": "x"}, {"problem": "Add 2 and 3.", "answer": "5"}])
    run = tmp_path / "run"
    run.mkdir()
    (run / "thrifty_recipe.yaml").write_text(f"dataset_name: {data}\nprompt_column: problem\n")
    found = warn_if_trained_on(str(run), "math500", [p["problem"] for p in math500])
    assert found == [{"dataset": str(data), "stage": "recipe", "rows_overlapping": 1, "benchmark_questions_hit": 1}]
    assert warn_if_trained_on(str(tmp_path / "nothing"), "math500", ["a b c d e f g h"]) == []


def test_longwriter_builders_drop_benchmark_prompts(shared_data, tmp_path):
    """AgentWrite instructions and preference-pair prompts copied from LongBench-Write are dropped before any LLM
    call, and counted."""
    from thrifty.data_builders.agentwrite import AgentWriteArguments, build_agentwrite
    from thrifty.data_builders.preference_pairs import PreferencePairArguments, build_preference_pairs
    from thrifty.quality_judge import JudgeArguments

    bench = read_jsonl(shared_data / "longbench_write" / "longbench_write_en.jsonl")
    leaked = bench[0]["prompt"]
    instructions = tmp_path / "instr.jsonl"
    write_jsonl(instructions, [{"prompt": leaked}])
    stats = build_agentwrite(AgentWriteArguments(instructions=str(instructions), output_dir=str(tmp_path / "aw")),
                             BackendArguments(llm_backend="openai", llm_model="m", llm_base_url="http://127.0.0.1:9/v1"))
    assert stats["rows"] == 0 and stats["dropped"] == {"contaminated": 1}
    assert stats["decontamination"]["contaminated_by_benchmark"] == {"longbench_write": 1}
    assert not stats["llm"].get("requests_ok") and not stats["llm"].get("requests_failed")  # no request was sent
    own = "Write a 300-word letter to a friend about the first snow of the winter in your village."
    cands = tmp_path / "cands.jsonl"
    write_jsonl(cands, [{"prompt": p, "length": 300, "responses": ["word " * 300, "word " * 20]} for p in (leaked, own)])
    pairs = build_preference_pairs(PreferencePairArguments(candidates=str(cands), output_dir=str(tmp_path / "pp"),
                                                           quality_weight=0.0), JudgeArguments(judge_backend="none"))
    assert pairs["prompts"] == 1 and pairs["pairs"] == 1 and pairs["dropped"] == {"prompt:contaminated": 1}


def test_chinese_benchmark_prompts_are_caught_by_character_ngrams(shared_data):
    """D6: Chinese has no spaces, so open-r1's word split sees one or two "words" in a whole prompt; every CJK
    character counts as a word, so a verbatim copy of a Chinese LongBench-Write prompt is flagged by default."""
    from thrifty.data_builders.build_common import decontaminate_inputs
    from thrifty.decontaminate import words

    assert words("write 写一篇文章 now") == ["write", "写", "一", "篇", "文", "章", "now"]
    assert words("no cjk  here") == "no cjk  here".split()  # English splits exactly as open-r1's
    zh = [r["prompt"] for r in read_jsonl(shared_data / "longbench_write" / "longbench_write.jsonl")
          if any("\u4e00" <= ch <= "\u9fff" for ch in r["prompt"])]
    short = [p for p in zh if len(p.split()) < 8]
    assert short, "the data has Chinese prompts of fewer than 8 whitespace words"
    items = ["copy", "embedded", "own"]
    texts = [[short[0]], [f"请认真完成：{short[1]}谢谢"], ["写一篇关于我家小猫的日记"]]
    kept, report = decontaminate_inputs(items, texts, items, DecontaminationArguments(
        decontaminate_benchmarks=["longbench_write"], decontaminate_data_dir=str(shared_data)))
    assert kept == ["own"] and report["contaminated"] == 2


def test_rows_without_a_readable_question_are_counted_and_never_written_as_clean(tmp_path, shared_data, capsys):
    """D7: `query`, ShareGPT `conversations` and content-part messages are read; a row with no question is
    reported (no_question) and left out of --out, instead of passing as clean."""
    math = read_jsonl(shared_data / "math500.jsonl")
    rows = [{"id": "a", "question": math[0]["problem"]},
            {"id": "b", "query": math[1]["problem"]},
            {"id": "c", "conversations": [{"from": "human", "value": math[2]["problem"]}, {"from": "gpt", "value": "1"}]},
            {"id": "d", "messages": [{"role": "user", "content": [{"type": "text", "text": math[3]["problem"]}]}]},
            {"id": "e", "body": math[4]["problem"]},
            {"id": "f", "question": "What is 2 + 2?"}]
    data, clean = tmp_path / "mixed.jsonl", tmp_path / "clean.jsonl"
    write_jsonl(data, rows)
    assert cmd_decontaminate([str(data), "--data-dir", str(shared_data), "--benchmarks", "math500",
                              "--out", str(clean)]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["contaminated"] == 4 and report["no_question"] == 1 and report["no_question_ids"] == ["e"]
    assert [r["id"] for r in read_jsonl(clean)] == ["f"]
