#!/usr/bin/env python
"""Probe: does a toy world with a hard tier where only long CoT works train in CPU-minutes? (issue 17)

Trains a fresh ~1M-parameter Qwen2 (hidden 128, 4 layers, 4 heads, intermediate 512, tied embeddings, as
FIELD-NOTES.md "A toy task that a tiny model DOES learn in CPU-minutes") from scratch on a mix of two
:class:`~thrifty.toy_world.ToyTask` families, rendered by :class:`ToyWorld` exactly as the builders
render them (direct, short CoT and long CoT; no code, no multi-turn):

- ``running_sum`` (the shipped family, k = 1..6): the easy and medium tiers;
- ``product_sum`` (the candidate hard family, ``x_i = (x_{i-1} + a_i b_i) mod 10``, k = 1..9): the hard tier.

Tokens are whitespace-separated words (a word-level vocabulary, ~150 entries, built from the renderings), so
``56`` is one token as in FIELD-NOTES' measurements; the loss is on the completion only (format tag included).
Training: AdamW, lr 3e-3, 100 warmup steps, cosine to 10%, weight decay 0.01, batch 64, one fresh problem per
row (train split only). Evaluation: greedy, instruction-guided (the completion pre-filled with the format's
opening tag) on distinct test-split problems, exact match of the ``<ANSWER>`` block.

Tiers and bars (issue 17): easy (running_sum k = 1..2) direct >= 0.9; medium (running_sum k = 5..6) direct
<= 0.3 and short CoT >= 0.9; hard (product_sum k = 8..9) short CoT <= 0.6 and long CoT >= 0.9.

Usage:
    OMP_NUM_THREADS=1 nice -n 19 python scripts/probe_toy_tiers.py --steps 3000 --out runs/probe_tiers
    python scripts/probe_toy_tiers.py --smoke        # a few steps, tiny eval: the path, not the learning

Prints per-k accuracy tables at every evaluation point and, as its last line, a JSON object with the tier
accuracies, the bars and ``pass``; writes the same under ``--out`` (``probe.json``, atomically).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import sys
import time
from pathlib import Path

import torch

from thrifty.formats import DIRECT, LONG_COT, OPENING_TAGS, SHORT_COT
from thrifty.jsonl import write_json
from thrifty.toy_world import TEST, TRAIN, ProductSumTask, RunningSumTask, ToyWorld

FORMATS = (DIRECT, SHORT_COT, LONG_COT)
PAD, EOS, ASSISTANT, UNK = "<pad>", "<eos>", "<assistant>", "<unk>"
ANSWER_RE = re.compile(r"<ANSWER>\s*(\S+?)\s*</ANSWER>")

#: tier -> (family, difficulties, {format: (">=" or "<=", bar)})
TIERS: dict[str, tuple[str, tuple[int, ...], dict[str, tuple[str, float]]]] = {
    "easy": ("running_sum", (1, 2), {DIRECT: (">=", 0.9)}),
    "medium": ("running_sum", (5, 6), {DIRECT: ("<=", 0.3), SHORT_COT: (">=", 0.9)}),
    "hard": ("product_sum", (8, 9), {SHORT_COT: ("<=", 0.6), LONG_COT: (">=", 0.9)}),
}


def parse_weights(text: str) -> dict[str, float]:
    """``"1,0.5,1"`` -> direct/short_cot/long_cot weights."""
    parts = [float(x) for x in text.split(",")]
    if len(parts) != 3 or min(parts) < 0 or sum(parts) <= 0:
        raise SystemExit(f"format weights must be three non-negative numbers D,S,L; got {text!r}")
    return dict(zip(FORMATS, parts, strict=True))


class Vocab:
    """Word-level vocabulary: every whitespace-separated word of the renderings is one token; a word outside it
    (a rare large total in an "alternatively" unit) is ``<unk>``."""

    def __init__(self, words: set[str]):
        self.itos = [PAD, EOS, ASSISTANT, UNK, *sorted(words - {PAD, EOS, ASSISTANT, UNK})]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def encode(self, text: str) -> list[int]:
        unk = self.stoi[UNK]
        return [self.stoi.get(w, unk) for w in text.split()]

    def decode(self, ids: list[int]) -> str:
        return " ".join(self.itos[i] for i in ids if i not in (0, 1))

    pad_id, eos_id = 0, 1

    def prompt_ids(self, question: str, prefill: str = "") -> list[int]:
        return self.encode(question) + [self.stoi[ASSISTANT]] + self.encode(prefill)

    def completion_ids(self, text: str) -> list[int]:
        return self.encode(text) + [self.eos_id]


class ChatCodec:
    """The shipped toy base's own tokenizer and chat template (``--from-base``): prompts as ``thrifty eval``
    renders them (:func:`thrifty.generation.render_prompt`), completions ending with ``<|im_end|>``."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_token_id
        self.eos_id = tokenizer.convert_tokens_to_ids("<|im_end|>")

    def prompt_ids(self, question: str, prefill: str = "") -> list[int]:
        from thrifty.generation import render_prompt

        text = render_prompt(self.tokenizer, [{"role": "user", "content": question}], prefill)
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def completion_ids(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids + [self.eos_id]

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=True)


