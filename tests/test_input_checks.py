"""Issue 28: numeric recipe values against their ranges, undecodable bytes in the user's files, and Hub/HTTP
failures, each one line before any work starts. The bad-input table (tests/test_bad_inputs.py) runs the same
mistakes through the command line; this file checks the mechanisms themselves, and runs commands with the Hub
really unreachable (``HF_ENDPOINT`` at a closed port, ``HF_HUB_OFFLINE`` unset) and with ``HF_HUB_OFFLINE=1``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
R = REPO / "recipes"


def recipe_commands() -> dict[str, tuple[type, ...]]:
    """``{command: the dataclasses its recipe fills}`` for every recipe-driven command (asked with ``--help``,
    as ``thrifty COMMAND --help`` does, so a new command is covered without editing this test)."""
    from thrifty.cli import BUILD_COMMANDS, RECIPE_COMMANDS, _sft_dataclasses
    from thrifty.recipes import RecipeHelp

    found = {"sft (toy pretrain, demo)": _sft_dataclasses()}
    for name, (handler, _) in {**RECIPE_COMMANDS, **BUILD_COMMANDS}.items():
        with pytest.raises(RecipeHelp) as request:
            handler(["--help"])
        found[name] = request.value.dataclass_types
    return found


# -------------------------------------------------------------------------------------------------------------
# Numeric ranges
# -------------------------------------------------------------------------------------------------------------
def test_every_numeric_recipe_key_has_a_declared_range():
    """A numeric field added by a TRL/PEFT upgrade or by thrifty fails here until thrifty/recipe_ranges.py says
    what values it takes; and no entry of the table names a key that no command has."""
    from thrifty.recipe_ranges import RANGES, numeric_fields, range_of

    missing, used = [], set()
    for command, types in recipe_commands().items():
        for dtype in types:
            for name in numeric_fields(dtype):
                if range_of(dtype, name) is None:
                    missing.append(f"{command}: {dtype.__name__}.{name}")
                used.add(name)
                used.update(f"{cls.__name__}.{name}" for cls in dtype.__mro__)
    assert not missing, "numeric recipe keys without a range in thrifty/recipe_ranges.py: " + ", ".join(missing)
    assert not set(RANGES) - used, f"ranges of keys no command has: {sorted(set(RANGES) - used)}"


def test_defaults_and_shipped_recipes_are_in_range():
    from transformers import HfArgumentParser

    from thrifty.recipe_ranges import out_of_range
    from thrifty.recipes import load_recipe_file, parse_recipe

    commands = recipe_commands()
    for types in commands.values():
        defaults = vars(HfArgumentParser(types).parse_args([]))
        assert out_of_range(types, defaults, lambda key: "default") is None
    keys = {name: {a.dest for a in HfArgumentParser(types)._actions} for name, types in commands.items()}
    checked = 0
    for path in sorted(R.rglob("*.yaml")):
        if "accelerate" in path.parts:
            continue
        saved = dict(os.environ)  # a recipe's env: entries are exported; keep them out of other tests
        try:
            recipe = load_recipe_file(path)
            command = next(name for name, valid in keys.items() if set(recipe) <= valid)
            parse_recipe(commands[command], ["--config", str(path)])  # would raise on a value out of range
            checked += 1
        finally:
            os.environ.clear()
            os.environ.update(saved)
    assert checked >= 30


@pytest.mark.parametrize(("argv", "expected"), [
    (["--num_generations", "0"], "command line: num_generations = 0 is out of range: it must be an integer >= 2"),
    (["--learning_rate", "nan"], "command line: learning_rate = nan is not a finite number: it must be >= 0"),
    (["--top_p", "1.5"], "command line: top_p = 1.5 is out of range: it must be in (0, 1]"),
    (["--max_steps", "0"], "command line: max_steps = 0 is out of range: it must be an integer -1 or >= 1"),
    (["--reward_weights", "1.0", "inf"], "command line: reward_weights = inf is not a finite number"),
])
def test_a_value_out_of_range_is_refused_before_the_configs_are_built(argv, expected):
    """GRPOConfig's own __post_init__ divides by num_generations: the range check comes first."""
    from trl import ModelConfig

    from thrifty.recipes import RecipeError, parse_recipe
    from thrifty.trainers.grpo import GRPODataArguments, ThriftyGRPOConfig

    with pytest.raises(RecipeError) as err:
        parse_recipe((GRPODataArguments, ThriftyGRPOConfig, ModelConfig),
                     ["--config", str(R / "toy/grpo_plain.yaml"), "--reward_funcs", "accuracy", "format", *argv])
    assert str(err.value).startswith(expected), str(err.value)


