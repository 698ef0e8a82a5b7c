"""Helpers shared by the launcher and resume tests: the subprocess environment and a reward plug-in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAUNCH = REPO / "scripts" / "launch.sh"

#: A GRPO reward with variance between the sampled completions of an untrained model, so that the loss and the
#: gradients are not zero (accuracy is 0 for every completion of such a model).
DIGIT_REWARD = textwrap.dedent(
    """
    from thrifty.rewards import completion_texts

    def digits(completions, **kwargs):
        return [sum(ch.isdigit() for ch in text) / 10.0 for text in completion_texts(completions)]
    """
)


def write_reward_plugin(folder: Path) -> Path:
    """Write ``digit_reward.py`` (reward ``digit_reward:digits``) into ``folder``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "digit_reward.py").write_text(DIGIT_REWARD)
    return folder


def subprocess_env(extra_pythonpath: Path | None = None) -> dict[str, str]:
    """Environment of a training subprocess: one thread per process, offline, the shared compiled-op cache."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", WANDB_MODE="offline", DS_ACCELERATOR="cpu",
               TOKENIZERS_PARALLELISM="false", PYTHON=sys.executable)
    env.setdefault("TORCH_EXTENSIONS_DIR", str(REPO / ".cache" / "torch_extensions"))
    if extra_pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(extra_pythonpath), env.get("PYTHONPATH", "")) if p)
    return env


def run_launch(args: list[str], env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    """``scripts/launch.sh ARGS`` from the repository root."""
    return subprocess.run(["bash", str(LAUNCH), *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def failure_output(proc: subprocess.CompletedProcess) -> str:
    """The tail of a finished process's output, for assertion messages."""
    return f"rc={proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
