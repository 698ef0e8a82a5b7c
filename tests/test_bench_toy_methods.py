"""The one-harness comparison (scripts/bench_toy_methods.py): the method pages quote only its output file.

Each page of ``METHOD_PAGES`` carries a block rendered from the committed ``docs/experiments/compare/results.json``
by ``method_block``; a page edited by hand, or results rerun without ``--docs``, fails here, naming the command
that rewrites the pages."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "docs/experiments/compare/results.json"
#: The check on seeds no setting was chosen on (compare.md's ``untuned`` section).
UNTUNED = REPO / "docs/experiments/compare_untuned/results.json"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_toy_methods_blocks", REPO / "scripts/bench_toy_methods.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_method_pages_quote_the_benchmark_output():
    bench = _bench()
    results = json.loads(RESULTS.read_text())
    assert not results["smoke"] and len(results["seeds"]) >= 5
    for page, methods in bench.METHOD_PAGES.items():
        text = (REPO / "docs/methods" / page).read_text()
        start, end = text.index(bench.BLOCK_START), text.index(bench.BLOCK_END) + len(bench.BLOCK_END)
        assert text[start:end] == bench.method_block(results, methods), (
            f"docs/methods/{page}: its block differs from {RESULTS.relative_to(REPO)}; rerun "
            "`python scripts/bench_toy_methods.py --docs docs/experiments/compare`")
    page = (REPO / "docs/experiments/compare.md").read_text()
    assert bench.compare_block(results) in page, "docs/experiments/compare.md: the table differs from results.json"
    assert (REPO / "docs/experiments/compare/pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_method_block_arithmetic():
    """Ranges over seeds, the median ratio, the bars count, from hand-made rows."""
    bench = _bench()
    rows = [{"panel": "p", "method": "ARM2", "seed": s, "accuracy": a, "mean_tokens": t, "token_ratio": t / 160,
             "reference": "SFT forced to long CoT", "easy_long_cot": e, "hard_long_cot": 1.0,
             "bars": {"b1": True, "b2": s != 2}} for s, a, t, e in ((0, 0.99, 50.0, 0.0), (1, 1.0, 60.0, 0.1),
                                                                   (2, 0.98, 70.0, 0.3))]
    block = bench.method_block({"rows": rows}, ("ARM2",))
    assert "| ARM2 | 0, 1, 2 | 0.980-1.000 | 50.0-70.0 | 0.38x SFT forced to long CoT | 0.00-0.30 / 1.00 |" in block
    assert "hold for ARM2 in 2 of 3 seeds (0, 1, 2); seed 2 fails b2." in block
    same = [{**row, "seed": s, "bars": {"b1": s == 2, "b2": True}} for s, row in enumerate(rows)]  # seeds by bars
    assert "hold for ARM2 in 1 of 3 seeds (0, 1, 2); seeds 0, 1 fail b1." in bench.method_block({"rows": same},
                                                                                               ("ARM2",))
    with pytest.raises(ValueError, match="no <!-- bench_toy_methods -->"):
        bench.replace_block("no block here", block, "page.md")
    page = "a\n<!-- bench_toy_methods -->\nmain\n<!-- /bench_toy_methods -->\n<!-- bench_toy_methods x -->\nold\n" \
           "<!-- /bench_toy_methods x -->\nb"
    new = bench.replace_block(page, "<!-- bench_toy_methods x -->new<!-- /bench_toy_methods x -->", "p.md", "x")
    assert "main" in new and "old" not in new and "x -->new<" in new and new.endswith("\nb")


def test_the_untuned_seeds_section_quotes_its_output():
    """compare.md's check on other seeds shows the table of its own results.json, whose seeds the main comparison
    never ran."""
    bench = _bench()
    untuned = json.loads(UNTUNED.read_text())
    assert not untuned["smoke"] and not set(untuned["seeds"]) & set(json.loads(RESULTS.read_text())["seeds"])
    assert bench.compare_block(untuned, "untuned") in (REPO / "docs/experiments/compare.md").read_text(), (
        "docs/experiments/compare.md: the untuned section differs from its results.json; rerun the command above it")


def test_readme_tells_the_benchmarks_story():
    """The README's opening quotes ARM2's accuracy and token-ratio ranges over the benchmark's seeds, and the
    forced-long-CoT accuracy range, as results.json has them (so the front page cannot drift from the numbers)."""
    bench = _bench()
    results = json.loads(RESULTS.read_text())
    readme = (REPO / "README.md").read_text()

    def span(method: str, key: str, fmt: str) -> str:
        return bench._span([r[key] for r in results["rows"] if r["method"] == method], fmt)

    arm2 = sorted((r for r in results["rows"] if r["method"] == "ARM2"), key=lambda r: r["seed"])
    held = [r["seed"] for r in arm2 if all(r["bars"].values())]
    flat = " ".join(readme.split())
    assert f"answers {span('ARM2', 'accuracy', '{:.3f}')} of the test problems right" in flat
    assert f"at {span('ARM2', 'token_ratio', '{:.2f}')}x the tokens of the same model forced to think long" in flat
    assert f"(accuracy {span('SFT forced to long CoT', 'accuracy', '{:.3f}')})" in flat
    assert f"The demo's five bars hold in {len(held)} of seeds {arm2[0]['seed']}-{arm2[-1]['seed']}" in flat
    later = sorted((r for r in json.loads(UNTUNED.read_text())["rows"] if r["method"] == "ARM2"), key=lambda r: r["seed"])
    assert (f"and in {sum(all(r['bars'].values()) for r in later)} of seeds {later[0]['seed']}-{later[-1]['seed']}, "
            "which no setting was chosen on") in flat
