"""Recipes: flat YAML files parsed into TRL-style dataclasses, with ``--key value`` overrides.

Every key of a recipe and every override must be a field of one of the stage's dataclasses; an unknown key is
a :class:`RecipeError` that names the key, the file and the closest valid key. Values from YAML go through
the same argparse type conversion as command-line values, so ``learning_rate: 3e-4`` is a float however YAML
reads it. Every numeric value is then checked against its valid range (:mod:`thrifty.recipe_ranges`) before the
dataclasses are built, so ``num_generations: 0`` is one line naming the key, not a ZeroDivisionError in TRL. On a
machine with no CUDA device the training dataclasses are switched to CPU (``use_cpu``, no bf16/fp16) without the
user asking.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
from dataclasses import dataclass, fields, is_dataclass
from enum import Enum
from typing import Any

import yaml
from transformers import HfArgumentParser

from thrifty.errors import UserInputError, one_line
from thrifty.recipe_ranges import out_of_range
from thrifty.redact import REDACTED, is_secret_key, redact_mapping, redact_text

logger = logging.getLogger(__name__)


class RecipeError(UserInputError):
    """A recipe or override the user wrote is wrong; the message says where and what to do."""


class _RecipeYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans: only ``true``/``false`` are booleans, so ``save_strategy: no``
    stays the string ``"no"`` (YAML 1.1 would read ``no``, ``yes``, ``on``, ``off`` as booleans)."""


_BOOL_TAG = "tag:yaml.org,2002:bool"
_RecipeYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RecipeYamlLoader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A YAML mapping names the same key twice (PyYAML would silently keep the last value)."""

    def __init__(self, key: Any, first_line: int, line: int):
        super().__init__(None, None, f"duplicate key '{key}' (lines {first_line} and {line})", None)
        self.key, self.first_line, self.line = key, first_line, line


def _mapping_without_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key: PyYAML's own constructor reports it
            break
        if first is not None:
            raise DuplicateKeyError(key, first, key_node.start_mark.line + 1)
        seen[key] = key_node.start_mark.line + 1
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_RecipeYamlLoader.construct_mapping = _mapping_without_duplicates  # type: ignore[method-assign]


def load_yaml(text: str) -> Any:
    """Parse recipe YAML (or one command-line value) with YAML 1.2 booleans (see :class:`_RecipeYamlLoader`)."""
    return yaml.load(text, Loader=_RecipeYamlLoader)  # noqa: S506 - a SafeLoader subclass


def _closest(key: str, valid: list[str]) -> str:
    match = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _to_tokens(key: str, value: Any) -> list[str]:
    if isinstance(value, bool):
        return [f"--{key}", "true" if value else "false"]
    if isinstance(value, (list, tuple)):
        return [f"--{key}", *[json.dumps(v) if isinstance(v, (dict, list)) else str(v) for v in value]]
    if isinstance(value, dict):
        return [f"--{key}", json.dumps(value)]
    return [f"--{key}", str(value)]


def load_recipe_file(path: str | os.PathLike) -> dict[str, Any]:
    """Read a flat YAML recipe into a dict (``env:`` entries are exported to the environment).

    A path missing from the working directory that names a shipped recipe (``recipes/toy/sft.yaml``) reads the
    shipped one (:func:`thrifty.paths.resolve_recipe`), so recipe commands work from any folder once installed.
    """
    from thrifty.jsonl import read_text
    from thrifty.paths import resolve_recipe

    try:
        path = resolve_recipe(path)
    except FileNotFoundError as err:
        raise RecipeError(str(err)) from None
    try:
        config = load_yaml(read_text(path)) or {}
    except DuplicateKeyError as err:
        raise RecipeError(f"{path}: key '{err.key}' is set twice (lines {err.first_line} and {err.line}); keep "
                          "one") from None
    except yaml.YAMLError as err:
        raise RecipeError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(config, dict):
        raise RecipeError(f"{path}: a recipe must be a YAML mapping of key: value")
    for name, value in (config.pop("env", None) or {}).items():
        os.environ[str(name)] = str(value)
    return config


def cuda_available() -> bool:
    """Whether a CUDA device is usable (imported lazily so the CLI starts fast)."""
    import torch

    return torch.cuda.is_available()


_ARG_ERROR = re.compile(r"argument (--[\w\-.]+)(?:/\S+)?: (.*)", re.DOTALL)
_EXPECTED = {float: "a number", int: "an integer"}


def _value_error(parser: HfArgumentParser, message: str, config_path: str | None, cli_keys: set[str]) -> RecipeError:
    """argparse's complaint about one value as a :class:`RecipeError` naming the key and where it came from."""
    match = _ARG_ERROR.match(message)
    if not match:
        return RecipeError(f"{config_path or 'command line'}: {redact_text(one_line(message))}")
    flag, detail = match.group(1), one_line(match.group(2))
    key = flag[2:]
    where = "command line" if key in cli_keys or config_path is None else config_path
    if is_secret_key(key):
        detail = re.sub(r"value: .*", f"value: {REDACTED}", detail)
    action = next((a for a in parser._actions if flag in a.option_strings), None)
    expected = _EXPECTED.get(getattr(action, "type", None))
    if action is not None and action.choices:
        expected = "one of " + ", ".join(str(c) for c in action.choices)
    elif action is not None and getattr(action.type, "__name__", "") == "string_to_bool":
        expected = "true or false"
    hint = f"; {key} takes {expected}" if expected and "invalid" in detail and "choose from" not in detail else ""
    return RecipeError(f"{where}: {key}: {redact_text(detail)}{hint}")


