"""Long-output preference pairs for DPO: ``thrifty build preference-pairs --config RECIPE``.

LongWriter (Bai et al. 2024, section 4.3) follows long-output SFT with DPO on pairs whose chosen answer
both meets the requested length and writes better. For every prompt with several candidate answers this
builder scores each candidate by

    score = length_weight * S_l + quality_weight * S_q

with S_l the LongBench-Write length score against the prompt's required length
(:func:`thrifty.longform.length_score`, lengths = English words + CJK characters) and S_q the six-dimension
judge score (:mod:`thrifty.quality_judge`; ``judge_backend: none`` or ``quality_weight: 0``
ranks by length alone). With the default weights (0.5, 0.5) the score is LongBench-Write's S. The best
candidate becomes ``chosen``; the worst ones (up to ``pairs_per_prompt``) whose score is at least
``min_margin`` lower become ``rejected``.

Input (``candidates``): JSONL rows of ``prompt``, ``length`` (required length) and either ``responses`` (a list
of strings) or one ``response`` per row (rows of the same prompt are grouped). Output in ``output_dir``:
``pairs.jsonl`` (conversational ``prompt`` / ``chosen`` / ``rejected`` for :mod:`thrifty.trainers.dpo`, plus the
scores), ``scored.jsonl`` (every candidate's S_l, S_q, score), ``stats.json`` (pairs, drops by reason, score
margins); judge replies are cached in ``judge_cache.jsonl`` so a rerun costs no judge calls. Files are
written atomically.
"""

from __future__ import annotations

import hashlib
import logging
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from thrifty.console import emit
from thrifty.jsonl import DataError, read_jsonl, write_json, write_jsonl
from thrifty.longform import count_length, length_score
from thrifty.quality_judge import JudgeArguments, judge, make_judge

from .build_common import DecontaminationArguments, decontaminate_inputs

logger = logging.getLogger(__name__)


@dataclass
class PreferencePairArguments:
    """Recipe keys of the preference-pair builder (with :class:`JudgeArguments`)."""

    candidates: str = field(default=None, metadata={"help": "JSONL of prompt, length, responses (or response)"})
    prompt_field: str = field(default="prompt", metadata={"help": "field holding the instruction"})
    length_field: str = field(default="length", metadata={"help": "field holding the required length"})
    output_dir: str = field(default="runs/longwriter/pairs", metadata={"help": "output folder"})
    length_weight: float = field(default=0.5, metadata={"help": "weight of S_l in the ranking score"})
    quality_weight: float = field(default=0.5, metadata={"help": "weight of S_q (0: rank by length only)"})
    min_margin: float = field(default=10.0, metadata={"help": "minimum score gap between chosen and rejected"})
    pairs_per_prompt: int = field(default=1, metadata={"help": "rejected answers paired with the best one"})
    system_prompt: str | None = field(default=None, metadata={"help": "optional system message of every pair"})


@dataclass
class _Group:
    id: str
    prompt: str
    length: int
    responses: list[str] = field(default_factory=list)


def load_candidates(args: PreferencePairArguments) -> list[_Group]:
    """Candidates grouped per prompt, in first-seen order."""
    if not args.candidates:
        raise DataError("recipe key candidates: give a JSONL file of prompt, length, responses")
    path = Path(args.candidates)
    if not path.is_file():
        raise DataError(f"candidates file {path} does not exist")
    groups: dict[str, _Group] = {}
    for lineno, row in enumerate(read_jsonl(path), 1):
        where = f"{path}:{lineno}"
        prompt = row.get(args.prompt_field)
        if not isinstance(prompt, str) or not prompt:
            raise DataError(f"{where}: missing field '{args.prompt_field}'")
        try:
            length = int(row[args.length_field])
        except (KeyError, TypeError, ValueError):
            raise DataError(f"{where}: field '{args.length_field}' must hold the required length (an integer)") from None
        if "responses" in row:
            responses = row["responses"]
        elif "response" in row:
            responses = [row["response"]]
        else:
            raise DataError(f"{where}: each row needs 'responses' (a list) or 'response'")
        if not isinstance(responses, list) or not all(isinstance(r, str) for r in responses):
            raise DataError(f"{where}: 'responses' must be a list of strings")
        gid = hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]
        group = groups.setdefault(gid, _Group(gid, prompt, length))
        if group.length != length:
            raise DataError(f"{where}: required length {length} differs from {group.length} given before for "
                            "the same prompt")
        group.responses += [r for r in responses if r not in group.responses]
    return list(groups.values())


