"""Where thrifty's own files live (recipes, the shipped toy base model, caches), in a checkout or installed.

In a checkout (``pip install -e .`` or ``PYTHONPATH``) the recipes are the repository's ``recipes/`` folder.
An installed thrifty (``pip install .``, a wheel) carries the same files as package data in
``thrifty/builtin_recipes/`` (``pyproject.toml`` maps ``recipes/`` to the package ``thrifty.builtin_recipes``;
``thrifty.recipes`` is the recipe-parsing module, so the data package has another name). A recipe path such as
``recipes/toy/sft.yaml`` that does not exist in the working directory resolves to the shipped recipe, as
torchtune resolves its built-in configs (:func:`resolve_recipe`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
_INSTALLED_RECIPES = PACKAGE_DIR / "builtin_recipes"
RECIPES_DIR = _INSTALLED_RECIPES if _INSTALLED_RECIPES.is_dir() else REPO_ROOT / "recipes"
TOY_BASE_DIR = PACKAGE_DIR / "assets" / "toy_base"
RECIPE_SUFFIXES = (".yaml", ".yml")


#: Names that stand for the shipped toy base model (:data:`TOY_BASE_DIR`) as a ``model_name_or_path``.
TOY_BASE_ALIASES = ("toy_base", "thrifty/assets/toy_base")


def resolve_model_alias(name_or_path: str) -> str:
    """The shipped toy base's folder for ``toy_base`` or ``thrifty/assets/toy_base`` when no such folder is in the
    working directory (an installed thrifty, another folder); any other value unchanged."""
    if name_or_path.rstrip("/") in TOY_BASE_ALIASES and not Path(name_or_path).exists():
        logger.info("model %s: using the shipped toy base %s", name_or_path, TOY_BASE_DIR)
        return str(TOY_BASE_DIR)
    return name_or_path


def is_checkout() -> bool:
    """Whether thrifty runs from a source checkout (its ``pyproject.toml`` beside the package), not site-packages."""
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "recipes").is_dir()


def default_cache_dir() -> Path:
    """``$THRIFTY_CACHE_DIR``; else ``.cache/`` of the checkout; else ``$XDG_CACHE_HOME/thrifty`` (``~/.cache``)."""
    if os.environ.get("THRIFTY_CACHE_DIR"):
        return Path(os.environ["THRIFTY_CACHE_DIR"])
    if is_checkout():
        return REPO_ROOT / ".cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "thrifty"


def shipped_recipe(name: str | os.PathLike) -> Path | None:
    """The shipped recipe (or recipe folder) ``name`` names: ``toy/sft.yaml`` or ``recipes/toy/sft.yaml``."""
    parts = Path(name).parts
    if parts and parts[0] == "recipes":
        parts = parts[1:]
    if not parts or ".." in parts or Path(name).is_absolute():
        return None
    path = RECIPES_DIR.joinpath(*parts)
    return path if path.exists() else None


def resolve_recipe(path: str | os.PathLike) -> Path:
    """``path`` itself when it exists, else the shipped recipe it names (``recipes/toy/sft.yaml``), else an error
    that says how to list the shipped recipes."""
    given = Path(path)
    if given.exists():
        return given
    shipped = shipped_recipe(path)
    if shipped is not None and shipped.is_file():
        logger.info("recipe %s is not in %s: using the shipped %s", path, Path.cwd(), shipped)
        return shipped
    raise FileNotFoundError(
        f"recipe file {path} does not exist here, and thrifty ships no recipe of that name; "
        "`thrifty recipes list` lists the shipped recipes and `thrifty recipes cp NAME DEST` copies one"
    )


def recipe_path(relative: str) -> Path:
    """Path of a shipped recipe (``toy/sft.yaml``), in a checkout or installed."""
    path = shipped_recipe(relative)
    if path is None:
        raise FileNotFoundError(f"recipe {relative} not found under {RECIPES_DIR}; `thrifty recipes list` lists them")
    return path


def share_files(folder: str | os.PathLike, suffixes: tuple[str, ...] = (".safetensors", ".bin")) -> None:
    """Give the weight files (``suffixes``) directly in ``folder`` the permissions a plain ``open`` gives
    (``0o666`` less the umask).

    transformers writes ``model.safetensors`` owner-only (0600) while its other files follow the umask, so on a
    shared cluster other users or a serving account could read the config but not the weights.
    """
    mode = default_file_mode()
    for path in Path(folder).iterdir():
        if path.suffix in suffixes and path.is_file() and not path.is_symlink():
            path.chmod(mode)


def default_file_mode() -> int:
    """The mode a plain ``open`` gives a new file: ``0o666`` less the process umask (read by setting it and
    putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask
