"""Where the repository's own files live (recipes, the shipped toy base model)."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
RECIPES_DIR = REPO_ROOT / "recipes"
TOY_BASE_DIR = PACKAGE_DIR / "assets" / "toy_base"


def recipe_path(relative: str) -> Path:
    """Path of a recipe shipped in ``recipes/``; a clear error when thrifty runs outside its checkout."""
    path = RECIPES_DIR / relative
    if not path.exists():
        raise FileNotFoundError(
            f"recipe {relative} not found under {RECIPES_DIR}; run from a thrifty checkout "
            "(pip install -e .) or pass --config PATH"
        )
    return path