def test_a_recipe_value_out_of_range_names_the_recipe_file(tmp_path):
    from thrifty.cli import _sft_dataclasses
    from thrifty.recipes import RecipeError, parse_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text("output_dir: x\nlora_dropout: 1.0\nwarmup_steps: -0.1\n")
    with pytest.raises(RecipeError, match=rf"^{recipe}: (lora_dropout = 1 .*\[0, 1\)|warmup_steps = -0.1 .*>= 0)"):
        parse_recipe(_sft_dataclasses(), ["--config", str(recipe)])


def test_class_qualified_ranges_follow_the_stage():
    """``temperature: 0`` is greedy decoding in eval, and refused in GRPO (which samples); ``beta: 0`` is no KL
    term in GRPO, and a flat loss in DPO."""
    from thrifty.eval.runner import EvalConfig
    from thrifty.recipe_ranges import range_of
    from thrifty.trainers.dpo import ThriftyDPOConfig
    from thrifty.trainers.grpo import ThriftyGRPOConfig

    assert range_of(EvalConfig, "temperature").accepts(0)
    assert not range_of(ThriftyGRPOConfig, "temperature").accepts(0)
    assert range_of(ThriftyGRPOConfig, "beta").accepts(0)
    assert not range_of(ThriftyDPOConfig, "beta").accepts(0)


def test_a_recipe_without_report_to_trains_with_no_reporter():
    """HfArgumentParser passed None for ``report_to`` when the recipe did not set it, which the Trainer refused
    with a traceback (``None is not supported``): a recipe without report_to, or none at all, crashed."""
    from thrifty.cli import _sft_dataclasses
    from thrifty.recipes import parse_recipe

    _, training_args, _ = parse_recipe(_sft_dataclasses(), ["--output_dir", "x"])
    assert training_args.report_to == []
    _, training_args, _ = parse_recipe(_sft_dataclasses(), ["--output_dir", "x", "--report_to", "tensorboard"])
    assert training_args.report_to == ["tensorboard"]


# -------------------------------------------------------------------------------------------------------------
# Undecodable bytes
# -------------------------------------------------------------------------------------------------------------
def test_jsonl_with_bytes_that_are_not_utf8_names_file_line_column_and_byte(tmp_path):
    from thrifty.jsonl import DataError, read_jsonl

    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": "x"}\n\n' + '{"a": "na\u00efve"}\n'.encode("latin-1"))
    with pytest.raises(DataError, match=rf"^{path}:3: not UTF-8 text \(byte 0xef at column 10\)"):
        read_jsonl(path)


def test_a_byte_order_mark_and_a_folder(tmp_path):
    from thrifty.jsonl import DataError, read_jsonl, read_text

    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"a": 1}\n{"a": 2}\n')
    assert read_jsonl(path) == [{"a": 1}, {"a": 2}]
    assert read_text(path).startswith('{"a": 1}')
    with pytest.raises(DataError, match="is a folder, not a file"):
        read_jsonl(tmp_path)


def test_read_text_names_the_line_of_the_bad_byte(tmp_path):
    from thrifty.jsonl import DataError, check_utf8, read_text

    path = tmp_path / "prompt.txt"
    path.write_bytes(b"one\ntwo\nth\xe9ree\n")
    for read in (read_text, check_utf8):
        with pytest.raises(DataError, match=rf"^{path}:3: not UTF-8 text \(byte 0xe9 at column 3\)"):
            read(path)


# -------------------------------------------------------------------------------------------------------------
# Network failures
# -------------------------------------------------------------------------------------------------------------
def test_network_errors_are_recognised_in_the_chain_and_socket_errors_alone_are_not():
    from huggingface_hub.errors import LocalEntryNotFoundError

    from thrifty.network import is_network_error, network_message

    try:
        try:
            raise LocalEntryNotFoundError("not in the cache")
        except LocalEntryNotFoundError as inner:
            raise OSError("We couldn't connect to 'https://huggingface.co' to load the files") from inner
    except OSError as err:
        wrapped = err
    assert is_network_error(wrapped)
    reached = ConnectionError("Couldn't reach 'HuggingFaceH4/MATH-500' on the Hub (LocalEntryNotFoundError)")
    assert is_network_error(reached)
    assert "cannot reach HuggingFaceH4/MATH-500 on the Hugging Face Hub" in network_message(reached)
    # a peer of torch.distributed going away is no download: keep its traceback
    assert not is_network_error(ConnectionResetError(104, "Connection reset by peer"))
    assert not is_network_error(ValueError("bad"))


