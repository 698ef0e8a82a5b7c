"""Built SFT data as a Hugging Face Hub dataset repository, with a dataset card.

``thrifty build KIND --config RECIPE --push_to_hub ID [--hub_private true] [--dry-run OUT]`` pushes the folder a
build wrote once it is complete; ``thrifty publish BUILD_DIR --repo-id ID [--dry-run OUT]`` does the same later.
A build folder is recognised by its ``stats.json`` whose ``output`` names the data file beside it (every
builder writes one). The repository holds:

- ``data/train.jsonl``: the built rows, verbatim (the Hub's viewer and ``datasets.load_dataset(ID)`` read it
  through the card's ``configs`` entry);
- ``stats.json``: the build's statistics, verbatim; ``build_recipe.yaml``: the effective recipe of the build
  (written into the build folder by :func:`after_build`), when there is one;
- ``README.md``: a dataset card (``huggingface_hub.DatasetCard``) with YAML metadata (license, tags, task,
  size category, ``configs``) and the source, the recipe, rows per format, token statistics (the build's own,
  counted with the target tokenizer, or whitespace words counted here when the build recorded none) and the
  decontamination result against the eval benchmarks: ``stats.json``'s ``decontamination`` entry when the build
  ran it (its counts are shown as recorded), "not run" otherwise.

Uploading uses ``huggingface_hub`` (``create_repo(repo_type="dataset")`` + ``upload_folder``) with the token from
``HF_TOKEN`` or a prior login, never logged; ``--dry-run OUT`` writes the folder to OUT and uploads nothing.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import statistics
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

from thrifty.hub import push_folder, replace_dir
from thrifty.jsonl import DataError, iter_jsonl, write_text

logger = logging.getLogger(__name__)

STATS_FILE = "stats.json"
RECIPE_FILE = "build_recipe.yaml"
DATA_PATH = "data/train.jsonl"
DEFAULT_TAGS = ("thrifty", "efficient-reasoning", "sft")
#: Recipe keys never written to a card (their values could be secrets; ``*_env`` keys only name a variable).
_PRIVATE_KEY = re.compile(r"(api_key|_token|password|secret)$", re.I)


class DatasetPublishError(DataError):
    """A build folder cannot be published as asked; the message says what to do."""


def data_file(folder: Path) -> Path | None:
    """The data file a build folder's ``stats.json`` names (``output``), if the folder is a finished build."""
    stats = folder / STATS_FILE
    if not stats.is_file():
        return None
    try:
        output = json.loads(stats.read_text()).get("output")
    except (json.JSONDecodeError, AttributeError):
        return None
    if not output:
        return None
    path = folder / Path(output).name
    return path if path.is_file() else None


def is_dataset_folder(folder: Path) -> bool:
    """Whether ``folder`` is a build output (``stats.json`` naming a data file beside it) and holds no model."""
    return folder.is_dir() and data_file(folder) is not None and not (folder / "config.json").exists() \
        and not (folder / "adapter_config.json").exists()


# -------------------------------------------------------------------------------------------------------------
# The card
# -------------------------------------------------------------------------------------------------------------
def _size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < bound:
            return name
    return "1M<n<10M"


def _last_assistant(row: dict) -> str:
    for key in ("messages", "chosen"):
        turns = row.get(key)
        if isinstance(turns, list):
            for turn in reversed(turns):
                if isinstance(turn, dict) and turn.get("role") == "assistant":
                    return str(turn.get("content", ""))
    return str(row.get("completion", ""))


def row_counts(path: Path) -> tuple[int, dict[str, int], dict[str, dict[str, float]]]:
    """(rows, rows per ``format`` (``all`` when rows carry none), whitespace words of the assistant turn per
    format: count / mean / median / max)."""
    per_format: Counter = Counter()
    words: dict[str, list[int]] = defaultdict(list)
    n = 0
    for n, row in enumerate(iter_jsonl(path), 1):  # noqa: B007 - n counts the rows
        fmt = str(row.get("format") or "all")
        per_format[fmt] += 1
        words[fmt].append(len(_last_assistant(row).split()))
    desc = {fmt: {"count": len(v), "mean": round(statistics.fmean(v), 1), "median": float(statistics.median(v)),
                  "max": float(max(v))} for fmt, v in words.items() if v}
    return n, dict(per_format), desc


