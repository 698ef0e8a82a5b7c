"""README.md and docs/**/*.md stay true to the code:

- every relative link resolves to a file or folder of the repository, and every ``#anchor`` (in the page or in
  another .md) to a heading of that page (GitHub's slugs) or an ``<a id=...>`` / ``<a name=...>``; links inside
  code are not links, and http(s) links are not checked;
- every command shown in a shell code block (```bash, ```sh, ```console or a bare ```), ``thrifty ...``,
  ``.venv/bin/thrifty ...``, ``python -m thrifty.cli ...``, ``scripts/launch.sh ...``, ``accelerate launch ...``
  and ``python scripts/X.py ...``, is parsed by the real parser without running it
  (:func:`thrifty.cli.check_command`): the subcommand exists, the recipe resolves as the CLI resolves it, every
  ``--key`` is a key of the stage's dataclasses (or a flag of the command), and a script exists, is in
  tests/test_scripts_smoke.py's smoke list and accepts its flags. Placeholders (``RUN_DIR``, ``N``, ``<...>``)
  stand for any value of the option's type.

A renamed flag, recipe, subcommand, heading or file makes this fail, naming the page and line.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console", "zsh"}
#: scripts whose unknown ``--key value`` arguments are recipe overrides of this stage
SCRIPT_OVERRIDES = {"bench_toy_grpo": "grpo", "bench_toy_mind": "grpo"}


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


# -------------------------------------------------------------------------------------------------------------
# Markdown: fences, headings and their anchors, links
# -------------------------------------------------------------------------------------------------------------
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)")


@dataclass
class Line:
    number: int
    text: str
    block: str | None  # the info string of the fenced block the line is in, None outside code


def lines_of(text: str) -> list[Line]:
    """Every line with the fenced block it belongs to (fence lines themselves count as code)."""
    out, fence, info = [], None, None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if fence is None and match:
            fence, info = match.group(1), match.group(2).lower()
            out.append(Line(number, line, info))
            continue
        if fence is not None:
            out.append(Line(number, line, info))
            if line.strip().startswith(fence[0] * len(fence)) and not line.strip().strip(fence[0]):
                fence = info = None
            continue
        out.append(Line(number, line, None))
    return out


CODE_SPAN = re.compile(r"(`+)(.+?)\1")
HTML_COMMENT = re.compile(r"<!--.*?-->")


def without_code_spans(text: str) -> str:
    return CODE_SPAN.sub("", text)


def heading_text(markdown: str) -> str:
    """The text GitHub renders for a heading: code spans keep their content, links their text, emphasis and tags
    go."""
    parts = re.split(r"(`+)(.+?)\1", markdown)
    out = []
    for i in range(0, len(parts), 3):
        text = parts[i]
        text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
        text = re.sub(r"<[^>]+>", "", text)
        text = text.replace("**", "").replace("__", "").replace("*", "")
        text = re.sub(r"(?<!\w)_(.+?)_(?!\w)", r"\1", text)
        out.append(text)
        if i + 2 < len(parts):
            out.append(parts[i + 2])
    return "".join(out).strip()


def github_slug(text: str) -> str:
    """GitHub's anchor for a heading's text: lowercase, only letters, digits, spaces, '-' and '_' kept, spaces ->
    '-'."""
    return "".join(c for c in text.lower() if c.isalnum() or c in " -_").replace(" ", "-")


def anchors_of(text: str) -> set[str]:
    """Every anchor a page defines: its headings' slugs (duplicates get -1, -2, ...) and explicit ids/names."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}

    def add(heading: str) -> None:
        slug = github_slug(heading_text(heading))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        anchors.add(slug if n == 0 else f"{slug}-{n}")

    lines = lines_of(text)
    for i, line in enumerate(lines):
        if line.block is not None:
            continue
        atx = re.match(r"^ {0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$", line.text)
        if atx:
            add(atx.group(1) or "")
        elif re.match(r"^ {0,3}(=+|-+)\s*$", line.text) and i and lines[i - 1].block is None:
            previous = lines[i - 1].text
            if previous.strip() and not re.match(r"^\s*([-*+>|#]|\d+[.)])", previous):
                add(previous.strip())
        for match in re.finditer(r"<a\s+[^>]*?(?:id|name)\s*=\s*[\"']([^\"']+)[\"']", line.text):
            anchors.add(match.group(1))
    return anchors


LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
HTML_LINK = re.compile(r"<(?:a|img)\s[^>]*?(?:href|src)\s*=\s*[\"']([^\"']+)[\"']")


def links_of(text: str) -> Iterator[tuple[int, str]]:
    """(line, target) of every link, image and reference definition outside code."""
    for line in lines_of(HTML_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)):
        if line.block is not None:
            continue
        plain = without_code_spans(line.text)
        for pattern in (LINK, HTML_LINK):
            for match in pattern.finditer(plain):
                yield line.number, match.group(1)
        reference = REFERENCE.match(plain)
        if reference:
            yield line.number, reference.group(1)


def link_problem(page: Path, target: str, anchors: Callable[[Path], set[str]]) -> str | None:
    """Why ``target`` (a link on ``page``) does not resolve, or None."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith("//"):
        return None  # http(s), mailto: ...: not checked
    path_part, _, anchor = target.partition("#")
    path_part = path_part.split("?")[0]
    from urllib.parse import unquote

    path = (page.parent / unquote(path_part)).resolve() if path_part else page
    if path_part:
        if not path.is_relative_to(REPO):
            return f"{target}: points outside the repository"
        if not path.exists():
            return f"{target}: {rel(path)} does not exist"
    if not anchor:
        return None
    if path.is_dir():
        return f"{target}: an anchor on a folder"
    if path.suffix.lower() != ".md":
        return None if re.fullmatch(r"L\d+(-L\d+)?", anchor) else f"{target}: #{anchor} on a file that is not Markdown"
    if unquote(anchor) not in anchors(path):
        close = sorted(anchors(path), key=lambda a: -_similarity(a, anchor))[:1]
        hint = f" (did you mean #{close[0]}?)" if close and _similarity(close[0], anchor) > 0.6 else ""
        return f"{target}: no heading or id #{anchor} in {rel(path)}{hint}"
    return None


def _similarity(a: str, b: str) -> float:
    import difflib

    return difflib.SequenceMatcher(None, a, b).ratio()


def broken_links(files: list[Path]) -> list[str]:
    cache: dict[Path, set[str]] = {}

    def anchors(path: Path) -> set[str]:
        if path not in cache:
            cache[path] = anchors_of(path.read_text(encoding="utf-8"))
        return cache[path]

    problems = []
    for page in files:
        for number, target in links_of(page.read_text(encoding="utf-8")):
            problem = link_problem(page, target, anchors)
            if problem:
                problems.append(f"{rel(page)}:{number}: {problem}")
    return problems


# -------------------------------------------------------------------------------------------------------------
# Commands in shell blocks
# -------------------------------------------------------------------------------------------------------------
ANGLE_PLACEHOLDER = re.compile(r"<[^<>\n]*>")
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
OPERATORS = {"&&", "||", ";", "|", "&"}


def is_placeholder(token: str) -> bool:
    """``RUN_DIR``, ``OUT``, ``N``, ``SFT_MODEL``, ``CLEAN.jsonl``, ``RUN_DIR/eval``, ``<...>``, ``...``."""
    return bool(re.fullmatch(r"[A-Z][A-Z0-9_]*([./][\w./-]*)?|PLACEHOLDER|\.\.\.", token))


def shell_commands(text: str) -> Iterator[tuple[int, list[str]]]:
    """(first line, argv) of every simple command in the page's shell blocks: ``\\`` continuations joined, a ``$ ``
    prompt and ``VAR=value`` prefixes dropped, ``&&``/``;``/``|`` chains split, comments cut."""
    logical, start = "", 0
    for line in lines_of(text):
        if line.block not in SHELL_BLOCKS or FENCE.match(line.text):
            continue
        body = line.text.rstrip()
        if not logical:
            start = line.number
            body = re.sub(r"^\s*[$>] ", "", body)
        if body.endswith("\\"):
            logical += body[:-1] + " "
            continue
        logical += body
        yield from _split(start, logical)
        logical = ""


def _split(number: int, command: str) -> Iterator[tuple[int, list[str]]]:
    command = ANGLE_PLACEHOLDER.sub(" PLACEHOLDER ", command)
    try:
        lexer = shlex.shlex(command, posix=True)
        lexer.whitespace_split, lexer.commenters = True, "#"
        tokens = list(lexer)
    except ValueError:  # not shell (unbalanced quotes in output text)
        return
    current: list[str] = []
    for token in [*tokens, ";"]:
        if token in OPERATORS or token.endswith(";") and token[:-1] not in ("", "\\"):
            if token.endswith(";") and token not in OPERATORS:
                current.append(token[:-1])
            while current and ENV_ASSIGNMENT.match(current[0]):
                current.pop(0)
            if current:
                yield number, current
            current = []
        else:
            current.append(token)


ALTERNATIVES = re.compile(r"[\w./-]+(\|[\w./-]+)+")


def _unbracket(argv: list[str]) -> list[str]:
    """``[--extraction strict]`` and ``[RUN_DIR ...]`` (optional parts written as in a usage line) -> their tokens;
    ``...`` and the usage line's ``--key value`` dropped; a YAML list value (``'[a, b]'``) kept."""
    out, depth = [], 0
    for token in argv:
        if token.startswith("[") and (token[1:2] == "-" or token[1:2].isupper() or token == "["):
            depth += 1
            token = token[1:]
        while depth and token.endswith("]"):
            depth -= 1
            token = token[:-1]
        if token and token != "...":
            out.append(token)
    for i in range(len(out) - 1, -1, -1):  # `--key value`: any recipe key, as usage lines write it
        if out[i] == "--key" and out[i + 1 : i + 2] == ["value"]:
            del out[i : i + 2]
    return out