_RUNNER = textwrap.dedent("""
    import contextlib, io, json, sys, types

    import huggingface_hub.utils._http as http  # no backoff sleeps between the retries of a refused connection

    http.time = types.SimpleNamespace(sleep=lambda seconds: None)
    from thrifty.cli import main

    results = []
    for argv in json.loads(sys.argv[1]):
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except BaseException:  # noqa: BLE001 - a crash is what the test looks for
                import traceback

                traceback.print_exc(file=err)
                rc = "crash"
        results.append({"rc": rc, "stderr": err.getvalue()})
    print("RESULTS" + json.dumps(results))
""")


def _run_cli_with_hub(commands: list[list[str]], env: dict[str, str], cwd: Path) -> list[dict]:
    proc = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps(commands)], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=600)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULTS")), None)
    assert line is not None, proc.stderr[-3000:]
    return json.loads(line[len("RESULTS"):])


@pytest.mark.parametrize("offline", [False, True], ids=["hub-unreachable", "HF_HUB_OFFLINE"])
def test_hub_failures_are_one_line_naming_what_and_the_offline_way(offline, tmp_path, tiny_model_dir):
    """With the Hub unreachable for real (HF_ENDPOINT at a closed port) and with HF_HUB_OFFLINE=1, and no
    benchmark folder: eval (math500), eval score, a builder's decontamination, a Hub model id and a Hub dataset id
    that are not cached each end with exit status 2 and one line that names what could not be reached and what to
    give instead; a missing local file is reported before anything is fetched."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "THRIFTY_DATA_DIR", "HF_DATASETS_OFFLINE",
                                                            "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf_home"), OMP_NUM_THREADS="1",
               WANDB_MODE="offline")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    work = tmp_path / "work"
    work.mkdir()
    (work / "preds.jsonl").write_text(json.dumps({"id": "x", "completion": "1"}) + "\n")
    (work / "sft.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "1 2"},
                                                             {"role": "assistant", "content": "3"}]}) + "\n")
    (work / "traces.jsonl").write_text(json.dumps({
        "id": "r1", "question": "What is the sum of the first ten positive integers, written as a number?",
        "answer": "55", "trace": "<think>\nAdd them: 55.\n\nWait, let me verify: 10 * 11 / 2 = 55.\n</think>\n"
                                 "The answer is \\boxed{55}."}) + "\n")
    sft = ["sft", "--config", str(R / "toy/sft.yaml"), "--output_dir", "out"]
    cases = [
        (["eval", "score", "--benchmark", "math500", "--predictions", "missing.jsonl"],
         ["--predictions", "missing.jsonl"]),
        (["eval", "score", "--benchmark", "math500", "--predictions", "preds.jsonl"],
         ["benchmark math500", "HuggingFaceH4/MATH-500", "127.0.0.1:9", "--data_dir", "THRIFTY_DATA_DIR"]),
        (["eval", "--config", str(R / "toy/eval.yaml"), "--model_name_or_path", str(tiny_model_dir), "--benchmarks",
          "math500", "--output_dir", "out"], ["benchmark math500", "HuggingFaceH4/MATH-500", "--data_dir"]),
        (["build", "multiturn", "--config", str(R / "mind/math_r1_rule.yaml"), "--source", "traces.jsonl",
          "--id_field", "id", "--question_field", "question", "--answer_field", "answer", "--trace_field", "trace",
          "--decontaminate_benchmarks", "math500", "--output_dir", "out"],
         ["decontamination against math500", "HuggingFaceH4/MATH-500", "decontaminate_data_dir",
          "decontaminate_benchmarks"]),
        ([*sft, "--model_name_or_path", "nobody/not-cached-model", "--dataset_name", "sft.jsonl"],
         ["nobody/not-cached-model", "HF_HUB_OFFLINE"]),
        ([*sft, "--model_name_or_path", str(tiny_model_dir), "--dataset_name", "nobody/no-such-dataset"],
         ["dataset nobody/no-such-dataset", "127.0.0.1:9", "local JSONL", "HF_HUB_OFFLINE"]),
    ]
    if not offline:  # with HF_HUB_OFFLINE=1 the uncached model id is refused first (a local check too)
        cases.append((["grpo", "--config", str(R / "toy/grpo_plain.yaml"), "--model_name_or_path",
                       "nobody/not-cached-model", "--dataset_name", "missing.jsonl", "--output_dir", "out"],
                      ["missing.jsonl", "no such file"]))
    results = _run_cli_with_hub([argv for argv, _ in cases], env, work)
    for (argv, names), result in zip(cases, results, strict=True):
        errors = [line for line in result["stderr"].splitlines() if line.startswith("thrifty: error: ")]
        assert result["rc"] == 2 and len(errors) == 1 and "Traceback" not in result["stderr"], (argv, result)
        for name in names:
            assert name in errors[0], (name, errors[0])
    assert not (work / "out").exists() and not (work / "runs").exists()
