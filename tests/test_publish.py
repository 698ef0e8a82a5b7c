"""``thrifty publish``: a real LoRA run of the tiny model, evaluated with ``thrifty eval``, published with --dry-run.

The dry-run folder must load back with PEFT and reproduce the run's greedy generations (the eval's own samples);
its card must hold the run's real numbers; ``--merge`` gives full weights that generate the same; a push goes
through huggingface_hub with the token from the environment, never printed; bad input is a clear error.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import torch
import yaml

from thrifty.cli import main
from thrifty.trainers.publish import cmd_publish

EVAL_KW = dict(benchmarks=["toy"], modes=["adaptive"], toy_per_difficulty=2, max_new_tokens=24, batch_size=64,
               chunk_size=64, plots=True)


def _eval(model: Path, out: Path):
    from thrifty.eval.runner import EvalConfig, run_eval

    run_eval(EvalConfig(model_name_or_path=str(model), output_dir=str(out), **EVAL_KW))
    return json.loads((out / "summary.json").read_text()), [
        json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_model_dir, toy_world) -> Path:
    """A LoRA SFT run (6 steps) with its eval report in RUN_DIR/eval."""
    from trl import ModelConfig

    from thrifty.data_builders.toy_build import build_toy_dataset
    from thrifty.recipes import parse_recipe
    from thrifty.trainers.sft import DataArguments, ThriftySFTConfig, run_sft

    root = tmp_path_factory.mktemp("publish")
    data = build_toy_dataset(root / "data", n_train=64, n_test_per_difficulty=1, world=toy_world)
    run = root / "run"
    argv = ["--config", "recipes/toy/sft.yaml", "--model_name_or_path", str(tiny_model_dir),
            "--dataset_name", data["sft"], "--output_dir", str(run), "--max_steps", "6", "--save_steps", "100",
            "--per_device_train_batch_size", "8", "--learning_rate", "2e-2", "--warmup_steps", "0",
            "--use_peft", "true", "--lora_r", "8", "--lora_alpha", "16", "--lora_target_modules", "all-linear"]
    run_sft(*parse_recipe((DataArguments, ThriftySFTConfig, ModelConfig), argv))
    _eval(run, run / "eval")
    return run


def test_dry_run_reproduces_generations_and_card_has_real_numbers(lora_run, tmp_path):
    out = tmp_path / "published"
    assert cmd_publish([str(lora_run), "--repo-id", "someone/toy-lora", "--dry-run", str(out)]) == 0
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "tokenizer_config.json",
                 "README.md", "recipe.yaml", "eval/summary.json", "eval/report.md",
                 "eval/plots/accuracy_vs_tokens.png"):
        assert (out / name).is_file(), name
    assert not (out / "model.safetensors").exists()

    # loads back with PEFT ...
    from peft import AutoPeftModelForCausalLM, PeftModel

    model = AutoPeftModelForCausalLM.from_pretrained(str(out))
    assert isinstance(model, PeftModel)
    # ... and reproduces the run's greedy generations, sample for sample
    _, run_rows = _eval(lora_run, lora_run / "eval")  # the run's samples (already complete: nothing regenerated)
    _, pub_rows = _eval(out, tmp_path / "eval_published")
    completions = {r["id"]: r["completion"] for r in run_rows}
    assert len(pub_rows) == len(run_rows) > 0
    assert all(completions[r["id"]] == r["completion"] for r in pub_rows)

    # the card: metadata and the run's real numbers (from its summary.json, not constants)
    from huggingface_hub import ModelCard

    card = ModelCard.load(out / "README.md")
    base = json.loads((lora_run / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert card.data.base_model == base
    assert card.data.library_name == "peft"
    assert card.data.license == "apache-2.0"
    assert {"thrifty", "lora", "sft"} <= set(card.data.tags)
    summary = json.loads((lora_run / "eval" / "summary.json").read_text())
    stats = summary["results"]["toy"]["adaptive"]
    row = re.search(r"^\| toy \| adaptive \| (\d+) \| (\d+) \| ([\d.]+) \| ([\d.]+) \|", card.text, re.M)
    assert row, card.text
    assert int(row.group(1)) == stats["n_problems"] and int(row.group(2)) == stats["n_samples"]
    assert float(row.group(3)) == pytest.approx(stats["accuracy"], abs=5e-4)
    assert float(row.group(4)) == pytest.approx(stats["mean_tokens"], abs=0.05)
    assert "![Accuracy against output tokens](eval/plots/accuracy_vs_tokens.png)" in card.text
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    assert recipe["max_steps"] == 6 and recipe["learning_rate"] == pytest.approx(2e-2)
    assert "learning_rate: 0.02" in card.text


def test_card_uses_the_launchers_recipe_copy(lora_run, tmp_path):
    (lora_run / "thrifty_recipe.yaml").write_text("# effective recipe\nlearning_rate: 0.02\nvariant: ada\n"
                                                   "dataset_name: openai/gsm8k\n")
    try:
        out = tmp_path / "published"
        assert cmd_publish([str(lora_run), "--repo-id", "someone/toy-lora", "--dry-run", str(out)]) == 0
    finally:
        (lora_run / "thrifty_recipe.yaml").unlink()
    from huggingface_hub import ModelCard

    card = ModelCard.load(out / "README.md")
    assert card.data.datasets == ["openai/gsm8k"]
    assert {"grpo", "ada-grpo"} <= set(card.data.tags)
    assert "variant: ada" in card.text


def test_merge_writes_full_weights_that_generate_the_same(lora_run, tmp_path):
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    out = tmp_path / "merged"
    assert cmd_publish([str(lora_run), "--repo-id", "someone/toy-merged", "--merge", "--dry-run", str(out)]) == 0
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert not (out / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    adapter = AutoPeftModelForCausalLM.from_pretrained(str(lora_run)).eval()
    ids = torch.tensor([[5, 17, 42, 9, 3, 11]])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, adapter(ids).logits, atol=1e-4, rtol=1e-4)
    from huggingface_hub import ModelCard

    assert ModelCard.load(out / "README.md").data.library_name == "transformers"


def test_push_uses_the_environment_token_and_never_prints_it(lora_run, tmp_path, monkeypatch, caplog, capsys):
    import huggingface_hub

    secret = "hf_SECRETtoken1234567890"
    monkeypatch.setenv("HF_TOKEN", secret)
    calls = {}

    def fake_create_repo(repo_id, private=False, exist_ok=False, repo_type=None, token=None):
        calls["create"] = (repo_id, private, exist_ok, token)

    def fake_upload_folder(folder_path, repo_id, repo_type=None, commit_message=None, token=None):
        calls["upload"] = (repo_id, token, sorted(p.name for p in Path(folder_path).iterdir()))
        return "https://huggingface.co/someone/toy-lora/commit/abc"

    monkeypatch.setattr(huggingface_hub, "create_repo", fake_create_repo)
    monkeypatch.setattr(huggingface_hub, "upload_folder", fake_upload_folder)
    with caplog.at_level(logging.DEBUG):
        assert cmd_publish([str(lora_run), "--repo-id", "someone/toy-lora", "--private"]) == 0
    assert calls["create"] == ("someone/toy-lora", True, True, secret)
    assert calls["upload"][0] == "someone/toy-lora" and calls["upload"][1] == secret
    assert {"adapter_model.safetensors", "README.md", "eval"} <= set(calls["upload"][2])
    captured = capsys.readouterr()
    assert secret not in caplog.text + captured.out + captured.err


def test_push_without_a_token_says_what_to_do(lora_run, monkeypatch, capsys, tmp_path):
    import huggingface_hub

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))  # no cached login
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)
    assert main(["publish", str(lora_run), "--repo-id", "someone/toy-lora"]) == 2
    err = capsys.readouterr().err
    assert "HF_TOKEN" in err and "--dry-run" in err


# -------------------------------------------------------------------------------------------------------------
# Bad input
# -------------------------------------------------------------------------------------------------------------
def test_run_without_eval_report_is_a_clear_error(lora_run, tmp_path, capsys):
    import shutil

    bare = tmp_path / "bare_run"
    shutil.copytree(lora_run, bare, ignore=shutil.ignore_patterns("eval"))
    assert main(["publish", str(bare), "--repo-id", "someone/x", "--dry-run", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no eval report" in err and "thrifty eval" in err and "--eval-dir" in err
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_base_model_that_does_not_match_the_adapter(lora_run, tmp_path, capsys, toy_world):
    from thrifty.tiny import TinyModelConfig
    from thrifty.trainers.toy import init_toy_model

    other = init_toy_model(tmp_path / "other_base", toy_world, TinyModelConfig(hidden_size=64, intermediate_size=256))
    rc = main(["publish", str(lora_run), "--repo-id", "someone/x", "--base-model", str(other),
                "--dry-run", str(tmp_path / "out")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "does not match base model" in err and "--base-model" in err
    assert "adapter_config.json says" in err
    assert not (tmp_path / "out").exists()


def test_folder_without_weights(tmp_path, capsys):
    (tmp_path / "run" / "checkpoint-4").mkdir(parents=True)
    assert main(["publish", str(tmp_path / "run"), "--repo-id", "someone/x", "--dry-run", str(tmp_path / "o")]) == 2
    assert "checkpoint-4" in capsys.readouterr().err


# -------------------------------------------------------------------------------------------------------------
# Eval results on the Hub: model-index, and --eval-only on an already published card
# -------------------------------------------------------------------------------------------------------------
def _results_by_key(card) -> dict:
    return {(r.dataset_type, r.metric_config, r.metric_type): r for r in card.data.eval_results}


def test_card_model_index_parses_back_with_the_runs_numbers(lora_run, tmp_path):
    from huggingface_hub import ModelCard

    out = tmp_path / "published"
    assert cmd_publish([str(lora_run), "--repo-id", "someone/toy-lora", "--dry-run", str(out)]) == 0
    card = ModelCard.load(out / "README.md")  # a local file: no network
    assert card.data.model_name == "toy-lora"
    summary = json.loads((lora_run / "eval" / "summary.json").read_text())
    stats = summary["results"]["toy"]["adaptive"]
    results = _results_by_key(card)
    assert set(results) == {("thrifty/toy-world", "adaptive", "accuracy"),
                            ("thrifty/toy-world", "adaptive", "mean_output_tokens")}
    acc = results[("thrifty/toy-world", "adaptive", "accuracy")]
    assert acc.task_type == "text-generation" and acc.dataset_split == "test" and acc.dataset_name
    assert acc.metric_value == pytest.approx(stats["accuracy"], abs=1e-4)
    assert results[("thrifty/toy-world", "adaptive", "mean_output_tokens")].metric_value == pytest.approx(
        stats["mean_tokens"], abs=0.05)
    meta = yaml.safe_load(out.joinpath("README.md").read_text().split("---")[1])
    assert meta["model-index"][0]["results"][0]["dataset"]["type"] == "thrifty/toy-world"


def test_eval_results_name_the_benchmarks_hub_dataset():
    from thrifty.trainers.eval_card import eval_results

    summary = {"results": {"math500": {"adaptive": {"accuracy": 0.5, "mean_tokens": 812.0}},
                           "gsm8k": {"direct": {"accuracy": 0.25, "mean_tokens": None}}}}
    got = {(r.dataset_type, r.dataset_config, r.dataset_split, r.metric_config, r.metric_type): r.metric_value
           for r in eval_results(summary)}
    assert got == {("HuggingFaceH4/MATH-500", None, "test", "adaptive", "accuracy"): 0.5,
                   ("HuggingFaceH4/MATH-500", None, "test", "adaptive", "mean_output_tokens"): 812.0,
                   ("openai/gsm8k", "main", "test", "direct", "accuracy"): 0.25}


def test_eval_only_updates_the_published_card_and_keeps_the_rest(lora_run, tmp_path):
    from huggingface_hub import ModelCard

    from thrifty.eval.runner import EvalConfig, run_eval

    out = tmp_path / "published"
    assert cmd_publish([str(lora_run), "--repo-id", "someone/toy-lora", "--dry-run", str(out)]) == 0
    card_path = out / "README.md"
    card_path.write_text(card_path.read_text() + "\n## Notes\n\nHand-written notes that must survive.\n")
    before = ModelCard.load(card_path)
    weights = (out / "adapter_model.safetensors").read_bytes()

    new_eval = tmp_path / "eval_direct"
    run_eval(EvalConfig(model_name_or_path=str(lora_run), output_dir=str(new_eval), run_name="direct-mode",
                        **{**EVAL_KW, "modes": ["direct"]}))
    for _ in range(2):  # attaching the same report twice replaces its section, never duplicates it
        assert cmd_publish(["--eval-only", str(new_eval), "--repo-id", "someone/toy-lora", "--dry-run", str(out)]) == 0

    after = ModelCard.load(card_path)
    text = card_path.read_text()
    assert "Hand-written notes that must survive." in text
    assert before.text.strip() in after.text  # the whole earlier card body is still there, unchanged
    for key in ("base_model", "library_name", "license", "tags", "model_name"):
        assert getattr(after.data, key) == getattr(before.data, key), key
    results = _results_by_key(after)
    new_stats = json.loads((new_eval / "summary.json").read_text())["results"]["toy"]["direct"]
    assert results[("thrifty/toy-world", "direct", "accuracy")].metric_value == pytest.approx(
        new_stats["accuracy"], abs=1e-4)
    assert ("thrifty/toy-world", "adaptive", "accuracy") in results  # the earlier results are kept
    assert len(after.data.eval_results) == 4
    assert results[("thrifty/toy-world", "direct", "accuracy")].metric_args == {
        "temperature": 0.0, "top_p": 1.0, "num_samples": 1, "max_new_tokens": EVAL_KW["max_new_tokens"], "seed": 0,
        "extraction": "strict", "n_problems": new_stats["n_problems"]}
    assert text.count("<!-- thrifty-eval:direct-mode -->") == 1 and "## Eval: direct-mode" in text
    assert (out / "eval" / "direct-mode" / "summary.json").is_file()
    assert "(eval/direct-mode/plots/accuracy_vs_tokens.png)" in text
    assert (out / "eval" / "direct-mode" / "plots" / "accuracy_vs_tokens.png").is_file()
    assert (out / "adapter_model.safetensors").read_bytes() == weights  # nothing else touched
    assert (out / "eval" / "summary.json").is_file()


def test_eval_only_without_a_card_is_a_clear_error(lora_run, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    rc = main(["publish", "--eval-only", str(lora_run / "eval"), "--repo-id", "someone/x",
               "--dry-run", str(tmp_path / "empty")])
    err = capsys.readouterr().err
    assert rc == 2 and "README.md does not exist" in err and "thrifty publish RUN_DIR" in err


def test_eval_only_push_uploads_the_card_and_report_only(lora_run, tmp_path, monkeypatch):
    """Without --dry-run the published card is fetched from the Hub, and only README.md and eval/LABEL/ are uploaded
    (the upload adds files, so the repository's weights stay). The Hub calls are stubbed: no network here."""
    import huggingface_hub

    published = tmp_path / "published"
    assert cmd_publish([str(lora_run), "--repo-id", "someone/toy-lora", "--dry-run", str(published)]) == 0
    monkeypatch.setenv("HF_TOKEN", "hf_test_token_0000")
    calls = {}

    def fake_download(repo_id, filename, repo_type=None):
        calls["download"] = (repo_id, filename, repo_type)
        return str(published / "README.md")

    def fake_upload_folder(folder_path, repo_id, repo_type=None, commit_message=None, token=None):
        root = Path(folder_path)
        calls["upload"] = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        calls["card"] = (root / "README.md").read_text()
        return "https://huggingface.co/someone/toy-lora/commit/def"

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr(huggingface_hub, "create_repo", lambda *a, **k: None)
    monkeypatch.setattr(huggingface_hub, "upload_folder", fake_upload_folder)
    assert cmd_publish(["--eval-only", str(lora_run), "--repo-id", "someone/toy-lora", "--eval-label", "again"]) == 0
    assert calls["download"] == ("someone/toy-lora", "README.md", "model")
    assert "README.md" in calls["upload"] and "eval/again/summary.json" in calls["upload"]
    assert all(p == "README.md" or p.startswith("eval/again/") for p in calls["upload"]), calls["upload"]
    assert "## Eval: again" in calls["card"] and "## Usage" in calls["card"]


# ---------------------------------------------------------------------------------------------------------
# audit_eval #4 and #5: what the card claims, and whose eval it is
# ---------------------------------------------------------------------------------------------------------
def test_card_states_problems_and_extraction_and_marks_a_partial_run(lora_run, tmp_path):
    from huggingface_hub import ModelCard

    from thrifty.eval.runner import EvalConfig, run_eval

    partial = tmp_path / "eval_partial"
    run_eval(EvalConfig(model_name_or_path=str(lora_run), output_dir=str(partial), limit=3, **EVAL_KW))
    out = tmp_path / "published"
    assert cmd_publish([str(lora_run), "--repo-id", "someone/toy-lora", "--dry-run", str(out),
                        "--eval-dir", str(partial)]) == 0
    card = ModelCard.load(out / "README.md")
    for result in card.data.eval_results:
        assert result.metric_args["n_problems"] == 3 and result.metric_args["limit"] == 3
        assert result.metric_args["extraction"] == "strict" and "first 3 problems only" in result.metric_name
    text = (out / "README.md").read_text()
    assert "Answer extraction: `auto` (strict)" in text and "**Partial run**" in text

    # a full rerun replaces the partial result instead of listing both
    from thrifty.trainers.eval_card import eval_results, merge_eval_results

    full = json.loads((lora_run / "eval" / "summary.json").read_text())
    merged = merge_eval_results(card.data.eval_results, eval_results(full))
    assert len(merged) == 2 and all("limit" not in r.metric_args for r in merged)


def test_publish_refuses_an_eval_of_another_model(lora_run, tiny_model_dir, tmp_path, capsys):
    other = tmp_path / "eval_of_base"
    _eval(tiny_model_dir, other)
    out = tmp_path / "published"
    rc = main(["publish", str(lora_run), "--repo-id", "someone/toy-lora", "--dry-run", str(out),
               "--eval-dir", str(other)])
    err = capsys.readouterr().err
    assert rc == 2 and "made on another model" in err and str(tiny_model_dir) in err and "Traceback" not in err
    assert not out.exists()


def test_eval_only_refuses_an_eval_of_another_model(lora_run, tiny_model_dir, tmp_path, capsys):
    """The card records the published model's fingerprints (as trained and as published); --eval-only refuses an
    eval of another model and leaves the card as it was, and takes an eval of the published folder itself."""
    from huggingface_hub import ModelCard

    from thrifty.models import model_fingerprint

    out = tmp_path / "published"
    assert cmd_publish([str(lora_run), "--repo-id", "someone/toy-lora", "--dry-run", str(out)]) == 0
    recorded = ModelCard.load(out / "README.md").data.to_dict()["thrifty_model_fingerprints"]
    assert model_fingerprint(str(lora_run)) in recorded
    before = (out / "README.md").read_text()
    other = tmp_path / "eval_of_base"
    _eval(tiny_model_dir, other)
    rc = main(["publish", "--eval-only", str(other), "--repo-id", "someone/toy-lora", "--dry-run", str(out)])
    err = capsys.readouterr().err
    assert rc == 2 and "made on another model" in err and "someone/toy-lora" in err and "Traceback" not in err
    assert (out / "README.md").read_text() == before and not (out / "eval" / "eval_of_base").exists()

    of_published = tmp_path / "eval_of_published"
    _eval(out, of_published)
    assert cmd_publish(["--eval-only", str(of_published), "--repo-id", "someone/toy-lora", "--dry-run", str(out)]) == 0
    assert "## Eval: eval_of_published" in (out / "README.md").read_text()


def test_eval_only_default_label_is_the_eval_folder(lora_run, tmp_path):
    from thrifty.eval.runner import EvalConfig, run_eval

    out = tmp_path / "published"
    assert cmd_publish([str(lora_run), "--repo-id", "someone/toy-lora", "--dry-run", str(out)]) == 0
    for name, modes in (("eval_direct", ["direct"]), ("eval_long", ["long_cot"])):
        run_eval(EvalConfig(model_name_or_path=str(lora_run), output_dir=str(tmp_path / name),
                            **{**EVAL_KW, "modes": modes, "plots": False}))
        assert cmd_publish(["--eval-only", str(tmp_path / name), "--repo-id", "someone/toy-lora",
                            "--dry-run", str(out)]) == 0
    text = (out / "README.md").read_text()  # two evals of one model: two sections, neither replaced
    assert "## Eval: eval_direct" in text and "## Eval: eval_long" in text
    assert (out / "eval" / "eval_direct" / "summary.json").is_file()
    assert (out / "eval" / "eval_long" / "summary.json").is_file()
