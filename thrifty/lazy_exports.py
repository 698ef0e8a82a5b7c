"""Lazy public names of a package (PEP 562): ``from thrifty.eval import run_eval`` imports ``thrifty.eval.runner``
(and TRL, torch) only when the name is first used, so ``import thrifty.eval`` and ``thrifty --help`` stay instant."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, exports: dict[str, str],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package``, whose public name ``n`` is defined in its
    submodule ``exports[n]``; a loaded name is kept in ``namespace`` (the package's ``globals()``)."""

    def __getattr__(name: str) -> Any:  # noqa: N807 - PEP 562's name
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # noqa: N807 - PEP 562's name
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return __getattr__, __dir__
