"""Eval robustness (audit_eval #2, #3, #6, #8-#12, audit_builders D5): resumes that must refuse another model or
accept the same one written another way, a ``--limit`` changed on a rerun, benchmarks loaded and checked before
anything is written, multiple-choice golds, toy contamination without false alarms or network, "after turn k"
over the whole mode, consensus fallback seeds. Real components: the tiny model generates on CPU."""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
from pathlib import Path

import pytest

from thrifty.benchmarks import load_benchmark, load_problems_file
from thrifty.eval.commands import cmd_eval
from thrifty.jsonl import DataError, read_jsonl
from thrifty.paths import recipe_path
from thrifty.recipes import RecipeError

HAS_VLLM = importlib.util.find_spec("vllm") is not None


def _argv(model, out, *extra):
    return ["--config", str(recipe_path("toy/eval.yaml")), "--model_name_or_path", str(model), "--output_dir",
            str(out), "--toy_per_difficulty", "1", "--max_new_tokens", "6", "--modes", "direct", "--plots", "false",
            *extra]


def _no_generation(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("nothing may be generated here")

    monkeypatch.setattr("thrifty.eval.runner.make_generator", refuse)
    monkeypatch.setattr("thrifty.eval.generation.make_generator", refuse)


# ---------------------------------------------------------------------------------------------------------
# #3: --limit changed on a rerun extends (or narrows) the run in place
# ---------------------------------------------------------------------------------------------------------
def test_changing_limit_extends_the_run_in_place(tiny_model_dir, tmp_path, monkeypatch):
    out = tmp_path / "run"
    assert cmd_eval(_argv(tiny_model_dir, out, "--limit", "2")) == 0
    first = read_jsonl(out / "samples.jsonl")
    assert len(first) == 2
    assert cmd_eval(_argv(tiny_model_dir, out, "--limit", "4")) == 0  # was refused: "problems changed"
    rows = read_jsonl(out / "samples.jsonl")
    assert len(rows) == 4 and rows[:2] == first  # the first two kept, two more generated
    assert json.loads((out / "summary.json").read_text())["results"]["toy"]["direct"]["n_problems"] == 4
    _no_generation(monkeypatch)
    assert cmd_eval(_argv(tiny_model_dir, out, "--limit", "3")) == 0  # a subset: nothing to generate
    assert json.loads((out / "summary.json").read_text())["results"]["toy"]["direct"]["n_problems"] == 3
    assert len(read_jsonl(out / "samples.jsonl")) == 4
    assert len(json.loads((out / "problems.json").read_text())["toy"]) == 4  # per-problem fingerprints kept


def test_changed_problem_under_a_shared_id_is_still_refused_after_a_limit_change(tiny_model_dir, tmp_path):
    bench = tmp_path / "mine.jsonl"
    rows = [{"id": f"q{i}", "problem": f"{i} 1 _ _ _ _", "answer": str((i + 1) % 10)} for i in range(4)]
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    assert cmd_eval(_argv(tiny_model_dir, out, "--benchmarks", str(bench), "--limit", "2")) == 0
    rows[1]["problem"] = "7 7 _ _ _ _"
    bench.write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = (out / "samples.jsonl").read_bytes()
    with pytest.raises(RecipeError, match="id 'q1'"):
        cmd_eval(_argv(tiny_model_dir, out, "--benchmarks", str(bench), "--limit", "3"))
    assert (out / "samples.jsonl").read_bytes() == before


# ---------------------------------------------------------------------------------------------------------
# #12: the same model under another spelling of its path resumes
# ---------------------------------------------------------------------------------------------------------
def test_same_model_written_another_way_resumes(tiny_model_dir, tmp_path, monkeypatch):
    model = tmp_path / "sft"
    shutil.copytree(tiny_model_dir, model)
    out = tmp_path / "run"
    monkeypatch.chdir(tmp_path)
    assert cmd_eval(_argv("sft", out, "--limit", "2")) == 0
    before = (out / "samples.jsonl").read_bytes()
    _no_generation(monkeypatch)
    for spelling in ("./sft/", str(model), str(model) + "/"):
        assert cmd_eval(_argv(spelling, out, "--limit", "2")) == 0
    assert (out / "samples.jsonl").read_bytes() == before


# ---------------------------------------------------------------------------------------------------------
# #6 and #9: refusals come before anything is written, and name path:line
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.skipif(HAS_VLLM, reason="vLLM is installed here")
def test_missing_vllm_is_a_recipe_error_and_writes_nothing(tiny_model_dir, tmp_path):
    from thrifty.cli import main

    out = tmp_path / "run"
    with pytest.raises(RecipeError, match="backend 'vllm'.*not installed"):
        cmd_eval(_argv(tiny_model_dir, out, "--backend", "vllm"))
    assert not out.exists()
    assert main(["eval-longwrite", "--model_name_or_path", str(tiny_model_dir), "--dataset",
                 str(_longwrite_prompts(tmp_path)), "--backend", "vllm", "--judge_backend", "none",
                 "--output_dir", str(out)]) == 2
    assert not out.exists()


def test_bad_second_benchmark_is_refused_before_generating(tiny_model_dir, tmp_path, monkeypatch):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "problem": "1 _", "answer": "1"}) + "\n\n"
                   + json.dumps({"id": "b", "problem": "2 _"}) + "\n")
    out = tmp_path / "run"
    _no_generation(monkeypatch)
    with pytest.raises(DataError, match=r"bad\.jsonl:3: missing key 'answer'"):  # line 3: blank lines count
        cmd_eval(_argv(tiny_model_dir, out, "--benchmarks", "toy", str(bad)))
    assert not out.exists()


