"""Recipes (YAML -> dataclasses, overrides, errors) and JSONL io (file:line errors, atomic, resumable)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from trl import ModelConfig

from thrifty.jsonl import DataError, ResumableJsonlWriter, read_jsonl, write_jsonl
from thrifty.recipes import RecipeError, parse_recipe
from thrifty.trainers.sft import DataArguments, ThriftySFTConfig

SFT_TYPES = (DataArguments, ThriftySFTConfig, ModelConfig)


def _recipe(tmp_path, text):
    path = tmp_path / "recipe.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_recipe_values_typed_and_overridden(tmp_path):
    path = _recipe(tmp_path, """
        learning_rate: 3e-4          # YAML reads this as a string; the parser must still give a float
        max_steps: 7
        lr_scheduler_kwargs: {min_lr_rate: 0.1}
        model_name_or_path: some/model
        output_dir: out
        formats: [direct, short_cot]
    """)
    data, train, model = parse_recipe(SFT_TYPES, ["--config", str(path), "--max_steps", "9"])
    assert train.learning_rate == pytest.approx(3e-4) and isinstance(train.learning_rate, float)
    assert train.max_steps == 9  # the command line wins
    assert train.lr_scheduler_kwargs == {"min_lr_rate": 0.1}
    assert data.formats == ["direct", "short_cot"]
    assert model.model_name_or_path == "some/model"
    assert train.use_cpu and not train.bf16  # CPU detected and handled without asking


def test_yaml_no_stays_a_string_in_recipes_copies_and_overrides(tmp_path):
    """YAML 1.1 reads ``no``/``yes``/``on``/``off`` as booleans, which broke ``save_strategy: no``."""
    from thrifty.trainers.launch import overrides_dict, write_recipe_copy

    path = _recipe(tmp_path, """
        save_strategy: no
        packing: true
        output_dir: out
    """)
    _, train, _ = parse_recipe(SFT_TYPES, ["--config", str(path), "--output_dir", str(tmp_path / "run")])
    assert train.save_strategy == "no" and train.packing is True
    assert overrides_dict(["--save_strategy", "no", "--bf16", "false"]) == {"save_strategy": "no", "bf16": False}
    copy = write_recipe_copy(path, ["--save_strategy", "no", "--output_dir", str(tmp_path / "run")], ["thrifty"])
    _, train, _ = parse_recipe(SFT_TYPES, ["--config", str(copy)])  # the run's recipe copy parses back
    assert train.save_strategy == "no"


def test_recipe_unknown_key_names_file_and_closest(tmp_path):
    path = _recipe(tmp_path, "lerning_rate: 0.1\noutput_dir: out\n")
    with pytest.raises(RecipeError) as err:
        parse_recipe(SFT_TYPES, ["--config", str(path)])
    msg = str(err.value)
    assert str(path) in msg and "'lerning_rate'" in msg and "did you mean 'learning_rate'" in msg


def test_override_unknown_key_and_bad_value(tmp_path):
    with pytest.raises(RecipeError, match="did you mean 'max_steps'"):
        parse_recipe(SFT_TYPES, ["--output_dir", "o", "--max_step", "3"])
    with pytest.raises(RecipeError, match="^command line: max_steps: invalid int value: 'three'; max_steps takes an integer$"):
        parse_recipe(SFT_TYPES, ["--output_dir", "o", "--max_steps", "three"])
    with pytest.raises(RecipeError, match="does not exist"):
        parse_recipe(SFT_TYPES, ["--config", str(tmp_path / "missing.yaml")])
    bad = _recipe(tmp_path, "- a list\n- not a mapping\n")
    with pytest.raises(RecipeError, match="mapping"):
        parse_recipe(SFT_TYPES, ["--config", str(bad)])


def test_bad_jsonl_names_file_and_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"id": 1}\n\n{"id": 2,}\n')
    with pytest.raises(DataError, match=rf"{path}:3: invalid JSON"):
        read_jsonl(path)
    path.write_text('{"id": 1}\n[1, 2]\n')
    with pytest.raises(DataError, match=rf"{path}:2: expected a JSON object"):
        read_jsonl(path)


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [{"id": 1}])

    def rows():
        yield {"id": 2}
        raise RuntimeError("crash mid-write")

    with pytest.raises(RuntimeError):
        write_jsonl(path, rows())
    assert read_jsonl(path) == [{"id": 1}]
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]  # no temp file left behind


def test_resumable_writer_survives_kill(tmp_path):
    path = tmp_path / "samples.jsonl"
    script = textwrap.dedent(f"""
        import os, signal
        from thrifty.jsonl import ResumableJsonlWriter
        w = ResumableJsonlWriter({str(path)!r})
        for i in range(100):
            if w.done(i):
                continue
            w.append({{"id": i, "value": i * i}})
            if i == 41:
                w._fh.write('{{"id": 42, "val')  # a torn line, as a kill mid-write leaves
                w._fh.flush()
                os.kill(os.getpid(), signal.SIGKILL)
    """)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.run([sys.executable, "-c", script], env=env)
    assert first.returncode == -9
    assert len(path.read_text().splitlines()) == 43  # 42 rows + the torn one
    second = subprocess.run([sys.executable, "-c", script], env=env)
    assert second.returncode == 0
    rows = read_jsonl(path)
    assert [r["id"] for r in rows] == list(range(100))  # no duplicate, no missing row
    with ResumableJsonlWriter(path) as w:
        assert w.done(99) and not w.done(100)
        with pytest.raises(ValueError, match="already written"):
            w.append({"id": 5})
    assert json.loads(path.read_text().splitlines()[-1]) == {"id": 99, "value": 9801}
