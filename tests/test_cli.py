"""The command line: every subcommand is listed, and user errors exit 2 with one clear line."""

import subprocess
import sys

import pytest

from thrifty.cli import BUILD_COMMANDS, main

EXPECTED_COMMANDS = ["sft", "grpo", "dpo", "eval", "eval-longwrite", "report", "publish", "launch", "build", "demo",
                     "toy", "select-style"]
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


@pytest.mark.parametrize("command", ["sft", "grpo", "dpo", "eval"])
def test_recipe_command_help(command):
    out = _run(command, "--help")
    assert out.returncode == 0 and "--config RECIPE" in out.stdout


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


def test_every_command_target_imports():
    """The lazy ``module:function`` targets all exist (a typo would otherwise only fail when the command runs)."""
    import importlib

    from thrifty.cli import PLAIN_COMMANDS, RECIPE_COMMANDS

    for handler, _ in [*RECIPE_COMMANDS.values(), *PLAIN_COMMANDS.values(), *BUILD_COMMANDS.values()]:
        if ":" in handler.__name__:
            module, function = handler.__name__.split(":")
            assert callable(getattr(importlib.import_module(module), function)), handler.__name__
