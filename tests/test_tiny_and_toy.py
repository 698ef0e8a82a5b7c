"""The tokenizer/model factory and the toy world (determinism, disjoint splits, difficulty spread, consistency)."""

import re
from collections import Counter

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

from thrifty.formats import (
    ARM_FORMATS,
    FORMAT_TAG_TOKENS,
    detect_format,
    extract_final_answer,
    normalize_trace,
    parse_arm,
    split_turns,
)
from thrifty.toy_world import MULTITURN, TEST, TRAIN, RunningSumTask, ToyWorld


def test_every_loader_gives_identical_ids(tiny_model_dir, toy_world):
    auto = AutoTokenizer.from_pretrained(tiny_model_dir)
    fast = PreTrainedTokenizerFast.from_pretrained(tiny_model_dir)
    problem = toy_world.problems(TRAIN, 1, difficulty=6)[0]
    for fmt in (*ARM_FORMATS, MULTITURN):
        text = auto.apply_chat_template(toy_world.sft_row(problem, fmt)["messages"], tokenize=False)
        ids = auto(text)["input_ids"]
        assert fast(text)["input_ids"] == ids
        assert auto.decode(ids) == text


def test_tokenizer_digits_tags_and_template(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    pieces = tok.convert_ids_to_tokens(tok("x 12345")["input_ids"])
    assert [p for p in pieces if p.strip("Ġ").isdigit()] == ["1", "2", "3", "4", "5"]  # one digit per token
    for tag in FORMAT_TAG_TOKENS:
        assert len(tok(tag)["input_ids"]) == 1, tag
        assert tok.decode(tok(tag)["input_ids"], skip_special_tokens=True) == tag  # tags survive decoding
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    masked = tok.apply_chat_template(
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "<ANSWER>\n3\n</ANSWER>"}],
        return_assistant_tokens_mask=True, return_dict=True,
    )
    kept = [t for t, m in zip(masked["input_ids"], masked["assistant_masks"], strict=False) if m]
    assert tok.decode(kept) == "<ANSWER>\n3\n</ANSWER><|im_end|>"  # loss on the answer and its stop token


def test_tiny_model_loads_like_any_checkpoint(tiny_model_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.model_type == "qwen2"
    assert 0.5e6 < sum(p.numel() for p in model.parameters()) < 2e6
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert model.generation_config.eos_token_id[0] == tok.convert_tokens_to_ids("<|im_end|>")


def test_toy_world_is_deterministic():
    a, b, c = ToyWorld(seed=0), ToyWorld(seed=0), ToyWorld(seed=1)
    pa, pb, pc = a.problems(TRAIN, 50), b.problems(TRAIN, 50), c.problems(TRAIN, 50)
    assert [p.inputs for p in pa] == [p.inputs for p in pb]
    assert [p.inputs for p in pa] != [p.inputs for p in pc]
    assert [a.trace(p) for p in pa] == [b.trace(p) for p in pb]


def test_splits_are_disjoint(toy_world):
    train = {tuple(p.inputs) for p in toy_world.problems(TRAIN, 3000)}
    test = {tuple(p.inputs) for p in toy_world.test_set(100)}
    assert train and test and not train & test


def test_difficulty_spread(toy_world):
    problems = toy_world.problems(TRAIN, 3000)
    counts = Counter(p.difficulty for p in problems)
    assert sorted(counts) == list(range(1, 10))  # running sums k = 1..6, then pair sums k = 2..4
    assert min(counts.values()) > 0.07 * len(problems)
    mean_len = {k: sum(len(toy_world.trace(p)) for p in problems if p.difficulty == k) / counts[k] for k in counts}
    assert all(mean_len[k] < mean_len[k + 1] for k in (1, 2, 3, 4, 5, 7, 8))  # reasoning grows within a family
    test = Counter(p.difficulty for p in toy_world.test_set(30))
    assert test[6] == test[9] == 30 and test[1] >= 1


def test_every_rendering_is_consistent():
    task = RunningSumTask()
    toy_world = ToyWorld(task=task, seed=0)
    for p in toy_world.problems(TRAIN, 400):
        assert p.answer == str(sum(p.inputs) % 10)
        for fmt in ARM_FORMATS:
            text = toy_world.render(p, fmt)
            parsed = parse_arm(text)
            assert parsed.format == fmt == detect_format(text)
            assert parsed.answer == p.answer
        assert toy_world.render(p, "short_cot").split("\n")[1].split()[-1] == p.answer
        assert re.search(r">>> f\(\)\n(\d)\n", toy_world.render(p, "code")).group(1) == p.answer
        turns = split_turns(toy_world.render(p, MULTITURN))
        assert len(turns) >= 2 and all(t.answer == p.answer for t in turns)
        trace = normalize_trace(p.question, toy_world.trace(p))
        assert trace.closed and trace.answer == p.answer
        assert extract_final_answer(toy_world.render(p, "long_cot")) == p.answer
        assert task.partial_sums(p.inputs)[-1] == int(p.answer)


def test_traces_have_slips_verifications_and_alternatives():
    toy_world = ToyWorld(task=RunningSumTask(), seed=0)
    problems = toy_world.problems(TRAIN, 1000, difficulty=5)
    traces = [toy_world.trace(p) for p in problems]
    assert all("wait , let me verify" in t for t in traces)
    slips = [t for t in traces if " wait " in t.split("\n\n")[0]]
    assert 0.05 < len(slips) / len(traces) < 0.3  # sometimes a slip...
    for t in slips:  # ...caught at once: a wrong sum, then "wait" and the right one
        m = re.search(r"(\d) \+ (\d) = (\d+) \. wait , (\d) \+ (\d) = (\d+) so (\d) \.", t)
        assert m and m.group(1, 2) == m.group(4, 5)
        a, b = int(m.group(1)), int(m.group(2))
        assert int(m.group(3)) != a + b and int(m.group(6)) == a + b and int(m.group(7)) == (a + b) % 10
    alternatives = sum("alternatively" in t for t in traces)
    assert 0.3 < alternatives / len(traces) < 0.8  # a re-solve among the reflective units (test_toy_tiers.py)


def test_unknown_toy_format(toy_world):
    with pytest.raises(ValueError, match="unknown toy format"):
        toy_world.render(toy_world.problems(TRAIN, 1)[0], "essay")
    assert toy_world.problems(TEST, 5, difficulty=1, distinct=True)  # k=1 test problems exist
