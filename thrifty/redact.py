"""Secrets never leave the process: redaction of recipe values, command lines and messages.

A key is secret when it looks like a credential: one of its ``_``/``-``/``.``-separated words is ``secret``,
``password``, ``passwd``, ``credential(s)`` or ``apikey``, or its last word is ``token`` or ``key`` (``hub_token``,
``api_key``, ``wandb_key``, ``llm_api_key``, ``judge_api_key``). Not secret: the tokenizer's special-token
settings (``pad_token``, ``eos_token``, ...), counts (``max_new_tokens``) and keys that *name* where a secret lives
(``llm_api_key_env``, ``*_file``, ``*_path``). Independently of the key, a string that looks like a known
credential (Hugging Face ``hf_...``, OpenAI ``sk-...``, GitHub ``ghp_...``, Slack ``xox?-...``, a 40-hex wandb
key after ``wandb``) is redacted wherever it appears.

Used by everything that writes or prints a recipe: the launcher's ``thrifty_recipe.yaml`` and its dry-run
command, ``thrifty publish``'s model card and ``recipe.yaml``, recipe parse errors and the CLI's error line.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "<redacted>"
_SECRET_WORDS = {"secret", "secrets", "password", "passwd", "pwd", "credential", "credentials", "apikey"}
_SECRET_LAST = {"token", "key"}
_SPECIAL_TOKENS = {"pad", "eos", "bos", "unk", "sep", "cls", "mask", "chat", "special", "dataset", "max", "num",
                   "min", "sort", "group", "prompt", "completion"}
_NOT_SECRET_LAST = {"env", "file", "path", "name", "id", "field", "column", "var", "variable"}
#: Credential-shaped strings, redacted wherever they appear.
SECRET_PATTERNS = (
    re.compile(r"\bhf_[A-Za-z0-9]{30,}"),  # Hugging Face tokens: hf_ + 34 letters and digits
    re.compile(r"\bsk-[A-Za-z0-9_\-]{20,}"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),
    re.compile(r"\bxox[abpors]-[A-Za-z0-9\-]{10,}"),
    re.compile(r"(?<=wandb)([_\-\s:=\"']{1,4})[0-9a-f]{40}\b", re.IGNORECASE),
)


def is_secret_key(key: str) -> bool:
    """Whether a recipe key or flag (``--hub_token`` or ``hub_token``) holds a credential (module docstring)."""
    words = [w for w in re.split(r"[_\-.\s]+", str(key).lower().lstrip("-")) if w]
    if not words or words[-1] in _NOT_SECRET_LAST:
        return False
    if any(w in _SECRET_WORDS for w in words):
        return True
    if words[-1] in _SECRET_LAST:
        return not (words[-1] == "token" and len(words) >= 2 and words[-2] in _SPECIAL_TOKENS) and words != ["token"]
    return False


def redact_text(text: str) -> str:
    """``text`` with every credential-shaped substring replaced by ``<redacted>``."""
    for pattern in SECRET_PATTERNS:
        if pattern.groups:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


def redact_value(value: Any) -> Any:
    """A recipe value with credential-shaped strings redacted (recursively through lists and mappings)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return redact_mapping(value)
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value


def redact_mapping(mapping: dict[str, Any]) -> dict[str, Any]:
    """A copy of a recipe (nested mappings included) with every secret key's value replaced by ``<redacted>``."""
    return {k: (REDACTED if is_secret_key(k) and v not in (None, "") else redact_value(v)) for k, v in mapping.items()}


def redact_argv(argv: list[str]) -> list[str]:
    """A command line with the value after every secret flag (``--hub_token X``, ``--hub_token=X``) redacted."""
    out: list[str] = []
    hide_next = False
    for token in argv:
        if hide_next and not token.startswith("--"):
            out.append(REDACTED)
            continue
        hide_next = False
        if token.startswith("--") and is_secret_key(token[2:].split("=", 1)[0]):
            if "=" in token:
                out.append(token.split("=", 1)[0] + "=" + REDACTED)
            else:
                out.append(token)
                hide_next = True
            continue
        out.append(redact_text(token))
    return out