def _token_tables(stats: dict, fallback: dict[str, dict]) -> list[str]:
    """Markdown tables of the build's own length statistics (any ``tokens*`` / ``length`` entry of stats.json
    shaped like :func:`thrifty.data_builders.build_common.describe`), else the whitespace words counted here."""
    tables: list[tuple[str, dict[str, dict]]] = []
    unit = f"tokens ({stats['tokenizer']} tokenizer)" if stats.get("tokenizer") else "tokens"
    for key, value in stats.items():
        if not isinstance(value, dict) or not (key.startswith("tokens") or key == "length"):
            continue
        if "count" in value:  # one distribution
            tables.append((f"{key.replace('_', ' ')}: {unit if key != 'length' else 'words + CJK characters'}",
                           {"all": value}))
        elif all(isinstance(v, dict) and "count" in v for v in value.values()) and value:
            tables.append((f"{key.replace('_', ' ')}: {unit}", value))
    if not tables:
        tables.append(("assistant turn length in whitespace words (the build recorded no token counts)", fallback))
    lines = []
    for title, groups in tables:
        lines += [f"**{title}**", "", "| format | rows | mean | median | p90 | max |", "|---|---|---|---|---|---|"]
        for name, d in groups.items():
            lines.append(f"| {name} | {d.get('count', '-')} | {d.get('mean', '-')} | {d.get('median', '-')} | "
                         f"{d.get('p90', '-')} | {d.get('max', '-')} |")
        lines.append("")
    return lines


def _decontamination(stats: dict) -> list[str]:
    found = stats.get("decontamination")
    if not found:
        return ["Not run: this build did not check its problems against the eval benchmarks. Check the overlap "
                "before evaluating a model trained on it on those benchmarks."]
    if not isinstance(found, dict):
        return [f"Recorded by the build: `{json.dumps(found)}`."]
    lines = ["From the build's `stats.json` (`decontamination`):", ""]
    for key, value in found.items():
        lines.append(f"- {key}: {json.dumps(value) if isinstance(value, (dict, list)) else value}")
    return lines


def _clean_recipe(recipe: dict) -> dict:
    return {k: v for k, v in recipe.items() if v is not None and not _PRIVATE_KEY.search(k)}


def dataset_card(repo_id: str, stats: dict, recipe: dict, n_rows: int, per_format: dict[str, int],
                 words: dict[str, dict], license_id: str = "apache-2.0", builder: str | None = None) -> str:
    """The README.md of the dataset repository (YAML metadata + Markdown)."""
    from huggingface_hub import DatasetCard, DatasetCardData

    source = stats.get("source") if isinstance(stats.get("source"), dict) else {}
    source_name = source.get("source") or recipe.get("source_name") or recipe.get("source") or "not recorded"
    source_path = recipe.get("source") if recipe.get("source") not in (None, source_name) else None
    tags = [*DEFAULT_TAGS, *([builder] if builder else [])]
    data = DatasetCardData(
        license=license_id, tags=tags, task_categories=["text-generation"], language=["en"],
        size_categories=[_size_category(n_rows)], pretty_name=repo_id.split("/")[-1],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": DATA_PATH}]}],
    )
    parts = [
        f"# {repo_id.split('/')[-1]}", "",
        f"SFT data built with thrifty{f' (`thrifty build {builder}`)' if builder else ''}: {n_rows} rows.", "",
        "```python", "from datasets import load_dataset", "",
        f"ds = load_dataset(\"{repo_id}\", split=\"train\")", "```", "",
        "## Source", "",
        f"`{source_name}`" + (f" (`{source_path}`)" if source_path else "") + (f": {source.get('kept')} of {source.get('total')} source rows kept"
                              if "kept" in source and "total" in source else "") + ".",
    ]
    if source.get("dropped"):
        parts.append("Source rows dropped: " + ", ".join(f"{k} {v}" for k, v in source["dropped"].items()) + ".")
    parts += ["", "## Rows per format", "", "| format | rows |", "|---|---|"]
    parts += [f"| {fmt} | {n} |" for fmt, n in sorted(per_format.items(), key=lambda kv: -kv[1])]
    if stats.get("dropped"):
        parts += ["", "Dropped while building: " + ", ".join(f"{k} {v}" for k, v in stats["dropped"].items()) + "."]
    parts += ["", "## Token statistics", "", *_token_tables(stats, words), "## Decontamination", "",
              *_decontamination(stats), "", "## Recipe", ""]
    if recipe:
        parts += [f"The effective recipe of the build (also in `{RECIPE_FILE}`):", "", "```yaml",
                  yaml.safe_dump(_clean_recipe(recipe), sort_keys=False).rstrip(), "```", ""]
    else:
        parts += [f"Not recorded (no `{RECIPE_FILE}` in the build folder).", ""]
    parts += ["The build's statistics are in `stats.json`.", ""]
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(parts)))


