"""The command line: every subcommand is listed, and user errors exit 2 with one clear line."""

import json
import subprocess
import sys

import pytest

from thrifty.cli import BUILD_COMMANDS, main

EXPECTED_COMMANDS = ["sft", "grpo", "dpo", "eval", "eval-longwrite", "report", "publish", "launch", "build", "demo",
                     "toy", "select-style", "decontaminate"]
EXPECTED_BUILDERS = ["multiformat", "multiturn", "agentwrite", "preference-pairs"]


def _run(*args):
    return subprocess.run([sys.executable, "-m", "thrifty.cli", *args], capture_output=True, text=True, timeout=120)


def test_help_lists_every_subcommand():
    out = _run("--help")
    assert out.returncode == 0
    for name in EXPECTED_COMMANDS:
        assert f"    {name} " in out.stdout or f"    {name}\n" in out.stdout, name
    build = _run("build", "--help").stdout
    assert all(name in build for name in EXPECTED_BUILDERS)
    assert sorted(BUILD_COMMANDS) == sorted(EXPECTED_BUILDERS)
    toy = _run("toy", "--help").stdout
    assert "build" in toy and "pretrain" in toy


HUB = "thrifty.data_builders.build_common:HubArguments"
DECON = "thrifty.data_builders.build_common:DecontaminationArguments"
#: command -> the dataclasses its recipe fills ("module:Class"); the help must list every field of each, grouped.
RECIPE_DATACLASSES = {
    "sft": ["thrifty.trainers.sft:DataArguments", "thrifty.trainers.sft:ThriftySFTConfig", "trl:ModelConfig"],
    "grpo": ["thrifty.trainers.grpo:GRPODataArguments", "thrifty.trainers.grpo:ThriftyGRPOConfig", "trl:ModelConfig"],
    "dpo": ["thrifty.trainers.dpo:DPODataArguments", "thrifty.trainers.dpo:ThriftyDPOConfig", "trl:ModelConfig"],
    "eval": ["thrifty.eval.runner:EvalConfig"],
    "eval-longwrite": ["thrifty.eval.longbench_write:LongBenchWriteConfig",
                       "thrifty.quality_judge:JudgeArguments"],
    "select-style": ["thrifty.data_builders.style_select:StyleSelectArguments"],
    "build multiformat": ["thrifty.data_builders.multiformat:MultiformatArguments",
                          "thrifty.data_builders.sources:SourceArguments",
                          "thrifty.backends:BackendArguments", DECON, HUB],
    "build multiturn": ["thrifty.data_builders.multiturn:MultiturnArguments",
                        "thrifty.data_builders.sources:SourceArguments",
                        "thrifty.backends:BackendArguments", DECON, HUB],
    "build agentwrite": ["thrifty.data_builders.agentwrite:AgentWriteArguments",
                         "thrifty.backends:BackendArguments", DECON, HUB],
    "build preference-pairs": ["thrifty.data_builders.preference_pairs:PreferencePairArguments",
                               "thrifty.quality_judge:JudgeArguments", DECON, HUB],
}
SFT_RECIPE = RECIPE_DATACLASSES["sft"]


def _dataclasses(targets):
    import importlib

    return [getattr(importlib.import_module(t.split(":")[0]), t.split(":")[1]) for t in targets]


def _assert_lists_every_field(text: str, classes) -> None:
    import dataclasses
    import re

    headers = re.findall(r"^(\w+):$", text, re.M)
    assert [h for h in headers if h not in ("options", "usage")] == [c.__name__ for c in classes], headers
    for cls in classes:
        section = text.split(f"\n{cls.__name__}:\n", 1)[1]
        for f in dataclasses.fields(cls):
            if f.init:
                line = re.search(rf"^  --{re.escape(f.name)} \S+( |$)", section, re.M)  # the key and its type
                assert line, f"{cls.__name__}.{f.name} missing from the help"
    assert "(default: " in text


@pytest.mark.parametrize("command", sorted(RECIPE_DATACLASSES))
def test_recipe_command_help_lists_every_key(command, capsys):
    """`thrifty COMMAND --help` lists every field of the command's dataclasses, one group per dataclass, with
    type, default and help text; it is generated from what the command parses, so it cannot drift."""
    assert main([*command.split(), "--help"]) == 0
    text = capsys.readouterr().out
    assert f"usage: thrifty {command} --config RECIPE [--key value ...]\n" in text
    _assert_lists_every_field(text, _dataclasses(RECIPE_DATACLASSES[command]))


