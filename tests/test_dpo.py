"""DPO for real on the tiny model (LoRA, frozen base as reference), and the LongWriter training recipes parse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from trl import ModelConfig

from thrifty.recipes import parse_recipe
from thrifty.trainers.dpo import (
    DPODataArguments,
    ThriftyDPOConfig,
    build_dpo_trainer,
    cmd_dpo,
    parse_dpo_args,
)
from thrifty.trainers.sft import DataArguments, ThriftySFTConfig

RECIPES = Path(__file__).resolve().parents[1] / "recipes" / "longwriter"


def write_pairs(path: Path, n: int = 16) -> Path:
    """Chosen answers are long digit runs, rejected ones a short refusal: easy for DPO to separate."""
    rows = []
    for i in range(n):
        rows.append({
            "prompt": [{"role": "user", "content": f"sum mod 10 : {i % 10} {(i * 3) % 10} _ _ _ _"}],
            "chosen": [{"role": "assistant", "content": " ".join(str((i + k) % 10) for k in range(24))}],
            "rejected": [{"role": "assistant", "content": "no no no"}],
        })
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_dpo_lora_learns_the_preference(tiny_model_dir, tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl")
    argv = ["--config", str(RECIPES / "dpo_toy.yaml"), "--model_name_or_path", str(tiny_model_dir),
            "--dataset_name", str(pairs), "--output_dir", str(tmp_path / "out")]
    trainer = build_dpo_trainer(*parse_dpo_args(argv))
    assert trainer.ref_model is None  # the reference is the base with the adapter disabled
    assert hasattr(trainer.model, "peft_config")
    trainer.train()
    logs = [log for log in trainer.state.log_history if "rewards/margins" in log]
    margins = [log["rewards/margins"] for log in logs]
    losses = [log["loss"] for log in logs]
    assert abs(margins[0]) < 1e-3, margins  # LoRA starts as the identity: policy == reference
    assert sum(margins[-3:]) / 3 > 0.5, margins  # the chosen answers pull away from the rejected ones
    assert sum(losses[-3:]) / 3 < losses[0] - 0.2, losses  # from log(2) ~ 0.693 downwards


def test_cmd_dpo_saves_adapter_and_reports_user_errors(tiny_model_dir, tmp_path, capsys):
    from thrifty.cli import main

    pairs = write_pairs(tmp_path / "pairs.jsonl", n=4)
    out = tmp_path / "out"
    argv = ["--config", str(RECIPES / "dpo_toy.yaml"), "--model_name_or_path", str(tiny_model_dir),
            "--dataset_name", str(pairs), "--output_dir", str(out), "--max_steps", "1"]
    assert cmd_dpo(argv) == 0
    assert json.loads((out / "adapter_config.json").read_text())["peft_type"] == "LORA"
    assert (out / "tokenizer_config.json").exists()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "chosen": "c"}) + "\n")
    capsys.readouterr()
    assert main(["dpo", *argv[:4], "--dataset_name", str(bad), "--output_dir", str(out)]) == 2
    assert "missing column(s) rejected" in capsys.readouterr().err


@pytest.mark.parametrize("name,types", [
    ("dpo.yaml", (DPODataArguments, ThriftyDPOConfig, ModelConfig)),
    ("dpo_toy.yaml", (DPODataArguments, ThriftyDPOConfig, ModelConfig)),
    ("sft_llama3.1_8b.yaml", (DataArguments, ThriftySFTConfig, ModelConfig)),
])
def test_longwriter_training_recipes_parse(name, types, monkeypatch):
    monkeypatch.chdir(RECIPES.parents[1])
    parsed = parse_recipe(types, ["--config", str(RECIPES / name)])
    cfg = parsed[1]
    if name.startswith("sft"):
        assert cfg.loss_averaging == "token" and cfg.packing and cfg.max_length >= 32768
        assert "# accelerate: zero3" in (RECIPES / name).read_text()  # ZeRO-3 through scripts/launch.sh
    else:
        assert cfg.loss_type == ["sigmoid"] and cfg.beta > 0 and parsed[2].use_peft


def test_preference_pairs_rank_by_length_and_judge(tmp_path):
    from _llm_server import FakeLLMServer

    from thrifty.data_builders.preference_pairs import PreferencePairArguments, build_preference_pairs
    from thrifty.quality_judge import DIMENSIONS, JudgeArguments
    from thrifty.trainers.dpo import load_pairs

    def judge(prompt: str) -> str:  # 'sloppy' answers get 1s, the others 5s
        low = "sloppy" in prompt.split("[Answer]\n", 1)[1]
        return json.dumps({d: 1 if low else 5 for d in DIMENSIONS})

    cands = [
        # exact length but sloppy (S_l 100, S_q 0 -> 50) vs a bit short and good (S_l 75, S_q 100 -> 87.5)
        {"prompt": "Write 100 words on tea.", "length": 100,
         "responses": ["sloppy " + "tea " * 99, "tea " * 67, "tea " * 40]},  # S 50, 87.5, 62.5
        {"prompt": "Write 100 words on tea.", "length": 100, "response": "tea " * 300},  # grouped with row 1; S 66.7
        {"prompt": "Write 50 words on ink.", "length": 50, "responses": ["ink " * 50, "ink " * 49]},  # small margin
        {"prompt": "Write 80 words on salt.", "length": 80, "responses": ["salt " * 80]},  # one candidate
    ]
    src = tmp_path / "cands.jsonl"
    src.write_text("".join(json.dumps(c) + "\n" for c in cands))
    with FakeLLMServer(judge) as server:
        jargs = JudgeArguments(judge_model="judge", judge_base_url=server.base_url, judge_backoff_base_s=0.01)
        stats = build_preference_pairs(
            PreferencePairArguments(candidates=str(src), output_dir=str(tmp_path / "pairs"), pairs_per_prompt=2),
            jargs)
    assert stats["pairs"] == 2 and stats["candidates"] == 7
    assert stats["dropped"] == {"prompt:fewer_than_2_candidates": 1, "prompt:small_margin": 1}
    pairs = [json.loads(line) for line in (tmp_path / "pairs" / "pairs.jsonl").read_text().splitlines()]
    assert pairs[0]["chosen"][0]["content"] == "tea " * 67  # quality outweighs the exact-length sloppy answer
    assert [p["rejected"][0]["content"] for p in pairs] == ["sloppy " + "tea " * 99, "tea " * 40]  # worst first
    assert pairs[0]["chosen_score"] == pytest.approx(0.5 * 100 * (1 - (100 / 67 - 1) / 2) + 50)
    train, _ = load_pairs(DPODataArguments(dataset_name=str(tmp_path / "pairs" / "pairs.jsonl")))
    assert len(train) == 2  # the DPO trainer reads the builder's output as is
