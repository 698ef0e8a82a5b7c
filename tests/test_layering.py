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


# -------------------------------------------------------------------------------------------------------------
# No import cycles: each module's dependencies point one way
# -------------------------------------------------------------------------------------------------------------
def module_name(path: Path) -> str:
    """``thrifty/formats.py`` -> ``thrifty.formats``; ``eval/runner.py`` -> ``thrifty.eval.runner``;
    a package's ``__init__.py`` -> the package."""
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[0] != "thrifty":
        parts.insert(0, "thrifty")
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The thrifty modules (of ``known``) that module ``name`` imports anywhere (lazy ones inside functions and
    ``TYPE_CHECKING`` blocks too): relative imports resolved, ``from pkg import sub`` read as the submodule."""
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()

    def add(target: str) -> None:
        while target and target not in known:  # ``import thrifty.eval.runner.x``: the longest known prefix
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                add(sub if sub in known else module)
    return found


def import_graph(files: list[Path]) -> dict[str, set[str]]:
    """``{module: the thrifty modules it imports}`` over ``files``."""
    names = {module_name(f): f for f in files}
    known = set(names)
    return {name: imported_modules(f.read_text(encoding="utf-8"), name, f.name == "__init__.py", known)
            for name, f in names.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others (the strongly connected
    components of more than one module, Tarjan's algorithm, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph[root])))]
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in graph), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def describe_cycle(graph: dict[str, set[str]], group: list[str]) -> str:
    """Every import inside one group of :func:`import_cycles`, one ``a -> b, c`` line per module."""
    members = set(group)
    return "\n".join(f"  {m} -> {', '.join(sorted(graph[m] & members))}" for m in group)


def test_no_module_imports_itself_back():
    """No two thrifty modules import each other, directly or through others (lazy imports count: hiding an import
    inside a function only postpones the circle)."""
    graph = import_graph(library_files())
    assert {"thrifty.eval.runner", "thrifty.trainers.publish", "thrifty.formats"} <= set(graph)
    cycles = import_cycles(graph)
    assert not cycles, "modules that import each other:\n" + "\n".join(describe_cycle(graph, c) for c in cycles)


def test_the_cycle_check_resolves_imports_and_finds_a_cycle():
    """Relative imports, ``from pkg import submodule`` and lazy imports become edges; a circle is reported."""
    known = {"thrifty", "thrifty.eval", "thrifty.eval.report", "thrifty.eval.runner", "thrifty.eval.plots",
             "thrifty.jsonl", "thrifty.trainers", "thrifty.trainers.publish"}
    runner = "from . import plots\nfrom thrifty.jsonl import write_json\n\ndef f():\n    from .report import x\n"
    report = "import thrifty.eval.plots\n\ndef g():\n    from .runner import load_run\n"
    publish = "from ..eval import report\nfrom thrifty import jsonl\n"
    graph = {"thrifty.eval.runner": imported_modules(runner, "thrifty.eval.runner", False, known),
             "thrifty.eval.report": imported_modules(report, "thrifty.eval.report", False, known),
             "thrifty.trainers.publish": imported_modules(publish, "thrifty.trainers.publish", False, known)}
    assert graph == {"thrifty.eval.runner": {"thrifty.eval.plots", "thrifty.jsonl", "thrifty.eval.report"},
                     "thrifty.eval.report": {"thrifty.eval.plots", "thrifty.eval.runner"},
                     "thrifty.trainers.publish": {"thrifty.eval.report", "thrifty.jsonl"}}
    assert import_cycles(graph) == [["thrifty.eval.report", "thrifty.eval.runner"]]
    assert describe_cycle(graph, ["thrifty.eval.report", "thrifty.eval.runner"]) == (
        "  thrifty.eval.report -> thrifty.eval.runner\n  thrifty.eval.runner -> thrifty.eval.report")
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"d"}}) == [["a", "b", "c"], ["d", "e"]]
