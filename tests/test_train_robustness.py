"""Training robustness, on real tiny runs: a LoRA adapter as the starting model (SFT, GRPO, DPO), reruns and
resumes of an output_dir, bad GRPO/SFT rows, partial ``answer_kind``, broken reward plug-ins, the training-data
record, Kimi's length groups across processes, ``lora_*`` without ``use_peft``, duplicate recipe keys, and
wandb's folders."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from trl import ModelConfig

from thrifty.jsonl import DataError
from thrifty.recipes import RecipeError, parse_recipe
from thrifty.trainers.sft import DataArguments, ThriftySFTConfig, build_sft_trainer, load_train_data, run_sft

REPO = Path(__file__).resolve().parents[1]
SFT_TYPES = (DataArguments, ThriftySFTConfig, ModelConfig)
QUIET = ["--logging_steps", "1", "--report_to", "none", "--disable_tqdm", "true", "--seed", "0"]
GRPO_TINY = ["--num_generations", "4", "--per_device_train_batch_size", "4", "--max_completion_length", "12",
             "--save_strategy", "no", "--toy_num_problems", "8", "--resume_from_checkpoint", "false", *QUIET]
PROBE = "3 4 _ _ _ _ <COT>"


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory, toy_world) -> dict[str, str]:
    from thrifty.data_builders.toy_build import build_toy_dataset

    return build_toy_dataset(tmp_path_factory.mktemp("robust_data"), n_train=64, n_test_per_difficulty=1,
                             world=toy_world)


@pytest.fixture(scope="module")
def adapter_dir(tmp_path_factory, tiny_model_dir, toy_data) -> Path:
    """A LoRA SFT adapter on the tiny model, trained hard enough (lr 0.05) to move its logits far from the base."""
    out = tmp_path_factory.mktemp("sft_lora")
    run_sft(*parse_recipe(SFT_TYPES, [
        "--model_name_or_path", str(tiny_model_dir), "--dataset_name", toy_data["sft"], "--output_dir", str(out),
        "--max_steps", "3", "--per_device_train_batch_size", "8", "--learning_rate", "0.05", "--save_strategy", "no",
        "--use_peft", "true", "--lora_r", "4", "--lora_alpha", "8", "--lora_target_modules", "q_proj", "v_proj",
        *QUIET]))
    assert (out / "adapter_config.json").is_file()
    return out


def _logits(model, tokenizer) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        ids = tokenizer(PROBE, return_tensors="pt")["input_ids"].to(next(model.parameters()).device)
        return model(input_ids=ids).logits.float().cpu()


@pytest.fixture(scope="module")
def adapter_logits(adapter_dir, tiny_model_dir) -> dict[str, torch.Tensor]:
    """The logits of base + adapter (PEFT's own loader) and of the bare base, on one probe."""
    from thrifty.models import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(str(adapter_dir), dtype="float32")
    base, _ = load_model_and_tokenizer(str(tiny_model_dir), dtype="float32")
    out = {"adapter": _logits(model, tok), "base": _logits(base, tok), "tokenizer": tok}
    assert (out["adapter"] - out["base"]).abs().max() > 0.1  # the adapter matters, so dropping it would show
    return out


# ---------------------------------------------------------------------------------------------------------
# 1. a LoRA adapter folder as model_name_or_path
# ---------------------------------------------------------------------------------------------------------
def test_lora_sft_continues_the_adapter(adapter_dir, adapter_logits, toy_data, tmp_path):
    out = tmp_path / "cont"
    args = ["--model_name_or_path", str(adapter_dir), "--dataset_name", toy_data["sft"], "--output_dir", str(out),
            "--max_steps", "1", "--per_device_train_batch_size", "4", "--save_strategy", "no", "--use_peft", "true",
            *QUIET]
    trainer = build_sft_trainer(*parse_recipe(SFT_TYPES, args))
    assert hasattr(trainer.model, "peft_config")
    torch.testing.assert_close(_logits(trainer.model, adapter_logits["tokenizer"]), adapter_logits["adapter"])
    run_sft(*parse_recipe(SFT_TYPES, args))
    saved = json.loads((out / "adapter_config.json").read_text())
    assert saved["base_model_name_or_path"] == json.loads((adapter_dir / "adapter_config.json").read_text())[
        "base_model_name_or_path"]  # still an adapter on the same base: eval and publish load it right


def test_full_sft_from_an_adapter_trains_the_merged_model(adapter_dir, adapter_logits, toy_data, tmp_path):
    args = ["--model_name_or_path", str(adapter_dir), "--dataset_name", toy_data["sft"], "--output_dir",
            str(tmp_path), "--max_steps", "1", "--per_device_train_batch_size", "4", "--save_strategy", "no", *QUIET]
    trainer = build_sft_trainer(*parse_recipe(SFT_TYPES, args))
    assert not hasattr(trainer.model, "peft_config")
    torch.testing.assert_close(_logits(trainer.model, adapter_logits["tokenizer"]), adapter_logits["adapter"])
    trainer.train()  # was: "element 0 of tensors does not require grad"


def test_dpo_from_an_adapter_keeps_it_as_policy_and_reference(adapter_dir, adapter_logits, tmp_path):
    from test_dpo import write_pairs

    from thrifty.trainers.dpo import build_dpo_trainer, parse_dpo_args

    argv = ["--config", str(REPO / "recipes/longwriter/dpo_toy.yaml"), "--model_name_or_path", str(adapter_dir),
            "--dataset_name", str(write_pairs(tmp_path / "pairs.jsonl", n=4)), "--output_dir", str(tmp_path / "o"),
            "--max_steps", "1", "--per_device_train_batch_size", "2", *QUIET]
    trainer = build_dpo_trainer(*parse_dpo_args(argv))
    torch.testing.assert_close(_logits(trainer.model, adapter_logits["tokenizer"]), adapter_logits["adapter"])
    assert "ref" in trainer.model.peft_config  # TRL's frozen copy of the loaded adapter: the SFT model is the reference
    trainer.train()
    logs = [h for h in trainer.state.log_history if "rewards/margins" in h]
    assert abs(logs[0]["rewards/margins"]) < 1e-4  # policy == reference at step 1 (not the bare base)


def test_grpo_from_an_adapter_on_a_mixture_records_every_source(adapter_dir, adapter_logits, tmp_path):
    """GRPO from the LoRA SFT adapter (was: "Unrecognized model"), on a mixture where only one source has an
    answer_kind (was: "unknown answer kind None" at the first step); the training-data record lists the SFT data
    and both sources."""
    from thrifty.trainers.grpo import build_grpo_trainer, parse_grpo_args, run_grpo

    rows = [{"problem": "3 4 _ _ _ _", "answer": "7"}, {"problem": "2 _ _ _ _ _", "answer": "2"}]
    mix_a = _jsonl(tmp_path / "mixA.jsonl", rows)
    mix_b = _jsonl(tmp_path / "mixB.jsonl", [dict(r, answer_kind="number") for r in rows])
    out = tmp_path / "grpo"
    argv = ["--config", str(REPO / "recipes/toy/grpo_plain.yaml"), "--model_name_or_path", str(adapter_dir),
            "--output_dir", str(out), "--use_peft", "true", "--dataset_mixture", str(mix_a), str(mix_b),
            "--reward_funcs", "accuracy", "--reward_kwargs", '{"accuracy": {"num_workers": 1}}', "--max_steps", "1",
            *GRPO_TINY]
    trainer = build_grpo_trainer(*parse_grpo_args(argv))
    torch.testing.assert_close(_logits(trainer.model, adapter_logits["tokenizer"]), adapter_logits["adapter"])
    assert trainer.train_dataset["answer_kind"] == [None, None, "number", "number"]
    run_grpo(*parse_grpo_args(argv))
    assert (out / "adapter_config.json").is_file()
    record = json.loads((out / "thrifty_training_data.json").read_text())["datasets"]
    assert [(e["stage"], Path(e["dataset"]).name) for e in record] == [
        ("sft", "sft.jsonl"), ("grpo", "mixA.jsonl"), ("grpo", "mixB.jsonl")]


def test_grpo_on_toy_prompts_records_them_and_keeps_wandb_in_output_dir(adapter_dir, tmp_path, monkeypatch):
    """Full GRPO from the merged adapter on the toy world's prompts, logging to wandb offline: the record inherits
    the SFT data and names the toy prompts; wandb writes under output_dir, not the working or home folder."""
    from thrifty.trainers.grpo import parse_grpo_args, run_grpo

    for name in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(home / ".config" / "wandb"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.chdir(work)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    out = tmp_path / "grpo"
    argv = ["--config", str(REPO / "recipes/toy/grpo_ada.yaml"), "--model_name_or_path", str(adapter_dir),
            "--output_dir", str(out), "--max_steps", "1", *GRPO_TINY, "--report_to", "wandb"]
    import wandb

    wandb.teardown()
    try:
        run_grpo(*parse_grpo_args(argv))
    finally:
        wandb.teardown()
    assert (out / "model.safetensors").is_file()  # the merged model, trained in full
    record = json.loads((out / "thrifty_training_data.json").read_text())["datasets"]
    assert [e["stage"] for e in record] == ["sft", "grpo"]
    assert record[1]["dataset"].startswith("thrifty-toy-world:train(seed=0, n=8")
    assert list((out / "wandb").glob("offline-run-*")), list(out.iterdir())
    assert not (work / "wandb").exists()
    assert not (home / ".cache" / "wandb").exists() and not (home / ".local" / "share" / "wandb").exists()


# ---------------------------------------------------------------------------------------------------------
# 2. reruns and resumes of an output_dir
# ---------------------------------------------------------------------------------------------------------
def _sft_args(model, data, out, *extra):
    return ["--model_name_or_path", str(model), "--dataset_name", data, "--output_dir", str(out),
            "--per_device_train_batch_size", "4", "--max_steps", "2", "--save_steps", "2", "--learning_rate", "3e-3",
            "--resume_from_checkpoint", "auto", *QUIET, *extra]


def test_rerun_of_a_finished_run_trains_nothing_and_keeps_the_model(tiny_model_dir, toy_data, tmp_path, caplog):
    args = _sft_args(tiny_model_dir, toy_data["sft"], tmp_path)
    run_sft(*parse_recipe(SFT_TYPES, args))
    final = (tmp_path / "model.safetensors").read_bytes()
    stamp = (tmp_path / "model.safetensors").stat().st_mtime_ns
    with caplog.at_level(logging.WARNING):
        run_sft(*parse_recipe(SFT_TYPES, args))
    assert "already finished" in caplog.text
    assert not (tmp_path / "checkpoint-3").exists()
    assert (tmp_path / "model.safetensors").stat().st_mtime_ns == stamp
    # killed after the last checkpoint, before the final save: the rerun saves that checkpoint's model, no step more
    (tmp_path / "model.safetensors").unlink()
    run_sft(*parse_recipe(SFT_TYPES, args))
    assert (tmp_path / "model.safetensors").read_bytes() == final
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-2"]

    # a resume with another recipe value or dataset is refused, naming the keys
    with pytest.raises(RecipeError, match="learning_rate"):
        run_sft(*parse_recipe(SFT_TYPES, [*args, "--learning_rate", "0.1"]))
    other = _jsonl(tmp_path.parent / "other.jsonl", [json.loads(line) for line in
                                                      Path(toy_data["sft"]).read_text().splitlines()[:8]])
    with pytest.raises(RecipeError, match="data.dataset_name"):
        run_sft(*parse_recipe(SFT_TYPES, [*args, "--dataset_name", str(other)]))

    # resume_from_checkpoint false: the old checkpoints are moved aside, not resumed later
    run_sft(*parse_recipe(SFT_TYPES, [*args, "--resume_from_checkpoint", "false", "--learning_rate", "0.1"]))
    aside = list(tmp_path.glob("previous_run_*"))
    assert len(aside) == 1 and (aside[0] / "checkpoint-2" / "trainer_state.json").is_file()
    assert json.loads((tmp_path / "thrifty_train_run.json").read_text())["learning_rate"] == 0.1


def test_rerun_of_a_finished_run_without_checkpoints_trains_nothing(tiny_model_dir, toy_data, tmp_path, caplog):
    """``save_strategy: no`` keeps no checkpoint, so the run's end is recorded in ``thrifty_train_done.json`` (its
    inputs in ``thrifty_train_run.json``): a rerun trains nothing; more steps, other inputs or
    ``resume_from_checkpoint: false`` train again from step 0."""
    args = [*_sft_args(tiny_model_dir, toy_data["sft"], tmp_path), "--save_strategy", "no"]
    run_sft(*parse_recipe(SFT_TYPES, args))
    assert not list(tmp_path.glob("checkpoint-*"))
    done = json.loads((tmp_path / "thrifty_train_done.json").read_text())
    assert set(done) == {"global_step", "epoch"} and done["global_step"] == 2  # the inputs: thrifty_train_run.json
    stamp = (tmp_path / "model.safetensors").stat().st_mtime_ns
    with caplog.at_level(logging.WARNING):
        run_sft(*parse_recipe(SFT_TYPES, args))
    assert "already finished (step 2, no checkpoint kept)" in caplog.text
    assert (tmp_path / "model.safetensors").stat().st_mtime_ns == stamp

    caplog.clear()
    with caplog.at_level(logging.WARNING):  # more steps: nothing to continue from, so from step 0
        run_sft(*parse_recipe(SFT_TYPES, [*args, "--max_steps", "3"]))
    assert "kept no checkpoint to continue from" in caplog.text
    assert json.loads((tmp_path / "thrifty_train_done.json").read_text())["global_step"] == 3
    stamp = (tmp_path / "model.safetensors").stat().st_mtime_ns
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # other inputs: a new run replaces the model, with a warning
        run_sft(*parse_recipe(SFT_TYPES, [*args, "--max_steps", "3", "--learning_rate", "0.1"]))
    assert "holds the final model of a run of other inputs (learning_rate)" in caplog.text
    assert (tmp_path / "model.safetensors").stat().st_mtime_ns != stamp
    stamp = (tmp_path / "model.safetensors").stat().st_mtime_ns  # the same inputs, resume false: trained again
    run_sft(*parse_recipe(SFT_TYPES, [*args, "--max_steps", "3", "--learning_rate", "0.1",
                                      "--resume_from_checkpoint", "false"]))
    assert (tmp_path / "model.safetensors").stat().st_mtime_ns != stamp


# ---------------------------------------------------------------------------------------------------------
# 3-4. GRPO rows
# ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("row,problem", [
    ({"problem": "2 _ _ _ _ _"}, "row 1: 'answer' is missing"),
    ({"problem": "2 _ _ _ _ _", "answer": None}, "row 1: 'answer' is missing"),
    ({"problem": "2 _ _ _ _ _", "answer": "  "}, "row 1: 'answer' is empty"),
    ({"problem": None, "answer": "2"}, "row 1: 'problem' is missing"),
    ({"problem": "", "answer": "2"}, "row 1: 'problem' is empty"),
    ({"problem": "2 _ _ _ _ _", "answer": "2", "answer_kind": "numbr"}, "row 1: answer_kind 'numbr'"),
])
def test_grpo_rows_without_answer_or_prompt_are_refused(tmp_path, row, problem):
    from thrifty.trainers.grpo import GRPODataArguments, load_grpo_prompts

    good = {"problem": "3 4 _ _ _ _", "answer": "7", **({"answer_kind": "number"} if "answer_kind" in row else {})}
    data = _jsonl(tmp_path / "gp.jsonl", [good, row])
    with pytest.raises(DataError, match=f"gp.jsonl {problem}"):
        load_grpo_prompts(GRPODataArguments(dataset_name=str(data)))


