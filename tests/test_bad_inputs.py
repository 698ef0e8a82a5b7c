"""Forty-odd bad inputs across every command, each run in-process through ``thrifty.cli.main``.

Every case must: exit with status 2; print exactly ONE line on stderr, ``thrifty: error: ...``, that names the
file, row or key at fault (the case's ``names``); print no traceback; and leave nothing behind (the files under
the case's working folder are the same before and after). Two cases also run as real subprocesses to prove the
process exit status. The "Troubleshooting" table of docs/reference/troubleshooting.md is rendered from :data:`CASES`
and checked against it (``python tests/test_bad_inputs.py`` rewrites it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
R = REPO / "recipes"
README = REPO / "docs" / "reference" / "troubleshooting.md"  # the Troubleshooting table's page
START, END = "<!-- bad-inputs:start -->", "<!-- bad-inputs:end -->"


@dataclass(frozen=True)
class Case:
    """One bad input: the argv (``{key}`` placeholders filled from the workspace), what the error line must name,
    and the Troubleshooting row (what the user did, what to do)."""

    id: str
    argv: tuple[str, ...]
    names: tuple[str, ...]
    did: str
    fix: str
    unset: tuple[str, ...] = ()  # environment variables the case runs without (THRIFTY_DATA_DIR: the Hub's data)

    @property
    def command(self) -> str:
        words = [a for a in self.argv[:2] if not a.startswith("-") and "{" not in a]
        if words and words[0] in ("build", "eval", "toy") and len(words) > 1 and words[1] in (
                "multiformat", "multiturn", "agentwrite", "preference-pairs", "score", "build", "pretrain"):
            return " ".join(words[:2])
        return words[0]


def C(id, argv, names, did, fix, unset=()) -> Case:  # noqa: N802 - table constructor
    return Case(id, tuple(argv.split()), tuple(names), did, fix, tuple(unset))


SFT = f"sft --config {R}/toy/sft.yaml --model_name_or_path {{model}} --dataset_name {{sft_data}} --output_dir {{out}}"
GRPO = f"grpo --config {R}/toy/grpo_plain.yaml --model_name_or_path {{model}} --output_dir {{out}}"
EVAL = f"eval --config {R}/toy/eval.yaml --model_name_or_path {{model}} --output_dir {{out}}"
SCORE = "eval score --benchmark toy --predictions"
PUBLISH_DRY = "--repo-id me/model --dry-run {out}"

CASES: list[Case] = [
    # recipes and command-line overrides
    C("recipe-unknown-key", "sft --config {typo_recipe}", ["{typo_recipe}", "lerning_rate", "learning_rate"],
      "a misspelt key in a recipe", "the error names the closest valid key"),
    C("recipe-missing", "sft --config {tmp}/nope.yaml", ["nope.yaml"], "a recipe path that does not exist",
      "check the path"),
    C("recipe-not-mapping", "sft --config {list_recipe}", ["{list_recipe}", "mapping"],
      "a recipe that is a YAML list, not `key: value` lines", "write one `key: value` per line"),
    C("recipe-invalid-yaml", "sft --config {broken_recipe}", ["{broken_recipe}", "YAML"],
      "a recipe that is not valid YAML", "fix the line the error quotes"),
    C("recipe-bad-value", "sft --config {bad_value_recipe}", ["{bad_value_recipe}", "learning_rate"],
      "`learning_rate: fast` in a recipe", "the key takes a number"),
    C("recipe-duplicate-key", "sft --config {dup_recipe}", ["{dup_recipe}", "max_steps"],
      "a key set twice in a recipe", "keep one (the error names both lines)"),
    C("override-bad-float", f"{SFT} --learning_rate abc", ["learning_rate", "command line"],
      "`--learning_rate abc`", "the key takes a number"),
    C("override-bad-bool", f"{SFT} --use_peft maybe", ["use_peft"], "`--use_peft maybe`", "true or false"),
    C("override-bad-choice", f"{SFT} --lr_scheduler_type cosinus", ["lr_scheduler_type"],
      "`--lr_scheduler_type cosinus`", "the error lists the valid choices"),
    C("override-unknown", f"{SFT} --max_step 3", ["max_step", "max_steps"], "`--max_step 3` (a typo)",
      "the error names the closest valid key"),
    C("override-no-value", f"{SFT} --max_steps", ["max_steps"], "`--max_steps` with no value", "give a value"),
    C("override-stray-word", f"{SFT} stray", ["stray"], "a word that is not `--key value`",
      "every override is `--key value`"),
    C("config-without-path", "sft --config", ["--config"], "`--config` with no path", "give the recipe path"),
    C("recipe-not-utf8", "sft --config {bad_utf8_recipe}", ["{bad_utf8_recipe}:2", "UTF-8"],
      "a recipe with bytes that are not UTF-8 (saved in Latin-1)", "the error gives file:line; save it as UTF-8"),
    C("recipe-is-folder", "sft --config {empty_dir}", ["{empty_dir}", "folder"], "`--config` a folder",
      "give the recipe file"),
    # numeric values out of range (every numeric key is checked before anything starts: thrifty/recipe_ranges.py)
    C("grpo-num-generations-zero", f"{GRPO} --num_generations 0", ["num_generations = 0", ">= 2"],
      "`--num_generations 0`", "the error gives the valid range of the key (here >= 2)"),
    C("grpo-num-generations-divide", f"{GRPO} --num_generations 3", ["num_generations (3)", "generation_batch_size"],
      "`num_generations` that does not divide the generation batch", "choose one that divides it (the error "
      "shows how the batch is made)"),
    C("grpo-batch-size-zero", f"{GRPO} --per_device_train_batch_size 0", ["per_device_train_batch_size = 0",
      ">= 1"], "`--per_device_train_batch_size 0`", ">= 1"),
    C("grpo-max-completion-zero", f"{GRPO} --max_completion_length 0", ["max_completion_length = 0"],
      "`--max_completion_length 0`", ">= 1"),
    C("grpo-temperature-zero", f"{GRPO} --temperature 0", ["temperature = 0", "> 0"], "GRPO with `--temperature 0`",
      "> 0: GRPO samples (greedy is for eval)"),
    C("grpo-top-p-zero", f"{GRPO} --top_p 0", ["top_p = 0", "(0, 1]"], "GRPO with `--top_p 0`", "in (0, 1]"),
    C("sft-learning-rate-negative", f"{SFT} --learning_rate -1", ["learning_rate = -1", ">= 0"],
      "`--learning_rate -1`", ">= 0"),
    C("sft-learning-rate-nan", f"{SFT} --learning_rate nan", ["learning_rate = nan", "finite"],
      "`--learning_rate nan` (or inf)", "a finite number"),
    C("sft-epochs-negative", f"{SFT} --num_train_epochs -1", ["num_train_epochs = -1", "> 0"],
      "`--num_train_epochs -1`", "> 0 (or set max_steps)"),
    C("sft-grad-accumulation-zero", f"{SFT} --gradient_accumulation_steps 0", ["gradient_accumulation_steps = 0"],
      "`--gradient_accumulation_steps 0`", ">= 1"),
    C("sft-lora-r-zero", f"{SFT} --use_peft true --lora_r 0", ["lora_r = 0", ">= 1"], "`--lora_r 0`", ">= 1"),
    C("sft-lora-dropout", f"{SFT} --use_peft true --lora_dropout 1.5", ["lora_dropout = 1.5", "[0, 1)"],
      "`--lora_dropout 1.5`", "in [0, 1)"),
    C("sft-max-train-samples-zero", f"{SFT} --max_train_samples 0", ["max_train_samples = 0"],
      "`--max_train_samples 0`", ">= 1 (leave it out for all rows)"),
    C("dpo-beta-negative", f"dpo --config {R}/longwriter/dpo_toy.yaml --model_name_or_path {{model}} --dataset_name "
      "{no_rejected} --output_dir {out} --beta -1", ["beta = -1", "> 0"], "DPO with `--beta -1`", "> 0"),
    C("build-max-turns-zero", f"build multiturn --config {R}/mind/toy.yaml --source {{problems}} --max_turns 0 "
      "--output_dir {out}", ["max_turns = 0", ">= 1"], "`build multiturn --max_turns 0`", ">= 1"),
    # model folders, Hub ids, adapters
    C("model-missing-folder", SFT.replace("{model}", "{tmp}/no_such_model"), ["model_name_or_path", "no_such_model"],
      "`--model_name_or_path` a folder that does not exist", "give a model folder, a Hub id or an adapter folder"),
    C("model-not-a-model", SFT.replace("{model}", "{empty_dir}"), ["model_name_or_path", "config.json"],
      "a model folder without `config.json` / `adapter_config.json`", "point at the training output_dir"),
    C("model-offline-hub-id", SFT.replace("{model}", "nobody/not-cached-model"),
      ["model_name_or_path", "nobody/not-cached-model", "HF_HUB_OFFLINE"],
      "a Hub id that is not cached while `HF_HUB_OFFLINE=1`", "download it first or give a local folder"),
    C("adapter-base-missing", EVAL.replace("{model}", "{orphan_adapter}"), ["base_model_name_or_path", "gone_base"],
      "a LoRA adapter whose `base_model_name_or_path` does not exist", "fix adapter_config.json"),
    C("grpo-model-missing", GRPO.replace("{model}", "{tmp}/no_such_model"), ["model_name_or_path"],
      "GRPO from a missing model folder", "give a model folder"),
    # data files
    C("sft-dataset-missing", SFT.replace("{sft_data}", "{tmp}/missing.jsonl"), ["missing.jsonl"],
      "a `dataset_name` file that does not exist", "check the path"),
    C("sft-dataset-offline-hub", SFT.replace("{sft_data}", "nobody/no-such-dataset"), ["nobody/no-such-dataset"],
      "a `dataset_name` Hub id that cannot be loaded (offline, or no such dataset)", "give a local file or folder"),
    C("sft-dataset-bad-line", SFT.replace("{sft_data}", "{bad_jsonl}"), ["{bad_jsonl}:1"],
      "a JSONL data file with a broken line", "the error gives file:line"),
    C("sft-dataset-not-utf8", SFT.replace("{sft_data}", "{bad_utf8_sft}"), ["{bad_utf8_sft}:2", "UTF-8"],
      "a JSONL data file with bytes that are not UTF-8", "the error gives file:line and the byte; save it as UTF-8"),
    C("sft-csv-not-utf8", SFT.replace("{sft_data}", "{bad_utf8_csv}"), ["{bad_utf8_csv}:2", "UTF-8"],
      "a CSV data file with bytes that are not UTF-8", "the error gives file:line; save it as UTF-8"),
    C("grpo-prompts-not-utf8", f"{GRPO} --dataset_name {{bad_utf8_problems}}", ["{bad_utf8_problems}:2", "UTF-8"],
      "a GRPO prompt file with bytes that are not UTF-8", "the error gives file:line; save it as UTF-8"),
    C("sft-dataset-no-columns", SFT.replace("{sft_data}", "{no_messages}"), ["{no_messages}", "messages"],
      "SFT data with neither `messages` nor `prompt`/`completion`", "the error lists the columns it has"),
    C("sft-dataset-required", f"sft --config {R}/toy/sft.yaml --model_name_or_path {{model}} --output_dir {{out}}",
      ["dataset_name"], "SFT with no `dataset_name`", "name the data"),
    C("sft-formats-no-column", SFT.replace("{sft_data}", "{no_format}") + " --formats direct",
      ["{no_format}", "formats", "format"],
      "`formats:` on data without a `format` column", "drop `formats` or add the column"),
    C("resume-incomplete", f"{SFT} --resume_from_checkpoint {{partial_checkpoint}}",
      ["resume_from_checkpoint", "{partial_checkpoint}", "trainer_state.json"],
      "`resume_from_checkpoint` a checkpoint that a kill left half-written", "name a complete one, or `auto`"),
    C("sft-format-typo", f"{SFT} --formats dirct", ["formats", "dirct", "direct"], "`--formats dirct` (a typo)",
      "the error names the closest format"),
    C("sft-lora-without-peft", f"{SFT} --lora_r 4", ["lora_r", "use_peft"], "`--lora_r 4` without `use_peft: true`",
      "set `use_peft: true`, or drop the `lora_*` keys"),
    C("sft-packing-sequence", f"{SFT} --packing true --loss_averaging sequence", ["packing", "loss_averaging"],
      "`packing: true` with `loss_averaging: sequence`", "one of the two must go"),
    C("sft-loss-averaging", f"{SFT} --loss_averaging example", ["loss_averaging"],
      "`loss_averaging: example`", "token or sequence"),
    C("dpo-missing-column", f"dpo --config {R}/longwriter/dpo_toy.yaml --model_name_or_path {{model}} "
      "--dataset_name {no_rejected} --output_dir {out}", ["{no_rejected}", "rejected"],
      "DPO pairs without a `rejected` column", "the error lists the columns it has"),
    C("grpo-dataset-column", f"{GRPO} --dataset_name {{problems}} --prompt_column problem_text",
      ["{problems}", "problem_text"], "a GRPO `prompt_column` the data does not have", "name an existing column"),
    # rewards
    C("grpo-empty-answer", f"{GRPO} --dataset_name {{no_answer}}", ["{no_answer}", "row 1", "answer"],
      "a GRPO prompt file with an empty answer", "fill it in or drop the row"),
    C("reward-typo", f"{GRPO} --reward_funcs [acuracy]", ["acuracy", "accuracy"],
      "`--reward_funcs '[acuracy]'`", "the error names the closest reward"),
    C("reward-import", f"{GRPO} --reward_funcs no_such_module:fn", ["no_such_module"],
      "a reward import path that does not import", "check `package.module:function`"),
    C("reward-kwargs-arg", GRPO + ' --reward_kwargs {"arm_accuracy":{"kindd":"math"}}', ["kindd", "kind"],
      "an unknown argument in `reward_kwargs`", "the error lists the reward's arguments"),
    C("reward-kwargs-json", f"{GRPO} --reward_kwargs {{accuracy:", ["reward_kwargs"],
      "`reward_kwargs` that is not JSON", "write it as JSON on the command line"),
    C("reward-weights", f"{GRPO} --reward_weights 1.0 2.0", ["reward_weights"],
      "more `reward_weights` than `reward_funcs`", "one weight per reward"),
    C("grpo-variant", f"{GRPO} --variant adaa", ["variant"], "`--variant adaa`", "plain, ada or mind"),
    # eval
    C("eval-temperature", f"{EVAL} --temperature -1", ["temperature"], "`--temperature -1`", ">= 0"),
    C("eval-top-p", f"{EVAL} --top_p 1.5", ["top_p"], "`--top_p 1.5`", "in (0, 1]"),
    C("eval-max-new-tokens", f"{EVAL} --max_new_tokens 0", ["max_new_tokens"], "`--max_new_tokens 0`", ">= 1"),
    C("eval-benchmark", f"{EVAL} --benchmarks math5000", ["math5000"], "an unknown benchmark",
      "the error lists the benchmarks"),
    C("eval-benchmark-file", f"{EVAL} --benchmarks {{tmp}}/mine.jsonl", ["mine.jsonl"],
      "a benchmark file that does not exist", "check the path"),
    C("eval-benchmark-not-utf8", f"{EVAL} --benchmarks {{bad_utf8_bench}}", ["{bad_utf8_bench}:1", "UTF-8"],
      "a benchmark file with bytes that are not UTF-8", "the error gives file:line; save it as UTF-8"),
    C("eval-benchmark-empty", f"{EVAL} --benchmarks {{empty_jsonl}}", ["{empty_jsonl}", "no problems"],
      "an empty benchmark file", "rows of id, problem, answer"),
    C("eval-benchmark-offline", f"{EVAL} --benchmarks math500", ["math500", "HuggingFaceH4/MATH-500", "--data_dir",
      "THRIFTY_DATA_DIR", "HF_HUB_OFFLINE"], "a Hub benchmark with no local copy, offline (or the Hub unreachable)",
      "point `--data_dir` / `THRIFTY_DATA_DIR` at local benchmark files", unset=["THRIFTY_DATA_DIR"]),
    C("eval-choice-gold", f"{EVAL} --benchmarks {{bad_choice}}", ["{bad_choice}:1", "answer"],
      "a multiple-choice benchmark row whose answer names no option", "give the option's letter or its exact text"),
    C("eval-mode", f"{EVAL} --modes adaptive fast", ["fast"], "an unknown inference mode",
      "the error lists the modes"),
    C("eval-dtype", f"{EVAL} --dtype float8", ["dtype"], "`--dtype float8`", "auto, float32, bfloat16, float16"),
    C("eval-backend", f"{EVAL} --backend tgi", ["backend"], "`--backend tgi`", "transformers or vllm"),
    C("eval-no-chat-template", EVAL.replace("{model}", "{no_template_model}"),
      ["{no_template_model}", "prompt_template", "chat_template_path"],
      "a base model whose tokenizer has no chat template, and no `prompt_template`",
      "set `prompt_template: r1_zero` (or `plain`, or your own text with {problem}), or `chat_template_path: FILE.jinja`"),
    C("eval-resume-changed", EVAL.replace("{out}", "{eval_run}") + " --dtype float32",
      ["{eval_run}", "dtype", "'auto' -> 'float32'"], "resuming an eval with another dtype, backend or model",
      "use another output_dir, or delete it"),
    # traces, completions, predictions
    C("score-bad-line", f"{SCORE} {{bad_jsonl}}", ["{bad_jsonl}:1"], "a predictions file with a broken line",
      "the error gives file:line"),
    C("score-missing-completion", f"{SCORE} {{no_completion}}", ["{no_completion}:1", "completion"],
      "a predictions row without `completion`", "each row needs id and completion"),
    C("score-unknown-id", f"{SCORE} {{unknown_id}}", ["{unknown_id}:1", "nope-1"],
      "a predictions id that is not in the benchmark", "check --benchmark/--seed"),
    C("score-tokenizer", f"{SCORE} {{unknown_id}} --tokenizer nobody/not-cached-tokenizer",
      ["nobody/not-cached-tokenizer"], "a `--tokenizer` Hub id that is not cached while offline",
      "give a local model folder"),
    C("score-not-utf8", f"{SCORE} {{bad_utf8_pred}}", ["{bad_utf8_pred}:1", "UTF-8"],
      "a predictions file with bytes that are not UTF-8", "the error gives file:line; save it as UTF-8"),
    C("score-predictions-folder", f"{SCORE} {{empty_dir}}", ["{empty_dir}", "folder"], "`--predictions` a folder",
      "give the JSONL file"),
    C("score-predictions-before-hub", "eval score --benchmark math500 --predictions {tmp}/missing.jsonl",
      ["--predictions", "missing.jsonl"], "a missing predictions file for a Hub benchmark",
      "checked before anything is fetched: check the path", unset=["THRIFTY_DATA_DIR"]),
    C("score-benchmark-offline", "eval score --benchmark math500 --predictions {unknown_id}",
      ["math500", "HuggingFaceH4/MATH-500", "--data_dir", "HF_HUB_OFFLINE"],
      "`eval score` on a Hub benchmark with no local copy, offline (or the Hub unreachable)",
      "give `--data_dir` (or `THRIFTY_DATA_DIR`)", unset=["THRIFTY_DATA_DIR"]),
    C("score-missing-flag", "eval score --benchmark toy", ["--predictions"], "`thrifty eval score` without "
      "`--predictions`", "the error names the missing flag"),
    C("build-bad-trace-line", f"build multiturn --config {R}/mind/toy.yaml --source {{bad_jsonl}} --output_dir {{out}}",
      ["{bad_jsonl}:1"], "a traces file with a broken line", "the error gives file:line"),
    C("build-trace-not-utf8", f"build multiturn --config {R}/mind/toy.yaml --source {{bad_utf8_traces}} "
      "--output_dir {out}", ["{bad_utf8_traces}:2", "UTF-8"], "a traces file with bytes that are not UTF-8",
      "the error gives file:line; save it as UTF-8"),
    C("build-decontaminate-offline", f"build multiturn --config {R}/mind/math_r1_rule.yaml --source {{real_traces}} "
      "--id_field id --question_field question --answer_field answer --trace_field trace "
      "--decontaminate_benchmarks math500 --output_dir {out}", ["decontamination against math500",
      "decontaminate_data_dir", "decontaminate_benchmarks"], "decontamination against a Hub benchmark with no local "
      "copy, offline (or the Hub unreachable)", "set `decontaminate_data_dir` / `THRIFTY_DATA_DIR`",
      unset=["THRIFTY_DATA_DIR"]),
    C("build-field-missing", f"build multiformat --config {R}/arm/toy.yaml --source {{problems}} "
      "--trace_field reasoning --output_dir {out}", ["reasoning", "trace_field", "{problems}"],
      "a mapped field that the source does not have", "fix the recipe's *_field key"),
    C("build-source-missing", f"build multiformat --config {R}/arm/toy.yaml --source {{tmp}}/none.jsonl "
      "--output_dir {out}", ["none.jsonl"], "a builder source that does not exist", "check the path"),
    C("report-not-a-run", "report {empty_dir} --out {out}", ["{empty_dir}", "summary.json"],
      "`thrifty report` on a folder that is not an eval run", "give `thrifty eval` output folders"),
    C("report-broken-summary", "report {broken_run} --out {out}", ["{broken_run}", "summary.json", "not valid JSON"],
      "`thrifty report` on a run whose summary.json is cut short", "rerun its eval (it resumes)"),
    C("decontaminate-not-utf8", "decontaminate {bad_utf8_problems}", ["{bad_utf8_problems}:2", "UTF-8"],
      "`thrifty decontaminate` on a file with bytes that are not UTF-8", "the error gives file:line"),
    C("select-style-toy-candidate", f"select-style --config {R}/toy/select_style.yaml --model_name_or_path {{model}} "
      "--candidates dirct --output_dir {out}", ["candidates", "dirct", "direct"],
      "a toy strategy name that does not exist (`toy_candidates: true`)", "the error lists the toy strategies"),
    C("select-style-model", f"select-style --config {R}/toy/select_style.yaml --model_name_or_path {{tmp}}/no_model "
      "--output_dir {out}", ["model_name_or_path", "no_model"], "style selection with a missing target model",
      "give the model folder"),
    C("longwrite-bad-row", f"eval-longwrite --config {R}/longwriter/eval_longbench_write.yaml --dataset {{lw_bad}} "
      "--model_name_or_path {model} --output_dir {out}", ["{lw_bad} row 1", "length"],
      "a LongBench-Write prompt row without `length`", "rows need prompt, type, length"),
    C("longwrite-not-utf8", f"eval-longwrite --config {R}/longwriter/eval_longbench_write.yaml --dataset "
      "{bad_utf8_lw} --model_name_or_path {model} --output_dir {out}", ["{bad_utf8_lw}:1", "UTF-8"],
      "LongBench-Write prompts with bytes that are not UTF-8", "the error gives file:line"),
    C("longwrite-model", f"eval-longwrite --config {R}/longwriter/eval_longbench_write.yaml --dataset {{lw_ok}} "
      "--model_name_or_path {tmp}/no_model --output_dir {out}", ["model_name_or_path", "no_model"],
      "LongBench-Write generation with a missing model", "give the model folder, or predictions: FILE"),
    C("agentwrite-instructions", f"build agentwrite --config {R}/longwriter/agentwrite_local.yaml --instructions "
      "{tmp}/none.jsonl --output_dir {out}", ["none.jsonl"], "AgentWrite instructions that do not exist",
      "check the path"),
    C("pairs-candidates", f"build preference-pairs --config {R}/longwriter/preference_pairs.yaml --candidates "
      "{tmp}/none.jsonl --output_dir {out}", ["none.jsonl"], "preference-pair candidates that do not exist",
      "check the path"),
    # publish targets
    C("publish-no-run", "publish {tmp}/no_run " + PUBLISH_DRY, ["no_run"], "publishing a folder that does not exist",
      "give the training output_dir"),
    C("publish-repo-id", "publish {run} --repo-id model --dry-run {out}", ["--repo-id", "OWNER/NAME"],
      "`--repo-id model` (no owner)", "use OWNER/NAME"),
    C("publish-no-eval", "publish {run_no_eval} " + PUBLISH_DRY, ["no eval report", "--eval-dir"],
      "publishing a run that has no eval report", "run `thrifty eval` into RUN/eval first"),
    C("publish-adapter-no-weights", "publish {adapter_no_weights} " + PUBLISH_DRY, ["{adapter_no_weights}",
      "adapter weights"], "an adapter folder without its weights", "let the run finish"),
    C("publish-recipe-missing", "publish {run} --recipe {tmp}/r.yaml " + PUBLISH_DRY, ["r.yaml"],
      "`--recipe` a file that does not exist", "check the path"),
    # launcher and accelerate configs
    C("launch-recipe-missing", "launch {tmp}/none.yaml --dry-run", ["none.yaml"], "launching a recipe that "
      "does not exist", "check the path"),
    C("launch-recipe-not-utf8", "launch {bad_utf8_recipe} --dry-run", ["{bad_utf8_recipe}:2", "UTF-8"],
      "launching a recipe with bytes that are not UTF-8", "save it as UTF-8"),
    C("launch-accelerate-name", f"launch {R}/toy/sft.yaml --accelerate zero9 --dry-run", ["zero9", "zero2"],
      "`--accelerate zero9`", "the error lists the shipped configs"),
    C("launch-accelerate-file", f"launch {R}/toy/sft.yaml --accelerate {{broken_accelerate}} --dry-run",
      ["{broken_accelerate}"], "an accelerate config file that is not valid YAML", "fix it or make one with "
      "`accelerate config`"),
    C("launch-stage-directive", "launch {bad_stage_recipe} --dry-run", ["{bad_stage_recipe}:1", "stage"],
      "a recipe line `# stage: sftt`", "sft, grpo or dpo"),
    # plain flags
    C("toy-build-flag", "toy build --out {out} --n-train many", ["--n-train"], "`thrifty toy build --n-train many`",
      "an integer"),
    C("toy-pretrain-flag", "toy pretrain --out {out} --n-train many", ["--n-train"],
      "`thrifty toy pretrain --n-train many`", "an integer"),
    C("demo-flag", "demo --out {out} --grpo-steps many", ["--grpo-steps"], "`thrifty demo --grpo-steps many`",
      "an integer"),
    C("toy-build-zero", "toy build --out {out} --n-train 0", ["--n-train", ">= 1"], "`thrifty toy build --n-train 0`",
      "an integer >= 1"),
    C("toy-pretrain-zero", "toy pretrain --out {out} --n-train -5", ["--n-train", ">= 1"],
      "`thrifty toy pretrain --n-train -5`", "an integer >= 1"),
    C("demo-grpo-steps-zero", "demo --out {out} --grpo-steps 0", ["--grpo-steps", ">= 1"],
      "`thrifty demo --grpo-steps 0`", "an integer >= 1"),
]


# -------------------------------------------------------------------------------------------------------------
# The workspace the cases point into
# -------------------------------------------------------------------------------------------------------------
def _jsonl(path: Path, rows: list) -> str:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return str(path)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_model_dir, toy_world) -> dict[str, str]:
    from thrifty.cli import main
    from thrifty.data_builders.toy_build import build_toy_dataset

    tmp = tmp_path_factory.mktemp("bad_inputs")
    data = build_toy_dataset(tmp / "data", n_train=16, n_test_per_difficulty=1, world=toy_world)
    w = {"tmp": str(tmp), "model": str(tiny_model_dir), "sft_data": data["sft"], "problems": data["test_problems"]}
    (tmp / "empty").mkdir()
    w["empty_dir"] = str(tmp / "empty")
    for name, text in {"typo_recipe": "output_dir: x\nlerning_rate: 0.001\n", "list_recipe": "- a\n- b\n",
                       "broken_recipe": "learning_rate: [1e-3\n", "bad_value_recipe": "learning_rate: fast\n",
                       "bad_stage_recipe": "# stage: sftt\nlearning_rate: 0.001\n",
                       "broken_accelerate": "distributed_type: [DEEPSPEED\n",
                       "dup_recipe": "output_dir: x\nmax_steps: 80\nmax_steps: 5\n"}.items():
        (tmp / f"{name}.yaml").write_text(text)
        w[name] = str(tmp / f"{name}.yaml")
    w["bad_jsonl"] = _jsonl(tmp / "bad.jsonl", ['{"id": "toy-1", "completion": "x"', {"id": "toy-2"}])
    latin1 = {  # files whose bytes are not UTF-8 (written in Latin-1), the first bad byte on the line named
        "bad_utf8_sft.jsonl": Path(data["sft"]).read_bytes().split(b"\n")[0] + b"\n" + "{\"messages\": [{\"role\": "
        "\"user\", \"content\": \"caf\u00e9\"}]}\n".encode("latin-1"),
        "bad_utf8_problems.jsonl": b'{"problem": "1 2", "answer": "3"}\n' + '{"problem": "\u00e9", "answer": "1"}\n'
        .encode("latin-1"),
        "bad_utf8_pred.jsonl": '{"id": "toy-1", "completion": "\u00e9"}\n'.encode("latin-1"),
        "bad_utf8_recipe.yaml": "output_dir: x\n# r\u00e9glages\nlearning_rate: 0.001\n".encode("latin-1"),
        "bad_utf8_traces.jsonl": Path(data["traces"]).read_bytes().split(b"\n")[0] + b"\n" + "{\"question\": "
        "\"\u00e9\"}\n".encode("latin-1"),
        "bad_utf8_bench.jsonl": '{"id": "q1", "problem": "\u00e9 2 + 2?", "answer": "4"}\n'.encode("latin-1"),
        "bad_utf8_lw.jsonl": '{"prompt": "\u00e9crire", "type": "poem", "length": 100}\n'.encode("latin-1"),
        "bad_utf8.csv": "messages,x\n\"caf\u00e9\",1\n".encode("latin-1"),
    }
    for name, raw in latin1.items():
        (tmp / name).write_bytes(raw)
        w[name.replace(".jsonl", "").replace(".yaml", "").replace(".", "_")] = str(tmp / name)
    w["empty_jsonl"] = _jsonl(tmp / "empty.jsonl", [])
    (tmp / "broken_run").mkdir()
    (tmp / "broken_run" / "summary.json").write_text('{"benchmarks": ')
    w["broken_run"] = str(tmp / "broken_run")
    w["real_traces"] = _jsonl(tmp / "real_traces.jsonl", [{
        "id": "r1", "question": "What is the sum of the first ten positive integers, written as a number?",
        "answer": "55", "trace": "<think>\nAdd them: 55.\n\nWait, let me verify: 10 * 11 / 2 = 55.\n</think>\n"
                                 "The answer is \\boxed{55}."}])
    w["no_messages"] = _jsonl(tmp / "no_messages.jsonl", [{"question": "1 2", "solution": "3"}])
    w["no_format"] = _jsonl(tmp / "no_format.jsonl", [{"messages": [{"role": "user", "content": "1"},
                                                                  {"role": "assistant", "content": "1"}]}])
    w["lw_bad"] = _jsonl(tmp / "lw_bad.jsonl", [{"prompt": "Write a poem.", "type": "poem"}])
    w["lw_ok"] = _jsonl(tmp / "lw_ok.jsonl", [{"prompt": "Write a poem.", "type": "poem", "length": 100}])
    w["no_rejected"] = _jsonl(tmp / "pairs.jsonl", [{"prompt": "p", "chosen": "c"}])
    w["no_answer"] = _jsonl(tmp / "no_answer.jsonl", [{"problem": "1 2", "answer": "3"}, {"problem": "4 5", "answer": ""}])
    w["bad_choice"] = _jsonl(tmp / "bad_choice.jsonl", [{"id": "q1", "problem": "2 + 2?", "options": ["3", "4"],
                                                          "answer": "F"}])
    w["no_completion"] = _jsonl(tmp / "no_completion.jsonl", [{"id": "x"}])
    w["unknown_id"] = _jsonl(tmp / "unknown_id.jsonl", [{"id": "nope-1", "completion": "5"}])
    partial = tmp / "checkpoint-3"
    partial.mkdir()
    shutil.copy(Path(tiny_model_dir) / "model.safetensors", partial / "model.safetensors")
    w["partial_checkpoint"] = str(partial)
    orphan = tmp / "orphan_adapter"
    orphan.mkdir()
    (orphan / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tmp / "gone_base"),
                                                            "peft_type": "LORA"}))
    w["orphan_adapter"] = str(orphan)
    no_weights = tmp / "adapter_no_weights"
    no_weights.mkdir()
    (no_weights / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tiny_model_dir)}))
    w["adapter_no_weights"] = str(no_weights)
    # a finished (tiny) eval run, and a full-weights "run" with and without its eval report
    eval_run = tmp / "eval_run"
    argv = ["eval", "--config", f"{R}/toy/eval.yaml", "--model_name_or_path", str(tiny_model_dir), "--output_dir",
            str(eval_run), "--toy_per_difficulty", "1", "--limit", "2", "--max_new_tokens", "2", "--modes", "direct",
            "--plots", "false"]
    assert main(argv) == 0
    w["eval_run"] = str(eval_run)
    run = tmp / "run"
    shutil.copytree(tiny_model_dir, run)
    shutil.copytree(eval_run, run / "eval")
    w["run"] = str(run)
    run_no_eval = tmp / "run_no_eval"
    shutil.copytree(tiny_model_dir, run_no_eval)
    w["run_no_eval"] = str(run_no_eval)
    no_template = tmp / "no_template_model"  # a base model: the tiny model with its chat template removed
    shutil.copytree(tiny_model_dir, no_template)
    (no_template / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((no_template / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (no_template / "tokenizer_config.json").write_text(json.dumps(config))
    w["no_template_model"] = str(no_template)
    return w


def _fill(argv: tuple[str, ...], w: dict[str, str]) -> list[str]:
    return [a.format(**w) if "{" in a and not a.startswith(("{\"", "{accuracy")) else a for a in argv]


def _snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_one_line(case, workspace, tmp_path, monkeypatch, capsys):
    from thrifty.cli import main

    monkeypatch.chdir(tmp_path)  # anything written to a default relative path would show up here
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for name in case.unset:
        monkeypatch.delenv(name, raising=False)
    w = {**workspace, "out": str(tmp_path / "out")}
    root = Path(workspace["tmp"])
    before = _snapshot(root)
    capsys.readouterr()
    rc = main(_fill(case.argv, w))
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("thrifty: error: ", "scripts/launch.sh: error: "))]
    assert len(errors) == 1, err
    assert "Traceback" not in err, err
    for name in case.names:
        assert name.format(**w) in errors[0], (name.format(**w), errors[0])
    assert _snapshot(root) == before, "the failed command changed the workspace"
    assert not list(tmp_path.iterdir()), f"left behind: {list(tmp_path.iterdir())}"


def test_at_least_forty_cases_across_every_command():
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)
    commands = {c.command for c in CASES}
    assert {"sft", "grpo", "dpo", "eval", "eval score", "report", "publish", "launch", "build multiformat",
            "build multiturn", "build agentwrite", "build preference-pairs", "eval-longwrite", "select-style",
            "toy build", "toy pretrain", "demo"} <= commands, commands


@pytest.mark.parametrize("argv", [["toy", "build", "--out", "unused", "--n-train", "many"],
                                  ["eval", "--config", str(R / "toy/eval.yaml"), "--temperature", "-1"]])
def test_real_exit_status_in_a_subprocess(argv, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "thrifty.cli", *argv], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, cwd=tmp_path)
    assert proc.returncode == 2 and not list(tmp_path.iterdir())
    errors = [line for line in proc.stderr.splitlines() if line.startswith("thrifty: error: ")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr and argv[-2].lstrip("-") in errors[0], proc.stderr


def test_hub_lookup_errors_count_as_user_errors_and_other_os_errors_do_not(monkeypatch):
    """transformers reports a model id the Hub (or, offline, its cache) does not have as an OSError: the CLI
    prints it as one line; any other OSError (a full disk) keeps its traceback."""
    from transformers import AutoConfig

    from thrifty.cli import _is_hub_lookup_error

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(OSError) as hub:
        AutoConfig.from_pretrained("nobody/not-cached-model")
    assert _is_hub_lookup_error(hub.value)
    assert not _is_hub_lookup_error(OSError(28, "No space left on device"))


# -------------------------------------------------------------------------------------------------------------
# The troubleshooting table of docs/reference/troubleshooting.md is this table
# -------------------------------------------------------------------------------------------------------------
def troubleshooting_table() -> str:
    rows = ["| command | what went wrong | the error line names (PATH: the file or folder at fault) / what to do |",
            "|---|---|---|"]
    for case in CASES:
        names = ", ".join(f"`{re.sub(r'[{][a-z0-9_]+[}]', 'PATH', n)}`" for n in case.names)
        rows.append(f"| `thrifty {case.command}` | {case.did} | {names + '; ' if names else ''}{case.fix} |")
    return "\n".join(rows)


def _readme_block() -> str:
    text = README.read_text()
    return text[text.index(START) + len(START):text.index(END)].strip()


def test_readme_troubleshooting_lists_every_case():
    stale = "docs/reference/troubleshooting.md is stale: run `python tests/test_bad_inputs.py`"
    assert _readme_block() == troubleshooting_table(), stale


if __name__ == "__main__":  # rewrite the troubleshooting page's table from CASES
    text = README.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{troubleshooting_table()}\n{END}{tail}")
    print(f"wrote {len(CASES)} cases to {README}")
