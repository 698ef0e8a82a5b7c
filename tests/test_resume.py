"""Crash-safe resume, for real: ``kill -9`` a training run after its first checkpoint, rerun the SAME command, and
the run continues from that checkpoint (global step, optimizer, scheduler and RNG state restored) and ends where
an uninterrupted run ends.

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


def _resume_case(stage: str, recipe: str, args_for, tmp_path: Path, env: dict[str, str]) -> None:
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    _run(_command(stage, recipe, args_for(reference)), env)

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


def test_sft_resumes_after_kill_9(tmp_path, tiny_model_dir, toy_world):
    from thrifty.data_builders.toy_build import build_toy_dataset

    data = build_toy_dataset(tmp_path / "data", n_train=400, n_test_per_difficulty=1, world=toy_world)

    def args_for(out: Path) -> list[str]:
        return ["--model_name_or_path", str(tiny_model_dir), "--dataset_name", data["sft"], "--output_dir", str(out),
                "--max_steps", str(MAX_STEPS), "--save_steps", str(SAVE_STEPS), "--save_total_limit", "10",
                "--logging_steps", "1", "--per_device_train_batch_size", "32", "--warmup_steps", "3",
                "--learning_rate", "3e-3", "--train_sampling_strategy", "random", "--report_to", "none"]

    _resume_case("sft", "recipes/toy/sft.yaml", args_for, tmp_path, subprocess_env())


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
