"""Eval's memory bounds and resume guard, on the real toy models.

- One generate call never runs more than ``max_sequences_per_call`` sequences (prompts x samples), and the greedy
  outputs are the same as with one unchunked call.
- The resumable writer keeps ids, not rows: appending 400 rows with 40 KB completions each leaves no completion
  in memory, and the rows stream back from disk.
- A resumed eval refuses another backend, dtype or model (path, or the same path with other weights), naming the
  key with its old and new value.
"""

from __future__ import annotations

import gc
import shutil
import tracemalloc

import pytest

from thrifty.generation import SamplingParams, TransformersGenerator, render_prompt
from thrifty.jsonl import ResumableJsonlWriter


@pytest.fixture(scope="module")
def toy_prompts(toy_world):
    problems = toy_world.problems("test", 12)
    return problems


def _generate(generator, problems, params):
    prompts = [render_prompt(generator.tokenizer, [{"role": "user", "content": p.question}], "<COT>")
               for p in problems]
    return generator.generate(prompts, params, ["<COT>"] * len(prompts))


class CountingModel:
    """The real model, with each generate call's sequence count recorded (batch rows x num_return_sequences)."""

    def __init__(self, model):
        self.model, self.calls = model, []

    def __getattr__(self, name):
        return getattr(self.model, name)

    def generate(self, input_ids, num_return_sequences=1, **kwargs):
        self.calls.append(input_ids.shape[0] * num_return_sequences)
        return self.model.generate(input_ids=input_ids, num_return_sequences=num_return_sequences, **kwargs)


@pytest.mark.parametrize("cap", [1, 5])
def test_greedy_generate_calls_respect_the_cap_and_match_the_unchunked_run(toy_base_dir, toy_prompts, cap):
    reference = TransformersGenerator.from_pretrained(str(toy_base_dir), batch_size=64)
    params = SamplingParams(max_new_tokens=24, temperature=0.0, n=2)
    reference.model = CountingModel(reference.model)
    want = _generate(reference, toy_prompts, params)
    assert reference.model.calls == [len(toy_prompts)]  # unchunked: one call (greedy: one sequence per prompt)

    capped = TransformersGenerator(reference.model.model, reference.tokenizer, batch_size=64, max_sequences=cap)
    capped.model = CountingModel(capped.model)
    got = _generate(capped, toy_prompts, params)
    assert max(capped.model.calls) <= cap and sum(capped.model.calls) == len(toy_prompts)
    assert got == want and all(len(per) == 2 for per in got)
    assert sum(g.text.startswith("<COT>") and g.num_tokens > 3 for per in got for g in per) >= len(toy_prompts)


@pytest.mark.parametrize("cap,n", [(4, 3), (2, 3), (7, 2)])
def test_sampled_generate_calls_respect_the_cap(toy_base_dir, toy_prompts, cap, n):
    generator = TransformersGenerator.from_pretrained(str(toy_base_dir), batch_size=64, max_sequences=cap)
    generator.model = CountingModel(generator.model)
    got = _generate(generator, toy_prompts, SamplingParams(max_new_tokens=16, temperature=1.0, n=n, seed=3))
    assert max(generator.model.calls) <= cap
    assert sum(generator.model.calls) == len(toy_prompts) * n  # every sample generated once
    assert all(len(per) == n for per in got)


def test_writer_keeps_no_completion_in_memory(tmp_path):
    path = tmp_path / "samples.jsonl"
    completion_bytes, n = 40000, 400
    gc.collect()
    tracemalloc.start()
    with ResumableJsonlWriter(path) as writer:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(n):
            writer.append({"id": f"toy/adaptive/{i}/0", "correct": i % 2 == 0, "completion": f"{i:06d}" + "x" * completion_bytes})
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
        assert len(writer) == n
    tracemalloc.stop()
    written = n * completion_bytes
    assert held < written / 20, f"the writer holds {held} bytes after writing {written} bytes of completions"
    assert path.stat().st_size > written
    again = ResumableJsonlWriter(path)  # a resumed run reads only the ids back
    assert again.done("toy/adaptive/399/0") and len(again) == n
    rows = list(again.iter_rows(drop=("completion",)))
    again.close()
    assert len(rows) == n and all("completion" not in r for r in rows) and rows[3]["correct"] is False


def _eval_argv(model, out, *extra):
    from thrifty.paths import recipe_path

    return ["eval", "--config", str(recipe_path("toy/eval.yaml")), "--model_name_or_path", str(model),
            "--output_dir", str(out), "--toy_per_difficulty", "1", "--max_new_tokens", "6", "--modes", "direct",
            *extra]


def test_resume_refuses_another_backend_dtype_or_model(tmp_path, tiny_model_dir, toy_base_dir, capsys):
    from thrifty.cli import main

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    out = tmp_path / "eval"
    assert main(_eval_argv(model, out, "--limit", "2")) == 0
    samples = (out / "samples.jsonl").read_bytes()
    capsys.readouterr()

    def refused(*extra, model_dir=model) -> str:
        assert main(_eval_argv(model_dir, out, *extra)) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        assert (out / "samples.jsonl").read_bytes() == samples  # nothing appended, nothing lost
        return err

    assert "dtype: 'auto' -> 'float32'" in refused("--dtype", "float32")
    assert "model_name_or_path: " in refused(model_dir=toy_base_dir)
    weights = model / "model.safetensors"
    shutil.copy(toy_base_dir / "model.safetensors", weights)  # another model's weights, same folder
    shutil.copy(toy_base_dir / "config.json", model / "config.json")
    err = refused()
    assert "model_fingerprint: " in err and "config or weights changed" in err
    # a copy of the original folder elsewhere fingerprints the same: the same model, so the run resumes (audit #12)
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    assert main(_eval_argv(copy, out, "--limit", "2")) == 0
    assert (out / "samples.jsonl").read_bytes() == samples
    capsys.readouterr()
    err = refused("--backend", "vllm", model_dir=copy)  # vLLM is not installed on CPU machines: refused up front
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        assert "backend 'vllm'" in err and "not installed" in err
    else:
        assert "backend: 'transformers' -> 'vllm'" in err
