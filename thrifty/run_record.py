"""Reuse a finished output folder only for the run that made it (and resume a build folder only with the
recipe and inputs that started it: :func:`claim_build_folder`, used by the data builders).

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
#: The trainers' own record of an ``output_dir`` (``thrifty sft|grpo|dpo``: what its checkpoints were trained
#: with), kept apart from :data:`RUN_RECORD` so that a pipeline (``thrifty demo``, a benchmark script) can record
#: its stage in the same folder.
TRAIN_RECORD = "thrifty_train_run.json"


def normalised_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """``spec`` as its record file holds it, so a spec and a record compare equal."""
    return json.loads(json.dumps(dict(spec)))  # tuples -> lists, Paths refused: what the record file holds


def reuse_finished_run(out: Path, spec: Mapping[str, Any], finished_file: str = "model.safetensors",
                       record_name: str = RUN_RECORD) -> bool:
    """True when ``out`` holds a finished run (``finished_file``) recorded (in ``record_name``) with exactly
    ``spec``: reuse it.

    False when it holds no finished run: run it, then :func:`record_finished_run`. Raises
    :class:`~thrifty.errors.UserInputError` when it holds a finished run of another ``spec`` or with no record.
    """
    out = Path(out)
    if not (out / finished_file).exists():
        return False
    done = _read_record(out / record_name, f"{out} holds a finished run", "pass another --out or delete the folder")
    wanted = normalised_spec(spec)
    if done != wanted:
        differ = {key: {"recorded": done.get(key), "now": wanted.get(key)}
                  for key in sorted(set(done) | set(wanted)) if done.get(key) != wanted.get(key)}
        raise UserInputError(f"{out} holds a run of other inputs or arguments ({json.dumps(differ)}): "
                             "pass another --out or delete the folder")
    return True


def spec_differences(recorded: Any, spec: Mapping[str, Any]) -> list[str]:
    """The leaf keys (``a.b``) where a run record and ``spec`` differ; empty when they are the same run."""
    return list(_differ(recorded, normalised_spec(spec)))


def record_finished_run(out: Path, spec: Mapping[str, Any], record_name: str = RUN_RECORD) -> None:
    """Write ``spec`` as ``out``'s record ``record_name`` (atomically), once the run in ``out`` has finished."""
    write_json(Path(out) / record_name, normalised_spec(spec))


def claim_build_folder(out: Path, spec: Mapping[str, Any], started: bool, record: str = "build_signature.json") -> None:
    """Let a resumable build (data builders) use ``out`` only if it was started with exactly ``spec``.

    ``started``: the folder already holds output. Then its ``record`` must exist and equal ``spec`` (else a
    :class:`~thrifty.errors.UserInputError` naming what differs, so a rerun with other recipe values or another
    source never mixes its rows into the old ones). A folder with no output yet is (re)claimed: ``spec`` is
    written as its record.
    """
    out = Path(out)
    path = out / record
    wanted = normalised_spec(spec)
    if not started:
        write_json(path, wanted)
        return
    done = _read_record(path, f"{out} holds a build", "pass another output_dir or delete the folder")
    if done != wanted:
        raise UserInputError(f"{out} holds a build of other inputs or recipe values ({json.dumps(_differ(done, wanted))}"
                             "): pass another output_dir, or delete the folder to rebuild")


def _read_record(path: Path, holds: str, fix: str) -> Any:
    """The JSON record at ``path``; a :class:`~thrifty.errors.UserInputError` (``holds``, what to do: ``fix``) when
    it is missing or unreadable, since then what the folder was made from is unknown."""
    if not path.is_file():
        raise UserInputError(f"{holds} but no {path.name}, so what it was made from is unknown: {fix}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserInputError(f"{path}: not valid JSON ({err}): {fix}") from err


def _differ(done: Any, wanted: Any, prefix: str = "") -> dict[str, Any]:
    """The leaf keys where two records differ, as ``{"a.b": {"recorded": ..., "now": ...}}``."""
    if isinstance(done, dict) and isinstance(wanted, dict):
        out: dict[str, Any] = {}
        for key in sorted(set(done) | set(wanted)):
            out.update(_differ(done.get(key), wanted.get(key), f"{prefix}{key}."))
        return out
    return {} if done == wanted else {prefix.rstrip("."): {"recorded": done, "now": wanted}}