def test_registered_benchmark_errors_name_path_and_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "math500.jsonl").write_text(json.dumps({"unique_id": "a", "problem": "1+1?", "answer": "2"}) + "\n"
                                        + json.dumps({"unique_id": "b", "problem": "2+2?"}) + "\n")
    with pytest.raises(DataError, match=r"math500\.jsonl:2: missing field answer"):
        load_benchmark("math500", data)


# ---------------------------------------------------------------------------------------------------------
# #8: multiple-choice golds
# ---------------------------------------------------------------------------------------------------------
def test_choice_gold_is_a_letter_of_its_options_or_an_option_text(tmp_path):
    path = tmp_path / "mc.jsonl"
    path.write_text(json.dumps({"id": "1", "problem": "2+2?", "options": ["3", "4", "5"], "answer": "4"}) + "\n"
                    + json.dumps({"id": "2", "problem": "x?", "options": ["a", "b"], "answer": "b"}) + "\n"
                    + json.dumps({"id": "3", "problem": "y?", "options": ["p", "q", "r"], "answer": "C"}) + "\n")
    assert [p.answer for p in load_problems_file(path)] == ["B", "B", "C"]
    for row, line in (({"options": ["3", "4"], "answer": "F"}, 1), ({"options": ["3", "4"], "answer": "7"}, 1),
                      ({"kind": "choice", "answer": "four"}, 1)):
        path.write_text(json.dumps({"id": "1", "problem": "2+2?", **row}) + "\n")
        with pytest.raises(DataError, match=rf"mc\.jsonl:{line}: answer"):
            load_problems_file(path)


# ---------------------------------------------------------------------------------------------------------
# #10 and audit_builders D5: the toy world and decontamination
# ---------------------------------------------------------------------------------------------------------
def test_toy_overlap_check_flags_only_real_copies(tmp_path, toy_world, caplog):
    from thrifty.decontaminate import write_training_record
    from thrifty.eval.contamination import warn_if_trained_on

    train = toy_world.problems("train", 300)
    test = toy_world.test_set(20)
    assert max(len(p.question.split()) for p in train) >= 13  # questions long enough to share 8-grams
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(toy_world.sft_row(p, "direct")) + "\n" for p in train))
    model = tmp_path / "model"
    model.mkdir()
    write_training_record(model, "sft", str(data))
    caplog.set_level(logging.WARNING)
    assert warn_if_trained_on(str(model), "toy", [p.question for p in test]) == []  # was 51 of 240 flagged
    assert not caplog.records
    data.write_text("".join(json.dumps(toy_world.sft_row(p, "direct")) + "\n" for p in [*train, test[-1]]))
    data.touch()
    found = warn_if_trained_on(str(model), "toy", [p.question for p in test])
    assert found and found[0]["benchmark_questions_hit"] == 1 and found[0]["rows_overlapping"] == 1