# -------------------------------------------------------------------------------------------------------------
# Building the folder and pushing it
# -------------------------------------------------------------------------------------------------------------
def build_dataset_folder(build_dir: Path, repo_id: str, out: Path, license_id: str = "apache-2.0") -> dict[str, Any]:
    """Write the repository's files for ``build_dir`` into the empty folder ``out``; returns a short summary."""
    source = data_file(build_dir)
    if source is None:
        raise DatasetPublishError(f"{build_dir} is not a finished build: it needs {STATS_FILE} naming its data file "
                                  "(run `thrifty build KIND --config RECIPE` to the end first)")
    stats = json.loads((build_dir / STATS_FILE).read_text())
    recipe_path = build_dir / RECIPE_FILE
    recipe = (yaml.safe_load(recipe_path.read_text()) or {}) if recipe_path.is_file() else {}
    builder = recipe.pop("_builder", None) if isinstance(recipe, dict) else None
    n_rows, per_format, words = row_counts(source)
    if n_rows == 0:
        raise DatasetPublishError(f"{source} has no rows: there is nothing to publish")
    (out / "data").mkdir(parents=True)
    shutil.copy2(source, out / DATA_PATH)
    shutil.copy2(build_dir / STATS_FILE, out / STATS_FILE)
    if recipe:
        write_text(out / RECIPE_FILE, yaml.safe_dump(_clean_recipe(recipe), sort_keys=False))
    write_text(out / "README.md", dataset_card(repo_id, stats, recipe, n_rows, per_format, words, license_id, builder))
    return {"rows": n_rows, "rows_per_format": per_format}


def publish_dataset(build_dir: Path, repo_id: str, dry_run: Path | None = None, private: bool = False,
                    license_id: str = "apache-2.0",
                    commit_message: str = "Upload SFT data with thrifty") -> Path | str:
    """Build the dataset repository folder; with ``dry_run`` move it there and return its path, else push it to
    the Hub (a dataset repository) and return the commit URL."""
    if "/" not in repo_id:
        raise DatasetPublishError(f"--push_to_hub / --repo-id {repo_id!r}: use the form OWNER/NAME")
    parent = Path(dry_run).parent if dry_run else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".thrifty-dataset-", dir=parent) as tmp:
        folder = Path(tmp) / "repo"
        folder.mkdir()
        info = build_dataset_folder(Path(build_dir), repo_id, folder, license_id)
        if dry_run:
            dest = Path(dry_run)
            replace_dir(folder, dest)
            logger.info("dry run: wrote dataset repository folder %s (%d rows; nothing uploaded)", dest, info["rows"])
            return dest
        url = push_folder(folder, repo_id, repo_type="dataset", private=private, commit_message=commit_message)
        logger.info("pushed %d rows to the dataset %s: %s", info["rows"], repo_id, url)
        return url


def after_build(output_dir: str | Path, configs: tuple, hub: Any, builder: str) -> Path | str | None:
    """What every ``thrifty build`` does once its data is complete: record the effective recipe in
    ``OUTPUT_DIR/build_recipe.yaml`` (the dataset card shows it), then, when ``hub.push_to_hub`` names a
    repository, publish the folder (``hub.dry_run``: only write the repository folder there)."""
    from thrifty.recipes import recipe_dict

    recipe = {"_builder": builder, **{k: v for k, v in recipe_dict(*configs).items() if v is not None}}
    write_text(Path(output_dir) / RECIPE_FILE, yaml.safe_dump(recipe, sort_keys=False))
    if not getattr(hub, "push_to_hub", None):
        if getattr(hub, "dry_run", None):
            logger.warning("dry_run is set but push_to_hub is not: nothing to publish")
        return None
    return publish_dataset(Path(output_dir), hub.push_to_hub, Path(hub.dry_run) if hub.dry_run else None,
                           private=hub.hub_private, license_id=hub.hub_license)
