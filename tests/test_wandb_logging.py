"""wandb logging, offline: ``thrifty eval`` with ``report_to: [wandb]`` logs its summary, a table of samples and its
plots; GRPO logs its per-format table each logging step. What was logged is read back from the offline run folder
(its ``run-*.wandb`` records and ``files/``), not from a mock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _wandb_records import logged


def _teardown_wandb() -> None:
    """wandb keeps its settings (folders included) in a process-wide singleton: reset it around each test."""
    import sys

    if "wandb" in sys.modules:
        import wandb

        wandb.teardown()


@pytest.fixture()
def offline_wandb(tmp_path, monkeypatch):
    _teardown_wandb()
    root = tmp_path / "wandb_home"
    for var, sub in (("WANDB_DIR", ""), ("WANDB_CACHE_DIR", "cache"), ("WANDB_CONFIG_DIR", "config"),
                     ("WANDB_DATA_DIR", "data")):
        (root / sub).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(root / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    yield root
    _teardown_wandb()


def _runs(root: Path) -> list[Path]:
    """The offline run folders, once wandb's service has shut down (it writes the log's last records then)."""
    _teardown_wandb()
    return sorted((root / "wandb").glob("offline-run-*"))


def test_eval_logs_summary_samples_table_and_plots(offline_wandb, tiny_model_dir, tmp_path):
    from thrifty.eval.commands import cmd_eval

    out = tmp_path / "eval"
    assert cmd_eval(["--model_name_or_path", str(tiny_model_dir), "--output_dir", str(out), "--run_name", "tiny",
                     "--benchmarks", "toy", "--modes", "adaptive", "direct", "--toy_per_difficulty", "1",
                     "--max_new_tokens", "16", "--report_to", "wandb", "--wandb_project", "thrifty-test"]) == 0
    (run_dir,) = _runs(offline_wandb)
    history, summary = logged(run_dir)
    result = json.loads((out / "summary.json").read_text())
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]

    # the summary's numbers, logged with the samples table
    (row,) = [h for h in history if h.get("samples/_type") == "table-file"]
    for mode in ("adaptive", "direct"):
        stats = result["results"]["toy"][mode]
        for key in ("accuracy", "mean_tokens", "tokens_per_correct", "n_samples"):
            if stats[key] is not None:
                assert row[f"toy/{mode}/{key}"] == pytest.approx(stats[key]), (mode, key)
                assert summary[f"toy/{mode}/{key}"] == pytest.approx(stats[key]), (mode, key)  # the run's summary

    # the samples table: one row per sample, with its problem, mode, format, tokens and verdict
    table = json.loads((run_dir / "files" / row["samples/path"]).read_text())
    assert table["columns"] == ["benchmark", "problem_id", "problem", "mode", "sample", "format", "tokens", "correct",
                                "prediction", "answer"]
    assert len(table["data"]) == len(samples) == row["samples/nrows"]
    logged_rows = {(r[1], r[3]): r for r in table["data"]}
    from thrifty.benchmarks import load_benchmark

    texts = {p.id: p.problem for p in load_benchmark("toy", None, seed=0, toy_per_difficulty=1)}
    for s in samples:
        r = logged_rows[(s["problem_id"], s["mode"])]
        assert r[2] == texts[s["problem_id"]] and r[5] == s["format"] and r[6] == s["num_tokens"]
        assert r[7] == s["correct"]

    # every plot of the run, as an image
    plots = sorted(p.stem for p in (out / "plots").glob("*.png"))
    images = {k.split("/")[1] for h in history for k in h if k.startswith("plots/") and k.endswith("/_type")}
    assert plots and images == set(plots)
    for h in history:
        for key, value in h.items():
            if key.startswith("plots/") and key.endswith("/path"):
                assert (run_dir / "files" / value).stat().st_size > 1000


@pytest.mark.slow
def test_grpo_logs_its_per_format_table(offline_wandb, tiny_model_dir, tmp_path):
    import wandb

    from thrifty.trainers.grpo import build_grpo_trainer, parse_grpo_args

    repo = Path(__file__).resolve().parents[1]
    argv = ["--config", str(repo / "recipes/toy/grpo_ada.yaml"), "--model_name_or_path", str(tiny_model_dir),
            "--output_dir", str(tmp_path / "grpo"), "--num_generations", "4", "--per_device_train_batch_size", "4",
            "--max_completion_length", "16", "--logging_steps", "1", "--save_strategy", "no", "--report_to", "wandb",
            "--toy_num_problems", "16", "--disable_tqdm", "true", "--resume_from_checkpoint", "false",
            "--max_steps", "2", "--run_name", "grpo-tables"]
    trainer = build_grpo_trainer(*parse_grpo_args(argv))
    trainer.train()
    wandb.finish()
    (run_dir,) = _runs(offline_wandb)
    history, _ = logged(run_dir)
    rows = [h for h in history if h.get("train/format_table/_type") == "table-file"]
    logs = [h for h in trainer.state.log_history if "reward" in h]
    assert len(rows) == len(logs) == 2
    for row, log in zip(rows, logs, strict=True):
        table = json.loads((run_dir / "files" / row["train/format_table/path"]).read_text())
        assert table["columns"] == ["step", "format", "share", "accuracy", "mean_tokens"]
        shares = {k.split("/")[1]: v for k, v in log.items() if k.startswith("format/") and k.count("/") == 1}
        assert {r[1]: r[2] for r in table["data"]} == pytest.approx(shares)
        for r in table["data"]:
            assert r[0] == row["train/global_step"] and r[4] == pytest.approx(log[f"format/{r[1]}/tokens"])
