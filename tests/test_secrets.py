"""No secret leaves the process: a fake Hub token passed as an override goes through the launcher's recipe copy,
a real SFT run, an eval and ``thrifty publish --dry-run``, and appears in no written file and no log line.

Also: ``publish`` never unpickles code from a run folder (``training_args.bin`` is loaded with
``weights_only=True`` and an allowlist of recipe classes), and recipe parse errors never print a secret.
"""

from __future__ import annotations

import contextlib
import io
import logging
import pickle
import subprocess
from pathlib import Path

import pytest
from _launch_utils import run_launch, subprocess_env

from thrifty.cli import main
from thrifty.redact import REDACTED, is_secret_key, redact_argv, redact_mapping

FAKE = "hf_FAKEtokenABCDEFGHIJ0123456789abcdefgh"
FAKE_KEY = "sk-FAKEapikey0123456789abcdefXYZ"
REPO = Path(__file__).resolve().parents[1]


def _files_containing(root: Path, needle: str) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and needle.encode() in path.read_bytes():
            hits.append(str(path))
    return hits


@pytest.mark.parametrize("key,secret", [
    ("hub_token", True), ("api_key", True), ("wandb_key", True), ("llm_api_key", True), ("judge_api_key", True),
    ("push_to_hub_token", True), ("client_secret", True), ("db_password", True),
    ("llm_api_key_env", False), ("judge_api_key_env", False), ("pad_token", False), ("eos_token", False),
    ("max_new_tokens", False), ("hub_model_id", False), ("reward_kwargs", False), ("tokenizer_name_or_path", False),
])
def test_secret_keys(key, secret):
    assert is_secret_key(key) is secret
    redacted = redact_mapping({key: "value", "nested": {key: "value"}})
    assert (redacted[key] == REDACTED) is secret and (redacted["nested"][key] == REDACTED) is secret


def test_paths_that_merely_start_like_a_token_are_kept():
    assert redact_mapping({"model_name_or_path": "hf_checkpoints/run1", "output_dir": "sk-learn-runs"}) == {
        "model_name_or_path": "hf_checkpoints/run1", "output_dir": "sk-learn-runs"}


def test_credential_shaped_values_are_redacted_under_any_key():
    assert redact_mapping({"note": f"token {FAKE}", "list": [FAKE_KEY]}) == {"note": f"token {REDACTED}",
                                                                               "list": [REDACTED]}
    assert redact_argv(["--hub_token", FAKE, "--api_key=x", "--lr", "1"]) == [
        "--hub_token", REDACTED, f"--api_key={REDACTED}", "--lr", "1"]


@pytest.fixture(scope="module")
def token_run(tmp_path_factory, tiny_model_dir, toy_world):
    """A real run launched with ``--hub_token FAKE``: the launcher's recipe copy, a 2-step SFT and an eval."""
    from thrifty.data_builders.toy_build import build_toy_dataset
    from thrifty.trainers.launch import plan_launch

    root = tmp_path_factory.mktemp("secrets")
    data = build_toy_dataset(root / "data", n_train=64, n_test_per_difficulty=1, world=toy_world)
    run = root / "run"
    overrides = ["--model_name_or_path", str(tiny_model_dir), "--dataset_name", data["sft"], "--output_dir", str(run),
                 "--max_steps", "2", "--save_steps", "1", "--per_device_train_batch_size", "8",
                 "--hub_token", FAKE]
    plan, _, _ = plan_launch([str(REPO / "recipes/toy/sft.yaml"), *overrides])  # writes RUN/thrifty_recipe.yaml
    assert plan.secret_env == {"HF_TOKEN": FAKE}  # the stage gets it in its environment, not its command line
    assert FAKE not in " ".join(plan.command) and "--hub_token" not in plan.command

    # every log record (transformers at info level included) and everything printed, while training and evaluating
    records = io.StringIO()
    handler = logging.StreamHandler(records)
    handler.setLevel(logging.DEBUG)
    root_logger = logging.getLogger()
    previous_level = root_logger.level
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.DEBUG)
    from transformers.utils import logging as hf_logging

    hf_level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_info()
    hf_logging.enable_propagation()
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            assert main(["sft", "--config", str(REPO / "recipes/toy/sft.yaml"), *overrides]) == 0
            assert main(["eval", "--config", str(REPO / "recipes/toy/eval.yaml"), "--model_name_or_path", str(run),
                         "--output_dir", str(run / "eval"), "--toy_per_difficulty", "1", "--max_new_tokens", "4",
                         "--modes", "direct"]) == 0
    finally:
        root_logger.removeHandler(handler)
        root_logger.setLevel(previous_level)
        hf_logging.set_verbosity(hf_level)
        hf_logging.disable_propagation()
    logs = records.getvalue() + printed.getvalue()
    assert len(logs) > 2000 and "loading configuration file" in logs  # the capture saw the runs' (info-level) logs
    assert FAKE not in logs
    return root, run


