"""Shared fixtures: the toy world, a tiny untrained model, the shipped toy base, ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("THRIFTY_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
if SHARED_DATA.is_dir():  # the benchmarks the builders decontaminate against, offline
    os.environ.setdefault("THRIFTY_DATA_DIR", str(SHARED_DATA))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data; skipped with a reason where it is absent, but never on CI (CI=true fails instead)."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{SHARED_DATA} is missing on CI: the shared data must sit beside the checkout")
        pytest.skip(f"{SHARED_DATA} not found (the offline benchmark files live beside the checkout)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def toy_world():
    from thrifty.data_builders.toy_world import ToyWorld

    return ToyWorld(seed=0)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, toy_world) -> Path:
    """A randomly initialised tiny Qwen2 with the toy tokenizer, saved like any HF checkpoint."""
    from thrifty.trainers.toy import init_toy_model

    return init_toy_model(tmp_path_factory.mktemp("tiny_model"), toy_world)


@pytest.fixture(scope="session")
def toy_base_dir() -> Path:
    """The shipped, pretrained toy base model (thrifty/assets/toy_base)."""
    from thrifty.paths import TOY_BASE_DIR

    if not (TOY_BASE_DIR / "model.safetensors").exists():
        pytest.fail(f"the shipped toy base model is missing from {TOY_BASE_DIR}")
    return TOY_BASE_DIR


@pytest.fixture(scope="session")
def toy_eval_runs(tmp_path_factory, toy_base_dir, tiny_model_dir) -> list[Path]:
    """Two real `thrifty eval` runs on the toy test split (2 problems per difficulty, greedy): the shipped toy base
    in three modes, and the untrained tiny model in two of them (so every number differs between the runs)."""
    from thrifty.eval.runner import EvalConfig, run_eval

    root = tmp_path_factory.mktemp("toy_eval_runs")
    runs = []
    for name, model, modes in (("toy_base", toy_base_dir, ["adaptive", "direct", "short_cot"]),
                               ("untrained", tiny_model_dir, ["adaptive", "short_cot"])):
        runs.append(run_eval(EvalConfig(model_name_or_path=str(model), output_dir=str(root / name), run_name=name,
                                        benchmarks=["toy"], modes=modes, toy_per_difficulty=2, max_new_tokens=48,
                                        batch_size=64, chunk_size=64)))
    return runs
