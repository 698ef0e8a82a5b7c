"""JSONL and JSON io: reads that name the file and line of bad input, atomic writes, resumable appends."""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from thrifty.errors import UserInputError
from thrifty.paths import default_file_mode

logger = logging.getLogger(__name__)


class DataError(UserInputError):
    """Bad user data; the message names the file and, where it applies, the line and key."""


def iter_jsonl_numbered(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """Yield ``(line number, object)`` for every JSON object of a JSONL file; blank lines are skipped.

    Raises :class:`DataError` naming ``file:line`` for a line that is not a JSON object or not UTF-8 text, and
    naming the path when it is a folder.
    """
    path = Path(path)
    with open_user_file(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = decode_line(raw, path, lineno)
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{lineno}: invalid JSON ({err.msg} at column {err.colno})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            if _SURROGATE_ESCAPE.search(line):
                check_encodable(row, f"{path}:{lineno}")
            yield lineno, row


def open_user_file(path: str | os.PathLike, mode: str = "r"):
    """``open(path, mode)`` of a file the user named; a folder there is a :class:`DataError` naming it (a
    missing file stays :class:`FileNotFoundError`, which the command line reports as one line too)."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a file")
    return path.open(mode, encoding=None if "b" in mode else "utf-8")


def decode_line(raw: bytes, path: str | os.PathLike, lineno: int) -> str:
    """Line ``lineno`` (1-based) of the user's file ``path`` as text: UTF-8 (a byte-order mark on line 1 is
    dropped); undecodable bytes are a :class:`DataError` naming ``file:line``, the column and the byte."""
    try:
        return raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
    except UnicodeDecodeError as err:
        column = len(raw[: err.start].decode("utf-8", errors="replace")) + 1
        raise DataError(f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[err.start]:02x} at column {column}); save "
                        "the file as UTF-8") from None


def check_utf8(path: str | os.PathLike) -> None:
    """Raise :class:`DataError` naming ``file:line`` at the first undecodable byte of a text file the user named
    (for files a library reads, such as CSV or JSON through ``datasets``)."""
    with open_user_file(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            decode_line(raw, path, lineno)


def read_text(path: str | os.PathLike) -> str:
    """The whole text of a file the user named (a recipe, a prompt or template file, a CSV or JSON document) as
    UTF-8; undecodable bytes are a :class:`DataError` naming ``file:line`` (see :func:`decode_line`), a folder
    there is one naming the folder."""
    with open_user_file(path, "rb") as fh:
        data = fh.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        start = data.rfind(b"\n", 0, err.start) + 1
        end = data.find(b"\n", err.start)
        decode_line(data[start : len(data) if end < 0 else end], path, data.count(b"\n", 0, err.start) + 1)
        raise  # pragma: no cover - decode_line raises for the line that holds the bad byte


#: A ``\uD800``-``\uDFFF`` escape: the only way valid JSON can hold a lone surrogate (checked only then).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def check_encodable(obj: Any, where: str, key: str = "") -> None:
    """Raise :class:`DataError` naming ``where`` and the key when a string of ``obj`` holds a lone surrogate
    (valid JSON such as ``"\\ud83d"``, but no UTF-8 text: writing it would crash later, far from the row)."""
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
        except UnicodeEncodeError as err:
            raise DataError(f"{where}: field '{key or '(row)'}' holds a lone surrogate {obj[err.start]!r} at "
                            f"character {err.start} (a broken \\uD8xx escape); fix or drop the row") from None
    elif isinstance(obj, dict):
        for k, v in obj.items():
            check_encodable(v, where, f"{key}.{k}" if key else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            check_encodable(v, where, f"{key}[{i}]")


def iter_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    """Yield the JSON objects of a JSONL file (see :func:`iter_jsonl_numbered`)."""
    for _, row in iter_jsonl_numbered(path):
        yield row


def read_jsonl(path: str | os.PathLike) -> list[dict]:
    """Read a whole JSONL file (see :func:`iter_jsonl`)."""
    return list(iter_jsonl(path))


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8"):
    """Open a temporary file beside ``path``; rename it over ``path`` only if the block succeeds.

    The file gets the permissions a plain ``open`` would give it (``0o666`` less the umask), not ``mkstemp``'s
    private ``0o600``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, default_file_mode())
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> int:
    """Atomically write ``rows`` as JSONL; returns the number of rows written."""
    n = 0
    with atomic_open(path) as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def write_json(path: str | os.PathLike, obj: Any, indent: int = 2) -> None:
    """Atomically write one JSON document."""
    with atomic_open(path) as fh:
        json.dump(obj, fh, ensure_ascii=False, indent=indent)
        fh.write("\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    """Atomically write a text file."""
    with atomic_open(path) as fh:
        fh.write(text)


class ResumableJsonlWriter:
    """Append-only JSONL output keyed by ``key``, for jobs that resume after a crash.

    On open it reads the ids already in the file (dropping a torn last line left by a kill), so ``done(id)``
    tells which ids are finished; :meth:`append` writes one row and flushes it to disk, so a kill loses at most
    the row being written. Rows are never duplicated: appending a finished id is refused. Memory holds only the
    ids, never the rows: :meth:`iter_rows` streams them back from the file (optionally without heavy fields
    such as completions), and :attr:`rows` reads them all.
    """

    def __init__(self, path: str | os.PathLike, key: str = "id"):
        self.path = Path(path)
        self.key = key
        self._done: set[str] = set()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self._recover()
        self._fh = self.path.open("a", encoding="utf-8")

    def _recover(self) -> None:
        """Read the finished ids back. Only a torn *last* line (no newline: a writer killed mid-line) is cut off;
        a bad line anywhere else is damage that resuming must not paper over, so it raises :class:`DataError`
        naming ``file:line`` and the file is left as it is."""
        good_bytes = 0
        with self.path.open("rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if not raw.endswith(b"\n"):
                    break  # torn final line from a killed writer (only the last line can lack its newline)
                if raw.strip():
                    try:
                        row = json.loads(raw)
                    except (json.JSONDecodeError, UnicodeDecodeError) as err:
                        raise DataError(f"{self.path}:{lineno}: unreadable line in a resumable output ({err}); "
                                        "nothing was changed: repair or delete that line (or the file) and rerun"
                                        ) from None
                    if not isinstance(row, dict) or self.key not in row:
                        raise DataError(f"{self.path}:{lineno}: expected a JSON object with '{self.key}'; "
                                        "nothing was changed: repair or delete that line (or the file) and rerun")
                    self._done.add(str(row[self.key]))
                good_bytes += len(raw)
        if good_bytes != self.path.stat().st_size:
            logger.warning("%s: dropping a torn last line (%d bytes) left by an interrupted writer", self.path,
                           self.path.stat().st_size - good_bytes)
            with self.path.open("r+b") as fh:
                fh.truncate(good_bytes)

    def done(self, row_id: Any) -> bool:
        """Whether a row with this id is already written."""
        return str(row_id) in self._done

    def __len__(self) -> int:
        return len(self._done)

    def iter_rows(self, drop: Iterable[str] = ()) -> Iterator[dict]:
        """Stream the rows written so far from the file, in file order, without the top-level keys in ``drop``."""
        drop = tuple(drop)
        if not self._fh.closed:
            self._fh.flush()
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    row = json.loads(line)
                    for name in drop:
                        row.pop(name, None)
                    yield row

    @property
    def rows(self) -> list[dict]:
        """All rows written so far, in file order (read from the file)."""
        return list(self.iter_rows())

    def append(self, row: dict) -> None:
        """Write one row (must carry ``key``) and flush it to disk."""
        row_id = str(row[self.key])
        if row_id in self._done:
            raise ValueError(f"{self.path}: id {row_id!r} is already written")
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._done.add(row_id)

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> ResumableJsonlWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
