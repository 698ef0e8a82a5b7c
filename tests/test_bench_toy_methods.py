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
#: The checks on seeds no setting was chosen on: compare.md's section -> its results.json.
SECTIONS = {"untuned": REPO / "docs/experiments/compare_untuned/results.json",
            "fresh": REPO / "docs/experiments/compare_fresh/results.json",
            "screen": REPO / "docs/experiments/compare_screen/results.json"}

#: The judgment of a candidate for the demo and a screen run from its SFT models: compare.md's section -> its
#: results.json. They rerun seeds of the other sections on purpose (their SFT models rebuilt), so they are kept out of
#: :data:`SECTIONS`' no-overlap rule.
RERUNS = {"judge": REPO / "docs/experiments/compare_judge/results.json",
          "screen_lr3e4": REPO / "docs/experiments/compare_screen_lr3e4/results.json",
          "screen_official": REPO / "docs/experiments/compare_screen_official/results.json",
          "screen_updates": REPO / "docs/experiments/compare_screen_updates/results.json",
          "screen_loss": REPO / "docs/experiments/compare_screen_loss/results.json",
          "screen_official_loss": REPO / "docs/experiments/compare_screen_official_loss/results.json",
          "judge_official": REPO / "docs/experiments/compare_judge_official/results.json",
          "screen_alpha01_official": REPO / "docs/experiments/compare_screen_alpha01_official/results.json",
          "judge_official_alpha01": REPO / "docs/experiments/compare_judge_official_alpha01/results.json",
          "screen_tag": REPO / "docs/experiments/compare_screen_tag/results.json",
          "judge_tag": REPO / "docs/experiments/compare_judge_tag/results.json",
          "screen_opening": REPO / "docs/experiments/compare_screen_opening/results.json",
          "judge_opening": REPO / "docs/experiments/compare_judge_opening/results.json",
          "after_opening": REPO / "docs/experiments/compare_after_opening/results.json"}


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


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_the_other_seeds_sections_quote_their_output(section):
    """compare.md's checks on other seeds show the table of their own results.json, whose seeds the main
    comparison never ran and no other check ran either."""
    bench = _bench()
    mine = json.loads(SECTIONS[section].read_text())
    others = [RESULTS, *(path for name, path in SECTIONS.items() if name != section)]
    assert not mine["smoke"] and not any(set(mine["seeds"]) & set(json.loads(p.read_text())["seeds"]) for p in others)
    assert bench.compare_block(mine, section) in (REPO / "docs/experiments/compare.md").read_text(), (
        f"docs/experiments/compare.md: the {section} section differs from its results.json; rerun the command "
        "above it")


def test_readme_tells_the_benchmarks_story():
    """The README's opening quotes the recommended method's accuracy and token-ratio ranges over its judgment's seeds
    and the forced-long-CoT accuracy range there (the judgment ran with that method recommended and judged it), the
    seeds of its judgment and screen; then ARM2's record in each results file (the main comparison, then each check on
    seeds no setting was chosen on), and the totals over every seed for ARM2, plain GRPO and Efficient RL at each
    alpha and loss, as the files have them (so the front page cannot drift from the numbers)."""
    from thrifty.trainers.demo import DEMO_METHODS, RECOMMENDED

    bench = _bench()
    results = json.loads(RESULTS.read_text())
    readme = " ".join((REPO / "README.md").read_text().split())
    judgment, screen = (json.loads(RERUNS[name].read_text()) for name in ("judge_opening", "screen_opening"))
    method = DEMO_METHODS[RECOMMENDED].label
    assert judgment["recommended"] == judgment["judged"] == screen["judged"] == method
    assert judgment["pass"] and screen["pass"]

    def span(rows: list[dict], name: str, key: str, fmt: str) -> str:
        return bench._span([r[key] for r in rows if r["method"] == name], fmt)

    def seeds(mine: dict) -> str:
        return ", ".join(map(str, mine["seeds"]))

    assert (f"answers {span(judgment['rows'], method, 'accuracy', '{:.3f}')} of the test problems right at "
            f"{span(judgment['rows'], method, 'token_ratio', '{:.2f}')}x the tokens of the same model forced to think "
            f"long (accuracy {span(judgment['rows'], 'SFT forced to long CoT', 'accuracy', '{:.3f}')})") in readme
    after = json.loads(RERUNS["after_opening"].read_text())
    assert after["judged"] == method and after["pass"]
    assert (f"in every seed of its judgment ({seeds(judgment)}) and of its screen before it ({seeds(screen)}), each "
            f"rule written down before it ran, and in the new worlds run after the switch ({seeds(after)})") in readme
    others = [json.loads(path.read_text())["rows"] for path in SECTIONS.values()]
    every = [results["rows"], *others]

    def held(rows: list[dict]) -> str:
        mine = sorted((r for r in rows if r["method"] == "ARM2"), key=lambda r: r["seed"])
        return f"{sum(all(r['bars'].values()) for r in mine)} of seeds {mine[0]['seed']}-{mine[-1]['seed']}"

    def total(name: str) -> int:
        return sum(all(r["bars"].values()) for rows in every for r in rows if r["method"] == name)

    assert (f"ARM2's hold in {held(results['rows'])}, " + ", ".join(f"in {held(rows)}" for rows in others[:-1])
            + f" and in {held(others[-1])}, which no setting was chosen on") in readme
    count = len({r["seed"] for rows in every for r in rows if r["method"] == "ARM2"})
    assert (f"Over all {count} seeds they hold in {total('ARM2')} for ARM2, {total('plain GRPO')} for plain "
            f"GRPO, {total('Efficient RL')} for Efficient RL") in readme
    assert f"and {total('Efficient RL (alpha 0.4)')} for Efficient RL at alpha 0.4" in readme
    judged = [r for rows in (*every, json.loads(RERUNS["judge"].read_text())["rows"]) for r in rows
              if r["method"] == "Efficient RL (alpha 0.2)"]  # not the learning-rate screen: another setting
    failed = [str(r["seed"]) for r in judged if not all(r["bars"].values())]
    assert (f"Efficient RL at alpha 0.2, judged on seeds 0-9 and six new worlds after a screen on 10-12, holds them in "
            f"{len(judged) - len(failed)} of {len(judged)} seeds (misses seed {', '.join(failed)},") in readme
    official = []
    for name in ("judge_official", "judge_official_alpha01"):
        mine = json.loads(RERUNS[name].read_text())
        rows = [r for r in mine["rows"] if r["method"] == mine["judged"]]
        official.append((sum(all(r["bars"].values()) for r in rows), len(rows)))
    assert (f"with the official code's loss, which makes that choice, in {official[0][0]} of {official[0][1]} judged "
            f"seeds at alpha 0.2 and in {official[1][0]} of {official[1][1]} at the official alpha 0.1") in readme


