"""The Python API (docs/python-api.md): the example script recipes/examples/python_api.py runs for real (toy data,
SFT, Ada-GRPO / ARM2 / MinD GRPO, DPO, eval on CPU, tiny sizes), every code block of the page is a piece of that
script, and the public names of ``thrifty.trainers`` and ``thrifty.eval`` resolve without importing TRL up front."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "recipes" / "examples" / "python_api.py"
PAGE = REPO / "docs" / "python-api.md"


def code_blocks(markdown: str, language: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of every fenced block of ``language``."""
    blocks, current, start = [], None, 0
    for number, line in enumerate(markdown.splitlines(), 1):
        fence = re.match(r"^\s*(```+|~~~+)\s*([\w+-]*)", line)
        if fence and current is None:
            current, start, want = [], number + 1, fence.group(2) == language
            continue
        if fence and current is not None:
            if want:
                blocks.append((start, current))
            current = None
            continue
        if current is not None:
            current.append(line)
    return blocks


def find_block(block: list[str], source: list[str]) -> bool:
    """Whether ``block`` appears in ``source`` as consecutive lines, all indented by the same amount there."""
    while block and not block[-1].strip():
        block = block[:-1]
    if not block:
        return True
    first = block[0]
    for i, line in enumerate(source):
        if line.strip() != first.strip() or not line.endswith(first):
            continue
        indent = line[: len(line) - len(first)]
        if indent.strip():
            continue
        window = source[i : i + len(block)]
        if len(window) == len(block) and all(
                (s.rstrip() == (indent + b).rstrip()) if b.strip() else not s.strip() for s, b in zip(window, block, strict=True)):
            return True
    return False


def test_every_code_block_of_the_page_is_in_the_example():
    source = EXAMPLE.read_text(encoding="utf-8").splitlines()
    page = PAGE.read_text(encoding="utf-8")
    blocks = code_blocks(page, "python")
    assert len(blocks) >= 8, "docs/python-api.md shows the example's code in python blocks"
    missing = [f"docs/python-api.md:{line}: {block[0].strip()!r}..." for line, block in blocks
               if not find_block(block, source)]
    assert not missing, ("these python blocks of docs/python-api.md are not (verbatim, up to indentation) in "
                         f"{EXAMPLE.relative_to(REPO)}; copy the changed code into the page:\n" + "\n".join(missing))
    assert "recipes/examples/python_api.py" in page


def test_the_block_matcher_needs_consecutive_lines_at_one_indent():
    source = ["def f():", "    a = 1", "    b = 2", "", "    c = 3", "x = 1"]
    assert find_block(["a = 1", "b = 2"], source) and find_block(["a = 1", "b = 2", "", "c = 3"], source)
    assert not find_block(["a = 1", "c = 3"], source) and not find_block(["b = 3"], source)
    assert not find_block(["a = 1", "  b = 2"], source)
    assert code_blocks("x\n```python\na\n```\n```bash\nb\n```\n", "python") == [(3, ["a"])]


def test_public_names_resolve_lazily():
    """``thrifty.trainers`` and ``thrifty.eval`` list their public names in ``__all__``; importing the packages
    imports no TRL (``thrifty --help`` stays instant); every name then resolves to its module's object."""
    code = ("import sys, thrifty.trainers as t, thrifty.eval as e\n"
            "assert 'trl' not in sys.modules and 'torch' not in sys.modules, sorted(m for m in sys.modules if "
            "m.startswith(('trl', 'torch')))[:5]\n"
            "assert t.__all__ == sorted(t._EXPORTS) and e.__all__ == sorted(e._EXPORTS)\n"
            "import importlib\n"
            "for pkg in (t, e):\n"
            "    for name in pkg.__all__:\n"
            "        mod = importlib.import_module(pkg.__name__ + '.' + pkg._EXPORTS[name])\n"
            "        assert getattr(pkg, name) is getattr(mod, name), name\n"
            "        assert name in dir(pkg)\n"
            "from thrifty.trainers import ThriftyGRPOTrainer\n"
            "from trl import GRPOTrainer\n"
            "assert issubclass(ThriftyGRPOTrainer, GRPOTrainer)\n"
            "try:\n"
            "    t.NoSuchName\n"
            "except AttributeError as err:\n"
            "    assert 'NoSuchName' in str(err)\n"
            "else:\n"
            "    raise AssertionError('no AttributeError')\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_the_example_script_trains_and_evaluates(tmp_path):
    """The example, exactly as shipped, from a folder that is not the checkout (the shipped recipe and toy base are
    found by name): SFT, the three GRPO variants, DPO and eval at tiny sizes, on CPU."""
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "TOKENIZERS_PARALLELISM": "false",
           "WANDB_DIR": str(tmp_path)}
    argv = [sys.executable, str(EXAMPLE), "--out", str(out), "--n-train", "40", "--sft-steps", "3",
            "--grpo-steps", "1", "--dpo-steps", "1", "--per-difficulty", "1"]
    result = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    summary = json.loads(Path(printed["summary"]).read_text())

    rewards = summary["rewards"]
    assert rewards["scores"] == {"arm_accuracy": [1.0, 0.0, 0.0], "brevity": [1.0, 0.25, 1.0]}
    alpha = rewards["alpha"]
    assert alpha[0] == alpha[1] == alpha[2] < alpha[3]  # the group's rare direct answer is boosted

    assert set(summary["grpo"]) == {"ada", "arm2", "mind"}
    for variant, logs in summary["grpo"].items():
        assert len(logs) == 1 and any(k.startswith("format/") for k in logs[0]), variant
    assert "ada/alpha_mean" in summary["grpo"]["ada"][0] and "ada/alpha_mean" in summary["grpo"]["arm2"][0]
    assert "turns/mean" in summary["grpo"]["mind"][0] and "rewards/unit_compactness/mean" in summary["grpo"]["mind"][0]

    assert set(summary["eval"]) == {"sft", "grpo_ada", "grpo_arm2", "grpo_mind", "dpo"}
    for run, modes in summary["eval"].items():
        assert set(modes) == {"adaptive", "direct"}, run
        assert 0 <= modes["adaptive"]["accuracy"] <= 1 and modes["adaptive"]["mean_tokens"] > 0, run
    for folder, weights in (("sft", "model.safetensors"), ("grpo_ada", "model.safetensors"),
                            ("grpo_mind", "model.safetensors"), ("dpo", "adapter_model.safetensors")):
        assert (out / folder / weights).exists(), folder
    assert Path(summary["report"]).exists()
    scored = summary["score_elsewhere"]
    assert scored["accuracy"] == 1.0 and scored["n"] == 9 and scored["extraction"] == "strict"
