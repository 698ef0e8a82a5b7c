"""thrifty's Python API from your own script, the way TRL is used: toy data, SFT, GRPO (Ada-GRPO, ARM2, MinD), DPO, eval.

Runs on a laptop CPU in a minute or two at the default sizes (the shipped toy base model, no download):

    python recipes/examples/python_api.py --out runs/python_api
    python recipes/examples/python_api.py --out runs/python_api --sft-steps 150 --grpo-steps 40   # longer

docs/python-api.md walks through it (every code block there is copied from this file) and
tests/test_python_api.py runs it. It writes OUT/summary.json: the rewards of a few hand-written completions,
each GRPO variant's logged metrics, the eval results of every model and the comparison report's path.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch
from trl import ModelConfig

from thrifty.benchmarks import load_benchmark
from thrifty.data_builders.toy_build import ARM_WEIGHTS, build_toy_dataset
from thrifty.eval import EvalConfig, load_run, run_eval, score_predictions, write_comparison
from thrifty.jsonl import write_jsonl
from thrifty.models import load_tokenizer
from thrifty.recipes import parse_recipe
from thrifty.rewards import ada_grpo_alpha, build_reward_funcs, register_reward
from thrifty.trainers import (
    DataArguments,
    DPODataArguments,
    GRPODataArguments,
    ThriftyDPOConfig,
    ThriftyGRPOConfig,
    ThriftyGRPOTrainer,
    ThriftySFTConfig,
    build_dpo_trainer,
    build_sft_trainer,
    toy_prompts,
)

logger = logging.getLogger("python_api")

ON_CPU = not torch.cuda.is_available()
DEVICE = dict(use_cpu=ON_CPU, bf16=not ON_CPU, gradient_checkpointing=False)  # recipes do this by themselves


# -------------------------------------------------------------------------------------------------------------
# Data: the toy world (thrifty build ... does the same for real traces)
# -------------------------------------------------------------------------------------------------------------
def build_data(out: Path, n_train: int) -> Path:
    paths = build_toy_dataset(out / "data", n_train=n_train, n_test_per_difficulty=1,
                              weights=ARM_WEIGHTS, all_formats=True)  # every problem in ARM's four formats
    return Path(paths["sft"])  # JSONL rows: messages, format, id


# -------------------------------------------------------------------------------------------------------------
# SFT from a recipe, exactly as `thrifty sft --config recipes/toy/sft.yaml --key value ...` parses it
# -------------------------------------------------------------------------------------------------------------
def sft(sft_jsonl: Path, out: Path, steps: int) -> Path:
    data_args, training_args, model_args = parse_recipe(
        (DataArguments, ThriftySFTConfig, ModelConfig),
        ["--config", "recipes/toy/sft.yaml", "--model_name_or_path", "toy_base",
         "--dataset_name", str(sft_jsonl), "--output_dir", str(out / "sft"),
         "--max_steps", str(steps), "--per_device_train_batch_size", "16", "--save_strategy", "no"])
    trainer = build_sft_trainer(data_args, training_args, model_args)  # a TRL SFTTrainer (ThriftySFTTrainer)
    trainer.train()
    trainer.save_model()  # model + tokenizer; run_sft(...) does all of this and records the run too
    return Path(training_args.output_dir)


# -------------------------------------------------------------------------------------------------------------
# Rewards: the registry, your own reward, Ada-GRPO's scaling as a pure function
# -------------------------------------------------------------------------------------------------------------
@register_reward("brevity", doc="1 up to max_tokens completion tokens, then falling linearly to 0 at twice that")
def brevity(prompts, completions, completion_ids=None, max_tokens: int = 32, **columns):
    return [max(0.0, min(1.0, 2.0 - len(ids) / max_tokens)) for ids in completion_ids]


def try_rewards() -> dict:
    rewards = build_reward_funcs(["arm_accuracy", "brevity"], {"arm_accuracy": {"kind": "number"},
                                                               "brevity": {"max_tokens": 8}})
    completions = [[{"role": "assistant", "content": "<ANSWER>\n5\n</ANSWER>"}],  # direct, right
                   [{"role": "assistant", "content": "<COT>\n3 1 6 4\n</COT>\n<ANSWER>\n4\n</ANSWER>"}],  # wrong
                   [{"role": "assistant", "content": "5"}]]  # no format tag: ARM's reward is 0
    scores = {f.__name__: f(prompts=[None] * 3, completions=completions, completion_ids=[[0] * 6, [0] * 14, [0]],
                            answer=["5", "5", "5"]) for f in rewards}
    # Ada-GRPO's alpha for one group of 4 completions at step 1 of 100: the rare format is boosted
    alpha = ada_grpo_alpha(["long_cot", "long_cot", "long_cot", "direct"], step=1, total_steps=100)
    return {"scores": scores, "alpha": alpha}


# -------------------------------------------------------------------------------------------------------------
# GRPO, TRL-style: a config and a trainer; the variant is a config key
# -------------------------------------------------------------------------------------------------------------
VARIANTS = {
    "ada": dict(variant="ada", reward_funcs=["arm_accuracy"]),  # Ada-GRPO (ARM): format-balanced rewards
    "arm2": dict(variant="ada", ada_length_penalty=True, reward_funcs=["arm_accuracy"]),  # ARM2: + length factor
    "mind": dict(variant="mind", reward_funcs=["mind_format", "accuracy", "unit_compactness"]),  # MinD's R
}


def grpo(model_dir: Path, out: Path, variant: str, steps: int) -> tuple[Path, list[dict]]:
    args = ThriftyGRPOConfig(
        output_dir=str(out / f"grpo_{variant}"), **VARIANTS[variant], **DEVICE,
        num_generations=4, per_device_train_batch_size=8, max_completion_length=64, temperature=1.0,
        learning_rate=1e-4, loss_type="dapo", scale_rewards="group", beta=0.0,  # written explicitly, as recipes do
        max_steps=steps, logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
    )
    kinds = {name: {"kind": "number"} for name in args.reward_funcs if name in ("accuracy", "arm_accuracy")}
    trainer = ThriftyGRPOTrainer(
        model=str(model_dir),
        reward_funcs=build_reward_funcs(args.reward_funcs, kinds),
        args=args,
        train_dataset=toy_prompts(GRPODataArguments(toy_num_problems=32)),  # prompt (messages), answer, ...
        processing_class=load_tokenizer(str(model_dir), padding_side="left"),
    )
    trainer.train()
    trainer.save_model()
    return Path(args.output_dir), [h for h in trainer.state.log_history if "reward" in h]


# -------------------------------------------------------------------------------------------------------------
# DPO from dataclasses: the same objects a recipe fills
# -------------------------------------------------------------------------------------------------------------
def dpo(model_dir: Path, out: Path, steps: int) -> Path:
    pairs = [{"prompt": row["prompt"],
              "chosen": [{"role": "assistant", "content": f"<ANSWER>\n{row['answer']}\n</ANSWER>"}],
              "rejected": [{"role": "assistant", "content": f"<ANSWER>\n{(int(row['answer']) + 1) % 10}\n</ANSWER>"}]}
             for row in toy_prompts(GRPODataArguments(toy_num_problems=16, toy_family="running_sum"))]
    write_jsonl(out / "pairs.jsonl", pairs)
    trainer = build_dpo_trainer(
        DPODataArguments(dataset_name=str(out / "pairs.jsonl")),
        ThriftyDPOConfig(output_dir=str(out / "dpo"), **DEVICE, beta=0.1, loss_type=["sigmoid"], learning_rate=5e-3,
                         max_steps=steps, per_device_train_batch_size=4, max_length=256, save_strategy="no",
                         disable_tqdm=True),
        ModelConfig(model_name_or_path=str(model_dir), use_peft=True, lora_r=8, lora_alpha=16,
                    lora_target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),  # LoRA: the base is the reference
    )
    trainer.train()
    trainer.save_model()  # the LoRA adapter
    return Path(trainer.args.output_dir)


# -------------------------------------------------------------------------------------------------------------
# Eval: run it, read it back, compare runs, score predictions made elsewhere
# -------------------------------------------------------------------------------------------------------------
def evaluate(model_dir: Path, out: Path, per_difficulty: int) -> Path:
    return run_eval(EvalConfig(model_name_or_path=str(model_dir), output_dir=str(out / "eval" / model_dir.name),
                               benchmarks=["toy"], modes=["adaptive", "direct"], toy_per_difficulty=per_difficulty,
                               max_new_tokens=96, plots=False))


def score_elsewhere(out: Path) -> dict:
    problems = load_benchmark("toy", toy_per_difficulty=1)  # what `thrifty eval` generates for
    write_jsonl(out / "predictions.jsonl",
                ({"id": p.id, "completion": f"<ANSWER>\n{p.answer}\n</ANSWER>"} for p in problems))
    summary, rows = score_predictions("toy", out / "predictions.jsonl", toy_per_difficulty=1)
    return summary  # as `thrifty eval score --benchmark toy --predictions FILE` prints it


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/python_api", help="output folder")
    parser.add_argument("--n-train", type=int, default=200, help="toy training problems (x4 formats of SFT rows)")
    parser.add_argument("--sft-steps", type=int, default=20)
    parser.add_argument("--grpo-steps", type=int, default=4, help="steps of each GRPO variant")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--dpo-steps", type=int, default=4, help="0: no DPO")
    parser.add_argument("--per-difficulty", type=int, default=2, help="toy test problems per difficulty in the eval")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%X")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    sft_dir = sft(build_data(out, args.n_train), out, args.sft_steps)
    result = {"rewards": try_rewards(), "grpo": {}}
    models = [sft_dir]
    for variant in args.variants:
        model, logs = grpo(sft_dir, out, variant, args.grpo_steps)
        result["grpo"][variant] = logs
        models.append(model)
    if args.dpo_steps:
        models.append(dpo(sft_dir, out, args.dpo_steps))
    runs = [evaluate(m, out, args.per_difficulty) for m in models]
    result["eval"] = {run.name: load_run(run)[0]["results"]["toy"] for run in runs}
    result["report"] = str(write_comparison(runs, out / "report", plots=False))  # = thrifty report RUN_DIR ...
    result["score_elsewhere"] = score_elsewhere(out)
    (out / "summary.json").write_text(json.dumps(result, indent=2, default=str))
    for run, modes in result["eval"].items():
        logger.info("%s: adaptive accuracy %.2f, %.1f tokens", run, modes["adaptive"]["accuracy"],
                    modes["adaptive"]["mean_tokens"])
    print(json.dumps({"summary": str(out / "summary.json"), "report": result["report"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
