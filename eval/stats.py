"""Statistics of scored samples: accuracy against tokens, per benchmark and inference mode.

Input rows are the per-sample records of ``samples.jsonl`` (see :mod:`thrifty.eval.runner`): ``problem_id``,
``sample``, ``correct``, ``prediction``, ``kind``, ``num_tokens``, ``format``, ``turns`` and optionally
``difficulty``, ``finish_reason``, ``turn_correct``, ``turn_tokens``, ``consensus``.

Per group the summary gives: ``accuracy`` (= pass@1, the unbiased estimator averaged over problems),
pass@k and maj@k for k in powers of two up to the samples per problem (and that number), mean/median output
tokens per sample, tokens per correct answer (total tokens / correct samples), the truncation rate, the
format and turn distributions, "after turn k" accuracy and mean tokens where some outputs are multi-turn (a
user who stops reading after turn k, over every sample of the group: a sample with fewer turns, or a
single-turn answer, keeps its final answer and its full length), the
consensus fallback rate, and the same core numbers per difficulty where problems have one (the toy world).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

from thrifty.l1_budget import l1_length_stats, l1_mode_budget

from .scoring import MULTITURN, majority_vote, pass_at_k


def sample_ks(n: int) -> list[int]:
    """1, 2, 4, ... up to ``n``, plus ``n`` itself."""
    ks, k = [], 1
    while k <= n:
        ks.append(k)
        k *= 2
    if n not in ks and n > 0:
        ks.append(n)
    return ks


def _by_problem(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        groups[str(r["problem_id"])].append(r)
    for rs in groups.values():
        rs.sort(key=lambda r: r.get("sample", 0))
    return groups


def _mix(values: list) -> dict[str, float]:
    counts = Counter(str(v) for v in values)
    total = sum(counts.values())
    return {k: v / total for k, v in sorted(counts.items())} if total else {}


def core_stats(rows: list[dict]) -> dict:
    """Accuracy (pass@1), token statistics and format mix of a set of samples."""
    tokens = [r["num_tokens"] for r in rows if r.get("num_tokens") is not None]
    correct = sum(bool(r["correct"]) for r in rows)
    by_problem = _by_problem(rows)
    acc = statistics.fmean(sum(bool(r["correct"]) for r in rs) / len(rs) for rs in by_problem.values()) if rows else 0.0
    out = {
        "n_problems": len(by_problem),
        "n_samples": len(rows),
        "accuracy": acc,
        "mean_tokens": statistics.fmean(tokens) if tokens else None,
        "median_tokens": statistics.median(tokens) if tokens else None,
        "tokens_per_correct": (sum(tokens) / correct) if tokens and correct else None,
        "format_mix": _mix([r.get("format", "unknown") for r in rows]),
    }
    flags = [bool(r["nothinking"]) for r in rows if "nothinking" in r]
    if flags:  # AdaptThink's NoThinking rate (completions that open with </think>), per benchmark and level
        out["nothinking_rate"] = sum(flags) / len(flags)
    return out


def after_turn_stats(rows: list[dict]) -> list[dict]:
    """Accuracy and mean tokens if every sample of the group were stopped after turn k (k = 1..max turns).

    Computed over the whole group, so the figures compare with the group's accuracy: a sample that is not
    multi-turn (a direct or short answer in a mixed mode such as adaptive) counts as one turn, with its final
    verdict and full length at every k, as does a multi-turn sample with fewer than k turns. ``n`` is the
    number of samples, ``reached`` the share of them with at least k turns."""
    multi = [r for r in rows if r.get("turn_correct")]
    if not multi:
        return []
    max_k = max(len(r["turn_correct"]) for r in multi)
    out = []
    for k in range(1, max_k + 1):
        verdicts, tokens = [], []
        for r in rows:
            tc = r.get("turn_correct")
            verdicts.append(bool(tc[min(k, len(tc)) - 1]) if tc else bool(r.get("correct")))
            tt = r.get("turn_tokens")
            if tc and tt and k < len(tt):
                tokens.append(tt[k - 1])
            elif r.get("num_tokens") is not None:
                tokens.append(r["num_tokens"])
        out.append({
            "k": k,
            "n": len(rows),
            "accuracy": statistics.fmean(verdicts),
            "mean_tokens": statistics.fmean(tokens) if tokens else None,
            "reached": sum(len(r.get("turn_correct") or [None]) >= k for r in rows) / len(rows),
        })
    return out


def summarize_group(rows: list[dict]) -> dict:
    """Every statistic of one (benchmark, mode) group of samples (see the module docstring)."""
    out = core_stats(rows)
    by_problem = _by_problem(rows)
    n_min = min((len(rs) for rs in by_problem.values()), default=0)
    out["samples_per_problem"] = n_min
    out["pass_at_k"], out["maj_at_k"] = {}, {}
    for k in sample_ks(n_min):
        out["pass_at_k"][str(k)] = statistics.fmean(
            pass_at_k(len(rs), sum(bool(r["correct"]) for r in rs), k) for rs in by_problem.values())
        out["maj_at_k"][str(k)] = statistics.fmean(
            majority_vote([r.get("prediction") for r in rs], [bool(r["correct"]) for r in rs],
                          rs[0].get("kind", "auto"), k) for rs in by_problem.values())
    out["truncated_rate"] = sum(r.get("finish_reason") == "length" for r in rows) / len(rows) if rows else 0.0
    turns = [r["turns"] for r in rows if r.get("format") == MULTITURN and r.get("turns") is not None]
    if turns:
        out["turn_mix"] = {str(k): v for k, v in sorted(_mix(turns).items(), key=lambda kv: int(kv[0]))}
        out["mean_turns"] = statistics.fmean(turns)
        out["after_turn"] = after_turn_stats(rows)
    consensus = [r["consensus"] for r in rows if r.get("consensus")]
    if consensus:
        out["consensus_fallback_rate"] = statistics.fmean(bool(c["fallback"]) for c in consensus)
    budget = l1_mode_budget(rows[0]["mode"]) if rows and "mode" in rows[0] else None
    if budget is not None:  # L1's budget modes: how far the outputs land from the budget asked for
        out["l1"] = l1_length_stats([r["num_tokens"] for r in rows], budget)
    levels = sorted({r["difficulty"] for r in rows if r.get("difficulty") is not None})
    if levels:
        out["by_difficulty"] = {str(lvl): core_stats([r for r in rows if r.get("difficulty") == lvl])
                                for lvl in levels}
    return out


def summarize(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """``{benchmark: {mode: summarize_group(rows of that benchmark and mode)}}``."""
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["benchmark"], r["mode"])].append(r)
    out: dict[str, dict[str, dict]] = defaultdict(dict)
    for (bench, mode), rs in sorted(groups.items()):
        out[bench][mode] = summarize_group(rs)
    return dict(out)
