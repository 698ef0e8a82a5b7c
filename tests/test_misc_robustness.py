"""Launch, demo, toy pretrain, recipes, import-gguf and install-outside-the-checkout robustness (audit_misc 1-12).

Each test runs the real component on CPU; GPU-only launcher decisions (#7, #8) fake only the device count.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from _launch_utils import REPO, failure_output, run_launch, subprocess_env

from thrifty.cli import main
from thrifty.paths import TOY_BASE_DIR


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -------------------------------------------------------------------------------------------------------------
# 1. a refused launch keeps the recipe recorded for the run's model
# -------------------------------------------------------------------------------------------------------------
def test_refused_launch_keeps_the_recorded_recipe(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    recorded = "# effective recipe\nlearning_rate: 0.0003\noutput_dir: run\n"
    (run / "thrifty_recipe.yaml").write_text(recorded)
    env = subprocess_env()
    env["THRIFTY_CACHE_DIR"] = str(tmp_path / "cache")
    proc = run_launch(["recipes/toy/sft.yaml", "--num-processes", "1", "--model_name_or_path", str(TOY_BASE_DIR),
                       "--output_dir", str(run), "--learning_rat", "0.1"], env)  # the stage refuses the typo
    assert proc.returncode != 0, failure_output(proc)
    assert "learning_rat" in proc.stderr
    assert (run / "thrifty_recipe.yaml").read_text() == recorded
    assert not (run / "thrifty_recipe.pending.yaml").exists()


def test_recipe_copy_waits_while_a_run_is_recorded(tmp_path):
    from thrifty.trainers.launch import record_recipe_copy, write_recipe_copy

    recipe = REPO / "recipes/toy/sft.yaml"
    first = write_recipe_copy(recipe, ["--output_dir", str(tmp_path), "--learning_rate", "0.001"], ["thrifty"])
    assert first == tmp_path / "thrifty_recipe.yaml"  # a fresh folder: written in place
    pending = write_recipe_copy(recipe, ["--output_dir", str(tmp_path), "--learning_rate", "0.1"], ["thrifty"])
    assert pending == tmp_path / "thrifty_recipe.pending.yaml"
    assert yaml.safe_load(first.read_text())["learning_rate"] == 0.001
    final = record_recipe_copy(recipe, ["--output_dir", str(tmp_path), "--learning_rate", "0.2"], ["thrifty"])
    assert final == first and yaml.safe_load(final.read_text())["learning_rate"] == 0.2


# -------------------------------------------------------------------------------------------------------------
# 2. toy pretrain: a rerun with other inputs into the same --out is refused; a bad override writes nothing
# -------------------------------------------------------------------------------------------------------------
def test_toy_pretrain_refuses_other_inputs_and_bad_keys(tmp_path):
    from thrifty.errors import UserInputError
    from thrifty.trainers.toy import pretrain_toy_base

    recipe = REPO / "recipes/toy/pretrain.yaml"
    typo = tmp_path / "typo"
    with pytest.raises(UserInputError, match="max_stepz"):
        pretrain_toy_base(typo, recipe, ["--max_stepz", "1"], n_train=40)
    assert not typo.exists()  # parsed before any data or model was written

    out = tmp_path / "p1"
    (out / "data").mkdir(parents=True)  # a started folder with no record (an older thrifty's): refused
    with pytest.raises(UserInputError, match="toy_pretrain.json"):
        pretrain_toy_base(out, recipe, ["--max_steps", "1"], n_train=40)
    (out / "data").rmdir()
    final = pretrain_toy_base(out, recipe, ["--max_steps", "1", "--per_device_train_batch_size", "4",
                                            "--save_strategy", "no", "--report_to", "none"], n_train=40)
    assert (final / "model.safetensors").is_file()
    with pytest.raises(UserInputError, match=r'"n_train": \{"recorded": 40, "now": 500\}') as err:
        pretrain_toy_base(out, recipe, ["--max_steps", "1"], n_train=500, seed=7)
    assert '"seed"' in str(err.value)


# -------------------------------------------------------------------------------------------------------------
# 3. demo refuses overrides of the keys it sets itself
# -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--model_name_or_path", "--dataset_name", "--output_dir"])
def test_demo_refuses_overriding_its_own_keys(tmp_path, capsys, flag):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), flag, "somewhere"]) == 2
    err = capsys.readouterr().err
    assert f"{flag} cannot be overridden" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert main(["demo", "--out", str(out), f"{flag}=somewhere"]) == 2


# -------------------------------------------------------------------------------------------------------------
# 4, 11. the shipped toy base by alias from any folder; saved weights readable per umask
# -------------------------------------------------------------------------------------------------------------
def test_toy_base_alias_from_another_folder_and_shared_weights(tmp_path, monkeypatch, caplog):
    from thrifty.data_builders.toy_build import build_toy_dataset
    from thrifty.paths import resolve_model_alias
    from thrifty.toy_world import ToyWorld

    monkeypatch.chdir(tmp_path)
    assert resolve_model_alias("thrifty/assets/toy_base") == str(TOY_BASE_DIR)
    assert resolve_model_alias("toy_base/") == str(TOY_BASE_DIR)
    assert resolve_model_alias("runs/sft") == "runs/sft"
    from thrifty.trainers.grpo import parse_grpo_args

    (tmp_path / "r.yaml").write_text("model_name_or_path: toy_base\n")  # the alias inside a recipe too
    assert parse_grpo_args(["--config", "r.yaml"])[2].model_name_or_path == str(TOY_BASE_DIR)
    data = build_toy_dataset(tmp_path / "data", n_train=16, n_test_per_difficulty=1, world=ToyWorld(seed=0))
    old_mask = os.umask(0o022)
    try:
        with caplog.at_level("INFO"):
            assert main(["sft", "--config", "recipes/toy/sft.yaml", "--model_name_or_path", "thrifty/assets/toy_base",
                         "--dataset_name", data["sft"], "--output_dir", "run", "--max_steps", "1",
                         "--per_device_train_batch_size", "4", "--save_strategy", "no", "--report_to", "none"]) == 0
    finally:
        os.umask(old_mask)
    assert "using the shipped toy base" in caplog.text
    assert _mode(tmp_path / "run" / "model.safetensors") == 0o644  # transformers writes it 0600


# -------------------------------------------------------------------------------------------------------------
# 5. select-style never swaps in a folder of the checkout for a missing relative path
# -------------------------------------------------------------------------------------------------------------
def test_select_style_refuses_a_missing_relative_model(tmp_path, monkeypatch, capsys):
    from thrifty.paths import resolve_model_alias

    monkeypatch.chdir(tmp_path)
    assert (REPO / "recipes/toy").is_dir()
    assert resolve_model_alias("recipes/toy") == "recipes/toy"
    assert main(["select-style", "--config", "recipes/toy/select_style.yaml", "--model_name_or_path", "recipes/toy",
                 "--output_dir", "ss"]) == 2
    err = capsys.readouterr().err
    assert "recipes/toy: no such folder" in err and str(REPO) not in err


# -------------------------------------------------------------------------------------------------------------
# 6. unknown flags are errors
# -------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["toy", "build", "--out", "{tmp}/t1", "--n-train", "5", "--n-test", "1", "--n_train", "5", "--bogus", "3"],
    ["recipes", "list", "--bogus"],
    ["recipes", "cp", "toy/sft.yaml", "{tmp}/x.yaml", "--bogus"],
    ["models", "import-gguf", "{tmp}/m.gguf", "{tmp}/m", "--bogus"],
])
def test_unknown_flags_are_errors(tmp_path, capsys, argv):
    assert main([a.format(tmp=tmp_path) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "unrecognised arguments" in err and "--bogus" in err and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------------------------------------------------
# 7, 8, 12. launcher decisions on a (faked) GPU machine; topology checks; shipped accelerate configs
# -------------------------------------------------------------------------------------------------------------
@pytest.fixture
def fake_gpus(monkeypatch, tmp_path):
    from thrifty.trainers import launch

    monkeypatch.setenv("THRIFTY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(launch, "_cuda_available", lambda: True)
    monkeypatch.setattr(launch, "_visible_gpus", lambda: 3)
    return launch


def _flag(command: list[str], flag: str) -> str | None:
    return command[command.index(flag) + 1] if flag in command else None


def test_gpu_default_processes_are_the_visible_gpus(fake_gpus):
    recipe = str(REPO / "recipes/toy/sft.yaml")
    plan, _, _ = fake_gpus.plan_launch([recipe, "--dry-run"])
    assert _flag(plan.command, "--num_processes") == "3" and not plan.on_cpu and plan.forced_env == {}
    plan, _, _ = fake_gpus.plan_launch([recipe, "--dry-run", "--accelerate", "multi_node_zero3", "--num-machines", "2",
                                        "--machine-rank", "1", "--main-process-ip", "h0"])
    assert _flag(plan.command, "--num_processes") == "6"
    plan, _, _ = fake_gpus.plan_launch([recipe, "--dry-run", "--num-processes", "2"])
    assert _flag(plan.command, "--num_processes") == "2"
    assert fake_gpus.default_gpu_processes(4, 0) is None  # no GPU counted: the config decides


def test_cpu_flag_on_a_gpu_machine_hides_the_gpus(fake_gpus, monkeypatch, capsys):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    recipe = str(REPO / "recipes/toy/sft.yaml")
    plan, _, _ = fake_gpus.plan_launch([recipe, "--dry-run", "--cpu"])
    assert plan.on_cpu and plan.forced_env == {"CUDA_VISIBLE_DEVICES": "", "DS_ACCELERATOR": "cpu"}
    assert _flag(plan.command, "--num_processes") is None  # CPU keeps its default (2, in the rewritten config)
    assert fake_gpus.main([recipe, "--dry-run", "--cpu"]) == 0
    assert "CUDA_VISIBLE_DEVICES='' " in capsys.readouterr().out  # the caller's 0,1 does not win


def test_launcher_checks_the_topology(tmp_path, monkeypatch):
    from thrifty.trainers.launch import LaunchError, plan_launch

    monkeypatch.setenv("THRIFTY_CACHE_DIR", str(tmp_path))
    recipe = str(REPO / "recipes/toy/sft.yaml")
    with pytest.raises(LaunchError, match="not divisible by --num-machines 2"):
        plan_launch([recipe, "--dry-run", "--num-processes", "3", "--num-machines", "2"])
    with pytest.raises(LaunchError, match="--machine-rank 2: must be in 0..1"):
        plan_launch([recipe, "--dry-run", "--num-processes", "4", "--num-machines", "2", "--machine-rank", "2"])


def test_shipped_accelerate_config_by_path_from_another_folder(tmp_path, monkeypatch):
    from thrifty.trainers.launch import ACCELERATE_DIR, resolve_accelerate_config

    monkeypatch.chdir(tmp_path)
    recipe = REPO / "recipes/toy/sft.yaml"
    assert resolve_accelerate_config(recipe, "recipes/accelerate/zero3.yaml") == ACCELERATE_DIR / "zero3.yaml"


# -------------------------------------------------------------------------------------------------------------
# 9. Slurm script: its log goes to a folder that exists
# -------------------------------------------------------------------------------------------------------------
def test_slurm_log_needs_no_folder():
    lines = (REPO / "scripts/slurm_multinode.sbatch").read_text().splitlines()
    output = [line.split("=", 1)[1].split()[0] for line in lines if line.startswith("#SBATCH --output=")]
    assert output and "/" not in output[0]


# -------------------------------------------------------------------------------------------------------------
# 10. import-gguf: truncated file, bad dtype, an OUT_DIR holding the input
# -------------------------------------------------------------------------------------------------------------
def test_import_gguf_bad_inputs(tmp_path, capsys):
    truncated = tmp_path / "t.gguf"
    truncated.write_bytes(b"GGUF\x03\x00\x00\x00")
    assert main(["models", "import-gguf", str(truncated), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot load this GGUF file" in err and "Traceback" not in err
    assert main(["models", "import-gguf", str(truncated), str(tmp_path / "out"), "--dtype", "int8"]) == 2
    err = capsys.readouterr().err
    assert "int8" in err and "float32" in err and "bfloat16" in err
    folder = tmp_path / "m2"
    folder.mkdir()
    inside = folder / "X.gguf"
    inside.write_bytes(truncated.read_bytes())
    (folder / "notes.txt").write_text("mine")
    for out in (folder, tmp_path):
        assert main(["models", "import-gguf", str(inside), str(out), "--overwrite"]) == 2
        assert "holds the input" in capsys.readouterr().err
    assert inside.is_file() and (folder / "notes.txt").is_file()


def test_share_files_follows_the_umask(tmp_path):
    from thrifty.paths import share_files

    weights, other = tmp_path / "model.safetensors", tmp_path / "secret.txt"
    for path in (weights, other):
        path.write_text("x")
        path.chmod(0o600)
    old = os.umask(0o027)
    try:
        share_files(tmp_path)
    finally:
        os.umask(old)
    assert _mode(weights) == 0o640 and _mode(other) == 0o600


# -------------------------------------------------------------------------------------------------------------
# 12. recipes cp into NEWDIR/; bench --smoke with a missing --sft-model
# -------------------------------------------------------------------------------------------------------------
def test_recipes_cp_into_a_new_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["recipes", "cp", "toy/sft.yaml", "newdir/"]) == 0
    assert (tmp_path / "newdir" / "sft.yaml").is_file()


def test_bench_smoke_with_a_missing_sft_model_is_an_error(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "scripts/bench_toy_grpo.py"), "--smoke", "--sft-model",
                           str(tmp_path / "nonexistent"), "--out", str(tmp_path / "out")],
                          env=subprocess_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, failure_output(proc)
    assert "nonexistent" in proc.stderr


# -------------------------------------------------------------------------------------------------------------
# a mistyped local path shaped like a Hub id (`runs/sft` beside a `runs/` folder) is refused at once, online too
# -------------------------------------------------------------------------------------------------------------
def test_a_missing_path_under_a_local_folder_is_not_taken_for_a_hub_id(tmp_path, monkeypatch, capsys):
    from thrifty.errors import UserInputError
    from thrifty.models import check_model_source

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # the check must not rely on offline mode
    (tmp_path / "runs").mkdir()
    with pytest.raises(UserInputError, match=r"runs/sfft: no such folder \(the folder runs/ is here"):
        check_model_source("runs/sfft")
    check_model_source("Qwen/Qwen2.5-0.5B-Instruct")  # no local Qwen/ folder: still a Hub id, nothing fetched here
    assert main(["eval", "--config", str(REPO / "recipes/toy/eval.yaml"), "--model_name_or_path", "runs/sfft",
                 "--output_dir", "ev"]) == 2
    err = capsys.readouterr().err
    assert "model_name_or_path runs/sfft: no such folder" in err and not (tmp_path / "ev").exists()
