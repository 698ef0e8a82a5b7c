"""``thrifty toy build``: write the toy world's problems, traces and SFT data to a folder.

Files (all JSONL, written atomically):

- ``train_problems.jsonl`` / ``test_problems.jsonl``: ``id, task, difficulty, inputs, question, answer``
  (disjoint by content; the test file holds distinct problems, up to ``n_test_per_difficulty`` per level);
- ``traces.jsonl``: an R1-style long-CoT trace (``<think>`` dialect) per training problem, the raw material
  of the ARM and MinD data builders;
- ``sft.jsonl``: one conversational row per training problem, its format drawn with ``weights`` (direct,
  short_cot, code, long_cot, multiturn), for multi-format SFT; with ``all_formats``, one row per format of
  positive weight for every training problem instead (ARM's SFT layout: every AQuA-Rat question is annotated in
  all four formats, Wu et al. 2025, section 3.1).
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

from thrifty.jsonl import write_json, write_jsonl
from thrifty.toy_world import MULTITURN, TRAIN, ToyWorld, weighted_formats

logger = logging.getLogger(__name__)

DEFAULT_WEIGHTS = {"direct": 1.0, "short_cot": 1.0, "code": 0.3, "long_cot": 1.0, MULTITURN: 0.4}
#: ARM's four formats only (the demo's SFT data before Ada-GRPO: a MinD multi-turn answer would be an "unknown"
#: format there, which ARM's reward zeroes).
ARM_WEIGHTS = {fmt: w for fmt, w in DEFAULT_WEIGHTS.items() if fmt != MULTITURN}


def build_toy_dataset(
    out_dir: str | Path,
    n_train: int = 20000,
    n_test_per_difficulty: int = 100,
    weights: dict[str, float] | None = None,
    world: ToyWorld | None = None,
    family_weights: dict[str, dict[str, float]] | None = None,
    all_formats: bool = False,
) -> dict[str, str]:
    """Generate the toy world into ``out_dir``; returns the written paths by name.

    ``family_weights`` replaces ``weights`` for the problems of the named families (``problem.task``).
    ``all_formats`` writes every problem once per format of positive weight (ARM's layout), in place of one
    drawn format per problem; it cannot be combined with ``family_weights``.
    """
    if all_formats and family_weights:
        raise ValueError("all_formats writes every format for every problem: family_weights would be ignored")
    out = Path(out_dir)
    world = world or ToyWorld()
    weights = weights or DEFAULT_WEIGHTS
    train = world.problems(TRAIN, n_train)
    test = world.test_set(n_test_per_difficulty)
    if all_formats:
        names = [fmt for fmt, w in weights.items() if w > 0]
        sft_pairs = [(p, fmt) for p in train for fmt in names]
    else:
        sft_pairs = list(zip(train, weighted_formats(weights, len(train), world.seed), strict=True))
    for family, family_formats in (family_weights or {}).items():
        rows = [i for i, p in enumerate(train) if p.task == family]
        for i, fmt in zip(rows, weighted_formats(family_formats, len(rows), world.seed, family), strict=True):
            sft_pairs[i] = (train[i], fmt)
    paths = {
        "train_problems": out / "train_problems.jsonl",
        "test_problems": out / "test_problems.jsonl",
        "traces": out / "traces.jsonl",
        "sft": out / "sft.jsonl",
    }
    write_jsonl(paths["train_problems"], (p.to_row() for p in train))
    write_jsonl(paths["test_problems"], (p.to_row() for p in test))
    write_jsonl(
        paths["traces"],
        (
            {"id": p.id, "question": p.question, "answer": p.answer, "difficulty": p.difficulty,
             "trace": world.trace(p)}
            for p in train
        ),
    )
    write_jsonl(paths["sft"], (world.sft_row(p, fmt) for p, fmt in sft_pairs))
    stats = {
        "task": world.task.name,
        "seed": world.seed,
        "n_train": len(train),
        "n_test": len(test),
        "train_by_difficulty": dict(sorted(Counter(p.difficulty for p in train).items())),
        "test_by_difficulty": dict(sorted(Counter(p.difficulty for p in test).items())),
        "sft_rows": len(sft_pairs),
        "sft_by_format": dict(Counter(fmt for _, fmt in sft_pairs)),
    }
    write_json(out / "stats.json", stats)
    logger.info("toy world written to %s: %s", out, stats)
    return {k: str(v) for k, v in paths.items()}