def _expand_list_values(tokens: list[str], list_keys: set[str]) -> list[str]:
    """``--key '[a, b]'`` (YAML flow list, as a recipe writes it) -> ``--key a b`` for list-valued keys."""
    out: list[str] = []
    key = None
    for token in tokens:
        if token.startswith("--"):
            key = token[2:]
            out.append(token)
            continue
        if key in list_keys and token.strip().startswith("[") and token.strip().endswith("]"):
            try:
                values = load_yaml(token)
            except yaml.YAMLError:
                values = None
            if isinstance(values, list):
                out += [json.dumps(v) if isinstance(v, (dict, list)) else str(v) for v in values]
                continue
        out.append(token)
    return out


def parse_recipe(dataclass_types: tuple[type, ...], argv: list[str] | None = None) -> tuple:
    """Parse ``[--config RECIPE] [--key value ...]`` into instances of ``dataclass_types``.

    Later values win: the recipe's, then the command line's. CPU handling is applied last. Every mistake is a
    :class:`RecipeError` naming the key and the file (or the command line) it came from; secret values
    (:mod:`thrifty.redact`) never appear in the message. ``-h``/``--help`` raises :class:`RecipeHelp` (the CLI
    prints :func:`recipe_help`).
    """
    argv = list(argv or [])
    if any(a in HELP_FLAGS for a in argv):
        raise RecipeHelp(dataclass_types)
    parser = HfArgumentParser(dataclass_types)
    _keep_scalar_defaults(parser, dataclass_types)
    valid = sorted({a.dest for a in parser._actions if a.dest != "help"})
    list_keys = {a.dest for a in parser._actions if a.nargs in ("+", "*")}
    recipe_tokens: list[str] = []
    config_path = None
    if "--config" in argv:
        i = argv.index("--config")
        if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
            raise RecipeError("--config needs a recipe path: --config RECIPE.yaml")
        config_path = argv[i + 1]
        del argv[i : i + 2]
        for key, value in load_recipe_file(config_path).items():
            if key not in valid:
                raise RecipeError(f"{config_path}: unknown key '{key}'{_closest(key, valid)}")
            if value is not None:
                recipe_tokens += _to_tokens(key, value)
    cli_keys = set()
    for token in argv:
        if token.startswith("--"):
            key = token[2:].split("=", 1)[0].replace("-", "_")  # HfArgumentParser takes --dry-run for dry_run
            if key not in valid:
                raise RecipeError(f"command line: unknown option '--{key}'{_closest(key, valid)}")
            cli_keys.add(key)
    argv = _expand_list_values(argv, list_keys)
    defaults, forced = [], []
    has = set(valid)
    if not cuda_available() and "use_cpu" in has:
        defaults += ["--gradient_checkpointing", "false"] if "gradient_checkpointing" in has else []
        forced += ["--use_cpu", "true", "--bf16", "false", "--fp16", "false"]
    tokens = defaults + recipe_tokens + argv + forced

    def error(message: str):  # argparse reports a bad value by printing and exiting; raise ours instead
        raise _value_error(parser, message, config_path, cli_keys)

    parser.error = error  # type: ignore[method-assign]
    where = f"{config_path} (with the command-line overrides)" if config_path else "command line"

    def source_of(key: str) -> str:
        return "command line" if key in cli_keys or config_path is None else str(config_path)

    try:
        # every numeric value against its valid range (thrifty.recipe_ranges) BEFORE the dataclasses are built:
        # their __post_init__ (TRL's) would otherwise fail on it first, some with a ZeroDivisionError
        values, _ = parser.parse_known_args(args=tokens)
        problem = out_of_range(dataclass_types, vars(values), source_of)
        if problem:
            raise RecipeError(redact_text(problem))
        *parsed, remaining = parser.parse_args_into_dataclasses(args=tokens, return_remaining_strings=True)
    except SystemExit as err:  # pragma: no cover - parser.error raises before argparse exits
        raise RecipeError(f"{where}: could not parse the recipe values") from err
    except RecipeError as err:
        if str(err).startswith((str(config_path), "command line")):
            raise
        raise RecipeError(f"{where}: {redact_text(one_line(err))}") from None
    except (ValueError, TypeError, ArithmeticError) as err:  # a __post_init__ check refused a combination
        raise RecipeError(f"{where}: {redact_text(one_line(err))}") from None
    if remaining:
        raise RecipeError(f"{where}: unexpected values {redact_text(str(remaining))}: "
                          "each option takes the form --key value")
    _check_lora_keys(parsed, recipe_tokens, cli_keys, config_path)
    from thrifty.paths import resolve_model_alias

    for cfg in parsed:  # `toy_base` names the shipped toy base, in a recipe or on the command line
        if isinstance(getattr(cfg, "model_name_or_path", None), str):
            cfg.model_name_or_path = resolve_model_alias(cfg.model_name_or_path)
    return tuple(parsed)


