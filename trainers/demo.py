"""``thrifty demo``: the toy-world pipeline end to end, in minutes on a laptop CPU.

Stages (each skipped on a rerun once its output exists, so an interrupted demo resumes):
1. build the toy world's problems, traces and multi-format SFT data;
2. take the shipped toy base model (``thrifty/assets/toy_base``, made by ``thrifty toy pretrain``), or with
   ``from_scratch`` a freshly initialised tiny model and tokenizer;
3. multi-format SFT (``recipes/toy/sft.yaml``);
4. greedy evaluation on the toy test split in every inference mode;
5. a Markdown + JSON report of accuracy and output tokens by format and difficulty.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from trl import ModelConfig

from thrifty.data_builders.toy_build import build_toy_dataset
from thrifty.data_builders.toy_world import ToyProblem, ToyWorld
from thrifty.eval.generation import SamplingParams, TransformersGenerator
from thrifty.eval.toy import TOY_MODES, bar_metrics, generate_toy, summarize_toy, toy_markdown
from thrifty.jsonl import read_jsonl, write_json, write_jsonl, write_text
from thrifty.paths import TOY_BASE_DIR, recipe_path
from thrifty.recipes import parse_recipe

from .sft import DataArguments, ThriftySFTConfig, run_sft
from .toy import init_toy_model

logger = logging.getLogger(__name__)


def evaluate_toy_model(model_dir: str | Path, problems: list[ToyProblem], out_dir: str | Path,
                       modes=TOY_MODES, max_new_tokens: int = 200, batch_size: int = 128) -> dict:
    """Greedy toy eval of ``model_dir``; writes ``samples.jsonl``, ``summary.json`` and ``report.md``."""
    out_dir = Path(out_dir)
    generator = TransformersGenerator.from_pretrained(str(model_dir), batch_size=batch_size)
    rows = generate_toy(generator, problems, modes, SamplingParams(max_new_tokens=max_new_tokens))
    summary = summarize_toy(rows)
    write_jsonl(out_dir / "samples.jsonl", rows)
    write_json(out_dir / "summary.json", summary)
    write_text(out_dir / "report.md", toy_markdown(summary))
    return summary


def run_demo(out: str | Path = "runs/demo", from_scratch: bool = False, sft_overrides: list[str] | None = None,
             n_train: int = 4000, n_test_per_difficulty: int = 30, seed: int = 0, max_new_tokens: int = 200) -> Path:
    """Run the demo into ``out``; returns the path of the Markdown report."""
    out = Path(out)
    timings: dict[str, float] = {}
    world = ToyWorld(seed=seed)

    t = time.perf_counter()
    data_dir = out / "data"
    if not (data_dir / "sft.jsonl").exists():
        build_toy_dataset(data_dir, n_train=n_train, n_test_per_difficulty=n_test_per_difficulty, world=world)
    timings["build_data_s"] = time.perf_counter() - t

    t = time.perf_counter()
    if from_scratch:
        base = out / "init"
        if not (base / "model.safetensors").exists():
            init_toy_model(base, world)
    else:
        base = TOY_BASE_DIR
        if not (base / "model.safetensors").exists():
            raise FileNotFoundError(f"no toy base model in {base}: run `thrifty toy pretrain` or use --from-scratch")
    sft_dir = out / "sft"
    if not (sft_dir / "model.safetensors").exists():
        argv = ["--config", str(recipe_path("toy/sft.yaml")), *(sft_overrides or []),
                "--model_name_or_path", str(base), "--dataset_name", str(data_dir / "sft.jsonl"),
                "--output_dir", str(sft_dir)]
        run_sft(*parse_recipe((DataArguments, ThriftySFTConfig, ModelConfig), argv))
    timings["sft_s"] = time.perf_counter() - t

    t = time.perf_counter()
    problems = [ToyProblem(**row) for row in read_jsonl(data_dir / "test_problems.jsonl")]
    summary = evaluate_toy_model(sft_dir, problems, out / "eval", max_new_tokens=max_new_tokens)
    timings["eval_s"] = time.perf_counter() - t

    bar = bar_metrics(summary)
    report = {"base_model": str(base), "from_scratch": from_scratch, "n_test_problems": len(problems),
              "timings": timings, "bar": bar, "summary": summary}
    write_json(out / "report.json", report)
    md = toy_markdown(summary, "thrifty demo: toy world after multi-format SFT")
    md += (
        "\n## The toy world's bar\n\n"
        + "".join(f"- {k}: {v:.2f}\n" for k, v in bar.items())
        + f"\nBase model: `{base}`; {len(problems)} distinct test problems; greedy decoding.\n"
        + "\nStage times (s): " + ", ".join(f"{k[:-2]} {v:.0f}" for k, v in timings.items()) + "\n"
    )
    report_path = out / "report.md"
    write_text(report_path, md)
    logger.info("demo report: %s", report_path)
    return report_path
