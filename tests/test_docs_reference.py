"""docs/reference/commands.md is generated, as ``thrifty COMMAND --help`` is, from the dataclasses and parsers the
commands use; this test fails when the file is stale. Regenerate it with ``.venv/bin/python tests/test_docs_reference.py``.

Recipe commands: every key of every dataclass the command parses (:func:`thrifty.cli.recipe_dataclasses`, the ones
its ``--help`` lists), with the type, default and help text of :func:`thrifty.recipes.recipe_keys` (the rows
``--help`` prints), one table per dataclass. Other commands: their argparse flags (:func:`thrifty.cli.command_parser`
and the subparsers of :func:`thrifty.cli.build_parser`). Nothing machine-specific goes in (fixed widths, no paths).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMMANDS_MD = REPO / "docs" / "reference" / "commands.md"
REGENERATE = ".venv/bin/python tests/test_docs_reference.py"
USAGE_WIDTH = 100


# -------------------------------------------------------------------------------------------------------------
# Markdown helpers
# -------------------------------------------------------------------------------------------------------------
def _escape(text: str) -> str:
    """Help text as one table cell: code spans kept, ``<``, ``*`` and ``|`` escaped outside them, one line."""
    text = " ".join(str(text).split())
    parts = text.split("`")
    if len(parts) % 2 == 0:  # an unpaired backtick: no code spans
        parts = [text.replace("`", "'")]
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"`{part}`")
        else:
            out.append(part.replace("\\", "\\\\").replace("<", "&lt;").replace("*", "\\*"))
    return "".join(out).replace("|", "\\|")


def _code(value: object) -> str:
    text = str(value)
    if text == "":
        return '`""`'
    return f"`{text}`".replace("|", "\\|") if "`" not in text else _escape(text)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading (without the duplicate suffix)."""
    text = heading.strip().lower()
    return "".join(c for c in text if c.isalnum() or c in " -_").replace(" ", "-")


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


# -------------------------------------------------------------------------------------------------------------
# The commands
# -------------------------------------------------------------------------------------------------------------
def _subparser(parser: argparse.ArgumentParser, *names: str) -> argparse.ArgumentParser:
    for name in names:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def _flag_rows(parser: argparse.ArgumentParser) -> list[tuple[str, ...]]:
    """(flag, value, default, help) of every argument of ``parser`` but ``-h``."""
    formatter = argparse.HelpFormatter(parser.prog, width=USAGE_WIDTH)
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        flag = ", ".join(action.option_strings) or (action.metavar or action.dest)
        if not action.option_strings:  # a positional argument
            value = ""
            default = {"?": "optional", "*": "any number", "+": "one or more"}.get(action.nargs, "required")
        elif action.nargs == 0:  # store_true and friends
            value, default = "", _code(action.default)
        else:
            metavar = action.metavar or action.dest.upper()
            value = _code("{" + ",".join(map(str, action.choices)) + "}" if action.choices
                          else metavar + (" ..." if action.nargs in ("+", "*") else ""))
            default = "required" if action.required else "" if action.default is None else _code(action.default)
        help_text = formatter._expand_help(action) if action.help else ""
        rows.append((_code(flag), value, default, _escape(help_text)))
    return rows


def _commands() -> tuple[list[tuple[str, str, tuple[type, ...]]], list[tuple[str, str, argparse.ArgumentParser, str]]]:
    """(name, description, dataclasses) of the recipe commands and (name, description, parser, note) of the others,
    in the order ``thrifty --help`` lists them."""
    from thrifty import cli

    recipe = [(name, text, cli.recipe_dataclasses(name)) for name, (_, text) in cli.RECIPE_COMMANDS.items()]
    recipe += [(f"build {name}", text, cli.recipe_dataclasses(f"build {name}"))
               for name, (_, text) in cli.BUILD_COMMANDS.items()]
    top = cli.build_parser()
    sft_keys = "other `--key value` arguments override the SFT recipe: keys of " + ", ".join(
        f"[`{t.__name__}`](#{_slug(t.__name__)})" for t in cli._sft_dataclasses())
    plain = [("eval score", "score completions made elsewhere against a benchmark; prints one JSON object",
              cli.command_parser("eval score"), "")]
    plain += [(name, text, cli.command_parser(name), "the same as `scripts/launch.sh`; " + (
        "other `--key value` arguments override the recipe's stage (its keys: the stage's recipe command)")
        if name == "launch" else "") for name, (_, text) in cli.PLAIN_COMMANDS.items()]
    for names in (("demo",), ("toy", "build"), ("toy", "pretrain"), ("models", "import-gguf"), ("recipes", "list"),
                  ("recipes", "cp")):
        parent = _subparser(top, *names[:-1])
        text = next(c.help for a in parent._actions if isinstance(a, argparse._SubParsersAction)
                    for c in a._choices_actions if c.dest == names[-1])
        parser = _subparser(top, *names)
        parser.prog = "thrifty " + " ".join(names)
        plain.append((" ".join(names), text, parser, sft_keys if names[-1] in ("demo", "pretrain") else ""))
    return recipe, plain


