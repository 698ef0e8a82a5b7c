"""Response-style selection (DESIGN 4.5): hand-made cases where the right answer is known, and the CLI end to end."""

import json
import math

import pytest
import torch

from thrifty.data_builders.style_select import (
    StyleSelectArguments,
    TargetModel,
    cmd_select_style,
    load_candidates,
    rank,
    select_style,
    spearman,
    write_toy_candidates,
)
from thrifty.jsonl import DataError, write_jsonl
from thrifty.models import load_model_and_tokenizer
from thrifty.recipes import RecipeError


@pytest.fixture(scope="module")
def peaked_target(tiny_model_dir):
    """The tiny model with its (tied) embeddings scaled up: a confident model whose own style is distinctive."""
    model, tok = load_model_and_tokenizer(str(tiny_model_dir))
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(6.0)
    return TargetModel(model, tok, batch_size=32)


@pytest.fixture(scope="module")
def problems(toy_world):
    return toy_world.problems("train", 12)


def _own_strategy(path, target, problems, temperature, seed):
    """A candidate dataset made of the target's own outputs on the problems."""
    prompts = [[{"role": "user", "content": p.question}] for p in problems]
    outs = target.sample(prompts, 1, temperature, 1.0, 30, seed=seed)
    write_jsonl(path, ({"id": p.id, "answer": p.answer, "messages": [*prompts[i], {"role": "assistant", "content": outs[i][0]}]}
                       for i, p in enumerate(problems)))
    return str(path)


def test_identical_text_scores_best(peaked_target, problems, tmp_path):
    # greedy target samples, and a strategy whose outputs are exactly those texts: cosine 1, ranked first
    same = _own_strategy(tmp_path / "same.jsonl", peaked_target, problems, 0.0, seed=0)
    toy = write_toy_candidates(tmp_path / "toy", ["direct", "short_cot", "long_cot"], n=12)
    args = StyleSelectArguments(model_name_or_path="peaked", candidates=[*toy, f"same={same}"],
                                output_dir=str(tmp_path / "out"), subset_size=12, num_samples=1, temperature=0.0,
                                max_new_tokens=30)
    result = select_style(args, peaked_target)
    assert result["scores"]["same"]["alignment"] == pytest.approx(1.0, abs=1e-4)
    assert all(result["scores"][n]["alignment"] < 0.99 for n in ("direct", "short_cot", "long_cot"))
    assert result["chosen"] == "same"
    assert result["rankings"]["perplexity"][0] == "same"


def test_own_samples_rank_first_by_every_score(peaked_target, problems, tmp_path):
    # independent samples of the target (another seed) against m=3 scoring samples: first by every score
    own = _own_strategy(tmp_path / "own.jsonl", peaked_target, problems, 1.0, seed=123)
    toy = write_toy_candidates(tmp_path / "toy", ["direct", "short_cot", "code", "long_cot"], n=12)
    args = StyleSelectArguments(model_name_or_path="peaked", candidates=[*toy, f"own={own}"],
                                output_dir=str(tmp_path / "out"), subset_size=12, num_samples=3, max_new_tokens=30)
    result = select_style(args, peaked_target)
    for score in ("alignment", "perplexity", "self_aligned_perplexity"):  # alignment_correct: none is correct here
        assert result["rankings"][score][0] == "own", (score, result["scores"])
    assert (tmp_path / "out" / "scores.png").stat().st_size > 1000


def test_cli_end_to_end_on_tiny_model(tiny_model_dir, tmp_path, capsys):
    recipe = tmp_path / "select.yaml"
    recipe.write_text(
        f"model_name_or_path: {tiny_model_dir}\n"
        "candidates: [direct, short_cot, code, long_cot, multiturn]\n"
        "toy_candidates: true\ntoy_n: 30\nsubset_size: 6\nnum_samples: 2\nmax_new_tokens: 24\nseed: 3\n"
    )
    out = tmp_path / "out"
    assert cmd_select_style(["--config", str(recipe), "--output_dir", str(out)]) == 0
    result = json.loads((out / "selection.json").read_text())
    assert set(result["ranking"]) == {"direct", "short_cot", "code", "long_cot", "multiturn"}
    assert result["chosen"] == result["ranking"][0] == capsys.readouterr().out.split()[0]
    assert result["n_inputs"] == 6 and result["config"]["num_samples"] == 2 and result["config"]["seed"] == 3
    assert "Chosen" in (out / "report.md").read_text() and (out / "scores.png").exists()
    samples = (out / "target_samples.jsonl").read_text()
    # a rerun with the same subset, m, seed and sampling reuses the target's samples and gives the same answer
    assert cmd_select_style(["--config", str(recipe), "--output_dir", str(out), "--selection_score", "perplexity"]) == 0
    assert (out / "target_samples.jsonl").read_text() == samples
    again = json.loads((out / "selection.json").read_text())
    assert again["scores"]["direct"]["alignment"] == pytest.approx(result["scores"]["direct"]["alignment"])
    assert again["chosen"] == again["rankings"]["perplexity"][0]


