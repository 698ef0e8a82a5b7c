"""``thrifty recipes list`` and ``thrifty recipes cp NAME DEST``: the recipes shipped with thrifty.

As torchtune's ``tune ls`` / ``tune cp``: list the built-in recipes (names relative to ``recipes/``, which is
also how ``--config recipes/NAME`` finds them from any folder) and copy one, or a whole folder of them, into the
working directory to edit. A copy never overwrites an existing file unless asked.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from thrifty.paths import RECIPES_DIR, shipped_recipe

logger = logging.getLogger(__name__)

LISTED_SUFFIXES = (".yaml", ".yml", ".py")


def list_recipes() -> list[str]:
    """Names of the shipped recipe files, relative to the recipes folder (``toy/sft.yaml``), sorted."""
    return sorted(
        p.relative_to(RECIPES_DIR).as_posix()
        for p in RECIPES_DIR.rglob("*")
        if p.is_file() and p.suffix in LISTED_SUFFIXES and "__pycache__" not in p.parts
    )


def recipe_descriptions() -> list[tuple[str, str]]:
    """(name, first comment line) for every shipped recipe: what ``thrifty recipes list`` prints."""
    rows = []
    for name in list_recipes():
        first = ""
        for line in (RECIPES_DIR / name).read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                first = stripped.lstrip("#").strip()
                break
            if stripped.startswith(('"""', "'''")):
                first = stripped.strip("\"' ")
                break
            if stripped:
                break
        rows.append((name, first))
    return rows


def copy_recipe(name: str, dest: str | Path, force: bool = False) -> list[Path]:
    """Copy the shipped recipe (or folder of recipes) ``name`` to ``dest``; returns the files written.

    ``dest`` may be a file name or a folder: an existing one, or one written with a trailing ``/`` (created; the
    recipe keeps its name there). An existing file is an error naming it unless ``force``.
    """
    source = shipped_recipe(name)
    if source is None:
        raise FileNotFoundError(f"no shipped recipe {name!r}; `thrifty recipes list` lists them")
    as_folder = str(dest).endswith(("/", os.sep))  # Path() drops the trailing slash
    dest = Path(dest)
    if source.is_dir():
        pairs = [(p, dest / p.relative_to(source)) for p in sorted(source.rglob("*"))
                 if p.is_file() and "__pycache__" not in p.parts]
    else:
        pairs = [(source, dest / source.name if as_folder or dest.is_dir() else dest)]
    clashes = [str(target) for _, target in pairs if target.exists()]
    if clashes and not force:
        raise FileExistsError(f"{', '.join(clashes)} already exist(s); pass --force to overwrite")
    written = []
    for src, target in pairs:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(src, tmp)
        tmp.replace(target)
        written.append(target)
    logger.info("copied %d file(s) from %s to %s", len(written), source, dest)
    return written
