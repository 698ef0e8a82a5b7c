"""Hub and HTTP failures as user errors: one line naming what could not be reached and how to work offline.

A model id, a dataset id or a benchmark that thrifty fetches from the Hugging Face Hub fails when the machine is
offline, the Hub is down, or ``HF_HUB_OFFLINE=1`` forbids the download; the libraries report it as a
``ConnectionError`` (``datasets``: "Couldn't reach 'X' on the Hub"), an ``httpx``/``requests`` transport error,
huggingface_hub's ``OfflineModeIsEnabled`` / ``LocalEntryNotFoundError``, or transformers' ``OSError`` around them.
:func:`is_network_error` recognises them anywhere in an exception's chain, :func:`network_message` writes the one
line (what could not be reached, why, and the offline alternative), and :func:`hub_access` wraps a block that
fetches something named (a benchmark, a dataset) so the line names it exactly. ``thrifty.cli.main`` turns any
network failure that reaches it into that line, exit status 2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from thrifty.errors import UserInputError

#: What a user can give instead of anything fetched from the Hub (a caller names the one that fits).
LOCAL_HINT = "give local files instead (a model folder, a data file, or --data_dir / $THRIFTY_DATA_DIR for benchmarks)"

_TRANSPORT_MODULES = ("httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3")
_TRANSPORT_NAMES = {"TransportError", "NetworkError", "TimeoutException", "ConnectError", "ConnectTimeout",
                    "ReadTimeout", "ConnectionError", "Timeout", "NewConnectionError", "MaxRetryError",
                    "ProtocolError", "ProxyError"}


class NetworkError(UserInputError):
    """Something thrifty had to fetch (a Hub model, dataset or benchmark, a URL) could not be reached."""


def _chain(err: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def _is_transport(err: BaseException) -> bool:
    """A Hub or HTTP client's report of a failed request (a bare socket error is not one: a torch.distributed
    peer that went away is no download)."""
    if isinstance(err, ConnectionError) and _REACH.search(str(err)):  # datasets: "Couldn't reach 'X' on the Hub"
        return True
    try:
        from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled
    except ImportError:  # pragma: no cover - huggingface_hub is a dependency
        LocalEntryNotFoundError = OfflineModeIsEnabled = ()  # noqa: N806
    if isinstance(err, (LocalEntryNotFoundError, OfflineModeIsEnabled)):
        return True
    return any(cls.__module__.split(".")[0] in _TRANSPORT_MODULES and cls.__name__ in _TRANSPORT_NAMES
               for cls in type(err).__mro__)


def is_network_error(err: BaseException) -> bool:
    """Whether ``err`` (or an exception it was raised from) is a failed request to the Hub or another HTTP
    server: huggingface_hub's offline/cache-miss errors, ``datasets``' "Couldn't reach", or an ``httpx`` /
    ``requests`` / ``urllib3`` transport error (refused, timed out, unknown host)."""
    return any(_is_transport(e) for e in _chain(err))


def hub_endpoint() -> str:
    """The Hub's address (``HF_ENDPOINT``, else https://huggingface.co)."""
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or "https://huggingface.co"


def _offline_mode() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


_REACH = re.compile(r"Couldn't reach '([^']+)'")
_URL = re.compile(r"(https?://[^\s'\"]+)")


def _target(err: BaseException) -> str | None:
    """What the failed request was for: a Hub repository id or the URL (the chain's requests first, then its
    messages); the Hub's bare address counts as nothing more specific."""
    for e in _chain(err):
        match = _REACH.search(str(e))
        if match:
            return match.group(1)
    urls = []
    for e in _chain(err):
        try:
            urls.append(str(e.request.url))  # httpx / requests errors carry the request
        except Exception:  # noqa: BLE001,S112 - most exceptions have no request (httpx raises when asked)
            continue
    for e in _chain(err):
        urls += _URL.findall(str(e))
    hub = [u for u in urls if u.startswith(hub_endpoint()) and not u.startswith("https://huggingface.co/docs")]
    for url in hub:
        if _repo_of(url):
            return _repo_of(url)
    others = [u for u in urls if not u.startswith((hub_endpoint(), "https://huggingface.co"))]
    return others[0] if others and not hub else None


def _repo_of(url: str) -> str | None:
    """``owner/name`` of a Hub file URL (``ENDPOINT/[datasets/]OWNER/NAME/resolve/...`` or ``/api/...``)."""
    endpoint = hub_endpoint()
    if not url.startswith(endpoint):
        return None
    path = url[len(endpoint):].strip("/").split("/")
    if path[:1] == ["api"]:
        path = path[2:] if len(path) > 2 else []
    elif path[:1] in (["datasets"], ["spaces"]):
        path = path[1:]
    return "/".join(path[:2]) if len(path) >= 2 and path[1] not in ("resolve", "tree", "revision") else None


def _reason(err: BaseException, hub: bool = True) -> str:
    """Why: offline mode, else the deepest socket-level or transport error's words (``Connection refused``)."""
    if hub and _offline_mode():
        return "HF_HUB_OFFLINE is set and the Hub cache does not hold it"
    deepest = None
    for e in _chain(err):
        if isinstance(e, OSError) and e.errno is not None or _is_transport(e) and not _REACH.search(str(e)):
            deepest = e
    if deepest is None:
        return "no connection, and the Hub cache does not hold it"
    text = (getattr(deepest, "strerror", None) or str(deepest)).strip() or type(deepest).__name__
    return re.sub(r"^\[Errno -?\d+\]\s*", "", text.splitlines()[0])[:160]


def network_message(err: BaseException, what: str | None = None, local: str = LOCAL_HINT, cache: bool = True) -> str:
    """One line: what could not be reached (``what``, else the repository or URL found in the chain), why, and
    how to go on offline: ``local`` (the local alternative), and (``cache``: for downloads) the Hub cache."""
    target = what or _target(err)
    if target and target.startswith(("http://", "https://")):  # a server that is not the Hub
        return f"cannot reach {target}: {_reason(err, hub=False)}; check the address and the network"
    where = f"the Hugging Face Hub ({hub_endpoint()})"
    subject = f"{target} on {where}" if target else where
    if not cache:  # an upload: nothing to take from the cache
        reason = "HF_HUB_OFFLINE is set, and an upload needs the network" if _offline_mode() else _reason(err, False)
        return f"cannot reach {subject}: {reason}; offline, {local}"
    reuse = ("or unset HF_HUB_OFFLINE and run once online to fill the Hub cache" if _offline_mode() else
             "or set HF_HUB_OFFLINE=1 to use only what the Hub cache holds")
    return f"cannot reach {subject}: {_reason(err)}; offline, {local}, {reuse}"


@contextmanager
def hub_access(what: str, local: str = LOCAL_HINT, cache: bool = True) -> Iterator[None]:
    """Run a block that fetches ``what`` from the Hub; a network failure inside it becomes a
    :class:`NetworkError` whose one line names ``what`` and ``local`` (the local alternative)."""
    try:
        yield
    except UserInputError:
        raise
    except Exception as err:
        if not is_network_error(err):
            raise
        raise NetworkError(network_message(err, what, local, cache)) from None