def test_user_errors_name_file_row_and_key(tmp_path):
    bad = tmp_path / "bad.jsonl"
    write_jsonl(bad, [{"id": "a", "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "x"}]},
                      {"messages": [{"role": "user", "content": "q"}]}])
    with pytest.raises(DataError, match=r"bad.jsonl: row 2: no 'id' key"):
        load_candidates(bad)
    write_jsonl(bad, [{"id": "a", "messages": [{"role": "user", "content": "q"}]}])
    with pytest.raises(DataError, match=r"row 1: the last message must be the assistant"):
        load_candidates(bad)
    with pytest.raises(RecipeError, match="did you mean 'subset_size'"):
        cmd_select_style(["--subset_sise", "3"])
    with pytest.raises(ValueError, match="selection_score"):
        StyleSelectArguments(selection_score="bleu")


def test_spearman_and_rank():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, abs=1e-6)  # ties get average ranks
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3])) and math.isnan(spearman([1, float("nan")], [1, 2]))
    scores = {"a": {"alignment": 0.5, "perplexity": 3.0}, "b": {"alignment": 0.9, "perplexity": 9.0},
              "c": {"alignment": float("nan"), "perplexity": 1.0}}
    assert rank(scores, "alignment") == ["b", "a", "c"] and rank(scores, "perplexity") == ["c", "a", "b"]


def test_style_examples_dropped_to_fit_max_length(tiny_model_dir):
    from thrifty.data_builders.style_select import _fit, sppl_prompt

    model, tok = load_model_and_tokenizer(str(tiny_model_dir))
    target = TargetModel(model, tok, max_length=1024)
    examples = ["<ANSWER>\n6\n</ANSWER>", "<ANSWER>\n7\n</ANSWER>", "<ANSWER>\n8\n</ANSWER>"]
    prompt, output = [{"role": "user", "content": "1 2 _ _ _ _"}], "<ANSWER>\n3\n</ANSWER>"
    assert _fit(target, examples, prompt, output) == (sppl_prompt(prompt, examples), 0)
    target.max_length = len(target.encode(sppl_prompt(prompt, examples[2:]), output)[0]) + 1
    assert _fit(target, examples, prompt, output) == (sppl_prompt(prompt, examples[2:]), 2)  # earliest dropped first
    target.max_length = 5
    assert _fit(target, examples, prompt, output) == (prompt, len(examples))


# SPPL's in-context question for num_of_incontext_examples == 2, copied from XuanRen4470/SPPL
# Mix_Score_Ranking_Calculation/icppl_calculation.py (the f-string, with its trailing space and blank lines)
SPPL_TWO_EXAMPLES = """Question: {original_question}

We have inference examples below to show you how to solve the problem. please follow the inference style and solve the problem

inference example: {initial_prediction_of_another_question_1}

inference example: {initial_prediction_of_another_question_2}

now, according to the inference examples, please solve the problem. \n\n\n"""


def test_sppl_layout_is_one_user_turn_word_for_word():
    from thrifty.data_builders.style_select import sppl_prompt

    prompt = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "3 8 5 _ _ _"}]
    got = sppl_prompt(prompt, ["<COT>\n3 1 6\n</COT>", "<ANSWER>\n4\n</ANSWER>"])
    expected = SPPL_TWO_EXAMPLES.format(
        original_question="3 8 5 _ _ _", initial_prediction_of_another_question_1="<COT>\n3 1 6\n</COT>",
        initial_prediction_of_another_question_2="<ANSWER>\n4\n</ANSWER>")
    assert got == [prompt[0], {"role": "user", "content": expected}]
    assert sppl_prompt(prompt, []) == prompt
    # SPPL's script runs icppl_calculation.py --num_of_incontext_examples 3 (script/calculate_metric_scores_phoenix.sh)
    assert StyleSelectArguments().n_style_examples == 3