def _keep_scalar_defaults(parser: HfArgumentParser, dataclass_types: tuple[type, ...]) -> None:
    """``HfArgumentParser`` drops the plain default of a ``str | list[str]`` field (``report_to: "none"``) and
    passes None, which TrainingArguments turns into ``[None]`` and the Trainer refuses: a recipe without
    ``report_to`` crashed. Give such options their dataclass default back."""
    for dtype in dataclass_types:
        for f in fields(dtype):
            action = parser._option_string_actions.get(f"--{f.name}")
            if (f.init and action is not None and action.nargs == "+" and action.default is None
                    and isinstance(f.default, str) and f.default):
                action.default = f.default


def _check_lora_keys(parsed: list[Any], recipe_tokens: list[str], cli_keys: set[str], config_path: str | None) -> None:
    """Refuse ``lora_*`` keys that would be silently ignored because ``use_peft`` is false: given on the command
    line, or in a recipe that does not itself set ``use_peft: true``. A recipe that sets ``use_peft: true`` with
    its ``lora_*`` keys, switched to ``--use_peft false`` on the command line, trains in full with a warning."""
    if not any(getattr(cfg, "use_peft", None) is False for cfg in parsed):
        return
    recipe_keys = {t[2:] for t in recipe_tokens if t.startswith("--")}
    i = recipe_tokens.index("--use_peft") if "--use_peft" in recipe_tokens else -1
    recipe_says_peft = i >= 0 and recipe_tokens[i + 1] == "true"
    from_cli = sorted(k for k in cli_keys if k.startswith("lora_"))
    from_recipe = sorted(k for k in recipe_keys - cli_keys if k.startswith("lora_"))
    if from_recipe and recipe_says_peft:  # the recipe's LoRA, switched off on the command line
        logger.warning("use_peft is false (command line): the recipe's %s are not used; the whole model is trained",
                       ", ".join(from_recipe))
        from_recipe = []
    offending = [f"{k} (command line)" for k in from_cli] + [f"{k} ({config_path})" for k in from_recipe]
    if offending:
        raise RecipeError(f"{', '.join(offending)} set but use_peft is false, so they would be ignored and the whole "
                          "model trained: set use_peft: true for LoRA, or remove the lora_* keys")


def recipe_dict(*configs: Any) -> dict[str, Any]:
    """The fields of one or more dataclass configs as a JSON-safe dict (for model cards and reports), secrets
    redacted (:mod:`thrifty.redact`)."""
    out: dict[str, Any] = {}
    for cfg in configs:
        if not is_dataclass(cfg):
            continue
        for f in fields(cfg):
            value = getattr(cfg, f.name)
            try:
                json.dumps(value)
            except TypeError:
                value = str(value)
            out[f.name] = value
    return redact_mapping(out)


# -------------------------------------------------------------------------------------------------------------
# --help generated from the dataclasses
# -------------------------------------------------------------------------------------------------------------
HELP_FLAGS = ("-h", "--help")


class RecipeHelp(Exception):  # noqa: N818 - a request, not an error
    """Raised by :func:`parse_recipe` when ``-h``/``--help`` is among its arguments: it carries the stage's
    dataclasses so the CLI can print :func:`recipe_help` for them (the help is generated from exactly the
    dataclasses the command parses, so it cannot drift from them). Deliberately not a :class:`RecipeError`:
    commands that turn user errors into exit status 2 let it through to the CLI."""

    def __init__(self, dataclass_types: tuple[type, ...]):
        super().__init__("help requested")
        self.dataclass_types = tuple(dataclass_types)