@pytest.mark.parametrize("section", sorted(RERUNS))
def test_a_judgment_quotes_its_output_and_its_verdict(section):
    """A judged (or screened) candidate's section shows its results.json's table, and its verdict sentence (in how
    many of the seeds the bars held, and the failing seeds) is the one the file gives, so the outcome cannot be
    misreported."""
    bench = _bench()
    mine = json.loads(RERUNS[section].read_text())
    page = " ".join((REPO / "docs/experiments/compare.md").read_text().split())
    assert not mine["smoke"] and bench.compare_block(mine, section) in (REPO / "docs/experiments/compare.md").read_text()
    rows = sorted((r for r in mine["rows"] if r["method"] == mine["judged"]), key=lambda r: r["seed"])
    assert [r["seed"] for r in rows] == mine["seeds"] == sorted(mine["seeds"])
    failed = [str(r["seed"]) for r in rows if not all(r["bars"].values())]
    assert mine["pass"] == (not failed)
    verdict = f"the bars hold for {mine['judged']} in {len(rows) - len(failed)} of these {len(rows)} seeds"
    assert verdict + (f" (fail: {', '.join(failed)})" if failed else "") in page, verdict


def test_format_choice_is_the_probability_of_each_tag_token_by_token(tiny_model_dir, tmp_path):
    """format_choice's batched tag probabilities equal the product of next-token probabilities taken one token at a
    time (the off-by-one a sliced logits tensor invites), its tier means and gaps follow from them, and its cache
    answers only for the same model and test set."""
    import shutil

    import torch

    tiny_model_dir = Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))  # the cache file lands beside it

    from thrifty.benchmarks import load_toy_problems, problem_text
    from thrifty.formats import ARM_FORMATS, OPENING_TAGS
    from thrifty.generation import prompt_token_ids, render_prompt
    from thrifty.models import load_model_and_tokenizer

    result = _bench().format_choice(tiny_model_dir, 1, seed=3)
    assert set(result) == {"easy", "medium", "hard"} and sum(cell["n"] for cell in result.values()) == 9
    model, tokenizer = load_model_and_tokenizer(str(tiny_model_dir), dtype="float32", device="cpu")
    easy = [p for p in load_toy_problems(1, 3) if p.meta["difficulty"] in (1, 2)]
    rows = []
    for problem in easy:
        text = render_prompt(tokenizer, [{"role": "user", "content": problem_text(problem)}])
        prompt = prompt_token_ids(tokenizer, text)
        row = []
        for fmt in ARM_FORMATS:
            ids, p = list(prompt), 1.0
            for token in prompt_token_ids(tokenizer, text + OPENING_TAGS[fmt])[len(prompt):]:
                with torch.no_grad():
                    p *= torch.softmax(model(torch.tensor([ids])).logits[0, -1], -1)[token].item()
                ids.append(token)
            row.append(p)
        rows.append(row)
    for i, fmt in enumerate(ARM_FORMATS):
        assert result["easy"][fmt] == pytest.approx(sum(r[i] for r in rows) / len(rows), rel=1e-3, abs=1e-6)
    gap = sum(sorted(r)[-1] - sorted(r)[-2] for r in rows) / len(rows)
    assert result["easy"]["gap"] == pytest.approx(gap, rel=1e-3, abs=1e-6)
    table = _bench().format_choice_table({"3": {"SFT": result}})
    assert table.splitlines()[2].startswith(f"| 3 | SFT | {result['easy']['short_cot']:.2f} / ")

    cache = tiny_model_dir / "format_choice.json"
    stored = json.loads(cache.read_text())
    cache.write_text(json.dumps({**stored, "result": "reused"}))
    assert _bench().format_choice(tiny_model_dir, 1, seed=3) == "reused"
    assert _bench().format_choice(tiny_model_dir, 1, seed=4) != "reused"  # another test set: computed again
    assert json.loads(cache.read_text())["key"]["seed"] == 4
