"""Loading datasets from a local file, a ``save_to_disk`` folder or a Hub id, with clear errors."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from thrifty.jsonl import DataError, check_utf8, read_jsonl

logger = logging.getLogger(__name__)

_FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


def load_any(source: str | os.PathLike, split: str = "train"):
    """Load a ``datasets.Dataset`` from a JSONL/JSON/CSV/parquet file, a ``save_to_disk`` folder, or a Hub id.

    JSONL is read by thrifty itself so that a malformed line is reported as ``file:line``.
    """
    import datasets

    path = Path(source)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            return datasets.Dataset.from_list(read_jsonl(path))
        if suffix not in _FILE_BUILDERS:
            raise DataError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(_FILE_BUILDERS)}")
        if suffix != ".parquet":
            check_utf8(path)  # undecodable bytes: one line naming file:line, not the builder's traceback
        return datasets.load_dataset(_FILE_BUILDERS[suffix], data_files=str(path), split="train")
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "state.json").exists():
            loaded = datasets.load_from_disk(str(path))
            return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
        for name in (f"{split}.jsonl", f"{split}.json", f"{split}.parquet"):
            if (path / name).exists():
                return load_any(path / name, split)
        raise DataError(f"{path}: a folder with no dataset in it (expected {split}.jsonl or a save_to_disk folder)")
    check_local_source(source)
    from thrifty.network import hub_access

    logger.info("loading %s (split %s) from the Hub", source, split)
    try:
        with hub_access(f"dataset {source}", "give a local JSONL/JSON/CSV/parquet file or a save_to_disk folder"):
            return datasets.load_dataset(str(source), split=split)
    except (datasets.exceptions.DatasetNotFoundError, ConnectionError, FileNotFoundError) as err:
        raise DataError(f"{source}: not a local file or folder, and not loadable from the Hub ({err}); give a "
                        "JSONL/JSON/CSV/parquet file, a save_to_disk folder or a Hub dataset id") from None


def check_local_source(source: str | os.PathLike) -> None:
    """Refuse, before anything is fetched, a data source written as a local path (``./x``, ``/x``, ``x.jsonl``)
    that does not exist (anything else may be a Hub dataset id)."""
    if not Path(source).exists() and (str(source).startswith((".", "/", "~"))
                                      or str(source).endswith(tuple(_FILE_BUILDERS))):
        raise DataError(f"{source}: no such file or folder")


def require_columns(dataset, columns: list[str], source: str) -> None:
    """Raise a :class:`DataError` naming the missing columns and the source."""
    missing = [c for c in columns if c not in dataset.column_names]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {', '.join(missing)}; it has {', '.join(dataset.column_names)}"
        )
