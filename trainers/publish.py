"""``thrifty publish RUN_DIR --repo-id ID [--private] [--merge] [--dry-run OUT]``: a trained run, with its eval
report, as a Hugging Face Hub model repository.

RUN_DIR is a training ``output_dir`` (``thrifty sft`` / ``thrifty grpo``): a LoRA adapter (``adapter_config.json``
+ weights) or full weights, plus its tokenizer. The published folder holds:

- the adapter weights and config (``--merge``: the base model with the adapter merged in, as full weights);
- the tokenizer files, copied verbatim;
- ``eval/``: the run's eval report (``summary.json``, ``report.md``, ``plots/``), found by :func:`find_eval_report`;
- ``recipe.yaml``: the recipe that trained it (``RUN_DIR/thrifty_recipe.yaml`` written by ``scripts/launch.sh``,
  ``--recipe FILE``, or rebuilt from ``training_args.bin``: the values that differ from the defaults);
- ``README.md``: a model card with YAML metadata (base_model, library_name peft, tags, datasets, license), the
  results table and the accuracy-against-tokens plot from the eval report, and the recipe.

It is uploaded with ``huggingface_hub`` (``create_repo`` + ``upload_folder``); the token comes from the environment
(``HF_TOKEN``) or a prior ``huggingface-cli login`` and is never logged. ``--dry-run OUT`` writes the folder to OUT
and uploads nothing. The adapter is checked against its base model before anything is written.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
from dataclasses import MISSING, dataclass, fields
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from thrifty.hub import push_folder, replace_dir
from thrifty.jsonl import atomic_open, read_text, write_text
from thrifty.recipes import load_yaml
from thrifty.redact import redact_mapping

from .eval_card import eval_results, extraction_note, results_table
from .publish_common import (
    ACCURACY_PLOT,
    CARD_FINGERPRINTS,
    EVAL_PLOTS,
    EVAL_REPORT,
    EVAL_SUMMARY,
    EvalReport,
    PublishError,
    evaluated_model,
    find_eval_report,
)
from .publish_routes import route

logger = logging.getLogger(__name__)

RECIPE_COPY = "thrifty_recipe.yaml"  # written by scripts/launch.sh (thrifty.trainers.launch)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "special_tokens_map.json",
                   "vocab.json", "merges.txt", "added_tokens.json", "tokenizer.model", "generation_config.json")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "adapter_model.bin")
FULL_WEIGHT_PATTERNS = ("config.json", "model*.safetensors", "model.safetensors.index.json", "pytorch_model*.bin")
DEFAULT_TAGS = ("thrifty", "efficient-reasoning")


# -------------------------------------------------------------------------------------------------------------
# Finding the pieces of a run
# -------------------------------------------------------------------------------------------------------------
def check_eval_is_of(report: EvalReport, run_dir: Path) -> str:
    """Refuse an eval report made on another model than ``run_dir``: the model fingerprint recorded in the eval's
    ``eval_config.json`` (:func:`thrifty.models.model_fingerprint`: config and weights) must be ``run_dir``'s.
    A report without one (an older thrifty) is used with a warning. Returns ``run_dir``'s fingerprint."""
    from thrifty.models import model_fingerprint

    recorded, evaluated = evaluated_model(report)
    current = model_fingerprint(str(run_dir))
    if recorded is None:
        logger.warning("%s records no model fingerprint: cannot check that it evaluated %s (it names %s)",
                       report.folder, run_dir, evaluated)
    elif recorded != current:
        raise PublishError(f"the eval report {report.folder} was made on another model ({evaluated}, fingerprint "
                           f"{recorded}) than {run_dir} (fingerprint {current}): its numbers are not this model's. "
                           f"Evaluate {run_dir} (`thrifty eval ... --model_name_or_path {run_dir} --output_dir "
                           f"{run_dir}/eval`) or point --eval-dir to its eval")
    return current


def is_adapter(run_dir: Path) -> bool:
    return (run_dir / "adapter_config.json").is_file()


