"""Reward registry: built-in rewards by name, a user's reward by import path, per-reward keyword arguments.

A recipe names its rewards in ``reward_funcs`` (weights in ``reward_weights``, TRL's own key) and gives keyword
arguments per reward in ``reward_kwargs``::

    reward_funcs: [accuracy, arm_format, my_pkg.my_rewards:brevity]
    reward_weights: [1.0, 0.5, 0.2]
    reward_kwargs: {accuracy: {kind: math}, "my_pkg.my_rewards:brevity": {max_words: 50}}

Each entry is resolved by :func:`get_reward`:

- a registered name (:func:`available_rewards`): thrifty's rewards and TRL's own (``trl.rewards``, not
  rewritten). Entries registered as *factories* (classes such as ``accuracy``, TRL's ``get_*`` builders) are
  called with the keyword arguments and return the reward; plain functions get them bound on every call;
- ``module.path:attribute``: the attribute is imported; a class is instantiated with the keyword arguments, a
  function gets them bound on every call.

Every reward has TRL's signature ``(prompts, completions, completion_ids, **columns) -> list[float | None]``
and carries a ``__name__``: the registered name, or the attribute name for an import path; TRL logs it as
``rewards/<name>/mean``.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import importlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from thrifty.errors import UserInputError

logger = logging.getLogger(__name__)


class RewardError(UserInputError):
    """A reward name, import path or keyword argument in the recipe is wrong."""


@dataclass(frozen=True)
class _Entry:
    target: Callable | str  # the object, or "module:attr" resolved lazily (TRL imports are slow)
    factory: bool
    doc: str


_REGISTRY: dict[str, _Entry] = {}


def register_reward(name: str, target: Callable | str | None = None, *, factory: bool = False, doc: str = ""):
    """Register a reward under ``name`` (usable as a decorator). ``factory=True``: call it with the kwargs."""

    def add(obj):
        if name in _REGISTRY:
            raise RewardError(f"reward '{name}' is already registered")
        _REGISTRY[name] = _Entry(obj, factory, doc)
        return obj

    return add(target) if target is not None else add


def available_rewards() -> list[str]:
    """Names of every registered reward, sorted."""
    return sorted(_REGISTRY)


def _import_path(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise RewardError(f"reward import path '{path}' must read 'package.module:attribute'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise RewardError(f"reward '{path}': cannot import module '{module_name}': {err}") from err
    try:
        return functools.reduce(getattr, attr.split("."), module)
    except AttributeError:
        public = [n for n in dir(module) if not n.startswith("_")]
        raise RewardError(
            f"reward '{path}': module '{module_name}' has no attribute '{attr}'"
            + _closest(attr, public)
        ) from None


def _closest(key: str, valid: list[str]) -> str:
    match = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _check_kwargs(name: str, func: Callable, kwargs: dict[str, Any], skip: int = 0) -> None:
    """Every key of ``kwargs`` must be an explicit parameter of ``func`` (a ``**kwargs`` catch-all is not enough)."""
    try:
        params = list(inspect.signature(func).parameters.values())[skip:]
    except (TypeError, ValueError):
        return
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    for key in kwargs:
        if key not in named:
            raise RewardError(
                f"reward_kwargs of '{name}': unknown argument '{key}'{_closest(key, named)};"
                f" it takes {', '.join(n for n in named if n not in ('prompts', 'completions', 'completion_ids')) or 'none'}"
            )


def _bind(name: str, func: Callable, kwargs: dict[str, Any]) -> Callable:
    """A reward that calls ``func`` with ``kwargs`` added, named ``name``."""
    if not kwargs:
        if getattr(func, "__name__", None) == name:
            return func
    _check_kwargs(name, func, kwargs)
    if inspect.iscoroutinefunction(func):

        async def bound_async(prompts, completions, completion_ids=None, **columns):
            return await func(prompts=prompts, completions=completions, completion_ids=completion_ids, **columns, **kwargs)

        bound_async.__name__ = name
        bound_async.__doc__ = func.__doc__
        return bound_async

    def bound(prompts, completions, completion_ids=None, **columns):
        return func(prompts=prompts, completions=completions, completion_ids=completion_ids, **columns, **kwargs)

    bound.__name__ = name
    bound.__doc__ = func.__doc__
    bound.__wrapped__ = func
    return bound


def _named(obj: Any, name: str) -> Any:
    if isinstance(obj, type):
        raise RewardError(f"reward '{name}' resolved to a class, not an instance")
    try:
        if getattr(obj, "__name__", None) != name:
            obj.__name__ = name
    except (AttributeError, TypeError):
        obj = _bind(name, obj, {})
    return obj


def get_reward(name: str, **kwargs: Any) -> Callable:
    """Resolve one reward by registered name or ``module:attribute`` path (see the module docstring)."""
    if name in _REGISTRY:
        entry = _REGISTRY[name]
        target = _import_path(entry.target) if isinstance(entry.target, str) else entry.target
        if entry.factory:
            _check_kwargs(name, target, kwargs)
            return _named(target(**kwargs), name)
        return _bind(name, target, kwargs)
    if ":" in name:
        target = _import_path(name)
        short = name.rsplit(":", 1)[1].rsplit(".", 1)[-1]
        if isinstance(target, type):
            _check_kwargs(name, target, kwargs)
            return _named(target(**kwargs), short)
        if not callable(target):
            raise RewardError(f"reward '{name}' is a {type(target).__name__}, not a function or class")
        return _bind(short, target, kwargs)
    raise RewardError(
        f"unknown reward '{name}'{_closest(name, available_rewards())}; available: {', '.join(available_rewards())}"
        " (or give your own as 'package.module:function')"
    )


def build_reward_funcs(
    names: list[str], reward_kwargs: dict[str, dict[str, Any]] | None = None
) -> list[Callable]:
    """Resolve the recipe's ``reward_funcs`` with their ``reward_kwargs`` (keys must name a listed reward)."""
    reward_kwargs = dict(reward_kwargs or {})
    if not names:
        raise RewardError("reward_funcs is empty: name at least one reward")
    for name in names:  # an unknown or unimportable reward is the first thing to report
        if name not in _REGISTRY and ":" not in name:
            get_reward(name)
        elif ":" in name and name not in _REGISTRY:
            _import_path(name)
    for key in reward_kwargs:
        if key not in names:
            raise RewardError(f"reward_kwargs has an entry for '{key}', which is not in reward_funcs{_closest(key, names)}")
    funcs = []
    for name in names:
        kwargs = reward_kwargs.get(name) or {}
        if not isinstance(kwargs, dict):
            raise RewardError(f"reward_kwargs['{name}'] must be a mapping of argument: value")
        funcs.append(get_reward(name, **kwargs))
    seen: set[str] = set()
    for f in funcs:
        if f.__name__ in seen:
            raise RewardError(f"two rewards are named '{f.__name__}': metrics would collide")
        seen.add(f.__name__)
    return [checked_reward(f) for f in funcs]