def render_commands_reference() -> str:
    """The whole of docs/reference/commands.md."""
    from thrifty.recipes import recipe_keys

    recipe, plain = _commands()
    lines = [
        "# Command reference",
        "",
        "<!-- Generated by `" + REGENERATE + "` from the dataclasses and parsers the commands use (what "
        "`thrifty COMMAND --help` prints); tests/test_docs_reference.py fails when it is stale. Do not edit. -->",
        "",
        "Every `thrifty` command with every key or flag it takes, as `thrifty COMMAND --help` prints them. Recipe "
        "commands read a flat YAML recipe whose keys are the fields of the command's dataclasses: each key can be "
        "set in the recipe (`key: value`) or on the command line (`--key value`), and the command line wins "
        "([Recipes](recipes.md)). Their keys are listed once per dataclass, under "
        "[Recipe dataclasses](#recipe-dataclasses). `thrifty -v COMMAND ...` (or `--verbose`) logs at debug level.",
        "",
        "## Commands",
        "",
    ]
    rows = [(f"[`thrifty {n}`](#{_slug('thrifty ' + n)})", _escape(text)) for n, text, _ in recipe]
    rows += [(f"[`thrifty {n}`](#{_slug('thrifty ' + n)})", _escape(text)) for n, text, _, _ in plain]
    lines += _table(("command", "what it does"), rows)
    used_by: dict[type, list[str]] = {}
    lines += ["", "## Recipe commands", ""]
    for name, text, types in recipe:
        for t in types:
            used_by.setdefault(t, []).append(f"thrifty {name}")
        keys = ", ".join(f"[`{t.__name__}`](#{_slug(t.__name__)})" for t in types)
        lines += [f"### `thrifty {name}`", "", _escape(text) + ".", "", "```",
                  f"thrifty {name} --config RECIPE [--key value ...]", "```", "", f"Recipe keys: {keys}.", ""]
    lines += ["## Other commands", ""]
    from thrifty import cli

    for t in cli._sft_dataclasses():
        used_by.setdefault(t, []).extend(["thrifty demo", "thrifty toy pretrain"])
    for name, text, parser, note in plain:
        lines += [f"### `thrifty {name}`", "", _escape(text) + ".", ""]
        if parser.description:
            lines += [_escape(parser.description), ""]
        lines += ["```text", _usage(parser), "```", ""]
        rows = _flag_rows(parser)
        if rows:
            lines += _table(("argument", "value", "default", "help"), rows) + [""]
        if note:
            lines += [note[0].upper() + note[1:] + ".", ""]
    lines += ["## Recipe dataclasses", "",
              "The fields of each dataclass are recipe keys of the commands that parse it. TRL's configs "
              "(`ThriftySFTConfig`, `ThriftyGRPOConfig`, `ThriftyDPOConfig`) inherit transformers' `TrainingArguments`; "
              "thrifty's own keys are listed with them, in field order.", ""]
    names = [t.__name__ for t in used_by]
    for dtype, commands in used_by.items():
        title = dtype.__name__ if names.count(dtype.__name__) == 1 else f"{dtype.__name__} ({dtype.__module__})"
        doc = " ".join((dtype.__doc__ or "").strip().split("\n\n")[0].split()).replace("``", "`")
        (_, keys), = recipe_keys((dtype,))
        lines += [f"### `{title}`" if title == dtype.__name__ else f"### {title}", "",
                  f"`{dtype.__module__}.{dtype.__qualname__}`: {_escape(doc)}" if doc else
                  f"`{dtype.__module__}.{dtype.__qualname__}`", "",
                  "Keys of " + ", ".join(f"[`{c}`](#{_slug(c)})" for c in dict.fromkeys(commands)) + ".", ""]
        lines += _table(("key", "type", "default", "help"),
                        [(f"`{k.key}`", _code(k.type), _code(k.default), _escape(k.help.replace("%%", "%")))
                         for k in keys]) + [""]
    return "\n".join(lines).rstrip("\n") + "\n"


# -------------------------------------------------------------------------------------------------------------
# Tests
# -------------------------------------------------------------------------------------------------------------
def test_commands_reference_is_current():
    expected = render_commands_reference()
    found = COMMANDS_MD.read_text(encoding="utf-8") if COMMANDS_MD.exists() else ""
    if found != expected:
        diff = list(difflib.unified_diff(found.splitlines(), expected.splitlines(), "docs/reference/commands.md",
                                         "generated", lineterm="", n=1))
        shown = "\n".join(diff[:40]) + ("\n..." if len(diff) > 40 else "")
        raise AssertionError(f"docs/reference/commands.md is stale: run `{REGENERATE}`\n{shown}")


def test_reference_lists_every_key_that_help_prints():
    """The reference and ``thrifty grpo --help`` come from the same rows: every key of one is in the other."""
    import re

    from thrifty import cli
    from thrifty.recipes import recipe_help

    types = cli.recipe_dataclasses("grpo")
    help_keys = set(re.findall(r"^  --(\w+) ", recipe_help("thrifty grpo", "GRPO", types), re.MULTILINE))
    text = render_commands_reference()
    listed = set(re.findall(r"^\| `(\w+)` \|", text, re.MULTILINE))
    assert {"variant", "ada_length_penalty", "reward_funcs", "learning_rate", "lora_r", "toy_levels"} <= help_keys
    assert help_keys - {"config", "help"} <= listed
    for section in ("### `thrifty grpo`", "### `thrifty build multiturn`", "### `thrifty eval score`",
                    "### `thrifty launch`", "### `thrifty toy pretrain`", "### `ThriftyGRPOConfig`"):
        assert section in text


def test_markdown_cells_escape_pipes_and_tags_outside_code():
    assert _escape("a | b <think> `x|<y>` 2*3") == "a \\| b &lt;think> `x\\|<y>` 2\\*3"
    assert _code("") == '`""`' and _code(["toy"]) == "`['toy']`"
    assert _slug("`thrifty build preference-pairs`") == "thrifty-build-preference-pairs"


if __name__ == "__main__":  # rewrite docs/reference/commands.md
    sys.path.insert(0, str(REPO))
    COMMANDS_MD.parent.mkdir(parents=True, exist_ok=True)
    text = render_commands_reference()
    tmp = COMMANDS_MD.with_name(f".{COMMANDS_MD.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(COMMANDS_MD)
    print(f"wrote {COMMANDS_MD.relative_to(REPO)} ({len(text.splitlines())} lines)")