def build_vocab(worlds: dict[str, ToyWorld]) -> Vocab:
    words: set[str] = set()
    for world in worlds.values():
        for k in world.difficulties:
            for p in world.problems(TRAIN, 60, k) + world.problems(TEST, 20, k):
                words.update(p.question.split())
                for fmt in FORMATS:
                    words.update(world.render(p, fmt).split())
    # every number a long CoT can write (products up to 81, sums up to 90, slips up to 82)
    words.update(str(i) for i in range(100))
    return Vocab(words)


def make_model(vocab_size: int, seed: int):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=vocab_size, hidden_size=128, num_hidden_layers=4, num_attention_heads=4,
                      num_key_value_heads=4, intermediate_size=512, max_position_embeddings=512,
                      tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, bos_token_id=None)
    return Qwen2ForCausalLM(cfg)


class Batches:
    """Random training rows: family by weight, k uniform, format by the family's weights; train split only."""

    def __init__(self, worlds, vocab: Vocab, family_weights: dict[str, float], format_weights: dict[str, dict],
                 seed: int, pool: int = 40000):
        self.worlds, self.vocab = worlds, vocab
        self.family_weights, self.format_weights = family_weights, format_weights
        self.rng = random.Random(seed)
        self.pools = {name: world.problems(TRAIN, pool) for name, world in worlds.items()}

    def row(self) -> tuple[list[int], list[int]]:
        fams = list(self.family_weights)
        fam = self.rng.choices(fams, weights=[self.family_weights[f] for f in fams])[0]
        fw = self.format_weights[fam]
        fmt = self.rng.choices(list(fw), weights=list(fw.values()))[0]
        p = self.rng.choice(self.pools[fam])
        return self.vocab.prompt_ids(p.question), self.vocab.completion_ids(self.worlds[fam].render(p, fmt))

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = [self.row() for _ in range(size)]
        width = max(len(p) + len(c) for p, c in rows)
        ids = torch.full((size, width), self.vocab.pad_id, dtype=torch.long)
        labels = torch.full((size, width), -100, dtype=torch.long)
        mask = torch.zeros(size, width, dtype=torch.long)
        for i, (p, c) in enumerate(rows):
            seq = p + c
            ids[i, :len(seq)] = torch.tensor(seq)
            labels[i, len(p):len(seq)] = torch.tensor(c)
            mask[i, :len(seq)] = 1
        return ids, labels, mask


@torch.no_grad()
def greedy(model, vocab, prompts: list[list[int]], max_new: int, batch_size: int = 256) -> list[str]:
    """Greedy continuations (left-padded batches, KV cache), decoded to words."""
    model.eval()
    outs: list[str] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start:start + batch_size]
        width = max(len(p) for p in chunk)
        ids = torch.full((len(chunk), width), vocab.pad_id, dtype=torch.long)
        mask = torch.zeros(len(chunk), width, dtype=torch.long)
        for i, p in enumerate(chunk):
            ids[i, width - len(p):] = torch.tensor(p)
            mask[i, width - len(p):] = 1
        gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new, do_sample=False,
                             pad_token_id=vocab.pad_id, eos_token_id=vocab.eos_id)
        for row in gen[:, width:].tolist():
            if vocab.eos_id in row:
                row = row[:row.index(vocab.eos_id) + 1]
            outs.append((vocab.decode(row), len(row)))
    model.train()
    return outs


