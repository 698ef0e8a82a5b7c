"""The one family of errors a user can cause, and how the command line reports them.

Every mistake a user can make in what they hand thrifty (a recipe key or value, a command-line flag, a data
file or row, a model or adapter folder, an accelerate config, a publish target) raises a
:class:`UserInputError` (or a subclass: ``RecipeError``, ``DataError``, ``RewardError``, ``LaunchError``,
``PublishError``, ...) whose message names the file, row or key and says what to do. ``thrifty.cli.main``
turns any of them into exit status 2 and ONE line on stderr, with no traceback. Commands validate their inputs
before they write anything, and every output is written atomically, so a refused command leaves nothing behind.
"""

from __future__ import annotations

import argparse


class UserInputError(ValueError):
    """Bad input from the user; the message names the file/row/key and what to do."""


class UsageError(UserInputError):
    """A command's own flags are wrong (argparse's complaint, as one line)."""


def one_line(message: object) -> str:
    """``message`` as a single line (the lines of a multi-line message joined with ``; ``)."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return "; ".join(lines) if lines else type(message).__name__


def raise_usage_error(parser: argparse.ArgumentParser, message: str) -> None:
    """An ``ArgumentParser.error`` replacement: raise :class:`UsageError` instead of printing usage and exiting."""
    raise UsageError(f"{parser.prog}: {message} (see `{parser.prog} --help`)")


def report_user_error(err: BaseException, prog: str = "thrifty") -> int:
    """Write ``err`` as ONE line on stderr (secrets redacted, no traceback); returns exit status 2."""
    import sys

    from thrifty.redact import redact_text

    sys.stderr.write(f"{prog}: error: {redact_text(one_line(err))}\n")
    sys.stderr.flush()
    return 2
