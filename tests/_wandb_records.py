"""Read back what an offline wandb run logged: the records of its ``run-*.wandb`` transaction log.

wandb 0.31 writes the log from its Go core and ships no Python reader, so this follows the format it writes: a
7-byte header (``:W&B``, magic 0xBEE1, version) then LevelDB-log blocks of 32 KiB, each record a 7-byte header
(CRC32C, little-endian uint16 length, type FULL=1 / FIRST=2 / MIDDLE=3 / LAST=4) and its bytes; a record too big
for the rest of a block continues in the next one, and fewer than 7 bytes at a block's end are padding. The
payloads are wandb's own protobuf ``Record`` messages (``wandb.proto.wandb_internal_pb2``).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

BLOCK = 32768
HEADER = 7


def read_records(path: Path) -> list:
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb transaction log"
    records, pos, pending = [], HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if kind == 0 and length == 0:  # zero padding at the end of the log
            break
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == 1:
            pending = chunk
        elif kind == 2:
            pending = chunk
            continue
        elif kind == 3:
            pending += chunk
            continue
        else:
            pending += chunk
        record = pb.Record()
        record.ParseFromString(pending)
        records.append(record)
        pending = b""
    return records


def _key(item) -> str:
    return "/".join(item.nested_key) if item.nested_key else item.key


def logged(run_dir: Path) -> tuple[list[dict], dict]:
    """(history rows, final summary) of the offline run folder ``run_dir`` (values JSON-decoded)."""
    (log,) = Path(run_dir).glob("run-*.wandb")
    history, summary = [], {}
    for record in read_records(log):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            history.append({_key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "summary":
            summary.update({_key(i): json.loads(i.value_json) for i in record.summary.update})
    return history, summary