def alternatives(argv: list[str]) -> list[list[str]]:
    """A usage line's ``zero2|zero3|ddp`` stands for each of its values: one argv per value."""
    for i, token in enumerate(argv):
        if ALTERNATIVES.fullmatch(token) and not token.startswith("-"):
            return [argv[:i] + [value] + rest for value in token.split("|") for rest in alternatives(argv[i + 1 :])]
    return [argv]


def _parse_only_script(script: Path, argv: list[str], monkeypatch) -> list[str]:
    """Run the script's ``main(argv)`` up to its argument parsing (argparse is stopped right after parsing);
    returns the unknown arguments of a ``parse_known_args``. A wrong flag raises UsageError."""
    from thrifty.cli import _raise_usage_error, fill_placeholders

    class Parsed(Exception):  # noqa: N818 - a signal, not an error
        def __init__(self, extra: list[str]):
            super().__init__("parsed")
            self.extra = extra

    original = argparse.ArgumentParser.parse_known_args

    def parse_known_args(self, args=None, namespace=None):
        _, extra = original(self, fill_placeholders(list(args or []), self._option_string_actions, is_placeholder),
                            namespace)
        raise Parsed(extra)

    def parse_args(self, args=None, namespace=None):
        _, extra = original(self, fill_placeholders(list(args or []), self._option_string_actions, is_placeholder),
                            namespace)
        if extra:
            self.error(f"unrecognized arguments: {' '.join(extra)}")
        raise Parsed([])

    spec = importlib.util.spec_from_file_location(f"_docs_check_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    with monkeypatch.context() as patch:
        patch.syspath_prepend(str(SCRIPTS))
        patch.setattr(argparse.ArgumentParser, "parse_known_args", parse_known_args)
        patch.setattr(argparse.ArgumentParser, "parse_args", parse_args)
        patch.setattr(argparse.ArgumentParser, "error", _raise_usage_error)
        spec.loader.exec_module(module)
        try:
            module.main(argv)
        except Parsed as parsed:
            return parsed.extra
    raise AssertionError(f"{script.name}: main() returned without parsing its arguments")


def smoke_scripts() -> set[str]:
    spec = importlib.util.spec_from_file_location("_docs_check_smoke_list", REPO / "tests" / "test_scripts_smoke.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return set(module.SMOKE)


def command_problem(argv: list[str], monkeypatch) -> str | None:
    """Why ``argv`` (one command from the docs) would not parse, or None; not a command we check: None."""
    for variant in alternatives(_unbracket(argv)):
        problem = _command_problem(variant, monkeypatch)
        if problem:
            return problem
    return None


def _command_problem(argv: list[str], monkeypatch) -> str | None:
    from thrifty.cli import check_command
    from thrifty.errors import UserInputError

    if not argv:
        return None
    head, rest = argv[0], argv[1:]
    try:
        if head in ("thrifty", ".venv/bin/thrifty") or head.endswith("/bin/thrifty"):
            check_command(rest, is_placeholder)
        elif re.fullmatch(r"(\S*/)?python3?", head) and rest[:2] == ["-m", "thrifty.cli"]:
            check_command(rest[2:], is_placeholder)
        elif head in ("scripts/launch.sh", "./scripts/launch.sh") or (head == "bash" and rest[:1] == ["scripts/launch.sh"]):
            check_command(["launch", *(rest[1:] if head == "bash" else rest)], is_placeholder)
        elif head == "accelerate" and rest[:1] == ["launch"]:
            return _accelerate_problem(rest[1:], monkeypatch)
        elif re.fullmatch(r"(\S*/)?python3?", head) and rest and rest[0].startswith(("scripts/", "./scripts/")):
            return _script_problem(rest[0], rest[1:], monkeypatch)
        elif re.fullmatch(r"(\S*/)?python3?", head) and rest and rest[0].endswith(".py") and "/" in rest[0]:
            return None if (REPO / rest[0]).is_file() else f"{rest[0]} does not exist"  # its flags: not checked
        return None
    except (UserInputError, FileNotFoundError) as err:
        return str(err)


def _script_problem(path: str, argv: list[str], monkeypatch) -> str | None:
    from thrifty.cli import check_command

    script = (REPO / path).resolve()
    if not script.is_file():
        return f"{path} does not exist"
    if script.suffix != ".py":
        return None
    if script.stem not in smoke_scripts():
        return f"{path} has no --smoke run in tests/test_scripts_smoke.py (SMOKE)"
    extra = _parse_only_script(script, argv, monkeypatch)
    if extra:
        stage = SCRIPT_OVERRIDES.get(script.stem)
        if stage is None:
            return f"{path}: unrecognized arguments: {' '.join(extra)}"
        check_command([stage, *extra], is_placeholder)
    return None


def _accelerate_problem(argv: list[str], monkeypatch) -> str | None:
    """``accelerate launch [accelerate flags] -m thrifty.cli COMMAND ...`` (or a thrifty script / entry point)."""
    from accelerate.commands.launch import launch_command_parser

    from thrifty.cli import check_command

    parser = launch_command_parser()

    def error(message: str):
        raise argparse.ArgumentError(None, message)

    parser.error = error
    try:
        args = parser.parse_args(argv)
    except argparse.ArgumentError as err:
        return f"accelerate launch: {err}"
    config = getattr(args, "config_file", None)
    if config and not is_placeholder(config) and not (REPO / config).exists():
        from thrifty.paths import shipped_recipe

        if shipped_recipe(config) is None:
            return f"accelerate launch --config_file {config}: no such file"
    script, script_args = args.training_script, list(args.training_script_args)
    if args.module and script == "thrifty.cli" or script.endswith("/thrifty") or script == "thrifty":
        check_command(script_args, is_placeholder)
    elif script.startswith(("scripts/", "./scripts/")):
        return _script_problem(script, script_args, monkeypatch)
    return None


# -------------------------------------------------------------------------------------------------------------
# Tests
# -------------------------------------------------------------------------------------------------------------
def test_every_relative_link_and_anchor_resolves():
    problems = broken_links(doc_files())
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_every_command_shown_parses(monkeypatch):
    monkeypatch.chdir(REPO)  # commands are written from the repository root
    checked, problems = 0, []
    for page in doc_files():
        for number, argv in shell_commands(page.read_text(encoding="utf-8")):
            problem = command_problem(argv, monkeypatch)
            known = argv[0] in ("thrifty", ".venv/bin/thrifty", "scripts/launch.sh", "accelerate") or (
                len(argv) > 1 and (argv[1].startswith("scripts/") or argv[1:3] == ["-m", "thrifty.cli"]))
            checked += known
            if problem:
                problems.append(f"{rel(page)}:{number}: {shlex.join(argv)}\n    -> {problem}")
    assert checked >= 20, f"only {checked} commands found in README.md and docs/: is the block parser broken?"
    assert not problems, f"{len(problems)} command(s) in the docs do not parse:\n" + "\n".join(problems)


# --- the checks themselves -----------------------------------------------------------------------------------
def test_slugs_follow_github():
    text = ("# Python API\n## `thrifty sft` and *more*\n## What's new? (v2)\n## Duplicate\n## Duplicate\n"
            "```bash\n# not a heading\n```\nSetext title\n============\n<a id=\"custom\"></a>\n"
            "## [A link](x.md) here\n## Ada-GRPO: alpha_i(t) & __init__\n")
    assert anchors_of(text) == {"python-api", "thrifty-sft-and-more", "whats-new-v2", "duplicate", "duplicate-1",
                                "setext-title", "custom", "a-link-here", "ada-grpo-alpha_it--init"}


def test_links_skip_code_and_find_broken_targets(tmp_path):
    text = ("See [a](other.md#there), ![img](pic.png) and `[not](a-link.md)`.\n```\n[no](code.md)\n```\n"
            "[ref]: docs/x.md\n<a href=\"#top\">top</a> [web](https://example.com/#x) [self](#here)\n")
    assert [t for _, t in links_of(text)] == ["other.md#there", "pic.png", "docs/x.md", "https://example.com/#x",
                                              "#here", "#top"]
    page = REPO / "README.md"
    anchors = {page: {"here"}, REPO / "docs" / "index.md": {"start"}}.get
    assert link_problem(page, "#here", anchors) is None
    assert "no heading or id #nope" in link_problem(page, "#nope", anchors)
    assert "does not exist" in link_problem(page, "docs/no-such-page.md", anchors)
    assert "outside the repository" in link_problem(page, "../elsewhere.md", anchors)
    assert link_problem(page, "https://example.com/x#y", anchors) is None


def test_commands_are_extracted_joined_and_split():
    text = ("```bash\n# comment\n$ thrifty sft --config recipes/toy/sft.yaml \\\n    --max_steps 5  # five\n"
            "HF_TOKEN=hf_x thrifty publish runs/x --repo-id me/x && thrifty report a b\n"
            "thrifty eval --model_name_or_path <tiny model>\n```\n```yaml\nthrifty: not a command\n```\n"
            "```python\nthrifty = 1\n```\n")
    assert list(shell_commands(text)) == [
        (3, ["thrifty", "sft", "--config", "recipes/toy/sft.yaml", "--max_steps", "5"]),
        (5, ["thrifty", "publish", "runs/x", "--repo-id", "me/x"]), (5, ["thrifty", "report", "a", "b"]),
        (6, ["thrifty", "eval", "--model_name_or_path", "PLACEHOLDER"])]
    assert _unbracket(["thrifty", "report", "RUN_DIR", "[RUN_DIR", "...]", "[--out", "DIR]"]) == [
        "thrifty", "report", "RUN_DIR", "RUN_DIR", "--out", "DIR"]
    assert _unbracket(["--reward_funcs", "[accuracy, arm_format]"]) == ["--reward_funcs", "[accuracy, arm_format]"]
    assert _unbracket(["thrifty", "sft", "--config", "RECIPE", "[--key", "value", "...]"]) == [
        "thrifty", "sft", "--config", "RECIPE"]
    assert alternatives(["launch", "R", "--accelerate", "ddp|zero2", "--stage", "sft|grpo"]) == [
        ["launch", "R", "--accelerate", "ddp", "--stage", "sft"], ["launch", "R", "--accelerate", "ddp", "--stage", "grpo"],
        ["launch", "R", "--accelerate", "zero2", "--stage", "sft"],
        ["launch", "R", "--accelerate", "zero2", "--stage", "grpo"]]


@pytest.mark.parametrize("command, wrong", [
    ("thrifty sft --config recipes/toy/sft.yaml --max_stepz 5", "max_stepz"),
    ("thrifty grpo --config recipes/toy/no_such_recipe.yaml", "no_such_recipe"),
    ("thrifty evaluate --config recipes/toy/eval.yaml", "evaluate"),
    ("thrifty eval score --benchmark math500 --predictions P --extractor strict", "--extractor"),
    ("thrifty toy build --out OUT --n-train many", "many"),
    ("scripts/launch.sh recipes/toy/sft.yaml --accelerate zero9", "zero9"),
    ("scripts/launch.sh RECIPE --num-processes 2 --no_such_key 1", "no_such_key"),
    ("python scripts/no_such_script.py --smoke", "no_such_script"),
    ("python scripts/bench_rewards.py --smokey", "--smokey"),
    ("python recipes/examples/no_such_example.py --out OUT", "no_such_example"),
    ("python -m thrifty.cli dpo --config recipes/longwriter/dpo_toy.yaml --bet 0.1", "--bet"),
    ("accelerate launch --config_file recipes/accelerate/zero2.yaml -m thrifty.cli sft --lerning_rate 1", "lerning_rate"),
    ("thrifty recipes cp toy/no_such.yaml x.yaml", "no_such"),
    ("scripts/launch.sh RECIPE [--accelerate ddp|zero9|PATH]", "zero9"),
])
def test_a_wrong_command_is_reported(command, wrong, monkeypatch):
    monkeypatch.chdir(REPO)
    problem = command_problem(shlex.split(command), monkeypatch)
    assert problem is not None and wrong in problem, problem


@pytest.mark.parametrize("command", [
    "thrifty sft --config recipes/toy/sft.yaml --model_name_or_path MODEL --max_steps N --learning_rate 2e-4",
    "thrifty report RUN_DIR [RUN_DIR ...] [--out DIR]",
    "scripts/launch.sh RECIPE --accelerate multi_node_zero3 --num-processes 16 --num-machines 2 --machine-rank 0",
    "python scripts/bench_rewards.py --smoke",
    "python scripts/bench_toy_grpo.py --smoke --out OUT --max_steps 40",
    "accelerate launch --config_file recipes/accelerate/zero2.yaml -m thrifty.cli sft --config recipes/toy/sft.yaml",
    "thrifty eval --help",
    "thrifty grpo --config RECIPE [--key value ...]",
    "scripts/launch.sh RECIPE [--accelerate ddp|zero2|zero3|zero3_offload|multi_node_zero3|PATH] [--num-processes N]",
])
def test_a_right_command_passes(command, monkeypatch):
    monkeypatch.chdir(REPO)
    assert command_problem(_unbracket(shlex.split(command)), monkeypatch) is None


if __name__ == "__main__":  # list the problems without pytest
    print("\n".join(broken_links(doc_files())) or "links: ok")
    sys.exit(0)


#: Issue 29's budgets: the README is a front page, a method page opens with its summary and fidelity table.
README_MAX_BYTES, METHOD_PAGE_MAX_BYTES = 20_000, 15_000


def test_readme_and_method_pages_stay_within_their_budgets():
    assert (REPO / "README.md").stat().st_size <= README_MAX_BYTES, "README.md: move detail into docs/"
    pages = sorted((REPO / "docs" / "methods").glob("*.md"))
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert len(text.encode()) <= METHOD_PAGE_MAX_BYTES, f"{rel(page)}: move tables into docs/experiments/"
        headings = [line for line in text.splitlines() if line.startswith("## ")]
        assert any("Fidelity" in h for h in headings[:3]), f"{rel(page)}: the fidelity table comes first"