def build_preference_pairs(args: PreferencePairArguments, judge_args: JudgeArguments,
                           decontamination: DecontaminationArguments | None = None) -> dict:
    """Score every candidate, pair them per prompt, write the files; returns the stats. Prompts that overlap a
    benchmark prompt are dropped first (``decontamination``, on by default)."""
    if args.pairs_per_prompt < 1:
        raise DataError("recipe key pairs_per_prompt must be at least 1")
    groups = load_candidates(args)
    groups, decon = decontaminate_inputs(groups, [[g.prompt] for g in groups], [g.id for g in groups],
                                         decontamination or DecontaminationArguments())
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    use_judge = args.quality_weight > 0 and (judge_args.judge_backend or "none").lower() != "none"
    backend = make_judge(judge_args, out_dir / "judge_cache.jsonl") if use_judge else None
    flat = [(g, r) for g in groups for r in g.responses]
    try:
        verdicts = (judge(backend, judge_args.prompt_text(), [g.prompt for g, _ in flat], [r for _, r in flat],
                          max_attempts=judge_args.judge_max_attempts)
                    if backend is not None else [None] * len(flat))
        judge_stats = dict(backend.stats) if backend is not None else {}
    finally:
        if backend is not None:
            backend.close()
    scored, dropped, pairs, margins = [], Counter(), [], []
    by_group: dict[str, list[dict]] = {}
    for (group, response), verdict in zip(flat, verdicts, strict=True):
        produced = count_length(response)
        s_l = length_score(group.length, produced)
        s_q = verdict["S_q"] if verdict else None
        ok = s_q is not None or backend is None
        score = args.length_weight * s_l + args.quality_weight * (s_q or 0.0) if ok else None
        row = {"group": group.id, "length": produced, "required_length": group.length, "S_l": s_l, "S_q": s_q,
               "score": score, "response": response}
        scored.append(row)
        if ok:
            by_group.setdefault(group.id, []).append(row)
        else:
            dropped["candidate:judge_failed"] += 1
    for group in groups:
        cands = sorted(by_group.get(group.id, []), key=lambda r: r["score"], reverse=True)
        if len(cands) < 2:
            dropped["prompt:fewer_than_2_candidates"] += 1
            continue
        best = cands[0]
        losers = [c for c in reversed(cands[1:]) if best["score"] - c["score"] >= args.min_margin]
        if not losers:
            dropped["prompt:small_margin"] += 1
            continue
        for k, worst in enumerate(losers[: args.pairs_per_prompt]):
            pairs.append(_pair(args, group, best, worst, k))
            margins.append(best["score"] - worst["score"])
    if decon.get("contaminated"):
        dropped["prompt:contaminated"] += decon["contaminated"]
    write_jsonl(out_dir / "scored.jsonl", scored)
    write_jsonl(out_dir / "pairs.jsonl", pairs)
    stats = {
        "output": str(out_dir / "pairs.jsonl"),
        "prompts": len(groups),
        "candidates": len(scored),
        "pairs": len(pairs),
        "dropped": dict(sorted(dropped.items())),
        "margin": {"mean": round(statistics.fmean(margins), 2), "min": round(min(margins), 2)} if margins else {},
        "weights": {"length": args.length_weight, "quality": args.quality_weight if backend is not None else 0.0},
        "judge": judge_args.judge_model if backend is not None else None,
        "judge_calls": judge_stats,
        "decontamination": decon,
    }
    write_json(out_dir / "stats.json", stats)
    logger.info("preference pairs in %s: %d pairs from %d prompts, dropped %s", out_dir, len(pairs), len(groups),
                stats["dropped"])
    return stats


def _pair(args: PreferencePairArguments, group: _Group, best: dict, worst: dict, k: int) -> dict:
    prompt = [{"role": "system", "content": args.system_prompt}] if args.system_prompt else []
    prompt.append({"role": "user", "content": group.prompt})
    return {
        "id": f"{group.id}-{k}",
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": best["response"]}],
        "rejected": [{"role": "assistant", "content": worst["response"]}],
        "required_length": group.length,
        "chosen_score": best["score"], "rejected_score": worst["score"],
        "chosen_length": best["length"], "rejected_length": worst["length"],
    }


def cmd_build_preference_pairs(argv: list[str]) -> int:
    """``thrifty build preference-pairs --config RECIPE [--key value ...]``."""

    from thrifty.recipes import parse_recipe

    from .build_common import HubArguments
    from .publish_dataset import after_build

    args, judge_args, decontamination, hub = parse_recipe(
        (PreferencePairArguments, JudgeArguments, DecontaminationArguments, HubArguments), argv)
    stats = build_preference_pairs(args, judge_args, decontamination)
    after_build(args.output_dir, (args, judge_args, decontamination), hub, "preference-pairs")
    emit({k: stats[k] for k in ("output", "pairs", "dropped")})
    return 0