def check_run_dir(run_dir: str | Path) -> Path:
    """``run_dir`` if it holds an adapter or full weights, else a :class:`PublishError`."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PublishError(f"run folder {run_dir} does not exist")
    if is_adapter(run_dir):
        if not any((run_dir / f).is_file() for f in ADAPTER_FILES[1:]):
            raise PublishError(f"{run_dir} has adapter_config.json but no adapter weights; is the run finished?")
        return run_dir
    if (run_dir / "config.json").is_file() and list(run_dir.glob("model*.safetensors")) + list(run_dir.glob("pytorch_model*.bin")):
        return run_dir
    checkpoints = sorted(run_dir.glob("checkpoint-*"))
    hint = f"; it has {checkpoints[-1].name}: publish that, or let the run finish" if checkpoints else ""
    raise PublishError(f"{run_dir} holds neither a LoRA adapter (adapter_config.json) nor model weights{hint}")


def adapter_base(run_dir: Path) -> str:
    config = json.loads((run_dir / "adapter_config.json").read_text())
    base = config.get("base_model_name_or_path")
    if not base:
        raise PublishError(f"{run_dir}/adapter_config.json names no base model; pass --base-model ID")
    return str(base)


def check_adapter_matches_base(run_dir: Path, base: str) -> None:
    """Compare every LoRA matrix of the adapter with the base model's layer shapes (on the meta device, so
    nothing is loaded); a :class:`PublishError` names the first mismatch and what to do."""
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM

    trained_on = adapter_base(run_dir)
    fix = (f"pass --base-model with the model the adapter was trained on (its adapter_config.json says "
           f"'{trained_on}')")
    try:
        config = AutoConfig.from_pretrained(base)
    except (OSError, ValueError) as err:
        raise PublishError(f"base model {base!r} cannot be loaded ({err}); {fix}") from None
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config)
    modules = dict(model.named_modules())
    weights = _adapter_weights(run_dir)
    for key, tensor in weights.items():
        if ".lora_A." not in key and ".lora_B." not in key:
            continue
        path = key.split(".lora_")[0].removeprefix("base_model.model.")
        module = modules.get(path)
        if module is None:
            raise PublishError(f"adapter {run_dir} does not match base model {base!r}: the base has no layer "
                               f"'{path}'; {fix}")
        in_features = getattr(module, "in_features", None)
        out_features = getattr(module, "out_features", None)
        if in_features is None or out_features is None:
            continue  # not a Linear layer (embeddings, convs): PEFT checks these when it loads
        ok = tensor.shape[1] == in_features if ".lora_A." in key else tensor.shape[0] == out_features
        if not ok:
            want = f"in_features {in_features}" if ".lora_A." in key else f"out_features {out_features}"
            raise PublishError(f"adapter {run_dir} does not match base model {base!r}: {key} has shape "
                               f"{tuple(tensor.shape)} but the base layer has {want}; {fix}")


def _adapter_weights(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "adapter_model.safetensors"
    if path.exists():
        from safetensors.torch import load_file

        return load_file(str(path))
    import torch

    return torch.load(run_dir / "adapter_model.bin", map_location="cpu", weights_only=True)


# -------------------------------------------------------------------------------------------------------------
# The recipe that trained a run
# -------------------------------------------------------------------------------------------------------------
def _non_default_fields(obj: Any) -> dict[str, Any]:
    """A dataclass's fields whose values differ from the field defaults (JSON-safe)."""
    out: dict[str, Any] = {}
    skip = ("output_dir", "logging_dir", "hub_token", "use_cpu", "bf16", "fp16", "distributed_state")
    for f in fields(obj):
        if f.name.startswith("_") or f.name in skip:
            continue
        if f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = MISSING
        value = getattr(obj, f.name)
        if value is None or value == [] or value == {}:
            continue
        if isinstance(value, Enum):
            value = value.value
        if default is not MISSING and (value == default or str(value) == str(default)):
            continue
        try:
            json.dumps(value)
        except TypeError:
            continue  # objects (accelerator_config, ...) are not recipe values
        out[f.name] = value
    return out