def _checked_output(name: str, output: Any, n: int) -> list[float | None]:
    """``output`` of the reward ``name`` for ``n`` completions, or a :class:`RewardError` saying what is wrong."""
    import numbers

    if output is None or isinstance(output, (str, bytes, dict)) or not hasattr(output, "__len__"):
        raise RewardError(f"reward '{name}' returned {type(output).__name__ if output is not None else 'None'}; a "
                          f"reward must return a list of {n} numbers (float, or None where it does not apply), one "
                          "per completion")
    values = list(output.tolist() if hasattr(output, "tolist") else output)
    if len(values) != n:
        raise RewardError(f"reward '{name}' returned {len(values)} values for {n} completions; it must return one "
                          "per completion")
    for i, value in enumerate(values):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            raise RewardError(f"reward '{name}' returned {value!r} ({type(value).__name__}) for completion {i}; "
                              "each value must be a number (float) or None")
    return [None if v is None else float(v) for v in values]


def checked_reward(func: Callable) -> Callable:
    """``func`` with its output checked (:func:`_checked_output`) and its exceptions turned into one-line
    :class:`RewardError` naming the reward, so a broken plug-in stops training with exit status 2 and says which
    reward broke, instead of a traceback from inside TRL. Keeps the name, the docstring, async-ness and, through
    ``__wrapped__``, the reward object itself; a ``torch.nn.Module`` (a reward model) is returned as it is."""
    try:
        import torch

        if isinstance(func, torch.nn.Module):
            return func
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    name = func.__name__

    def _fail(err: Exception) -> RewardError:
        where = ""
        tb = err.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is not None:
            where = f" at {tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        return RewardError(f"reward '{name}' raised {type(err).__name__}{where}: {err}")

    @contextlib.contextmanager
    def reported_as_the_rewards():
        try:
            yield
        except RewardError:
            raise
        except Exception as err:  # noqa: BLE001 - any failure of a user's reward is reported as the reward's
            raise _fail(err) from err

    if inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(type(func).__call__):  # TRL awaits these

        @functools.wraps(func)
        async def checked_async(prompts, completions, completion_ids=None, **columns):
            with reported_as_the_rewards():
                output = await func(prompts=prompts, completions=completions, completion_ids=completion_ids, **columns)
            return _checked_output(name, output, len(completions))

        return checked_async

    @functools.wraps(func)
    def checked(prompts, completions, completion_ids=None, **columns):
        with reported_as_the_rewards():
            output = func(prompts=prompts, completions=completions, completion_ids=completion_ids, **columns)
        return _checked_output(name, output, len(completions))

    return checked


def describe_rewards() -> dict[str, str]:
    """name -> first docstring line, for ``--help`` texts and docs."""
    out = {}
    for name, entry in sorted(_REGISTRY.items()):
        doc = entry.doc
        if not doc and not isinstance(entry.target, str):
            doc = (inspect.getdoc(entry.target) or "").split("\n", 1)[0]
        out[name] = doc
    return out