def test_toy_build_decontamination_needs_no_benchmark_files(toy_world, monkeypatch):
    """The docs' toy builds: 13-word toy questions must not load (or fetch from the Hub) any benchmark."""
    from thrifty.benchmarks import DEFAULT_BENCHMARKS, build_index, is_toy_question
    from thrifty.data_builders.build_common import DecontaminationArguments, decontaminate_inputs

    monkeypatch.delenv("THRIFTY_DATA_DIR", raising=False)

    def no_hub(*a, **k):
        raise AssertionError("no benchmark may be loaded for toy questions")

    monkeypatch.setattr("thrifty.benchmarks.benchmark_questions", no_hub)
    monkeypatch.setattr("thrifty.benchmarks._INDEX_CACHE", {})
    items = toy_world.problems("train", 200)
    assert any(len(p.question.split()) >= 8 for p in items) and all(is_toy_question(p.question) for p in items)
    kept, report = decontaminate_inputs(items, [[p.question] for p in items], [p.id for p in items],
                                        DecontaminationArguments())
    assert kept == items and report["checked"] == 200 and report["contaminated"] == 0
    assert not is_toy_question("Compute 1 2 3 4 5 6 7 8 9")
    index = build_index(list(DEFAULT_BENCHMARKS))
    with pytest.raises(DataError, match="decontamination against math500"):  # a real question loads the index
        index.matches("What is the sum of the first ten positive integers, written in words?")


# ---------------------------------------------------------------------------------------------------------
# #11: "after turn k" over the whole mode
# ---------------------------------------------------------------------------------------------------------
def test_after_turn_covers_every_sample_of_a_mixed_mode():
    from thrifty.eval.report import run_markdown
    from thrifty.eval.stats import summarize_group

    single = [{"problem_id": str(i), "sample": 0, "correct": i < 3, "num_tokens": 4, "format": "direct",
               "prediction": "1", "kind": "number"} for i in range(4)]
    multi = [{"problem_id": "9", "sample": 0, "correct": True, "num_tokens": 30, "format": "multiturn", "turns": 2,
              "turn_correct": [False, True], "turn_tokens": [10, 30], "prediction": "1", "kind": "number"}]
    stats = summarize_group(single + multi)
    first = stats["after_turn"][0]
    assert first["n"] == 5 and first["accuracy"] == pytest.approx(3 / 5)  # was 0.0: the multi-turn sample only
    assert first["mean_tokens"] == pytest.approx((4 * 4 + 10) / 5)
    assert stats["after_turn"][1]["accuracy"] == pytest.approx(stats["accuracy"])  # the final turn: the mode's
    assert stats["after_turn"][1]["reached"] == pytest.approx(1 / 5)
    text = run_markdown({"run": "r", "model": "m", "results": {"b": {"adaptive": stats}}})
    assert "over all 5 samples of the mode" in text


# ---------------------------------------------------------------------------------------------------------
# #12: consensus fallback samples are seeded per sample
# ---------------------------------------------------------------------------------------------------------
def test_consensus_fallback_seeds_each_sample(tiny_model_dir):
    from thrifty.answer_check import AnswerChecker
    from thrifty.benchmarks import load_toy_problems
    from thrifty.eval.generation import SamplingParams, make_generator
    from thrifty.eval.modes import generate_mode

    generator = make_generator("transformers", str(tiny_model_dir), batch_size=8)
    seen = []
    original = generator.generate

    def recording(prompts, params, prefills=None, desc=""):
        seen.append((desc, params.n, params.seed, len(prompts)))
        return original(prompts, params, prefills, desc)

    generator.generate = recording
    problems = load_toy_problems(1)[:2]
    with AnswerChecker() as checker:
        out = generate_mode(generator, problems, "consensus",
                            SamplingParams(max_new_tokens=4, temperature=1.0, n=3, seed=5), "{problem}", None,
                            checker)
    fallbacks = [x for x in seen if x[0] == "consensus fallback"]
    fell_back = {s for per in out for s, sample in enumerate(per) if sample["consensus"]["fallback"]}
    assert fell_back and len(fallbacks) == len(fell_back)  # an untrained model disagrees with itself
    assert all(n == 1 for _, n, _, _ in fallbacks) and len({seed for _, _, seed, _ in fallbacks}) == len(fallbacks)