def load_recipe(run_dir: Path, recipe: str | Path | None = None) -> tuple[dict[str, Any], str]:
    """(recipe as a dict, where it came from): ``recipe`` when given, ``RUN_DIR/thrifty_recipe.yaml``, or the
    non-default values of ``RUN_DIR/training_args.bin`` (:func:`load_training_args`). Secret values are redacted
    (:mod:`thrifty.redact`), also from a recipe copy written before thrifty redacted them."""
    for path in ([Path(recipe)] if recipe else [run_dir / RECIPE_COPY]):
        if path.is_file():
            try:
                data = load_yaml(read_text(path)) or {}
            except yaml.YAMLError as err:
                raise PublishError(f"{path}: not valid YAML ({str(err).splitlines()[0]}); fix it or pass "
                                   "--recipe FILE") from None
            if not isinstance(data, dict):
                raise PublishError(f"{path}: a recipe must be a YAML mapping")
            return redact_mapping(data), str(path)
        if recipe:
            raise PublishError(f"recipe {path} does not exist")
    args_file = run_dir / "training_args.bin"
    if args_file.is_file():
        args = load_training_args(args_file)
        if args is not None:
            return redact_mapping(_non_default_fields(args)), f"{args_file} (values that differ from the defaults)"
    logger.warning("no recipe found for %s (launch with scripts/launch.sh or pass --recipe FILE)", run_dir)
    return {}, ""


#: Packages whose classes ``training_args.bin`` may hold (the Trainer pickles its TrainingArguments dataclass with
#: enums and accelerate's state objects); nothing else is ever unpickled.
SAFE_ARGS_PACKAGES = ("transformers.", "trl.", "thrifty.", "accelerate.", "peft.")


def load_training_args(path: Path) -> Any | None:
    """The TrainingArguments pickled in ``training_args.bin``, loaded with ``torch.load(weights_only=True)``: only
    plain data and the *classes* (dataclasses, enums) of :data:`SAFE_ARGS_PACKAGES` may be rebuilt, so a
    downloaded run folder cannot make publish run code. A file that needs any other global (a function, another
    package) is not loaded: the card then has no recipe section, and a warning says so."""
    import importlib

    import torch
    from torch.serialization import get_unsafe_globals_in_checkpoint, safe_globals

    try:
        names = get_unsafe_globals_in_checkpoint(str(path))
    except Exception as err:  # noqa: BLE001 - any unreadable file only loses the card's recipe section
        logger.warning("could not read %s (%s); the card will have no recipe", path, err)
        return None
    allowed = []
    for name in names:
        module, _, attr = name.rpartition(".")
        obj = None
        if name.startswith(SAFE_ARGS_PACKAGES):
            try:
                obj = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError):
                obj = None
        if not isinstance(obj, type):
            logger.warning("not loading %s: it refers to %s, which is not a recipe class (a pickle can run code); "
                           "the card will have no recipe: pass --recipe FILE", path, name)
            return None
        allowed.append(obj)
    try:
        with safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        logger.warning("could not read %s (%s); the card will have no recipe", path, err)
        return None


# -------------------------------------------------------------------------------------------------------------
# The model card
# -------------------------------------------------------------------------------------------------------------
def lora_summary(run_dir: Path) -> str:
    """One line on the adapter's shape (rank, alpha, target modules), or "" for full weights."""
    if not is_adapter(run_dir):
        return ""
    cfg = json.loads((run_dir / "adapter_config.json").read_text())
    targets = cfg.get("target_modules")
    targets = ", ".join(sorted(targets)) if isinstance(targets, list) else targets
    return f"rank {cfg.get('r')}, alpha {cfg.get('lora_alpha')}, dropout {cfg.get('lora_dropout')}, target modules {targets}"


def _hub_dataset(name: Any) -> str | None:
    """A Hub dataset id, or None for local files/folders and the toy world."""
    if not isinstance(name, str) or not name or "/" not in name or name.startswith((".", "/", "~")):
        return None
    if Path(name).exists() or name.endswith((".jsonl", ".json", ".csv", ".parquet")):
        return None
    return name


