"""thrifty installed outside its checkout: build the wheel, install it into a fresh venv, run commands from an
empty folder.

The wheel is built as ``pip install .`` builds it (PEP 517, build isolation) from a copy of the sources, and
installed ``--no-deps`` into a new venv whose dependencies come from this interpreter's site-packages through a
``.pth`` file (as the worktree venvs get theirs), so the test costs seconds, not a 1.6 GB install. Nothing of the
checkout is on that venv's path: the commands see only the installed package and its data (recipes, toy base).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["pyproject.toml", "README.md", "thrifty", "data_builders", "rewards", "trainers", "eval", "recipes"]


def _dependency_paths() -> list[str]:
    """This interpreter's import path minus anything that would find the checkout's thrifty."""
    keep = []
    for entry in sys.path:
        path = Path(entry or ".").resolve()
        in_checkout = REPO in path.parents and "site-packages" not in path.parts  # a venv inside it is fine
        if not path.is_dir() or path == REPO or in_checkout or (path / "thrifty").exists():
            continue
        keep.append(str(path))
    return keep


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """A venv with the thrifty wheel installed (no checkout on its path) and an empty working folder."""
    tmp = tmp_path_factory.mktemp("install")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(source, src / name)
    wheels = tmp / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("thrifty-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  capture_output=True, text=True, check=True).stdout.strip())
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                              "--no-index", str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    (purelib / "_thrifty_test_deps.pth").write_text("\n".join(_dependency_paths()) + "\n")
    work = tmp / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.pop("THRIFTY_CACHE_DIR", None)
    env.pop("XDG_CACHE_HOME", None)
    env.update(HOME=str(tmp / "home"), WANDB_MODE="offline", HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1",
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return {"venv": venv, "python": python, "purelib": purelib, "work": work, "env": env, "home": tmp / "home"}


def _thrifty(installed: dict, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(installed["venv"] / "bin" / "thrifty"), *args], cwd=installed["work"],
                          env=installed["env"], capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_the_wheel_ships_recipes_and_the_toy_base(installed):
    where = subprocess.run([str(installed["python"]), "-c",
                            "import thrifty, thrifty.paths as p; print(thrifty.__file__); print(p.RECIPES_DIR); "
                            "print(p.TOY_BASE_DIR); print(p.is_checkout())"],
                           cwd=installed["work"], env=installed["env"], capture_output=True, text=True, check=True)
    module, recipes, toy_base, checkout = where.stdout.split()
    purelib = str(installed["purelib"].resolve())
    assert module.startswith(purelib) and recipes.startswith(purelib) and checkout == "False"
    assert (Path(recipes) / "toy" / "sft.yaml").is_file() and (Path(recipes) / "accelerate" / "zero3.yaml").is_file()
    assert (Path(toy_base) / "model.safetensors").is_file()


@pytest.mark.slow
def test_recipes_list_and_cp_from_an_empty_folder(installed):
    listed = _thrifty(installed, "recipes", "list")
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines()]
    shipped = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "recipes").rglob("*")
                     if p.suffix in (".yaml", ".py") and "__pycache__" not in p.parts)
    assert names == shipped
    copied = _thrifty(installed, "recipes", "cp", "recipes/toy/sft.yaml", "my_sft.yaml")
    assert copied.returncode == 0, copied.stderr
    assert (installed["work"] / "my_sft.yaml").read_text() == (REPO / "recipes/toy/sft.yaml").read_text()
    again = _thrifty(installed, "recipes", "cp", "toy/sft.yaml", "my_sft.yaml")
    assert again.returncode == 2 and "--force" in again.stderr


@pytest.mark.slow
def test_recipe_driven_commands_and_launch_outside_the_checkout(installed):
    """`thrifty toy build` then `thrifty build multiformat --config recipes/arm/toy.yaml` (the shipped recipe,
    absent from the working folder) and `thrifty launch recipes/toy/sft.yaml --dry-run` (accelerate configs
    from the package, cache outside site-packages)."""
    work = installed["work"]
    built = _thrifty(installed, "toy", "build", "--out", "runs/toy_data", "--n-train", "40", "--n-test", "2")
    assert built.returncode == 0, built.stderr[-2000:]
    data = _thrifty(installed, "build", "multiformat", "--config", "recipes/arm/toy.yaml")
    assert data.returncode == 0, data.stderr[-2000:]
    assert "using the shipped" in data.stderr
    stats = json.loads((work / "runs/arm_toy_data/stats.json").read_text())
    assert stats and (work / "runs/arm_toy_data/train.jsonl").stat().st_size > 0
    launch = _thrifty(installed, "launch", "recipes/toy/sft.yaml", "--accelerate", "zero2", "--dry-run",
                      "--output_dir", "runs/sft")
    assert launch.returncode == 0, launch.stderr[-2000:]
    assert "thrifty.cli sft --config" in launch.stdout and "builtin_recipes/toy/sft.yaml" in launch.stdout
    config = launch.stdout.split("--config_file")[1].split()[0]
    # on CPU the accelerate config is rewritten into the user's cache, never into site-packages
    assert config.startswith(str(installed["home"] / ".cache" / "thrifty")) or "builtin_recipes/accelerate" in config
    assert not list(installed["purelib"].rglob("*.cpu2.yaml"))


@pytest.mark.slow
def test_toy_pretrain_install_refuses_site_packages(installed):
    refused = _thrifty(installed, "toy", "pretrain", "--out", "runs/pretrain", "--install")
    assert refused.returncode == 2 and "--into-site-packages" in refused.stderr
    assert not (installed["work"] / "runs" / "pretrain").exists()


def test_every_imported_third_party_package_is_declared():
    """Each top-level module imported by the package's code comes from a distribution in pyproject's
    dependencies (or the gpu extra), so `pip install .` brings it."""
    import ast
    import re
    from importlib.metadata import packages_distributions

    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["gpu"]
    declared = {re.split(r"[<>=!~\[ ;]", spec, maxsplit=1)[0].lower().replace("_", "-") for spec in specs}
    stdlib = set(sys.stdlib_module_names)
    dists = packages_distributions()
    missing = {}
    for folder in ("thrifty", "data_builders", "rewards", "trainers", "eval"):
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in stdlib or top == "thrifty":
                        continue
                    owners = {d.lower().replace("_", "-") for d in dists.get(top, [top])}
                    if not owners & declared:
                        missing.setdefault(top, str(path.relative_to(REPO)))
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_trl_hooks_check_names_the_changed_hook():
    from trl import GRPOTrainer

    from thrifty.recipes import RecipeError
    from thrifty.trainers.grpo import check_trl_hooks

    check_trl_hooks()  # the installed TRL (pinned <1.17) has the hooks Ada-GRPO overrides

    class ChangedTRL(GRPOTrainer):
        def _calculate_rewards(self, inputs, prompts, completions):  # a future signature
            return None

    with pytest.raises(RecipeError, match=r"_calculate_rewards\(self, inputs, prompts, completions\).*trl>=1.16,<1.17"):
        check_trl_hooks(ChangedTRL)
