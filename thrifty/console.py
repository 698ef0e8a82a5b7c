"""Command output for users and scripts: the one place where ``cmd_*`` entry points write to stdout.

Library code logs (``logging``); a command's *result* (a JSON summary, a chosen name, a report path) is
emitted here so that ``thrifty ... | jq`` works and nothing else in the library writes to stdout.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def emit(result: Any) -> None:
    """Write a command's result to stdout: dicts and lists as one JSON line, anything else as text."""
    text = json.dumps(result, ensure_ascii=False) if isinstance(result, (dict, list)) else str(result)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
