"""PNG plots of eval results (matplotlib, Agg backend: no display needed).

- :func:`plot_accuracy_vs_tokens`: one panel per benchmark, a point per (run, mode) at (mean output tokens,
  accuracy); multi-turn runs add their "after turn k" curve. Up and to the left is better.
- :func:`plot_token_histograms`: output-token histograms of several runs/modes on one benchmark.
- :func:`plot_format_mix_by_difficulty`: stacked bars of the formats chosen per difficulty (toy world).
- :func:`plot_format_mix_before_after`: the same bars for several models side by side, one panel each (the
  demo's SFT against Ada-GRPO).
- :func:`plot_pareto`: one benchmark, every (run, mode) a point, the Pareto front of accuracy against tokens
  (:func:`pareto_front`) drawn as a step line through its points (``thrifty report``, ``thrifty demo``); its
  point labels are placed on the rendered figure so that none overlaps another (:func:`pareto_figure`).
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


_MARKER_S = 55  # scatter size (points squared) of a Pareto-plot point
_RING_S = 160  # ... and of the ring round a point on the front
_LABEL_GAP = 2.0  # points kept free between a label and a marker or the axes' edge
_LABEL_SEP = 5.0  # ... and between two labels
_LABEL_MAX_SHIFT = 120.0  # the furthest (points) a label is moved up or down from its point


def _overlap_area(a: tuple, b: tuple, pad: float = 0.0) -> float:
    """The area two boxes ``(x0, y0, x1, y1)`` share once ``b`` is grown by ``pad`` on every side."""
    w = min(a[2], b[2] + pad) - max(a[0], b[0] - pad)
    h = min(a[3], b[3] + pad) - max(a[1], b[1] - pad)
    return w * h if w > 0 and h > 0 else 0.0


def _segment_hits(box: tuple, p: tuple, q: tuple, pad: float = 0.0) -> bool:
    """Whether the segment ``p``-``q`` passes through ``box`` ``(x0, y0, x1, y1)`` grown by ``pad``
    (Liang-Barsky clipping)."""
    lo, hi = 0.0, 1.0
    for d, start, low, high in ((q[0] - p[0], p[0], box[0] - pad, box[2] + pad),
                                (q[1] - p[1], p[1], box[1] - pad, box[3] + pad)):
        if d == 0:
            if not low < start < high:
                return False
            continue
        t0, t1 = (low - start) / d, (high - start) / d
        lo, hi = max(lo, min(t0, t1)), min(hi, max(t0, t1))
        if lo >= hi:
            return False
    return True


def _nearest_on_box(box: tuple, x: float, y: float) -> tuple[float, float]:
    """The point of ``box`` ``(x0, y0, x1, y1)`` nearest to ``(x, y)``."""
    return min(max(x, box[0]), box[2]), min(max(y, box[1]), box[3])


def _label_candidates(radius: float) -> list[tuple[float, tuple[float, float, str, str]]]:
    """``(cost, (dx, dy, ha, va))``: the offsets (points) and alignments to try for a label whose point has a
    marker of ``radius`` points, with what each costs (the points it is moved, plus a little for the left side,
    above or below): beside the point to the right or left, or above or below it (centred, or reaching out to
    either side), each moved further up or down in steps of 3 points."""
    side = radius + 3
    shifts = [0.0] + [s * k for k in range(3, int(_LABEL_MAX_SHIFT) + 1, 3) for s in (-1, 1)]
    cands = [(abs(dy) + extra, (dx, dy, ha, "center"))
             for dy in shifts for extra, dx, ha in ((0, side, "left"), (8, -side, "right"))]
    for dy in shifts:
        up = dy >= 0
        for extra, dx, ha in ((4, 0.0, "center"), (6, -radius, "left"), (10, radius, "right")):
            cands.append((abs(dy) + extra, (dx, dy + (side if up else -side), ha, "bottom" if up else "top")))
    return cands


def _layout_labels(frame: tuple, px: float, labels: list[dict], markers: list, order: list[int]):
    """Greedy placement of ``labels`` in ``order``: each takes the candidate of :func:`_label_candidates` that
    costs least given those placed before it. Overlapping another label costs by far the most, then a leader line
    through another label, leaving the axes (``frame``), covering a marker, and standing nearer another point
    than its own without a leader long enough to say whose it is. Boxes are ``(x0, y0, x1, y1)`` in display
    pixels, ``px`` pixels a point. ``labels``: dicts of ``anchor`` (its point), ``radius`` (its marker's, in
    points), ``own`` (indices of its markers in ``markers``: ``(box, centre)`` pairs), ``boxes`` (``(ha, va)`` ->
    its box at offset 0), ``candidates``. Returns ``(total cost, [(candidate, box, leader) per label])``, a
    leader being the segment from the box to the point, or None."""
    gap, sep = _LABEL_GAP * px, _LABEL_SEP * px
    inner = (frame[0] + gap, frame[1] + gap, frame[2] - gap, frame[3] - gap)
    placed: list[tuple] = []  # label boxes
    leaders: list[tuple] = []  # leader segments
    chosen: dict[int, tuple] = {}
    total = 0.0
    for i in order:
        lab = labels[i]
        (x, y), radius = lab["anchor"], lab["radius"]
        others = [m for j, m in enumerate(markers) if j not in lab["own"]]
        best = None
        for cost, (dx, dy, ha, va) in lab["candidates"]:
            b0 = lab["boxes"][ha, va]
            box = (b0[0] + dx * px, b0[1] + dy * px, b0[2] + dx * px, b0[3] + dy * px)
            start = _nearest_on_box(box, x, y)
            off = math.dist(start, (x, y))
            leader = off > (radius + 4) * px  # no longer beside its marker: tied to it by a line
            clear = off > (radius + 10) * px  # ... a line long enough to see whose label it is
            score = cost + 1e6 * sum(_overlap_area(box, b, sep) for b in placed)
            score += 1e3 * ((box[2] - box[0]) * (box[3] - box[1]) - _overlap_area(box, inner))
            score += 1e4 * sum(1 for seg in leaders if _segment_hits(box, *seg, gap))
            if leader:
                score += 1e4 * sum(1 for b in placed if _segment_hits(b, start, (x, y), gap))
            score += 30 * sum(_overlap_area(box, mbox, gap) for mbox, _ in markers)  # its own too
            for mbox, centre in others:
                if leader:
                    score += 1e3 * _segment_hits(mbox, start, (x, y))
                if not clear and math.dist(_nearest_on_box(box, *centre), centre) < off + 2 * px:
                    score += 80  # reads as that point's label
            if best is None or score < best[0]:
                best = (score, (dx, dy, ha, va), box, (start, (x, y)) if leader else None)
        score, cand, box, leader = best
        total += score
        placed.append(box)
        if leader:
            leaders.append(leader)
        chosen[i] = (cand, box, leader)
    return total, [chosen[i] for i in range(len(labels))]


def _place_labels(fig, ax, groups: list[tuple[list[dict], list[float]]]) -> None:
    """Annotate each group of points (``(points, marker radii in points)``) with one label, its names stacked,
    where its rendered box meets no other label and, where there is room, no marker, inside the axes
    (:func:`_layout_labels`; the cheapest of a few greedy orders: left to right, right to left, most crowded
    first). A label set off from its point is tied to it by a thin leader line from the label's nearest edge."""
    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72  # display pixels per point
    to_display = ax.transData.transform
    markers, labels = [], []
    aligns = {(ha, va) for _, (_, _, ha, va) in _label_candidates(0.0)}
    for pts, radii in groups:
        own = []
        for p, r in zip(pts, radii, strict=True):
            x, y = (float(v) for v in to_display((p["mean_tokens"], p["accuracy"])))
            own.append(len(markers))
            markers.append(((x - r * px, y - r * px, x + r * px, y + r * px), (x, y)))
        xy = (sum(p["mean_tokens"] for p in pts) / len(pts), sum(p["accuracy"] for p in pts) / len(pts))
        anchor = tuple(float(v) for v in to_display(xy))
        # the group's reach from its centre, in points: every marker of it lies within
        radius = max(math.dist(anchor, markers[j][1]) / px + r for j, r in zip(own, radii, strict=True))
        ann = ax.annotate("\n".join(f"{p['run']}/{p['mode']}" for p in pts), xy, fontsize=7, xytext=(0, 0),
                          textcoords="offset points")
        boxes = {}
        for ha, va in aligns:  # the rendered box at offset 0; a candidate's box is this one moved
            ann.set_ha(ha)
            ann.set_va(va)
            boxes[ha, va] = tuple(float(v) for v in ann.get_window_extent(renderer).extents)
        ann.remove()
        labels.append({"text": ann.get_text(), "xy": xy, "anchor": anchor, "radius": radius, "own": set(own),
                       "boxes": boxes, "candidates": _label_candidates(radius)})
    frame = tuple(float(v) for v in ax.get_window_extent(renderer).extents)
    by_x = sorted(range(len(labels)), key=lambda i: (labels[i]["xy"][0], -labels[i]["xy"][1]))
    crowd = sorted(range(len(labels)), key=lambda i: -sum(
        1.0 / (1.0 + math.dist(labels[i]["anchor"], m[1]) / px) for m in markers))
    _, layout = min((_layout_labels(frame, px, labels, markers, order) for order in (by_x, by_x[::-1], crowd)),
                    key=lambda t: t[0])
    for lab, ((dx, dy, ha, va), box, leader) in zip(labels, layout, strict=True):
        arrow = None
        if leader:  # from the label's edge nearest the point
            (sx, sy), _ = leader
            relpos = ((sx - box[0]) / (box[2] - box[0]), (sy - box[1]) / (box[3] - box[1]))
            arrow = dict(arrowstyle="-", color="0.3", lw=0.7, shrinkA=0, shrinkB=lab["radius"] + 1.5,
                         relpos=relpos, patchA=None)
        ax.annotate(lab["text"], lab["xy"], fontsize=7, xytext=(dx, dy), textcoords="offset points", ha=ha,
                    va=va, arrowprops=arrow, zorder=5)


