"""PNG plots of eval results (matplotlib, Agg backend: no display needed).

- :func:`plot_accuracy_vs_tokens`: one panel per benchmark, a point per (run, mode) at (mean output tokens,
  accuracy); multi-turn runs add their "after turn k" curve. Up and to the left is better.
- :func:`plot_token_histograms`: output-token histograms of several runs/modes on one benchmark.
- :func:`plot_format_mix_by_difficulty`: stacked bars of the formats chosen per difficulty (toy world).
- :func:`plot_format_mix_before_after`: the same bars for several models side by side, one panel each (the
  demo's SFT against Ada-GRPO).
- :func:`plot_pareto`: one benchmark, every (run, mode) a point, the Pareto front of accuracy against tokens
  (:func:`pareto_front`) drawn as a step line through its points (``thrifty report``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

logger = logging.getLogger(__name__)

FORMAT_COLORS = {"direct": "#4c72b0", "short_cot": "#55a868", "code": "#8172b2", "long_cot": "#c44e52",
                 "multiturn": "#ccb974", "unknown": "#8c8c8c"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    """Save atomically (write a temp file beside ``path``, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    tmp.replace(path)
    _plt().close(fig)
    return path


def plot_accuracy_vs_tokens(points: list[dict], path: str | Path, curves: list[dict] | None = None) -> Path:
    """``points``: dicts of ``benchmark, label, mean_tokens, accuracy``; ``curves``: dicts of ``benchmark,
    label, tokens (list), accuracy (list)`` (after-turn-k curves)."""
    plt = _plt()
    benchmarks = sorted({p["benchmark"] for p in points})
    cols = min(3, max(1, len(benchmarks)))
    rows = math.ceil(len(benchmarks) / cols) or 1
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.8 * rows), squeeze=False)
    labels = sorted({p["label"] for p in points})
    cmap = plt.get_cmap("tab10")
    color = {label: cmap(i % 10) for i, label in enumerate(labels)}
    for ax, bench in zip(axes.flat, benchmarks, strict=False):
        for p in (p for p in points if p["benchmark"] == bench and p["mean_tokens"] is not None):
            ax.scatter(p["mean_tokens"], p["accuracy"], color=color[p["label"]], s=40, zorder=3)
            ax.annotate(p["label"], (p["mean_tokens"], p["accuracy"]), fontsize=7, xytext=(4, 3),
                        textcoords="offset points")
        for c in curves or []:
            if c["benchmark"] == bench:
                ax.plot(c["tokens"], c["accuracy"], marker=".", linestyle="--", color=color.get(c["label"], "k"),
                        alpha=0.7, label=f"{c['label']} after turn k")
        ax.set_title(bench)
        ax.set_xlabel("mean output tokens per sample")
        ax.set_ylabel("accuracy (pass@1)")
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
        if any(c["benchmark"] == bench for c in curves or []):
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(benchmarks):]:
        ax.axis("off")
    fig.suptitle("Accuracy against output tokens")
    return _save(fig, Path(path))


def plot_token_histograms(series: dict[str, list[int]], title: str, path: str | Path, bins: int = 30) -> Path:
    """Overlaid histograms of output tokens per sample, one series per label."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    values = [v for vs in series.values() for v in vs]
    if values:
        lo, hi = min(values), max(values)
        edges = [lo + (hi - lo + 1) * i / bins for i in range(bins + 1)]
        for label, vs in series.items():
            if vs:
                ax.hist(vs, bins=edges, alpha=0.5, label=f"{label} (n={len(vs)})")
        ax.legend(fontsize=7)
    ax.set_title(title)
    ax.set_xlabel("output tokens per sample")
    ax.set_ylabel("samples")
    ax.grid(alpha=0.3)
    return _save(fig, Path(path))


def _format_bars(ax, by_difficulty: dict[str, dict], formats: list[str], title: str, xlabel: str = "difficulty") -> None:
    """One panel of stacked format-share bars per difficulty level (numeric levels ascending, named groups such
    as tiers in their given order), with the accuracy as a black line."""
    levels = (sorted(by_difficulty, key=lambda x: (len(x), x)) if all(k.isdigit() for k in by_difficulty)
              else list(by_difficulty))
    bottom = [0.0] * len(levels)
    xs = list(range(len(levels)))
    for fmt in formats:
        shares = [by_difficulty[lv]["format_mix"].get(fmt, 0.0) for lv in levels]
        ax.bar(xs, shares, bottom=bottom, label=fmt, color=FORMAT_COLORS.get(fmt))
        bottom = [b + s for b, s in zip(bottom, shares, strict=True)]
    acc = [by_difficulty[lv]["accuracy"] for lv in levels]
    ax.plot(xs, acc, color="black", marker="o", label="accuracy")
    ax.set_xticks(xs, levels)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of samples / accuracy")
    ax.set_ylim(0, 1.05)


def _formats_of(panels: list[dict[str, dict]]) -> list[str]:
    """The formats present in any panel, in :data:`FORMAT_COLORS` order, then any others sorted."""
    present = {f for by_difficulty in panels for g in by_difficulty.values() for f in g["format_mix"]}
    return [f for f in FORMAT_COLORS if f in present] + sorted(present - set(FORMAT_COLORS))


def plot_format_mix_by_difficulty(by_difficulty: dict[str, dict], title: str, path: str | Path) -> Path:
    """Stacked bars: the share of each format per difficulty level (``by_difficulty[level]["format_mix"]``)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    _format_bars(ax, by_difficulty, _formats_of([by_difficulty]), title)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(fig, Path(path))