def card_metadata(base_model: str | None, recipe: dict, stage: str | None, license_id: str, extra_tags: list[str],
                  weights: str) -> dict[str, Any]:
    """The card's YAML metadata. ``weights``: ``adapter`` (a LoRA adapter), ``merged`` (an adapter merged into its
    base) or ``full`` (a full fine-tune). ``base_model`` is left out when it is unknown."""
    tags = [*DEFAULT_TAGS, *(["lora", "peft"] if weights == "adapter" else [])]
    if stage:
        tags.append(stage)
    variant = recipe.get("variant")
    if variant and variant != "plain":
        tags.append({"ada": "ada-grpo", "mind": "mind"}.get(variant, str(variant)))
    tags += [t for t in extra_tags if t not in tags]
    datasets = [d for d in (_hub_dataset(recipe.get("dataset_name")),) if d]
    return {"base_model": base_model or None, "library_name": "peft" if weights == "adapter" else "transformers",
            "license": license_id, "tags": tags, "datasets": datasets or None, "pipeline_tag": "text-generation"}


def model_card(repo_id: str, metadata: dict, report: EvalReport, recipe: dict, recipe_source: str,
               plot_name: str | None, weights: str, base_model: str | None, lora: str = "") -> str:
    """The README.md of the published repository (YAML metadata + Markdown); ``lora`` describes the adapter."""
    from huggingface_hub import ModelCard, ModelCardData

    summary = report.summary
    load = (
        f"```python\nfrom transformers import AutoModelForCausalLM, AutoTokenizer\n\n"
        f"model = AutoModelForCausalLM.from_pretrained(\"{repo_id}\")\n"
        f"tokenizer = AutoTokenizer.from_pretrained(\"{repo_id}\")\n```"
        if weights != "adapter" else
        f"```python\nfrom peft import AutoPeftModelForCausalLM\nfrom transformers import AutoTokenizer\n\n"
        f"model = AutoPeftModelForCausalLM.from_pretrained(\"{repo_id}\")  # loads {base_model} + the adapter\n"
        f"tokenizer = AutoTokenizer.from_pretrained(\"{repo_id}\")\n```"
    )
    cfg = summary.get("config", {})
    decoding = (f"temperature {cfg.get('temperature')}, max_new_tokens {cfg.get('max_new_tokens')}, "
                f"{cfg.get('num_samples')} sample(s) per problem, seed {cfg.get('seed')}" if cfg else "see eval/")
    what = {
        "adapter": f"A LoRA adapter for `{base_model}`",
        "merged": f"`{base_model}` with a LoRA adapter merged in (full weights)",
        "full": f"Full weights fine-tuned from `{base_model}`" if base_model else "Full fine-tuned weights",
    }[weights]
    parts = [
        f"# {repo_id.split('/')[-1]}",
        "",
        f"{what}, trained with thrifty (RL fine-tuning for efficient reasoning: the same accuracy with fewer "
        "output tokens).",
        "",
        *([f"LoRA: {lora}", ""] if lora else []),
        "## Usage",
        "",
        load,
        "",
        "## Results",
        "",
        f"From the run's eval report (`eval/report.md`; decoding: {decoding}). Accuracy is pass@1; tokens are output "
        f"tokens per sample counted with the model's tokenizer. {extraction_note(summary)}",
        "",
        results_table(summary),
        "",
    ]
    if plot_name:
        parts += [f"![Accuracy against output tokens]({plot_name})", ""]
    parts += ["## Training recipe", ""]
    if recipe:
        parts += [f"From `{Path(recipe_source).name if recipe_source else 'recipe'}`, also in `recipe.yaml`:", "",
                  "```yaml", yaml.safe_dump(recipe, sort_keys=False).rstrip(), "```", ""]
    else:
        parts += ["Not recorded (the run was not launched with `scripts/launch.sh`).", ""]
    results = eval_results(summary)  # model-index: the Hub's eval-results widget
    data = ModelCardData(**{k: v for k, v in metadata.items() if v is not None},
                         **({"model_name": repo_id.split("/")[-1], "eval_results": results} if results else {}))
    card = ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(parts))
    return str(card)


# -------------------------------------------------------------------------------------------------------------
# Building the folder and pushing it
# -------------------------------------------------------------------------------------------------------------
@dataclass
class PublishOptions:
    """What ``thrifty publish`` was asked to do."""

    run_dir: Path
    repo_id: str
    private: bool = False
    merge: bool = False
    dry_run: Path | None = None
    eval_dir: Path | None = None
    base_model: str | None = None
    recipe: Path | None = None
    license: str = "apache-2.0"
    tags: tuple[str, ...] = ()
    commit_message: str = "Upload with thrifty publish"


