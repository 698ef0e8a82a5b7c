"""Recipes: flat YAML files parsed into TRL-style dataclasses, with ``--key value`` overrides.

Every key of a recipe and every override must be a field of one of the stage's dataclasses; an unknown key is
a :class:`RecipeError` that names the key, the file and the closest valid key. Values from YAML go through
the same argparse type conversion as command-line values, so ``learning_rate: 3e-4`` is a float however YAML
reads it. On a machine with no CUDA device the training dataclasses are switched to CPU (``use_cpu``, no
bf16/fp16) without the user asking.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
from dataclasses import fields, is_dataclass
from typing import Any

import yaml
from transformers import HfArgumentParser

logger = logging.getLogger(__name__)


class RecipeError(ValueError):
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
    from thrifty.paths import resolve_recipe

    try:
        path = resolve_recipe(path)
    except FileNotFoundError as err:
        raise RecipeError(str(err)) from None
    try:
        config = load_yaml(path.read_text()) or {}
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


def parse_recipe(dataclass_types: tuple[type, ...], argv: list[str] | None = None) -> tuple:
    """Parse ``[--config RECIPE] [--key value ...]`` into instances of ``dataclass_types``.

    Later values win: the recipe's, then the command line's. CPU handling is applied last.
    """
    argv = list(argv or [])
    parser = HfArgumentParser(dataclass_types)
    valid = sorted({a.dest for a in parser._actions if a.dest != "help"})
    recipe_tokens: list[str] = []
    if "--config" in argv:
        i = argv.index("--config")
        if i + 1 >= len(argv):
            raise RecipeError("--config needs a recipe path")
        config_path = argv[i + 1]
        del argv[i : i + 2]
        for key, value in load_recipe_file(config_path).items():
            if key not in valid:
                raise RecipeError(f"{config_path}: unknown key '{key}'{_closest(key, valid)}")
            if value is not None:
                recipe_tokens += _to_tokens(key, value)
    for token in argv:
        if token.startswith("--"):
            key = token[2:].split("=", 1)[0]
            if key not in valid:
                raise RecipeError(f"command line: unknown option '--{key}'{_closest(key, valid)}")
    defaults, forced = [], []
    has = set(valid)
    if not cuda_available() and "use_cpu" in has:
        defaults += ["--gradient_checkpointing", "false"] if "gradient_checkpointing" in has else []
        forced += ["--use_cpu", "true", "--bf16", "false", "--fp16", "false"]
    tokens = defaults + recipe_tokens + argv + forced
    try:
        *parsed, remaining = parser.parse_args_into_dataclasses(args=tokens, return_remaining_strings=True)
    except SystemExit as err:  # argparse reports bad values by exiting; turn that into our error
        raise RecipeError(f"could not parse recipe values: {' '.join(tokens)}") from err
    if remaining:
        raise RecipeError(f"unexpected values {remaining}: each option takes the form --key value")
    return tuple(parsed)


def recipe_dict(*configs: Any) -> dict[str, Any]:
    """The fields of one or more dataclass configs as a JSON-safe dict (for model cards and reports)."""
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
    return out