def test_perplexity_is_sppl_mean_of_per_example_perplexities(tiny_model_dir):
    """SPPL's calculate_perplexity: labels = the sequence with the question masked (-100), no end-of-turn token,
    ppl = exp(model loss) per example; the score is the plain mean over examples (not one corpus-level exp)."""
    from thrifty.data_builders.style_select import mean_perplexity

    model, tok = load_model_and_tokenizer(str(tiny_model_dir))
    target = TargetModel(model, tok, batch_size=4)
    items = [([{"role": "user", "content": "1 2 _ _ _ _"}], "<ANSWER>\n3\n</ANSWER>"),
             ([{"role": "user", "content": "4 4 4 _ _ _"}], "<LONG_COT>\nstart 4 . 4 + 4 = 8 so 8 .\n</LONG_COT>")]
    reference = []
    for messages, output in items:
        q = tok(target.prompt_text(messages), add_special_tokens=False)["input_ids"]
        a = tok(output, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([q + a])
        labels = ids.clone()
        labels[:, : len(q)] = -100
        with torch.no_grad():
            reference.append(math.exp(model(input_ids=ids, labels=labels).loss.item()))
    scored = target.score(items, embed=False)
    assert [s.n_tokens for s in scored] == [len(tok(o, add_special_tokens=False)["input_ids"]) for _, o in items]
    assert [s.perplexity for s in scored] == pytest.approx(reference, rel=1e-4)
    assert mean_perplexity(scored) == pytest.approx(sum(reference) / 2, rel=1e-4)
    corpus = math.exp(sum(s.nll_sum for s in scored) / sum(s.n_tokens for s in scored))
    assert abs(mean_perplexity(scored) - corpus) > 1e-3  # the two aggregations differ on this case


def _toy_set(path, problems, offset=0):
    """A direct-answer candidate set over ``problems`` with ids 0..n-1 (``offset`` shifts which problem an id
    holds, so two sets share ids but not prompts)."""
    n = len(problems)
    write_jsonl(path, ({"id": str(i), "answer": problems[(i + offset) % n].answer, "messages": [
        {"role": "user", "content": problems[(i + offset) % n].question},
        {"role": "assistant", "content": f"<ANSWER>\n{problems[(i + offset) % n].answer}\n</ANSWER>"}]}
        for i in range(n)))
    return str(path)


def test_target_samples_are_not_reused_for_other_prompts_with_the_same_ids(peaked_target, problems, tmp_path):
    """D11: the samples file is keyed by id; a second input set with the same ids but other questions must get
    fresh samples, not the first set's (with their correctness labels)."""
    out = tmp_path / "out"
    common = dict(model_name_or_path="peaked", output_dir=str(out), subset_size=6, num_samples=1,
                  temperature=0.0, max_new_tokens=8)
    sampled: list[list[str]] = []  # the prompts the real target was asked to sample
    real_sample = peaked_target.sample

    def counting_sample(prompts, *a, **kw):
        sampled.append([p[-1]["content"] for p in prompts])
        return real_sample(prompts, *a, **kw)

    peaked_target.sample = counting_sample
    try:
        a = _toy_set(tmp_path / "a.jsonl", problems[:6])
        select_style(StyleSelectArguments(candidates=[f"d={a}"], **common), peaked_target)
        b = _toy_set(tmp_path / "b.jsonl", problems[:6], offset=3)
        select_style(StyleSelectArguments(candidates=[f"d={b}"], **common), peaked_target)
        select_style(StyleSelectArguments(candidates=[f"d={b}"], **common), peaked_target)  # same set: reused
    finally:
        del peaked_target.sample
    assert len(sampled) == 2, "set B must be sampled once (not reuse A's samples), then reused"
    assert sorted(sampled[1]) == sorted(p.question for p in problems[:6])  # B's prompts (ids shifted)
    rows = [json.loads(line) for line in (out / "target_samples.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and len({r["input"] for r in rows}) == 6


def test_truncation_at_max_length_is_reported(peaked_target, problems, tmp_path, caplog):
    """D10: a sequence longer than max_length is scored on a prefix; the result and report say so."""
    a = _toy_set(tmp_path / "a.jsonl", problems[:4])
    long = tmp_path / "long.jsonl"
    write_jsonl(long, ({"id": str(i), "answer": p.answer, "messages": [
        {"role": "user", "content": p.question},
        {"role": "assistant", "content": "<LONG_COT>\n" + " ".join(["1 + 1 = 2 ."] * 40)
         + f"\n</LONG_COT>\n<ANSWER>\n{p.answer}\n</ANSWER>"}]} for i, p in enumerate(problems[:4])))
    old = peaked_target.max_length
    peaked_target.max_length = 60
    try:
        with caplog.at_level("WARNING"):
            result = select_style(StyleSelectArguments(
                model_name_or_path="peaked", candidates=[f"direct={a}", f"long={long}"], output_dir=str(tmp_path / "o"),
                subset_size=4, num_samples=1, temperature=0.0, max_new_tokens=8, max_length=60), peaked_target)
    finally:
        peaked_target.max_length = old
    assert result["scores"]["long"]["truncated_share"] == 1.0
    assert result["scores"]["direct"]["truncated_share"] == 0.0
    assert "long: 4 of 4 sequences exceed max_length 60" in caplog.text
    assert "- long: 100% of outputs cut" in (tmp_path / "o" / "report.md").read_text()


def test_a_target_model_that_cannot_load_leaves_nothing_behind(tmp_path):
    """D16: the target model is loaded before the toy candidates are written, and its failure names the key."""
    broken = tmp_path / "broken_model"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "no_such_architecture"}')
    args = StyleSelectArguments(model_name_or_path=str(broken), candidates=["direct", "long_cot"],
                                toy_candidates=True, output_dir=str(tmp_path / "out"))
    with pytest.raises(DataError, match=rf"model_name_or_path {broken}: cannot load the target model"):
        select_style(args)
    assert not (tmp_path / "out").exists()