def _copy_tokenizer(run_dir: Path, base: str | None, out: Path) -> None:
    found = [n for n in TOKENIZER_FILES if (run_dir / n).is_file()]
    if "tokenizer_config.json" in found:
        for name in found:
            shutil.copy2(run_dir / name, out / name)
        return
    if not base:
        raise PublishError(f"{run_dir} has no tokenizer files and no base model to take them from")
    from transformers import AutoTokenizer

    logger.info("no tokenizer in %s: saving the base model's (%s)", run_dir, base)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)


def _write_weights(opts: PublishOptions, base: str | None, out: Path) -> None:
    run_dir = opts.run_dir
    if not is_adapter(run_dir):
        for pattern in FULL_WEIGHT_PATTERNS:
            for path in run_dir.glob(pattern):
                shutil.copy2(path, out / path.name)
        return
    if opts.merge:
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        from thrifty.models import resolve_dtype

        logger.info("merging the adapter into %s", base)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=resolve_dtype("auto"))
        merged = PeftModel.from_pretrained(model, str(run_dir)).merge_and_unload()
        merged.save_pretrained(out, safe_serialization=True)
        return
    for name in ADAPTER_FILES:
        if (run_dir / name).is_file():
            shutil.copy2(run_dir / name, out / name)
    if opts.base_model:  # loaders find the base the user named, not the path it was trained from
        config = json.loads((out / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = opts.base_model
        with atomic_open(out / "adapter_config.json") as fh:
            json.dump(config, fh, indent=2)


def build_folder(opts: PublishOptions, out: Path) -> dict[str, Any]:
    """Write the repository's files into the empty folder ``out``; returns what the card says (for logs)."""
    run_dir = check_run_dir(opts.run_dir)
    report = find_eval_report(run_dir, opts.eval_dir)
    run_fingerprint = check_eval_is_of(report, run_dir)
    base = opts.base_model or (adapter_base(run_dir) if is_adapter(run_dir) else None)
    if base and Path(base).exists():
        logger.warning("base model %s is a local folder: the card's base_model and the adapter's "
                       "base_model_name_or_path will not resolve on the Hub; pass --base-model HUB_ID", base)
    if is_adapter(run_dir):
        check_adapter_matches_base(run_dir, base)
    elif opts.merge:
        raise PublishError(f"{run_dir} holds full weights, not a LoRA adapter: there is nothing to merge; drop --merge")
    recipe, recipe_source = load_recipe(run_dir, opts.recipe)
    _write_weights(opts, base, out)
    _copy_tokenizer(run_dir, base, out)
    eval_out = out / "eval"
    eval_out.mkdir()
    for name in (EVAL_SUMMARY, EVAL_REPORT):
        if (report.folder / name).is_file():
            shutil.copy2(report.folder / name, eval_out / name)
    if (report.folder / EVAL_PLOTS).is_dir():
        shutil.copytree(report.folder / EVAL_PLOTS, eval_out / EVAL_PLOTS)
    plot_name = f"eval/{EVAL_PLOTS}/{ACCURACY_PLOT}" if report.accuracy_plot else None
    if plot_name is None:
        logger.warning("the eval report in %s has no %s; the card will have no plot", report.folder, ACCURACY_PLOT)
    if recipe:
        with atomic_open(out / "recipe.yaml") as fh:
            yaml.safe_dump(recipe, fh, sort_keys=False)
    stage = "grpo" if any(k in recipe for k in ("variant", "reward_funcs", "num_generations")) else (
        "sft" if recipe else None)
    base_for_card = base or (str(recipe["model_name_or_path"]) if recipe.get("model_name_or_path") else None)
    weights = "merged" if opts.merge else ("adapter" if is_adapter(run_dir) else "full")
    metadata = card_metadata(base_for_card, recipe, stage, opts.license, list(opts.tags), weights)
    from thrifty.models import model_fingerprint

    # what `thrifty publish --eval-only` checks a later eval against: the run's model and the published folder's
    metadata[CARD_FINGERPRINTS] = list(dict.fromkeys([run_fingerprint, model_fingerprint(str(out))]))
    write_text(out / "README.md", model_card(opts.repo_id, metadata, report, recipe, recipe_source, plot_name,
                                             weights, base_for_card, lora_summary(run_dir)))
    return {"eval_report": str(report.folder), "base_model": base_for_card, "recipe": recipe_source}


def publish(opts: PublishOptions) -> Path | str:
    """Build the folder; with ``dry_run`` move it there and return its path, else push it and return the URL."""
    parent = opts.dry_run.parent if opts.dry_run else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".thrifty-publish-", dir=parent) as tmp:
        folder = Path(tmp) / "repo"
        folder.mkdir()
        info = build_folder(opts, folder)
        logger.info("model card: base %s, eval report %s, recipe %s", info["base_model"], info["eval_report"],
                    info["recipe"] or "none")
        if opts.dry_run:
            replace_dir(folder, opts.dry_run)
            logger.info("dry run: wrote %s (nothing uploaded)", opts.dry_run)
            return opts.dry_run
        url = push_folder(folder, opts.repo_id, private=opts.private, commit_message=opts.commit_message)
        logger.info("pushed %s to %s", opts.run_dir, url)
        return url


def publish_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="thrifty publish",
                                description="Publish a trained run (LoRA adapter or merged weights) with its eval "
                                "report and recipe to the Hugging Face Hub; or attach a new eval report to a published "
                                "model (--eval-only); or publish a `thrifty build` folder as a dataset.")
    p.add_argument("run_dir", nargs="?", default=None,
                   help="training output_dir (a LoRA adapter or full weights + tokenizer), or a dataset folder "
                        "written by `thrifty build` (published as a dataset repository with a dataset card)")
    p.add_argument("--eval-only", metavar="EVAL_RUN", default=None,
                   help="attach this `thrifty eval` report to the already published model --repo-id: its card gets "
                        "the new model-index results and a section, everything else in it is kept")
    p.add_argument("--eval-label", default=None, help="--eval-only: the section's label (default: the eval's run_name if it set one, else "
                        "the eval folder's name)")
    p.add_argument("--repo-id", required=True, help="Hub repository, e.g. me/arm-qwen2.5-7b-lora")
    p.add_argument("--private", action="store_true", help="create the repository private")
    p.add_argument("--merge", action="store_true", help="merge the adapter into the base and publish full weights")
    p.add_argument("--dry-run", metavar="OUT", default=None, help="write the folder to OUT and upload nothing")
    p.add_argument("--eval-dir", default=None, help="the run's `thrifty eval` folder (default: RUN_DIR/eval)")
    p.add_argument("--base-model", default=None,
                   help="base model id/path (default: the adapter's base_model_name_or_path); also the card's base_model")
    p.add_argument("--recipe", default=None, help="recipe to show (default: RUN_DIR/thrifty_recipe.yaml)")
    p.add_argument("--license", default="apache-2.0", help="license id for the card (default apache-2.0)")
    p.add_argument("--tag", action="append", default=[], help="extra card tag (repeatable)")
    p.add_argument("--commit-message", default="Upload with thrifty publish")
    return p


