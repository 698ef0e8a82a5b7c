#!/usr/bin/env python
"""Benchmark: batched eval generation against one-prompt-at-a-time ``generate``, on the toy model.

Both paths decode greedily from the same model, prompts and ``max_new_tokens`` in the same process:

- batched: :class:`thrifty.eval.generation.TransformersGenerator` (prompts sorted by length, left padding,
  ``batch_size`` prompts per ``generate`` call, KV cache);
- sequential: ``model.generate`` on each prompt alone (no padding), the way a naive eval loop does it.

The outputs must be identical token for token (the script reports how many are); the bar is a speed-up of at
least 5x. The model is the shipped toy base (``thrifty/assets/toy_base``) when present, else a freshly
initialised tiny toy model (``--model`` picks another folder). The last line printed is a JSON object with
``bar`` and ``pass``; ``--smoke`` (8 prompts, 8 tokens, batches of 4) reports ``"smoke": true, "pass": null``.

    OMP_NUM_THREADS=1 python scripts/bench_eval.py [--n 128] [--max-new-tokens 64] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model folder (default: shipped toy base, else a fresh toy model)")
    parser.add_argument("--n", type=int, default=128, help="prompts")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--bar", type=float, default=5.0)
    parser.add_argument("--smoke", action="store_true", help="8 prompts, 8 new tokens, batches of 4 (seconds)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.n, args.max_new_tokens, args.batch_size = 8, 8, 4

    import torch

    from thrifty.benchmarks import load_toy_problems, user_message
    from thrifty.eval.generation import SamplingParams, TransformersGenerator, render_prompt
    from thrifty.eval.modes import INSTRUCTION_MODES, MODES, mode_prefill
    from thrifty.paths import TOY_BASE_DIR

    tmp = None
    if args.model:
        model_dir = Path(args.model)
    elif (TOY_BASE_DIR / "model.safetensors").exists():
        model_dir = TOY_BASE_DIR
    else:
        from thrifty.trainers.toy import init_toy_model

        tmp = tempfile.TemporaryDirectory()
        model_dir = init_toy_model(Path(tmp.name) / "toy_model")

    generator = TransformersGenerator.from_pretrained(str(model_dir), batch_size=args.batch_size, dtype="float32")
    model, tokenizer = generator.model, generator.tokenizer
    problems = load_toy_problems(per_difficulty=max(1, args.n // 6 + 1))
    modes = [m for m in MODES if m in ("adaptive", *INSTRUCTION_MODES)]
    prompts, prefills = [], []
    for i in range(args.n):
        p, mode = problems[i % len(problems)], modes[i % len(modes)]
        prefill = mode_prefill(mode)
        prompts.append(render_prompt(tokenizer, [{"role": "user", "content": user_message(p)}], prefill))
        prefills.append(prefill)
    params = SamplingParams(max_new_tokens=args.max_new_tokens, temperature=0.0)

    generator.generate(prompts[:2], params, prefills[:2])  # warm-up
    t = time.perf_counter()
    batched = generator.generate(prompts, params, prefills, desc="batched")
    batched_s = time.perf_counter() - t

    t = time.perf_counter()
    sequential = []
    with torch.no_grad():
        for prompt, prefill in zip(prompts, prefills, strict=True):
            enc = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
            out = model.generate(**enc, max_new_tokens=args.max_new_tokens, do_sample=False, temperature=None,
                                 top_p=None, top_k=None, pad_token_id=generator.pad_id,
                                 eos_token_id=sorted(generator.stop_ids))
            sequential.append(generator._to_generation(out[0, enc["input_ids"].shape[1]:].tolist(), prefill))
    sequential_s = time.perf_counter() - t

    same = sum(b[0].text == s.text and b[0].num_tokens == s.num_tokens for b, s in zip(batched, sequential, strict=True))
    tokens = sum(b[0].num_tokens for b in batched)
    speedup = sequential_s / batched_s
    result = {
        "model": str(model_dir) if tmp is None else "fresh tiny toy model (untrained)",
        "prompts": args.n, "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size,
        "threads": torch.get_num_threads(), "output_tokens": tokens,
        "batched_s": round(batched_s, 3), "sequential_s": round(sequential_s, 3), "speedup": round(speedup, 2),
        "identical_outputs": same, "bar": f"speedup >= {args.bar} and identical_outputs == prompts",
        "pass": speedup >= args.bar and same == args.n,
    }
    if args.smoke:
        result.update(smoke=True, **{"pass": None})
    if tmp is not None:
        tmp.cleanup()
    print(json.dumps(result))
    return 0 if result["pass"] or (args.smoke and same == args.n) else 1


if __name__ == "__main__":
    raise SystemExit(main())
