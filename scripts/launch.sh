#!/usr/bin/env bash
# Launch a thrifty training stage under `accelerate launch` (DDP or DeepSpeed ZeRO), on one GPU, one node with
# several, several nodes, or CPU (gloo; automatic when CUDA is absent).
#
#   scripts/launch.sh RECIPE [--accelerate ddp|zero2|zero3|zero3_offload|multi_node_zero3|PATH]
#                            [--num-processes N] [--num-machines M --machine-rank R --main-process-ip HOST
#                            [--main-process-port P]] [--stage sft|grpo] [--cpu] [--dry-run] [--key value ...]
#
# Examples:
#   scripts/launch.sh recipes/mind/grpo_r1_distill_1.5b.yaml --accelerate zero2 --num-processes 8 \
#       --model_name_or_path runs/mind_sft --output_dir runs/mind_grpo
#   scripts/launch.sh recipes/toy/sft.yaml --accelerate zero3 --num-processes 2 \
#       --model_name_or_path M --dataset_name D --output_dir runs/x          # CPU: gloo, fp32
#
# The stage (sft/grpo) comes from --stage, a '# stage: NAME' line in the recipe, the recipe's file name, or
# its keys; the accelerate config from --accelerate, a '# accelerate: NAME' line, or ddp. Unknown --key value
# pairs are recipe overrides. Environment defaults (yours win): OMP_NUM_THREADS = cores / processes,
# TORCH_EXTENSIONS_DIR=.cache/torch_extensions (DeepSpeed's compiled ops, built once), DS_ACCELERATOR=cpu on
# CPU. Full rules: trainers/launch.py (thrifty.trainers.launch).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$HERE")"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -x "$ROOT/.venv/bin/python" && -z "${VIRTUAL_ENV:-}" ]]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python; fi
fi
exec "$PYTHON" -m thrifty.trainers.launch "$@"