def plot_format_mix_before_after(models: dict[str, dict[str, dict]], title: str, path: str | Path,
                                 xlabel: str = "difficulty") -> Path:
    """One stacked-bar panel per model (``models[label][level] = {"format_mix": ..., "accuracy": ...}``), side by
    side with shared colours and axes: how the chosen formats per difficulty (or tier) moved, e.g. SFT against
    Ada-GRPO."""
    plt = _plt()
    formats = _formats_of(list(models.values()))
    fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models) + 1.5, 3.8), sharey=True, squeeze=False)
    for ax, (label, by_difficulty) in zip(axes.flat, models.items(), strict=True):
        _format_bars(ax, by_difficulty, formats, label, xlabel)
    axes.flat[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title)
    return _save(fig, Path(path))


def pareto_front(points: list[dict]) -> list[dict]:
    """The points no other point dominates, by ascending tokens: ``q`` dominates ``p`` when it needs no more
    mean output tokens and is at least as accurate, and is strictly better in one of the two. Points without
    tokens are left out. (The efficient frontier of accuracy against cost, as in accuracy-vs-tokens plots of
    ARM and MinD.)"""
    pts = [p for p in points if p.get("mean_tokens") is not None and p.get("accuracy") is not None]
    front = []
    for p in pts:
        dominated = any(q["mean_tokens"] <= p["mean_tokens"] and q["accuracy"] >= p["accuracy"]
                        and (q["mean_tokens"] < p["mean_tokens"] or q["accuracy"] > p["accuracy"]) for q in pts)
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: (p["mean_tokens"], -p["accuracy"]))


def plot_pareto(points: list[dict], benchmark: str, path: str | Path) -> Path:
    """``points``: dicts of ``run, mode, mean_tokens, accuracy`` on one benchmark. Every run has its colour and
    every mode its marker; the Pareto front is a dashed step line through ringed points."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    runs = list(dict.fromkeys(p["run"] for p in points))
    modes = list(dict.fromkeys(p["mode"] for p in points))
    cmap = plt.get_cmap("tab10")
    markers = "osD^vP*Xh<>"
    front = pareto_front(points)
    shown = [p for p in points if p.get("mean_tokens") is not None]
    span = max((max(p["mean_tokens"] for p in shown) - min(p["mean_tokens"] for p in shown)) if shown else 0, 1e-9)
    labels: list[tuple[float, float, list[str]]] = []  # nearby points (10% of x, 0.05 of y) share a label
    for p in shown:
        ax.scatter(p["mean_tokens"], p["accuracy"], color=cmap(runs.index(p["run"]) % 10),
                   marker=markers[modes.index(p["mode"]) % len(markers)], s=55, zorder=3)
        near = next((lab for lab in labels if abs(lab[0] - p["mean_tokens"]) <= 0.1 * span
                     and abs(lab[1] - p["accuracy"]) <= 0.05), None)
        if near is None:
            labels.append((p["mean_tokens"], p["accuracy"], [f"{p['run']}/{p['mode']}"]))
        else:
            near[2].append(f"{p['run']}/{p['mode']}")
    for x, y, names in labels:
        ax.annotate("\n".join(names), (x, y), fontsize=7, xytext=(5, -3), textcoords="offset points", va="top")
    if front:
        ax.step([p["mean_tokens"] for p in front], [p["accuracy"] for p in front], where="post", color="black",
                linestyle="--", alpha=0.6, label="Pareto front")
        ax.scatter([p["mean_tokens"] for p in front], [p["accuracy"] for p in front], s=160, facecolors="none",
                   edgecolors="black", zorder=4)
    for i, run in enumerate(runs):
        ax.scatter([], [], color=cmap(i % 10), marker="o", label=f"run: {run}")
    for i, mode in enumerate(modes):
        ax.scatter([], [], color="gray", marker=markers[i % len(markers)], label=f"mode: {mode}")
    ax.set_title(f"{benchmark}: accuracy against output tokens")
    ax.set_xlabel("mean output tokens per sample")
    ax.set_ylabel("accuracy (pass@1)")
    ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save(fig, Path(path))