def pareto_figure(points: list[dict], benchmark: str):
    """The figure of :func:`plot_pareto` (a matplotlib ``Figure``, not yet saved or closed). Points whose markers
    coincide share one label, their names stacked; labels are placed by :func:`_place_labels` so that none
    overlaps another (nor, where there is room, a marker)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    runs = list(dict.fromkeys(p["run"] for p in points))
    modes = list(dict.fromkeys(p["mode"] for p in points))
    cmap = plt.get_cmap("tab10")
    markers = "osD^vP*Xh<>"
    front = pareto_front(points)
    shown = [p for p in points if p.get("mean_tokens") is not None and p.get("accuracy") is not None]
    for p in shown:
        ax.scatter(p["mean_tokens"], p["accuracy"], color=cmap(runs.index(p["run"]) % 10),
                   marker=markers[modes.index(p["mode"]) % len(markers)], s=_MARKER_S, zorder=3)
    if front:
        ax.step([p["mean_tokens"] for p in front], [p["accuracy"] for p in front], where="post", color="black",
                linestyle="--", alpha=0.6, label="Pareto front")
        ax.scatter([p["mean_tokens"] for p in front], [p["accuracy"] for p in front], s=_RING_S, facecolors="none",
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
    ax.get_xlim()  # settle the autoscaled limits before measuring in display coordinates
    # one label for points whose markers overlap (the same place on the plot), names in the points' order
    to_display = ax.transData.transform
    same_place = math.sqrt(_MARKER_S) * fig.dpi / 72  # a marker's width, in pixels
    groups: list[tuple[list[dict], list[float]]] = []
    for p in shown:
        xy = to_display((p["mean_tokens"], p["accuracy"]))
        radius = math.sqrt(_RING_S if p in front else _MARKER_S) / 2
        home = next((g for g in groups if any(math.dist(xy, to_display((q["mean_tokens"], q["accuracy"])))
                                              < same_place for q in g[0])), None)
        if home is None:
            groups.append(([p], [radius]))
        else:
            home[0].append(p)
            home[1].append(radius)
    _place_labels(fig, ax, groups)
    return fig


def plot_pareto(points: list[dict], benchmark: str, path: str | Path) -> Path:
    """``points``: dicts of ``run, mode, mean_tokens, accuracy`` on one benchmark. Every run has its colour and
    every mode its marker; the Pareto front is a dashed step line through ringed points; labels never overlap
    (:func:`pareto_figure`)."""
    return _save(pareto_figure(points, benchmark), Path(path))


#: Markers of :func:`plot_labelled_panels`, one per label in order of first appearance; a label named in
#: ``highlight`` is drawn as a large star (the format oracle: the bound the others are read against).
_PANEL_MARKERS = "oDs^vPXh<>p"


def plot_labelled_panels(points: list[dict], title: str, path: str | Path, highlight: tuple[str, ...] = (),
                         panels: list[str] | None = None) -> Path:
    """Accuracy against mean output tokens, one panel per ``panel`` value (e.g. the test set as a whole and each
    tier), every point a dict of ``panel, label, mean_tokens, accuracy``. Points sharing a label share a colour and
    marker in every panel, and several points per label (one per seed) are drawn as they are, with the label's
    median as a larger outlined marker; labels are named once, in a legend below the panels, so no text sits on a
    point or on another label. ``highlight`` labels are drawn as stars. Written atomically."""
    plt = _plt()
    panels = panels or list(dict.fromkeys(p["panel"] for p in points))
    labels = list(dict.fromkeys(p["label"] for p in points))
    cmap = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels) + 0.6, 3.6), squeeze=False)
    named: set[str] = set()  # each label enters the legend once, from the first panel that has it
    for ax, panel in zip(axes[0], panels, strict=True):
        for i, label in enumerate(labels):
            mine = [p for p in points if p["panel"] == panel and p["label"] == label
                    and p.get("mean_tokens") is not None and p.get("accuracy") is not None]
            if not mine:
                continue
            star = label in highlight
            style = dict(color=cmap(i % 10), marker="*" if star else _PANEL_MARKERS[i % len(_PANEL_MARKERS)])
            xs, ys = [p["mean_tokens"] for p in mine], [p["accuracy"] for p in mine]
            ax.scatter(xs, ys, s=(160 if star else 36), alpha=0.9 if len(mine) == 1 else 0.55, zorder=3,
                       label=None if label in named else label, **style)
            named.add(label)
            if len(mine) > 1:
                mid_x, mid_y = sorted(xs)[len(xs) // 2], sorted(ys)[len(ys) // 2]
                ax.scatter([mid_x], [mid_y], s=110, edgecolors="black", linewidths=1.2, zorder=4, **style)
        ax.set_title(panel, fontsize=10)
        ax.set_xlabel("mean output tokens")
        ax.set_xlim(left=0)
        ax.set_ylim(min(0.5, min((p["accuracy"] for p in points if p["panel"] == panel), default=0.5)) - 0.03, 1.02)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("accuracy")
    fig.suptitle(title, fontsize=10)
    fig.legend(loc="lower center", ncol=min(len(labels), 4), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.08 + 0.05 * ((len(labels) - 1) // 4), 1, 1))
    return _save(fig, Path(path))