def test_accuracy_falls_back_to_its_kind_where_answer_kind_is_empty():
    from thrifty.rewards import get_reward

    reward = get_reward("accuracy", kind="number", num_workers=1)
    scores = reward(None, ["\\boxed{7}", "\\boxed{B}", "\\boxed{7}"], None, answer=["7", "B", "7"],
                    answer_kind=[None, "choice", ""])
    assert scores == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------------------------------------------------
# 5. SFT rows and formats
# ---------------------------------------------------------------------------------------------------------
def test_sft_unknown_format_name_is_refused(toy_data):
    with pytest.raises(RecipeError, match="unknown format name.*'dirct' \\(did you mean 'direct'\\?\\)"):
        load_train_data(DataArguments(dataset_name=toy_data["sft"], formats=["dirct"]))


@pytest.mark.parametrize("messages,problem", [
    (None, "row 1: 'messages' is missing"),
    ([], "row 1: 'messages' is empty"),
    ([{"role": "user", "content": "3 4 _ _ _ _"}], "row 1: no assistant message"),
    ([{"role": "user"}, {"role": "assistant", "content": "7"}], "row 1: every message needs a 'role' and a 'content'"),
])
def test_sft_bad_rows_name_file_and_row(tmp_path, messages, problem):
    good = {"messages": [{"role": "user", "content": "3 4"}, {"role": "assistant", "content": "7"}]}
    data = _jsonl(tmp_path / "bad.jsonl", [good, {"messages": messages}])
    with pytest.raises(DataError, match=f"bad.jsonl {problem}"):
        load_train_data(DataArguments(dataset_name=str(data)))