def cmd_publish(argv: list[str]) -> int:
    """``thrifty publish RUN_DIR --repo-id ID [--private] [--merge] [--dry-run OUT] ...``: 0 on success, 2 for a
    user error (logged as one line saying what to do)."""
    parser = publish_parser()
    args = parser.parse_args(argv)
    routed = route(args, parser)  # --eval-only EVAL_RUN, and dataset folders (thrifty.trainers.publish_routes)
    if routed is not None:
        return routed
    opts = PublishOptions(
        run_dir=Path(args.run_dir), repo_id=args.repo_id, private=args.private, merge=args.merge,
        dry_run=Path(args.dry_run) if args.dry_run else None, eval_dir=Path(args.eval_dir) if args.eval_dir else None,
        base_model=args.base_model, recipe=Path(args.recipe) if args.recipe else None, license=args.license,
        tags=tuple(args.tag), commit_message=args.commit_message,
    )
    if "/" not in opts.repo_id:
        raise PublishError(f"--repo-id {opts.repo_id!r}: use the form OWNER/NAME")
    result = publish(opts)  # user errors: one line, exit 2 (thrifty.cli)
    logger.info("published: %s", result)
    return 0


def main() -> int:  # pragma: no cover - ``python -m thrifty.trainers.publish`` until the CLI wires it
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    return cmd_publish(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
