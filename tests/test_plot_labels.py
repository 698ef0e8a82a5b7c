"""The accuracy-vs-tokens plot (``plot_pareto``, drawn by ``thrifty demo``, ``thrifty report`` and eval reports)
labels every point once, and no two labels overlap: measured on the rendered figure, with the points of a real
demo run (two Ada-GRPO modes at accuracy 1.0 twenty tokens apart, whose labels used to print over each other)."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from thrifty.eval.plots import pareto_figure, plot_pareto

# runs/demo/accuracy_vs_tokens.json of a real `thrifty demo` (points: run, mode, accuracy, mean_tokens)
DEMO_POINTS = [{"run": run, "mode": mode, "accuracy": acc, "mean_tokens": tokens} for run, mode, acc, tokens in [
    ("SFT", "adaptive", 0.6333333333333333, 23.204166666666666),
    ("SFT", "direct", 0.20833333333333334, 4.0),
    ("SFT", "short_cot", 0.65, 15.233333333333333),
    ("SFT", "code", 0.21666666666666667, 37.225),
    ("SFT", "long_cot", 0.9333333333333333, 167.06666666666666),
    ("SFT", "multiturn", 0.9583333333333334, 161.37083333333334),
    ("Ada-GRPO", "adaptive", 1.0, 80.02083333333333),
    ("Ada-GRPO", "direct", 0.2125, 4.0),
    ("Ada-GRPO", "short_cot", 0.6416666666666667, 15.233333333333333),
    ("Ada-GRPO", "code", 0.2125, 37.225),
    ("Ada-GRPO", "long_cot", 1.0, 100.3625),
    ("Ada-GRPO", "multiturn", 0.9875, 148.9125),
]]


def _labels(points):
    """The figure's point labels: ``[(text, text-only box in display pixels)]``, plus the figure and axes."""
    from matplotlib.text import Text

    fig = pareto_figure(points, "toy")
    ax = fig.axes[0]
    fig.canvas.draw()  # as saved: every annotation's text placed
    renderer = fig.canvas.get_renderer()
    # Text.get_window_extent: the text's own box (an Annotation's includes its leader line)
    return [(t.get_text(), Text.get_window_extent(t, renderer)) for t in ax.texts], fig, ax


def _intersect(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def _check(points, *, markers_free: bool):
    import matplotlib.pyplot as plt

    labels, fig, ax = _labels(points)
    try:
        for (ta, a), (tb, b) in itertools.combinations(labels, 2):
            assert not _intersect(a, b), f"labels {ta!r} and {tb!r} overlap: {a} / {b}"
        # every point named exactly once
        names = [n for text, _ in labels for n in text.split("\n")]
        assert sorted(names) == sorted(f"{p['run']}/{p['mode']}" for p in points)
        frame = ax.get_window_extent(fig.canvas.get_renderer())
        for text, box in labels:
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1, text
        if markers_free:  # no label covers a marker (markers are s=55: a radius of ~3.7 points)
            r = math.sqrt(55) / 2 * fig.dpi / 72
            for p in points:
                x, y = ax.transData.transform((p["mean_tokens"], p["accuracy"]))
                for text, box in labels:
                    assert not (box.x0 < x + r and x - r < box.x1 and box.y0 < y + r and y - r < box.y1), \
                        f"label {text!r} covers the marker of {p['run']}/{p['mode']}"
        return labels
    finally:
        plt.close(fig)


def test_demo_plot_labels_do_not_overlap():
    labels = dict(_check(DEMO_POINTS, markers_free=True))
    # the two Ada-GRPO points at accuracy 1.0 have labels of their own
    assert "Ada-GRPO/adaptive" in labels and "Ada-GRPO/long_cot" in labels
    # points at the same place (same tokens, accuracy within a marker) share one label, names stacked
    assert "SFT/direct\nAda-GRPO/direct" in labels and "SFT/code\nAda-GRPO/code" in labels


def test_labels_twenty_tokens_apart_at_one_accuracy():
    points = [{"run": f"run-{i}", "mode": mode, "accuracy": 1.0, "mean_tokens": 20.0 * i + 40}
              for i, mode in enumerate(["adaptive", "long_cot", "multiturn", "short_cot"])]
    points += [{"run": "base", "mode": "direct", "accuracy": 0.2, "mean_tokens": 5.0}]
    _check(points, markers_free=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crowded_plots_never_overlap_labels(seed):
    rng = random.Random(seed)
    points = [{"run": run, "mode": mode, "accuracy": round(rng.uniform(0.5, 1.0), 2),
               "mean_tokens": rng.uniform(50, 150)}
              for run in ("SFT", "Ada-GRPO", "base") for mode in ("adaptive", "direct", "short_cot", "long_cot")]
    points.append(dict(points[0], run="copy"))  # two points at exactly one place
    _check(points, markers_free=False)


@pytest.mark.filterwarnings("ignore:No artists with labels")
def test_plot_pareto_still_writes_the_png(tmp_path):
    out = plot_pareto(DEMO_POINTS, "toy world (greedy, all k)", tmp_path / "a" / "accuracy_vs_tokens.png")
    assert out == tmp_path / "a" / "accuracy_vs_tokens.png"
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert not list(out.parent.glob(".*tmp*"))
    plot_pareto([], "empty", tmp_path / "empty.png")  # no points: still a plot