def evaluate(model, vocab, worlds, eval_ks: dict[str, list[int]], n: int) -> dict:
    """Accuracy and mean completion words per family, k and format (greedy, tag pre-filled)."""
    result: dict = {}
    for fam, ks in eval_ks.items():
        world = worlds[fam]
        problems = [p for k in ks for p in world.problems(TEST, n, k, distinct=True)]
        for fmt in FORMATS:
            tag = OPENING_TAGS[fmt]
            prompts = [vocab.prompt_ids(p.question, tag) for p in problems]
            # room for the longest reference completion (its tag is pre-filled) plus a few tokens
            max_new = max(len(vocab.completion_ids(world.render(p, fmt))) for p in problems) + 8
            texts = greedy(model, vocab, prompts, max_new)
            by_k: dict[int, list[tuple[bool, int]]] = {}
            for p, (text, n_tokens) in zip(problems, texts, strict=True):
                m = ANSWER_RE.search(f"{tag} {text}")
                by_k.setdefault(p.difficulty, []).append((m is not None and m.group(1) == p.answer, n_tokens))
            for k, rs in by_k.items():
                result.setdefault(fam, {}).setdefault(fmt, {})[k] = {
                    "n": len(rs), "accuracy": sum(c for c, _ in rs) / len(rs),
                    "mean_tokens": sum(t for _, t in rs) / len(rs)}
    return result


def tier_report(acc: dict) -> dict:
    """Tier accuracies (pooled over the tier's k), each bar and whether it holds; ``pass`` when all hold."""
    tiers, ok_all = {}, True
    for tier, (fam, ks, bars) in TIERS.items():
        cells = {}
        for fmt in FORMATS:
            rows = [acc.get(fam, {}).get(fmt, {}).get(k) for k in ks]
            rows = [r for r in rows if r]
            n = sum(r["n"] for r in rows)
            cells[fmt] = sum(r["accuracy"] * r["n"] for r in rows) / n if n else None
        checks = {}
        for fmt, (op, bar) in bars.items():
            value = cells[fmt]
            ok = value is not None and (value >= bar if op == ">=" else value <= bar)
            checks[f"{fmt} {op} {bar}"] = ok
            ok_all &= ok
        tiers[tier] = {"family": fam, "k": list(ks), "accuracy": cells, "bars": checks}
    return {"tiers": tiers, "pass": ok_all}