def test_help_shows_type_default_and_text(capsys):
    assert main(["eval", "--help"]) == 0
    text = capsys.readouterr().out
    assert "--num_samples int" in text and "samples per problem (pass@k, maj@k) (default: 1)" in text
    assert "--benchmarks [str ...]" in text and "(default: ['toy'])" in text
    assert "thrifty eval score" in text


@pytest.mark.parametrize("command", ["toy pretrain", "demo"])
def test_commands_taking_sft_overrides_list_the_sft_keys(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command.split(), "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--out" in text and "override the SFT recipe" in text
    _assert_lists_every_field(text.split("override the SFT recipe", 1)[1], _dataclasses(SFT_RECIPE))


def test_toy_build_help_documents_every_flag():
    out = _run("toy", "build", "--help")
    assert out.returncode == 0
    for flag, text in [("--out", "output folder"), ("--n-train", "(default: 20000)"), ("--n-test", "(default:"),
                       ("--seed", "toy world seed"), ("--arm-formats", "four formats only"),
                       ("--all-formats", "ARM's SFT layout")]:
        assert flag in out.stdout and text in " ".join(out.stdout.split()), flag


def test_help_is_quick_in_a_fresh_process():
    import time

    start = time.perf_counter()
    out = _run("build", "multiformat", "--help")
    assert out.returncode == 0 and "--question_field" in out.stdout
    assert time.perf_counter() - start < 30  # a data builder's help imports no TRL (~3 s here)


def test_bad_recipe_key_exits_2_naming_key_and_file(tmp_path, capsys):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("output_dir: x\nmax_stepz: 3\n")
    assert main(["sft", "--config", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "max_stepz" in err and str(recipe) in err and "max_steps" in err


def test_toy_build_writes_a_world(tmp_path):
    out = _run("toy", "build", "--out", str(tmp_path / "toy"), "--n-train", "50", "--n-test", "3")
    assert out.returncode == 0, out.stderr
    for name in ("train_problems.jsonl", "test_problems.jsonl", "traces.jsonl", "sft.jsonl", "stats.json"):
        assert (tmp_path / "toy" / name).stat().st_size > 0


def test_toy_build_all_formats_writes_every_problem_in_each_arm_format(tmp_path):
    """ARM's SFT layout: each training problem once per format, the four ARM formats only; the default draws
    one format per problem."""
    from thrifty.formats import ARM_FORMATS, detect_format
    from thrifty.jsonl import read_jsonl

    out = _run("toy", "build", "--out", str(tmp_path / "arm"), "--n-train", "30", "--n-test", "1", "--arm-formats",
               "--all-formats")
    assert out.returncode == 0, out.stderr
    rows = read_jsonl(tmp_path / "arm" / "sft.jsonl")
    problems = [row["question"] for row in read_jsonl(tmp_path / "arm" / "train_problems.jsonl")]
    assert len(rows) == 4 * len(problems) == 120
    by_question: dict[str, set[str]] = {}
    for row in rows:
        question = row["messages"][-2]["content"]
        by_question.setdefault(question, set()).add(detect_format(row["messages"][-1]["content"]))
    assert set(by_question) == set(problems)
    assert all(formats == set(ARM_FORMATS) for formats in by_question.values())
    stats = json.loads((tmp_path / "arm" / "stats.json").read_text())
    assert stats["sft_rows"] == 120 and stats["sft_by_format"] == {fmt: 30 for fmt in ARM_FORMATS}

    # without --all-formats: one drawn format per problem, ARM's four only with --arm-formats
    _run("toy", "build", "--out", str(tmp_path / "drawn"), "--n-train", "30", "--n-test", "1", "--arm-formats")
    drawn = read_jsonl(tmp_path / "drawn" / "sft.jsonl")
    assert len(drawn) == 30 and {row["format"] for row in drawn} <= set(ARM_FORMATS)


def test_every_command_target_imports():
    """The lazy ``module:function`` targets all exist (a typo would otherwise only fail when the command runs)."""
    import importlib

    from thrifty.cli import PLAIN_COMMANDS, RECIPE_COMMANDS

    for handler, _ in [*RECIPE_COMMANDS.values(), *PLAIN_COMMANDS.values(), *BUILD_COMMANDS.values()]:
        if ":" in handler.__name__:
            module, function = handler.__name__.split(":")
            assert callable(getattr(importlib.import_module(module), function)), handler.__name__
