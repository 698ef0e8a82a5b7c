"""The dependency direction of DESIGN.md, checked on every import statement (lazy ones inside functions too):
core <- rewards, data_builders, eval <- trainers <- cli; the three middle packages never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("rewards", "data_builders", "eval", "trainers")
#: layer -> the layers its modules may import
ALLOWED = {
    "core": {"core"},
    "rewards": {"core", "rewards"},
    "data_builders": {"core", "data_builders"},
    "eval": {"core", "eval"},
    "trainers": {"core", "rewards", "data_builders", "eval", "trainers"},
    "cli": {"core", "rewards", "data_builders", "eval", "trainers", "cli"},
}


def layer_of_module(name: str) -> str | None:
    """``thrifty.eval.runner`` -> ``eval``; ``thrifty.formats`` -> ``core``; not thrifty -> None."""
    parts = name.split(".")
    if parts[0] != "thrifty":
        return None
    if len(parts) == 1:
        return "core"
    if parts[1] == "cli":
        return "cli"
    return parts[1] if parts[1] in SUBPACKAGES else "core"


def layer_of_file(path: Path) -> str:
    top = path.relative_to(REPO).parts[0]
    if top == "thrifty":
        return "cli" if path.name == "cli.py" and path.parent.name == "thrifty" else "core"
    return top


def imported_layers(source: str, own: str) -> list[tuple[int, str, str]]:
    """``(line, module, layer)`` of every thrifty import in a module of layer ``own``; relative imports stay in
    ``own``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: within the file's own package
                found.append((node.lineno, "." * node.level + (node.module or ""), own))
                continue
            names = [node.module or ""]
        else:
            continue
        for name in names:
            layer = layer_of_module(name)
            if layer is not None:
                found.append((node.lineno, name, layer))
    return found


def library_files() -> list[Path]:
    files = sorted((REPO / "thrifty").rglob("*.py"))
    for package in SUBPACKAGES:
        files += sorted((REPO / package).rglob("*.py"))
    return files


def test_every_import_follows_the_dependency_direction():
    files = library_files()
    assert len(files) > 40 and {layer_of_file(f) for f in files} == set(ALLOWED)
    wrong = [f"{f.relative_to(REPO)}:{line} imports {module} ({layer}), not allowed from {layer_of_file(f)}"
             for f in files for line, module, layer in imported_layers(f.read_text(encoding="utf-8"), layer_of_file(f))
             if layer not in ALLOWED[layer_of_file(f)]]
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_a_lazy_cross_import():
    """A function-level import from a sibling package is caught (the check can fail)."""
    source = "from .build_common import x\n\ndef f():\n    from thrifty.eval.runner import run_eval\n    return run_eval\n"
    found = imported_layers(source, layer_of_file(REPO / "data_builders" / "multiformat.py"))
    assert found == [(1, ".build_common", "data_builders"), (4, "thrifty.eval.runner", "eval")]
    assert [layer for _, _, layer in found if layer not in ALLOWED["data_builders"]] == ["eval"]


def test_moved_modules_keep_their_former_import_paths():
    """The modules moved to the core stay importable under their old names, as the same module objects."""
    import importlib

    moved = {"thrifty.data_builders.toy_world": "thrifty.toy_world", "thrifty.data_builders.backends": "thrifty.backends",
             "thrifty.data_builders.quality_judge": "thrifty.quality_judge", "thrifty.eval.benchmarks": "thrifty.benchmarks"}
    for old, new in moved.items():
        assert importlib.import_module(old) is importlib.import_module(new), old
    from thrifty.data_builders.toy_world import TieredTask, ToyWorld  # noqa: F401 - the old spelling works
    from thrifty.eval.contamination import DEFAULT_BENCHMARKS, build_index
    from thrifty.eval.longbench_write import load_longbench_write

    assert build_index is importlib.import_module("thrifty.benchmarks").build_index and "math500" in DEFAULT_BENCHMARKS
    assert load_longbench_write is importlib.import_module("thrifty.benchmarks").load_longbench_write