def table(acc: dict) -> str:
    lines = []
    for fam, by_fmt in acc.items():
        ks = sorted({k for rows in by_fmt.values() for k in rows})
        lines.append(f"{fam}: accuracy (mean tokens) by k, greedy")
        lines.append("| format | " + " | ".join(f"k={k}" for k in ks) + " |")
        lines.append("|---" * (len(ks) + 1) + "|")
        for fmt, rows in by_fmt.items():
            cells = [f"{rows[k]['accuracy']:.2f} ({rows[k]['mean_tokens']:.0f})" if k in rows else "-" for k in ks]
            lines.append(f"| {fmt} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3000, help="training steps (cosine schedule over them)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--prod-share", type=float, default=0.6, help="share of product_sum rows in training")
    parser.add_argument("--sum-formats", default="1,1,0.5", help="running_sum format weights D,S,L")
    parser.add_argument("--prod-formats", default="1,0.5,1", help="product_sum format weights D,S,L")
    parser.add_argument("--max-pairs", type=int, default=9, help="product_sum's largest k")
    parser.add_argument("--minutes", type=float, default=None,
                        help="train for this many minutes of training time instead (the schedule runs over time; "
                             "--steps is then a cap)")
    parser.add_argument("--from-base", action="store_true",
                        help="continue from the shipped toy base (thrifty/assets/toy_base, its tokenizer and chat "
                             "template) instead of a fresh word-level model")
    parser.add_argument("--eval-at", default="0.5,1.0",
                        help="evaluate after these fractions of --steps (of --minutes when given)")
    parser.add_argument("--eval-n", type=int, default=50, help="distinct test problems per (family, k)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/probe_toy_tiers")
    parser.add_argument("--smoke", action="store_true", help="a few steps and a tiny eval (< 20 s): the path only")
    args = parser.parse_args(argv)
    if args.smoke:
        args.steps, args.batch_size, args.eval_n, args.eval_at = 4, 8, 2, "1.0"
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS") or 1))  # unset or empty: 1

    worlds = {"running_sum": ToyWorld(task=RunningSumTask(), seed=args.seed),
              "product_sum": ToyWorld(task=ProductSumTask(max_pairs=args.max_pairs), seed=args.seed)}
    hard_ks = [k for k in TIERS["hard"][1] if k <= args.max_pairs]
    eval_ks = {"running_sum": [1, 2, 3, 4, 5, 6],
               "product_sum": sorted({1, 3, 5, 7, *hard_ks} & set(range(1, args.max_pairs + 1)))}
    if args.smoke:
        eval_ks = {"running_sum": [1, 6], "product_sum": hard_ks[-1:]}
    if args.from_base:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from thrifty.paths import TOY_BASE_DIR

        vocab = ChatCodec(AutoTokenizer.from_pretrained(TOY_BASE_DIR))
        model = AutoModelForCausalLM.from_pretrained(TOY_BASE_DIR, dtype=torch.float32)
        model.train()
        vocab_size = len(vocab.tokenizer)
    else:
        vocab = build_vocab(worlds)
        model = make_model(len(vocab.itos), args.seed)
        vocab_size = len(vocab.itos)
    n_params = sum(p.numel() for p in model.parameters())
    batches = Batches(worlds, vocab, {"running_sum": 1 - args.prod_share, "product_sum": args.prod_share},
                      {"running_sum": parse_weights(args.sum_formats),
                       "product_sum": parse_weights(args.prod_formats)}, args.seed, 300 if args.smoke else 40000)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = min(100, max(1, args.steps // 10))
    budget_s = 60 * args.minutes if args.minutes else None
    eval_fracs = sorted(float(f) for f in args.eval_at.split(","))

    def progress(step: int, train_s: float) -> float:
        """Fraction of the run done: of the time budget with --minutes, else of --steps."""
        return min(1.0, train_s / budget_s) if budget_s else step / args.steps

    def lr_factor(step: int, train_s: float) -> float:
        """Linear warmup (100 steps, or 5% of the time budget), then cosine to 10%."""
        p = progress(step, train_s)
        warm = 0.05 if budget_s else warmup / args.steps
        if p < warm:
            return max(p / warm, 1 / warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (p - warm) / (1 - warm)))

    print(f"model {n_params / 1e6:.2f}M params, vocab {vocab_size}; steps {args.steps}, minutes {args.minutes}, "
          f"from base {args.from_base}, load average {os.getloadavg()[0]:.1f}", flush=True)
    history, t0, train_s = [], time.perf_counter(), 0.0
    for step in range(1, args.steps + 1):
        for group in opt.param_groups:
            group["lr"] = args.lr * lr_factor(step - 1, train_s)
        ts = time.perf_counter()
        ids, labels, mask = batches.batch(args.batch_size)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        train_s += time.perf_counter() - ts
        done = step == args.steps or (budget_s is not None and train_s >= budget_s)
        if step % 100 == 0 or done:
            print(f"step {step} loss {loss.item():.4f} train {train_s:.0f} s ({1000 * train_s / step:.0f} ms/step) "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
        if done or (eval_fracs and progress(step, train_s) >= eval_fracs[0]):
            while eval_fracs and progress(step, train_s) >= eval_fracs[0]:
                eval_fracs.pop(0)
            te = time.perf_counter()
            acc = evaluate(model, vocab, worlds, eval_ks, args.eval_n)
            rep = tier_report(acc)
            entry = {"step": step, "train_s": round(train_s, 1), "eval_s": round(time.perf_counter() - te, 1),
                     "load_average": os.getloadavg()[0], "accuracy": acc, **rep}
            history.append(entry)
            print(f"\n== step {step}, {train_s / 60:.1f} train-min, eval {entry['eval_s']:.0f} s ==")
            print(table(acc))
            print(json.dumps({t: v["accuracy"] for t, v in rep["tiers"].items()}), flush=True)
        if done:
            break
    final = history[-1]
    summary = {"steps": step, "train_s": round(train_s, 1), "wall_s": round(time.perf_counter() - t0, 1),
               "params": n_params, "args": vars(args), "tiers": final["tiers"], "pass": final["pass"]}
    if not args.smoke or args.out != parser.get_default("out"):
        write_json(Path(args.out) / "probe.json", {**summary, "history": history})
    print(json.dumps({"tiers": {t: v["accuracy"] for t, v in final["tiers"].items()},
                      "bar": {t: v["bars"] for t, v in final["tiers"].items()}, "steps": step,
                      "train_s": summary["train_s"], "smoke": args.smoke,
                      "pass": None if args.smoke else final["pass"]}))  # bars are not judged at smoke sizes
    return 0


if __name__ == "__main__":
    sys.exit(main())
