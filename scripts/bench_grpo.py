#!/usr/bin/env python
"""Step time of thrifty's Ada-GRPO trainer vs plain ``trl.GRPOTrainer``: same tiny model, config, data, run.

Both trainers are built from the same parsed recipe (recipes/toy/grpo_ada.yaml with tiny overrides), warmed up
with ``--warmup`` steps, then timed over ``--steps`` steps each, interleaved A/B ``--rounds`` times so that
background load hits both alike. Bar: median step-time ratio (thrifty / TRL) <= 1.05. Prints a JSON last line
with ``bar`` and ``pass``; ``--smoke`` (1 warm-up + 1 timed step, 1 round) reports ``"smoke": true, "pass": null``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="1 warm-up and 1 timed step, 1 round (seconds)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.warmup, args.rounds = 1, 1, 1
    os.environ.setdefault("WANDB_MODE", "offline")
    logging.basicConfig(level=logging.WARNING)
    sys.path.insert(0, str(REPO))
    from transformers import TrainerCallback
    from trl import GRPOTrainer

    from thrifty.trainers.grpo import build_grpo_trainer, parse_grpo_args
    from thrifty.trainers.toy import init_toy_model

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.times, self._t = [], 0.0

        def on_step_begin(self, *a, **k):
            self._t = time.perf_counter()

        def on_step_end(self, *a, **k):
            self.times.append(time.perf_counter() - self._t)

    tmp = Path(tempfile.mkdtemp(prefix="bench_grpo_"))
    model_dir = init_toy_model(tmp / "model")
    argv = ["--config", str(REPO / "recipes/toy/grpo_ada.yaml"), "--model_name_or_path", str(model_dir),
            "--output_dir", str(tmp / "out"), "--num_generations", "8", "--per_device_train_batch_size", "8",
            "--max_completion_length", "32", "--max_steps", str(args.warmup + args.steps), "--save_strategy", "no",
            "--logging_steps", "1", "--disable_tqdm", "true", "--report_to", "none", "--toy_num_problems", "128",
            "--resume_from_checkpoint", "false"]
    times: dict[str, list[float]] = {"thrifty_ada": [], "trl": []}
    for _ in range(args.rounds):
        for name, cls in (("thrifty_ada", None), ("trl", GRPOTrainer)):
            data_args, training_args, model_args = parse_grpo_args(argv)
            trainer = build_grpo_trainer(data_args, training_args, model_args, trainer_cls=cls)
            timer = StepTimer()
            trainer.add_callback(timer)
            trainer.train()
            times[name].extend(timer.times[args.warmup :])
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["thrifty_ada"] / med["trl"]
    result = {"median_step_s": {k: round(v, 4) for k, v in med.items()}, "ratio": round(ratio, 3),
              "steps_each": len(times["trl"]), "cpus": os.cpu_count(), "bar": "ratio <= 1.05", "pass": ratio <= 1.05}
    if args.smoke:
        result.update(smoke=True, **{"pass": None})
    print(f"median step: thrifty Ada-GRPO {med['thrifty_ada']:.4f}s  TRL GRPO {med['trl']:.4f}s  ratio {ratio:.3f}")
    print(json.dumps(result))
    return 0 if result["pass"] or args.smoke else 1


if __name__ == "__main__":
    raise SystemExit(main())
