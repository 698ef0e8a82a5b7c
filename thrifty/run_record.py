"""Reuse a finished output folder only for the run that made it.

``thrifty demo`` and the benchmark scripts skip a stage whose output folder already holds a finished result, so
that a rerun resumes instead of starting over. A folder is reused only when its record (``thrifty_run.json``,
written after the stage finished) equals what the caller would run now: the inputs' fingerprints and the
arguments. A folder of other inputs, or a finished folder with no record (written before records existed, or by
another tool), is refused with an error naming the folder and what differs, instead of being mixed silently into
the results (a ``--smoke`` run and a full run into the same ``--out``, a benchmark run after the demo retrained
its SFT model, or a demo folder made by an older thrifty whose SFT data had another layout).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from thrifty.errors import UserInputError
from thrifty.jsonl import write_json

RUN_RECORD = "thrifty_run.json"


def _normalised(spec: Mapping[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(dict(spec)))  # tuples -> lists, Paths refused: what the record file holds


def reuse_finished_run(out: Path, spec: Mapping[str, Any], finished_file: str = "model.safetensors") -> bool:
    """True when ``out`` holds a finished run (``finished_file``) recorded with exactly ``spec``: reuse it.

    False when it holds no finished run: run it, then :func:`record_finished_run`. Raises
    :class:`~thrifty.errors.UserInputError` when it holds a finished run of another ``spec`` or with no record.
    """
    out = Path(out)
    if not (out / finished_file).exists():
        return False
    record = out / RUN_RECORD
    if not record.is_file():
        raise UserInputError(f"{out} holds a finished run but no {RUN_RECORD}, so what it was made from is unknown: "
                             "pass another --out or delete the folder")
    try:
        done = json.loads(record.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserInputError(f"{record}: not valid JSON ({err}): delete the folder to rerun it") from err
    wanted = _normalised(spec)
    if done != wanted:
        differ = {key: {"recorded": done.get(key), "now": wanted.get(key)}
                  for key in sorted(set(done) | set(wanted)) if done.get(key) != wanted.get(key)}
        raise UserInputError(f"{out} holds a run of other inputs or arguments ({json.dumps(differ)}): "
                             "pass another --out or delete the folder")
    return True


def record_finished_run(out: Path, spec: Mapping[str, Any]) -> None:
    """Write ``spec`` as ``out``'s record (atomically), once the run in ``out`` has finished."""
    write_json(Path(out) / RUN_RECORD, _normalised(spec))