def test_token_appears_in_no_file_and_no_log(token_run, tmp_path, caplog, capsys):
    root, run = token_run
    recipe = (run / "thrifty_recipe.yaml").read_text()
    assert f"hub_token: {REDACTED}" in recipe and FAKE not in recipe
    assert (run / "training_args.bin").is_file() and (run / "checkpoint-2" / "training_args.bin").is_file()
    out = tmp_path / "published"
    with caplog.at_level(logging.DEBUG):
        assert main(["publish", str(run), "--repo-id", "someone/toy", "--dry-run", str(out)]) == 0
    assert (out / "README.md").is_file() and (out / "recipe.yaml").is_file()
    assert f"hub_token: {REDACTED}" in (out / "recipe.yaml").read_text()
    captured = capsys.readouterr()
    assert FAKE not in caplog.text + captured.out + captured.err
    assert _files_containing(root, FAKE) == [] and _files_containing(out, FAKE) == []


def test_launch_dry_run_prints_no_secret(tmp_path):
    proc = run_launch([str(REPO / "recipes/toy/sft.yaml"), "--dry-run", "--output_dir", str(tmp_path / "run"),
                       "--hub_token", FAKE, "--wandb_api_key", FAKE_KEY], subprocess_env())
    assert proc.returncode == 0, proc.stderr
    assert "HF_TOKEN='<redacted>'" in proc.stdout and "--wandb_api_key '<redacted>'" in proc.stdout
    assert FAKE not in proc.stdout + proc.stderr and FAKE_KEY not in proc.stdout + proc.stderr
    assert not (tmp_path / "run").exists()  # a dry run writes nothing


def test_publish_redacts_an_old_recipe_copy_and_reads_training_args_safely(token_run, tmp_path, caplog):
    import shutil

    import torch

    _, run = token_run
    legacy = tmp_path / "legacy"
    shutil.copytree(run, legacy, ignore=shutil.ignore_patterns("checkpoint-*"))
    (legacy / "thrifty_recipe.yaml").write_text(f"learning_rate: 0.001\nhub_token: {FAKE}\nnote: uses {FAKE_KEY}\n")
    out = tmp_path / "out_legacy"
    assert main(["publish", str(legacy), "--repo-id", "someone/toy", "--dry-run", str(out)]) == 0
    assert _files_containing(out, FAKE) == [] and _files_containing(out, FAKE_KEY) == []

    # no recipe copy: the card's recipe comes from training_args.bin, loaded with weights_only
    (legacy / "thrifty_recipe.yaml").unlink()
    args = torch.load(run / "training_args.bin", weights_only=False)
    args.hub_token = FAKE  # as a run made before thrifty kept the token out of it
    torch.save(args, legacy / "training_args.bin")
    out = tmp_path / "out_args"
    assert main(["publish", str(legacy), "--repo-id", "someone/toy", "--dry-run", str(out)]) == 0
    card = (out / "README.md").read_text()
    assert "max_steps: 2" in card and _files_containing(out, FAKE) == []

    # a training_args.bin that would run code when unpickled is not loaded
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (subprocess.call, (["touch", str(marker)],))

    (legacy / "training_args.bin").write_bytes(b"")
    torch.save({"args": Evil()}, legacy / "training_args.bin", pickle_module=pickle)
    out = tmp_path / "out_evil"
    with caplog.at_level(logging.WARNING):
        assert main(["publish", str(legacy), "--repo-id", "someone/toy", "--dry-run", str(out)]) == 0
    assert not marker.exists()
    assert "not a recipe class" in caplog.text and "Not recorded" in (out / "README.md").read_text()


def test_parse_errors_print_no_secret(tmp_path, capsys):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"hub_token: {FAKE}\nlearning_rate: fast\n")
    assert main(["sft", "--config", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "learning_rate" in err and str(recipe) in err and FAKE not in err
    assert main(["sft", "--config", str(REPO / "recipes/toy/sft.yaml"), "--hub_token", FAKE, "--max_steps", "x"]) == 2
    err = capsys.readouterr().err
    assert "max_steps" in err and FAKE not in err
    assert main(["sft", "--config", str(REPO / "recipes/toy/sft.yaml"), "--hub_token", "--max_steps", "2"]) == 2
    assert "hub_token" in capsys.readouterr().err
    broken = tmp_path / "broken.yaml"
    broken.write_text(f"hub_token: {FAKE}\nbad: [\n")
    assert main(["sft", "--config", str(broken)]) == 2
    err = capsys.readouterr().err
    assert str(broken) in err and FAKE not in err
