"""Built SFT data published as a Hub dataset: ``thrifty build ... --push_to_hub ID --dry-run OUT`` and
``thrifty publish BUILD_DIR --repo-id ID --dry-run OUT`` write the repository folder (data, dataset card, stats,
recipe); the card's numbers are the build's own."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from thrifty.cli import main


@pytest.fixture(scope="module")
def toy_traces(tmp_path_factory, toy_world) -> Path:
    from thrifty.data_builders.toy_build import build_toy_dataset

    root = tmp_path_factory.mktemp("dataset_pub")
    return Path(build_toy_dataset(root / "toy", n_train=40, n_test_per_difficulty=1, world=toy_world)["traces"])


def _build(traces: Path, out: Path, *extra: str) -> int:
    from thrifty.paths import TOY_BASE_DIR

    return main(["build", "multiformat", "--config", "recipes/arm/toy.yaml", "--source", str(traces),
                 "--output_dir", str(out), "--tokenizer_name_or_path", str(TOY_BASE_DIR), *extra])


def test_build_push_to_hub_dry_run_writes_a_dataset_repo_with_its_card(toy_traces, tmp_path):
    from huggingface_hub import DatasetCard

    build, repo = tmp_path / "build", tmp_path / "repo"
    assert _build(toy_traces, build, "--push_to_hub", "someone/toy-arm", "--dry-run", str(repo)) == 0
    for name in ("README.md", "data/train.jsonl", "stats.json", "build_recipe.yaml"):
        assert (repo / name).is_file(), name
    assert (repo / "data" / "train.jsonl").read_bytes() == (build / "train.jsonl").read_bytes()

    card = DatasetCard.load(repo / "README.md")  # a local file: no network
    assert card.data.license == "apache-2.0" and "multiformat" in card.data.tags
    assert card.data.configs[0]["data_files"][0]["path"] == "data/train.jsonl"
    rows = [json.loads(line) for line in (build / "train.jsonl").read_text().splitlines()]
    for fmt, n in Counter(r["format"] for r in rows).items():  # counts per format, from the data itself
        assert f"| {fmt} | {n} |" in card.text, fmt
    stats = json.loads((build / "stats.json").read_text())
    long_cot = stats["tokens_per_format"]["long_cot"]
    assert f"| long_cot | {long_cot['count']} | {long_cot['mean']} | {long_cot['median']} |" in card.text
    assert "toy_base tokenizer" in card.text
    decon = stats["decontamination"]  # the builders decontaminate by default; the card reports what they found
    assert decon["enabled"] is True and "## Decontamination\n\nFrom the build's `stats.json`" in card.text
    assert f"- checked: {decon['checked']}" in card.text
    assert "short_cot_source: toy" in card.text and "`toy`" in card.text  # recipe and source

    import datasets  # the pushed layout loads like the Hub would read it

    loaded = datasets.load_dataset("json", data_files=str(repo / "data" / "train.jsonl"), split="train")
    assert len(loaded) == len(rows) and loaded[0]["messages"] == rows[0]["messages"]


def test_publish_a_build_folder_reports_its_decontamination(toy_traces, tmp_path):
    from huggingface_hub import DatasetCard

    build = tmp_path / "build"
    assert _build(toy_traces, build) == 0
    assert (build / "build_recipe.yaml").is_file() and not (tmp_path / "repo").exists()  # no push asked
    stats = json.loads((build / "stats.json").read_text())
    stats["decontamination"] = {"benchmarks": ["math500", "gsm8k"], "ngram": 8, "removed": 3}  # as a build records it
    (build / "stats.json").write_text(json.dumps(stats))
    assert main(["publish", str(build), "--repo-id", "someone/toy-arm", "--dry-run", str(tmp_path / "repo")]) == 0
    card = DatasetCard.load(tmp_path / "repo" / "README.md")
    section = card.text.split("## Decontamination", 1)[1].split("##", 1)[0]
    assert "Not run" not in section and "- removed: 3" in section and "- ngram: 8" in section
    assert re.search(r'- benchmarks: \["math500", "gsm8k"\]', section)


def test_push_to_hub_needs_an_owner(toy_traces, tmp_path, capsys):
    rc = _build(toy_traces, tmp_path / "build", "--push_to_hub", "no-owner", "--dry-run", str(tmp_path / "repo"))
    err = capsys.readouterr().err
    assert rc == 2 and "push_to_hub 'no-owner'" in err and "OWNER/NAME" in err
    assert not (tmp_path / "repo").exists() and not (tmp_path / "build").exists()  # refused before building


def test_push_uploads_a_dataset_repository(toy_traces, tmp_path, monkeypatch):
    """The push itself (Hub calls stubbed, no network here): a dataset repository, the token from the environment."""
    import huggingface_hub

    monkeypatch.setenv("HF_TOKEN", "hf_test_token_0000")
    calls = {}
    monkeypatch.setattr(huggingface_hub, "create_repo",
                        lambda repo_id, private=False, exist_ok=False, repo_type=None, token=None:
                        calls.update(create=(repo_id, private, repo_type, token)))

    def fake_upload_folder(folder_path, repo_id, repo_type=None, commit_message=None, token=None):
        root = Path(folder_path)
        calls["upload"] = (repo_type, sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()))
        return "https://huggingface.co/datasets/someone/toy-arm/commit/abc"

    monkeypatch.setattr(huggingface_hub, "upload_folder", fake_upload_folder)
    assert _build(toy_traces, tmp_path / "build", "--push_to_hub", "someone/toy-arm", "--hub_private", "true") == 0
    assert calls["create"] == ("someone/toy-arm", True, "dataset", "hf_test_token_0000")
    assert calls["upload"] == ("dataset", ["README.md", "build_recipe.yaml", "data/train.jsonl", "stats.json"])
