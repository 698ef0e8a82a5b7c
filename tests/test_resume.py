"""Crash-safe resume, for real: ``kill -9`` a training run after its first checkpoint (or in the middle of saving
one), rerun the SAME command, and the run continues from the last complete checkpoint (global step, optimizer,
scheduler and RNG state restored) and ends where an uninterrupted run ends.

Tolerance (stated): at every step after the crash the logged loss, grad norm, reward and learning rate match
the uninterrupted run's to 1e-4 relative (+1e-6 absolute), and the final weights to 1e-5 absolute. Restarting
Adam's moments or the scheduler would move the learning rate and weights far more than that. The rerun must
also log "resuming from .../checkpoint-N", load that checkpoint, and log only the steps after N.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from _launch_utils import REPO, subprocess_env, write_reward_plugin

pytestmark = pytest.mark.slow

MAX_STEPS = 12
SAVE_STEPS = 4
RTOL, ATOL, WEIGHT_ATOL = 1e-4, 1e-6, 1e-5
METRICS = ("loss", "grad_norm", "learning_rate", "reward")


def _command(stage: str, recipe: str, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "thrifty.cli", stage, "--config", recipe, *args]


def _run(cmd: list[str], env: dict[str, str], timeout: int = 240) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"rc={proc.returncode}\n{proc.stderr[-5000:]}"
    return proc


def _checkpoint_complete(ckpt: Path) -> bool:
    """A checkpoint is complete once its trainer_state.json (written last) parses."""
    try:
        json.loads((ckpt / "trainer_state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return False
    return True


def kill_after_first_checkpoint(cmd: list[str], env: dict[str, str], out: Path, timeout: float = 240) -> int:
    """Start ``cmd``, ``kill -9`` it (its whole process group) as soon as ``checkpoint-SAVE_STEPS`` is complete;
    returns the number of checkpoints that existed at the kill."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    first = out / f"checkpoint-{SAVE_STEPS}"
    deadline = time.monotonic() + timeout
    try:
        while not _checkpoint_complete(first):
            if proc.poll() is not None:
                pytest.fail(f"run ended (rc={proc.returncode}) before its first checkpoint:\n{proc.stderr.read()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail("no checkpoint within the timeout")
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return len(list(out.glob("checkpoint-*")))


def _history(out: Path) -> dict[int, dict]:
    state = json.loads((out / f"checkpoint-{MAX_STEPS}" / "trainer_state.json").read_text())
    assert state["global_step"] == MAX_STEPS
    return {h["step"]: h for h in state["log_history"] if "loss" in h}


def _weights(out: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(out / "model.safetensors"))


def assert_same_run(resumed: Path, reference: Path) -> None:
    """The resumed run's logged metrics after the crash and its final weights match the reference run's."""
    got, want = _history(resumed), _history(reference)
    assert sorted(got) == sorted(want) == list(range(1, MAX_STEPS + 1))
    for step in range(SAVE_STEPS + 1, MAX_STEPS + 1):
        for key in METRICS:
            if key in want[step]:
                assert got[step][key] == pytest.approx(want[step][key], rel=RTOL, abs=ATOL), (step, key)
    a, b = _weights(resumed), _weights(reference)
    for name in b:
        torch.testing.assert_close(a[name], b[name], atol=WEIGHT_ATOL, rtol=0, msg=lambda m, n=name: f"{n}: {m}")


def _resume_case(stage: str, recipe: str, args_for, tmp_path: Path, env: dict[str, str],
                 reference: Path | None = None) -> None:
    if reference is None:
        reference = tmp_path / "reference"
        _run(_command(stage, recipe, args_for(reference)), env)
    crashed = tmp_path / "crashed"

    cmd = _command(stage, recipe, args_for(crashed))
    n_checkpoints = kill_after_first_checkpoint(cmd, env, crashed)
    assert not (crashed / f"checkpoint-{MAX_STEPS}").exists(), "the run finished before it was killed"
    assert not (crashed / "model.safetensors").exists()
    assert n_checkpoints >= 1

    resumed = _run(cmd, {**env, "TRANSFORMERS_VERBOSITY": "info"})  # the same command, rerun
    match = re.search(r"resuming from (\S*checkpoint-(\d+))", resumed.stderr)
    assert match and int(match.group(2)) >= SAVE_STEPS, resumed.stderr[-3000:]
    assert f"Loading model from {match.group(1)}" in resumed.stderr
    logged_steps = resumed.stdout.count("{'loss'") + resumed.stderr.count("{'loss'")
    assert logged_steps == MAX_STEPS - int(match.group(2)), "the rerun did not continue the global step"
    assert_same_run(crashed, reference)


@pytest.fixture(scope="module")
def sft_case(tmp_path_factory, tiny_model_dir, toy_world):
    """The SFT command of these tests and its uninterrupted reference run (shared by the crash tests)."""
    from thrifty.data_builders.toy_build import build_toy_dataset

    root = tmp_path_factory.mktemp("sft_resume")
    data = build_toy_dataset(root / "data", n_train=400, n_test_per_difficulty=1, world=toy_world)

    def args_for(out: Path) -> list[str]:
        return ["--model_name_or_path", str(tiny_model_dir), "--dataset_name", data["sft"], "--output_dir", str(out),
                "--max_steps", str(MAX_STEPS), "--save_steps", str(SAVE_STEPS), "--save_total_limit", "10",
                "--logging_steps", "1", "--per_device_train_batch_size", "8", "--warmup_steps", "3",
                "--learning_rate", "3e-3", "--train_sampling_strategy", "random", "--report_to", "none"]

    reference = root / "reference"
    _run(_command("sft", "recipes/toy/sft.yaml", args_for(reference)), subprocess_env())
    return args_for, reference


def test_sft_resumes_after_kill_9(tmp_path, sft_case):
    args_for, reference = sft_case
    _resume_case("sft", "recipes/toy/sft.yaml", args_for, tmp_path, subprocess_env(), reference)


#: Run thrifty with the Trainer killed (SIGKILL, no cleanup) in the middle of saving checkpoint-KILL_AT: the weights
#: are written, optimizer.pt is half written (truncated, as a kill during the write leaves it), and neither the
#: RNG state nor trainer_state.json exist yet (transformers writes them after the optimizer).
KILL_DURING_SAVE = """
import os, signal, sys
from pathlib import Path
from transformers import Trainer
original = Trainer._save_optimizer_and_scheduler
def save_then_die(self, output_dir):
    original(self, output_dir)
    if self.state.global_step == {kill_at}:
        optimizer = Path(output_dir) / "optimizer.pt"
        optimizer.write_bytes(optimizer.read_bytes()[: optimizer.stat().st_size // 2])
        os.kill(os.getpid(), signal.SIGKILL)
Trainer._save_optimizer_and_scheduler = save_then_die
from thrifty.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sft_resumes_from_the_last_complete_checkpoint_after_a_kill_during_saving(tmp_path, sft_case):
    args_for, reference = sft_case
    env = subprocess_env()
    crashed = tmp_path / "crashed"
    kill_at = 2 * SAVE_STEPS
    argv = ["sft", "--config", "recipes/toy/sft.yaml", *args_for(crashed)]
    proc = subprocess.run([sys.executable, "-c", KILL_DURING_SAVE.format(kill_at=kill_at), *argv], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    partial = crashed / f"checkpoint-{kill_at}"
    assert (partial / "model.safetensors").is_file() and (partial / "optimizer.pt").is_file()
    assert not (partial / "trainer_state.json").exists()

    resumed = _run([sys.executable, "-m", "thrifty.cli", *argv], {**env, "TRANSFORMERS_VERBOSITY": "info"})
    assert f"skipping incomplete checkpoint {partial}" in resumed.stderr, resumed.stderr[-3000:]
    assert f"resuming from {crashed / f'checkpoint-{SAVE_STEPS}'}" in resumed.stderr
    assert_same_run(crashed, reference)  # the rerun finished, step for step the uninterrupted run


@pytest.mark.parametrize("damage,reason", [
    ("none", None),
    ("rm trainer_state.json", "no trainer_state.json"),
    ("truncate trainer_state.json", "trainer_state.json is torn"),
    ("truncate model.safetensors", "model.safetensors is torn"),
    ("rm model.safetensors", "no model weights"),
    ("truncate optimizer.pt", "optimizer.pt is torn"),
    ("truncate rng_state.pth", "rng_state.pth is torn"),
    ("rename", "the folder name says"),
])
def test_checkpoint_completeness(tmp_path, sft_case, damage, reason):
    """Each way a kill during saving can leave the newest checkpoint makes ``auto`` fall back to the one before."""
    import shutil

    from thrifty.recipes import RecipeError
    from thrifty.trainers.common import checkpoint_problem, resolve_resume

    _, reference = sft_case
    out = tmp_path / "run"
    shutil.copytree(reference / f"checkpoint-{SAVE_STEPS}", out / f"checkpoint-{SAVE_STEPS}")
    newest = out / f"checkpoint-{2 * SAVE_STEPS}"
    shutil.copytree(reference / f"checkpoint-{2 * SAVE_STEPS}", newest)
    action, _, name = damage.partition(" ")
    if action == "rm":
        (newest / name).unlink()
    elif action == "truncate":
        data = (newest / name).read_bytes()
        (newest / name).write_bytes(data[: len(data) // 2])
    elif action == "rename":
        newest = newest.rename(out / f"checkpoint-{3 * SAVE_STEPS}")
    problem = checkpoint_problem(newest)
    if reason is None:
        assert problem is None and resolve_resume("auto", str(out)) == str(newest)
        return
    assert reason in problem
    assert resolve_resume("auto", str(out)) == str(out / f"checkpoint-{SAVE_STEPS}")
    with pytest.raises(RecipeError, match="resume_from_checkpoint .*cannot resume"):
        resolve_resume(str(newest), str(out))


def test_grpo_resumes_after_kill_9(tmp_path, tiny_model_dir):
    plugin = write_reward_plugin(tmp_path / "plugin")

    def args_for(out: Path) -> list[str]:
        return ["--model_name_or_path", str(tiny_model_dir), "--output_dir", str(out),
                "--max_steps", str(MAX_STEPS), "--save_steps", str(SAVE_STEPS), "--save_total_limit", "10",
                "--logging_steps", "1", "--reward_funcs", "digit_reward:digits", "--reward_weights", "1.0",
                "--reward_kwargs", "{}", "--num_generations", "4", "--per_device_train_batch_size", "8",
                "--max_completion_length", "24", "--toy_num_problems", "64", "--learning_rate", "1e-3",
                "--lr_scheduler_type", "cosine", "--report_to", "none"]

    _resume_case("grpo", "recipes/toy/grpo_plain.yaml", args_for, tmp_path, subprocess_env(plugin))