# ---------------------------------------------------------------------------------------------------------
# 6. reward plug-ins that return garbage or raise
# ---------------------------------------------------------------------------------------------------------
PLUGIN = textwrap.dedent("""
    def returns_none(completions, **kw):
        return None
    def returns_strings(completions, **kw):
        return ["1.0" for _ in completions]
    def raises(completions, **kw):
        raise ZeroDivisionError("boom")
    def fine(completions, **kw):
        return [0.5 for _ in completions]
""")


@pytest.mark.parametrize("name,problem", [
    ("returns_none", "reward 'returns_none' returned None"),
    ("returns_strings", "reward 'returns_strings' returned '1.0' \\(str\\) for completion 0"),
    ("raises", "reward 'raises' raised ZeroDivisionError at .*bad_rewards.py:7: boom"),
])
def test_bad_reward_plugins_raise_one_reward_error(tmp_path, monkeypatch, name, problem):
    from thrifty.rewards import RewardError, build_reward_funcs

    (tmp_path / "bad_rewards.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("bad_rewards", None)
    reward, fine = build_reward_funcs([f"bad_rewards:{name}", "bad_rewards:fine"])
    assert fine.__name__ == "fine" and fine(prompts=None, completions=["a", "b"]) == [0.5, 0.5]
    with pytest.raises(RewardError, match=problem):
        reward(prompts=None, completions=["a", "b"], completion_ids=None)


def test_a_raising_reward_stops_grpo_with_exit_2_and_one_line(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from thrifty.cli import main

    (tmp_path / "bad_rewards.py").write_text(PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("bad_rewards", None)
    rc = main(["grpo", "--config", str(REPO / "recipes/toy/grpo_plain.yaml"), "--model_name_or_path",
               str(tiny_model_dir), "--output_dir", str(tmp_path / "out"), "--max_steps", "1",
               "--reward_funcs", "bad_rewards:returns_none", "--reward_weights", "1", "--reward_kwargs", "{}",
               *GRPO_TINY])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert "reward 'returns_none' returned None" in err[-1] and "Traceback" not in "\n".join(err)


# ---------------------------------------------------------------------------------------------------------
# 8. kimi_length and efficient_length over 2 real processes
# ---------------------------------------------------------------------------------------------------------
KIMI_WORKER = textwrap.dedent("""
    import json, sys
    from accelerate import PartialState
    from thrifty.rewards.arm import gathered_kimi_lambdas
    from thrifty.rewards.common import gathered_by_prompt
    from thrifty.rewards.length import efficient_length_penalties
    state = PartialState(cpu=True)  # gloo over torchrun (what accelerate launch sets up on CPU)
    # the gathered batch: 2 groups of 4 completions (p1, p2); each rank holds half of every group
    prompts = [["p1"], ["p1"], ["p2"], ["p2"], ["p1"], ["p1"], ["p2"], ["p2"]]
    lengths = [10, 20, 5, 5, 30, 40, 9, 13]
    mine = slice(4 * state.process_index, 4 * state.process_index + 4)
    lambdas = gathered_kimi_lambdas(prompts[mine], lengths[mine])
    correct = [True, True, True, False, True, False, True, True]
    rows = list(zip(lengths, correct))[mine]
    penalties = gathered_by_prompt(prompts[mine], rows, lambda rows, groups: efficient_length_penalties(
        [n for n, _ in rows], [ok for _, ok in rows], groups, 0.1))
    with open(sys.argv[1] + f".{state.process_index}", "w") as f:
        json.dump([lambdas, penalties], f)
    state.wait_for_everyone()
    state.destroy_process_group()
""")


def test_length_rewards_groups_span_processes(tmp_path):
    """Two real processes (torchrun, gloo), each holding half of every prompt's group: each one's Kimi lambdas come
    from the whole group's min/max length and its efficient_length penalties from the whole group's correct
    lengths, exactly as one process computing over the gathered batch."""
    from thrifty.rewards.length import efficient_length_penalties, kimi_length_lambdas

    script = tmp_path / "kimi_worker.py"
    script.write_text(KIMI_WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = subprocess.run([str(torchrun), "--nproc_per_node", "2", "--master_port", "29517", str(script),
                           str(tmp_path / "out")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (lambdas0, penalties0), (lambdas1, penalties1) = (json.loads((tmp_path / f"out.{rank}").read_text())
                                                      for rank in (0, 1))
    groups = ["p1", "p1", "p2", "p2"] * 2
    lengths = [10, 20, 5, 5, 30, 40, 9, 13]
    assert lambdas0 + lambdas1 == pytest.approx(kimi_length_lambdas(lengths, groups))
    assert lambdas0[1] == pytest.approx(0.5 - 10 / 30)  # per process, rank 0 saw p1 as {10, 20}: 20 would get -0.5
    correct = [True, True, True, False, True, False, True, True]
    assert penalties0 + penalties1 == pytest.approx(efficient_length_penalties(lengths, correct, groups, 0.1))
    # p1's correct lengths are {10, 20, 30} across both ranks: 20 is their mean, so z = 0 (rank 0 alone: z = 1)
    assert penalties0[1] == pytest.approx(-0.05)


# ---------------------------------------------------------------------------------------------------------
# 9-10. recipes
# ---------------------------------------------------------------------------------------------------------
def test_lora_keys_without_use_peft_are_refused(tmp_path, caplog):
    with pytest.raises(RecipeError, match="lora_r \\(command line\\), lora_target_modules \\(command line\\) set but "
                                          "use_peft is false"):
        parse_recipe(SFT_TYPES, ["--output_dir", str(tmp_path), "--lora_r", "4", "--lora_target_modules", "q_proj"])
    recipe = tmp_path / "r.yaml"
    recipe.write_text("lora_r: 4\nlora_alpha: 8\n")
    with pytest.raises(RecipeError, match=f"lora_alpha \\({recipe}\\), lora_r \\({recipe}\\) set but use_peft"):
        parse_recipe(SFT_TYPES, ["--config", str(recipe), "--output_dir", str(tmp_path)])
    recipe.write_text("use_peft: true\nlora_r: 4\n")  # the recipe's LoRA, switched off on the command line: allowed
    with caplog.at_level(logging.WARNING):
        *_, model_args = parse_recipe(SFT_TYPES, ["--config", str(recipe), "--output_dir", str(tmp_path),
                                                  "--use_peft", "false"])
    assert model_args.use_peft is False and "lora_r are not used" in caplog.text


def test_duplicate_recipe_keys_are_refused(tmp_path):
    recipe = tmp_path / "dup.yaml"
    recipe.write_text("max_steps: 80\nlearning_rate: 1e-3\nmax_steps: 5\n")
    with pytest.raises(RecipeError, match=f"{recipe}: key 'max_steps' is set twice \\(lines 1 and 3\\)"):
        parse_recipe(SFT_TYPES, ["--config", str(recipe), "--output_dir", str(tmp_path)])