# ---------------------------------------------------------------------------------------------------------
# #2: eval-longwrite resumes only with the same model and settings
# ---------------------------------------------------------------------------------------------------------
def _longwrite_prompts(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": str(i), "prompt": f"Write {i} words about {w}.", "type": "x",
                                        "length": 50 + i}) + "\n" for i, w in enumerate(["cats", "rain"])))
    return path


def test_longwrite_resume_refuses_another_model(tiny_model_dir, toy_base_dir, tmp_path, monkeypatch, capsys):
    from thrifty.cli import main

    prompts = _longwrite_prompts(tmp_path)
    model = tmp_path / "sft"
    shutil.copytree(tiny_model_dir, model)
    out = tmp_path / "lw"

    def argv(m, *extra):
        return ["eval-longwrite", "--model_name_or_path", str(m), "--dataset", str(prompts), "--max_new_tokens", "4",
                "--judge_backend", "none", "--output_dir", str(out), "--plots", "false", *extra]

    assert main(argv(model)) == 0
    outputs = (out / "outputs.jsonl").read_bytes()
    capsys.readouterr()
    assert main(argv(toy_base_dir)) == 2  # was: sft's outputs scored under the other model's name
    err = capsys.readouterr().err
    assert "model_name_or_path" in err and "model_fingerprint" in err and "Traceback" not in err
    assert main(argv(model, "--temperature", "0.9")) == 2
    assert "temperature: 0.5 -> 0.9" in capsys.readouterr().err
    other = tmp_path / "other.jsonl"  # the same ids, other prompts
    other.write_text(prompts.read_text().replace("cats", "dogs"))
    assert main([*argv(model)[:3], "--dataset", str(other), *argv(model)[5:]]) == 2
    assert "other prompts under the same ids" in capsys.readouterr().err
    assert (out / "outputs.jsonl").read_bytes() == outputs
    monkeypatch.chdir(tmp_path)
    _no_generation(monkeypatch)
    assert main(argv("./sft/")) == 0  # the same model, written another way: resumes, generates nothing


# ---------------------------------------------------------------------------------------------------------
# audit_builders D7 (eval side): rows `thrifty decontaminate` cannot read are never passed as clean
# ---------------------------------------------------------------------------------------------------------
def test_decontaminate_keeps_unreadable_rows_out_of_the_clean_file(shared_data, tmp_path, capsys):
    from thrifty.cli import main

    question = load_benchmark("math500", shared_data)[0].problem
    rows = [{"id": "a", "problem": question}, {"id": "b", "blob": question}, {"id": "c", "problem": "2 plus 2?"}]
    data = tmp_path / "mixed.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    clean = tmp_path / "clean.jsonl"
    assert main(["decontaminate", str(data), "--benchmarks", "math500", "--data-dir", str(shared_data),
                 "--out", str(clean)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["contaminated"] == 1 and result["no_question"] == 1 and result["no_question_ids"] == ["b"]
    assert [r["id"] for r in read_jsonl(clean)] == ["c"] and result["clean_rows"] == 1  # b was written as clean


def test_registered_choice_benchmarks_check_their_gold_letters():
    """AQuA and CSQA rows go through the same gold check as user files: a letter beyond the options, or no letter,
    is refused naming the row (it would otherwise score 0 on every completion)."""
    from thrifty.benchmarks import _aqua, _csqa

    assert _aqua({"question": "q", "options": ["A)1", "B)2"], "correct": "b"}, 0, 0).answer == "B"
    with pytest.raises(DataError, match="aqua row 3: answer 'F'"):
        _aqua({"question": "q", "options": ["A)1", "B)2"], "correct": "F"}, 3, 0)
    hub = {"question": "q", "choices": {"label": ["A", "B"], "text": ["x", "y"]}, "answerKey": "C"}
    with pytest.raises(DataError, match="csqa row 4"):
        _csqa(hub, 4, 0)
    with pytest.raises(DataError, match="csqa row 5: answer 'maybe'"):
        _csqa({"question": "q (A) x (B) y", "answer": "maybe"}, 5, 0)
