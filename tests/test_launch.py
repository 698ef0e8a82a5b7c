"""``scripts/launch.sh`` for real on CPU: 2 processes over gloo, DeepSpeed ZeRO-2/ZeRO-3 and DDP.

Each run trains the tiny model for a few steps through the same launcher a user runs; the saved model (ZeRO-3:
gathered into one full state dict) must load back and generate. DeepSpeed's compiled ops are cached in
``.cache/torch_extensions`` (the launcher's default), so only the first run of a machine pays compilation.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _launch_utils import REPO, failure_output, run_launch, subprocess_env, write_reward_plugin


@pytest.fixture(scope="module")
def launch_data(tmp_path_factory, toy_world) -> dict[str, Path]:
    from thrifty.data_builders.toy_build import build_toy_dataset

    root = tmp_path_factory.mktemp("launch")
    paths = build_toy_dataset(root / "data", n_train=64, n_test_per_difficulty=1, world=toy_world)
    reward_dir = write_reward_plugin(root / "reward_plugin")
    return {"root": root, "sft": Path(paths["sft"]), "reward_dir": reward_dir}


def _state_dict(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


CASES = [
    ("sft", "zero2"),
    ("sft", "zero3"),
    ("grpo", "zero2"),
    ("grpo", "ddp"),
]


@pytest.mark.parametrize(("stage", "accelerate"), CASES, ids=[f"{s}-{a}" for s, a in CASES])
def test_launch_two_processes(stage, accelerate, launch_data, tiny_model_dir):
    out = launch_data["root"] / f"{stage}_{accelerate}"
    common = ["--accelerate", accelerate, "--num-processes", "2", "--model_name_or_path", str(tiny_model_dir),
              "--output_dir", str(out), "--max_steps", "2", "--save_steps", "2", "--logging_steps", "1",
              "--report_to", "none"]
    if stage == "sft":
        args = ["recipes/toy/sft.yaml", *common, "--dataset_name", str(launch_data["sft"]),
                "--per_device_train_batch_size", "4", "--train_sampling_strategy", "random",
                "--warmup_steps", "0", "--learning_rate", "1e-3"]
    else:
        args = ["recipes/toy/grpo_plain.yaml", *common, "--reward_funcs", "digit_reward:digits",
                "--reward_weights", "1.0", "--reward_kwargs", "{}", "--num_generations", "4",
                "--per_device_train_batch_size", "4", "--max_completion_length", "12", "--toy_num_problems", "16",
                "--learning_rate", "1e-3"]
    proc = run_launch(args, subprocess_env(launch_data["reward_dir"]))
    assert proc.returncode == 0, failure_output(proc)

    # two processes ran (one RNG state per rank) and the run stopped at max_steps
    ckpt = out / "checkpoint-2"
    assert (ckpt / "rng_state_0.pth").exists() and (ckpt / "rng_state_1.pth").exists(), failure_output(proc)
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    from thrifty.trainers.common import checkpoint_problem

    assert checkpoint_problem(ckpt) is None  # resume accepts a real (DeepSpeed) checkpoint as complete
    grad_norms = [h["grad_norm"] for h in state["log_history"] if "grad_norm" in h]
    assert grad_norms and max(grad_norms) > 0, state["log_history"]

    # DeepSpeed really ran with the asked ZeRO stage (DDP: no DeepSpeed checkpoint at all)
    ds_dir = ckpt / "global_step2"
    if accelerate == "ddp":
        assert not ds_dir.exists()
    else:
        model_states = sorted(ds_dir.glob("*model_states.pt"))
        assert model_states, f"no DeepSpeed model states in {ds_dir}"
        saved = torch.load(model_states[0], map_location="cpu", weights_only=False)
        assert saved["ds_config"]["zero_optimization"]["stage"] == int(accelerate[-1])

    # the saved model is a full state dict (ZeRO-3: gathered), trained, and loads back and generates
    before, after = _state_dict(tiny_model_dir), _state_dict(out)
    assert set(before) <= set(after)  # DeepSpeed may also write the tied lm_head.weight
    assert all(after[k].shape == before[k].shape for k in before), "ZeRO-3 weights were not gathered"
    assert any(not torch.equal(after[k], before[k]) for k in before), "training changed no weight"
    assert (out / "thrifty_recipe.yaml").exists()

    from thrifty.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(str(out))
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "sum mod 10 : 3 8 _ _ _ _"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    generated = model.generate(**prompt, max_new_tokens=6, do_sample=False)
    assert generated.shape[1] > prompt["input_ids"].shape[1]


# -------------------------------------------------------------------------------------------------------------
# Fast checks of the launcher's decisions (no training)
# -------------------------------------------------------------------------------------------------------------
def test_stage_and_config_resolution(tmp_path):
    from thrifty.trainers.launch import LaunchError, detect_stage, resolve_accelerate_config

    assert detect_stage(REPO / "recipes/arm/grpo_qwen2.5_7b.yaml") == "grpo"
    assert detect_stage(REPO / "recipes/toy/sft.yaml") == "sft"
    assert detect_stage(REPO / "recipes/toy/pretrain.yaml") == "sft"  # no stage word, no GRPO keys
    tagged = tmp_path / "my_run.yaml"
    tagged.write_text("# stage: grpo\n# accelerate: zero3\nlearning_rate: 1.0e-6\n")
    assert detect_stage(tagged) == "grpo"
    assert resolve_accelerate_config(tagged).name == "zero3.yaml"
    assert resolve_accelerate_config(tagged, "ddp").name == "ddp.yaml"
    keyed = tmp_path / "run.yaml"
    keyed.write_text("variant: ada\n")
    assert detect_stage(keyed) == "grpo"
    with pytest.raises(LaunchError, match="not a stage"):
        bad = tmp_path / "bad.yaml"
        bad.write_text("# stage: pretrain\n")
        detect_stage(bad)


def test_cpu_config_rewrite(tmp_path, monkeypatch):
    import yaml

    from thrifty.trainers.launch import ACCELERATE_DIR, cpu_accelerate_config

    monkeypatch.setenv("THRIFTY_CACHE_DIR", str(tmp_path))
    for name in ("ddp", "zero2", "zero3", "zero3_offload", "multi_node_zero3"):
        source = yaml.safe_load((ACCELERATE_DIR / f"{name}.yaml").read_text())
        cpu = yaml.safe_load(cpu_accelerate_config(ACCELERATE_DIR / f"{name}.yaml", 2).read_text())
        assert cpu["use_cpu"] is True and cpu["mixed_precision"] == "no" and cpu["num_processes"] == 2
        assert cpu["distributed_type"] == source["distributed_type"] != "MULTI_CPU"
        assert cpu.get("deepspeed_config") == source.get("deepspeed_config")


def test_missing_accelerate_config_is_a_clear_error(tmp_path):
    recipe = tmp_path / "grpo_run.yaml"
    recipe.write_text("# accelerate: zero9\nvariant: plain\n")
    proc = run_launch([str(recipe), "--dry-run"], subprocess_env())
    assert proc.returncode == 2
    message = proc.stderr
    assert "zero9" in message and "does not exist" in message and f"{recipe}:1" in message
    assert "zero2" in message and "--accelerate" in message  # says what to use instead


def test_dry_run_command(tmp_path):
    proc = run_launch(["recipes/toy/grpo_ada.yaml", "--accelerate", "zero3", "--num-processes", "2", "--dry-run",
                       "--output_dir", str(tmp_path / "out")], subprocess_env())
    assert proc.returncode == 0, failure_output(proc)
    line = proc.stdout.strip().splitlines()[-1]
    assert "accelerate.commands.launch" in line and "-m thrifty.cli grpo --config recipes/toy/grpo_ada.yaml" in line
    assert "--num_processes 2" in line and "OMP_NUM_THREADS=1" in line and "TORCH_EXTENSIONS_DIR=" in line
    assert not (tmp_path / "out").exists()  # a dry run writes nothing into the run folder