def _type_name(action: Any) -> str:
    """A short type label for an argparse action built by ``HfArgumentParser`` (``int``, ``float``, ``bool``,
    ``str``, a list ``[int ...]`` or the choices ``{a,b}``)."""
    if action.choices:
        return "{" + ",".join(str(c) for c in action.choices) + "}"
    kind = getattr(action.type, "__name__", None) or "str"
    kind = {"string_to_bool": "bool"}.get(kind, kind)
    if kind.startswith("make_choice") or kind == "<lambda>":
        kind = "str"
    return f"[{kind} ...]" if action.nargs == "+" else kind


def _first_paragraph(doc: str | None) -> str:
    text = (doc or "").strip().split("\n\n")[0]
    return " ".join(line.strip() for line in text.splitlines()).replace("``", "`")


@dataclass(frozen=True)
class RecipeKey:
    """One recipe key as ``--help`` shows it: the key, a short type label, its default and its help text."""

    key: str
    type: str
    default: Any
    help: str


def _recipe_key(action: Any) -> RecipeKey | None:
    """The :class:`RecipeKey` of an argparse action built by ``HfArgumentParser``; None for the ``--no_KEY``
    complement of a boolean (a recipe sets the key to false instead)."""
    if action.option_strings and action.option_strings[0].startswith("--no_"):
        return None
    type_name, text = _type_name(action), (action.help or "").strip()
    if len(type_name) > 30:  # a long list of choices goes into the help text
        type_name, text = "str", f"one of {type_name}. {text}".strip()
    default = action.default.value if isinstance(action.default, Enum) else action.default
    return RecipeKey(action.option_strings[0][2:], type_name, default, text)


def _grouped_parser(dataclass_types: tuple[type, ...], **kwargs: Any) -> HfArgumentParser:
    """An ``HfArgumentParser`` (the parser that reads the recipe) with one argument group per dataclass, titled
    with the dataclass's name and the first paragraph of its docstring; ``group.dataclass`` is the dataclass."""

    class _Grouped(HfArgumentParser):
        def _add_dataclass_arguments(self, dtype: type) -> None:
            from typing import get_type_hints

            group = self.add_argument_group(dtype.__name__, _first_paragraph(dtype.__doc__) or None)
            group.dataclass = dtype
            hints = get_type_hints(dtype)
            for f in fields(dtype):
                if f.init:
                    f.type = hints[f.name]
                    self._parse_dataclass_field(group, f)

    return _Grouped(dataclass_types, **kwargs)


def recipe_keys(dataclass_types: tuple[type, ...]) -> list[tuple[type, list[RecipeKey]]]:
    """Every recipe key of ``dataclass_types``, per dataclass in order: exactly the rows :func:`recipe_help` prints
    (the command reference, docs/reference/commands.md, is rendered from them)."""
    parser = _grouped_parser(dataclass_types, add_help=False)
    return [(group.dataclass, [k for k in map(_recipe_key, group._group_actions) if k is not None])
            for group in parser._action_groups if hasattr(group, "dataclass")]


def recipe_help(prog: str, description: str, dataclass_types: tuple[type, ...], epilog: str | None = None,
                keys_only: bool = False) -> str:
    """The ``--help`` text of a recipe-driven command, like ``trl sft --help``: every recipe key of
    ``dataclass_types``, grouped by dataclass (title: its name and the first paragraph of its docstring), each
    with its type, default and help text. Built with ``HfArgumentParser`` itself (the parser that reads the
    recipe), so types and defaults are the ones a recipe value is converted with."""
    import argparse

    class _Formatter(argparse.HelpFormatter):
        def __init__(self, prog: str) -> None:
            super().__init__(prog, max_help_position=40, width=110)

    parser = _grouped_parser(
        dataclass_types,
        prog=prog,
        usage=argparse.SUPPRESS if keys_only else f"{prog} --config RECIPE [--key value ...]",
        description=None if keys_only else f"{description}. Every key below can be set in the flat YAML recipe "
                                           "(key: value) or overridden on the command line (--key value); the "
                                           "command line wins.",
        epilog=epilog,
        formatter_class=_Formatter,
        add_help=False,
    )
    if not keys_only:
        parser.add_argument("--config", metavar="RECIPE", help="flat YAML recipe whose keys are listed below")
        parser.add_argument("-h", "--help", action="store_true", help="show this help and exit")
    for group in parser._action_groups:
        kept = []
        for action in group._group_actions:
            if action.dest in ("help", "config"):
                kept.append(action)
                continue
            key = _recipe_key(action)
            if key is None:
                continue
            action.option_strings = [f"--{key.key}"]  # the key as written in recipes
            action.metavar = key.type
            action.nargs = None if action.nargs in ("?", "+") else action.nargs
            action.help = " ".join(filter(None, (key.help, f"(default: {key.default})"))).replace("%", "%%")
            kept.append(action)
        group._group_actions[:] = kept
    return parser.format_help().strip("\n") + "\n"
