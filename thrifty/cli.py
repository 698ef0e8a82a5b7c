"""The ``thrifty`` command line: one subcommand per pipeline stage.

Recipe-driven stages (``thrifty sft --config RECIPE [--key value ...]``) take a flat YAML recipe whose keys
are the fields of the stage's dataclasses; ``--key value`` overrides a recipe value. Heavy imports happen
inside each command so ``thrifty --help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable

logger = logging.getLogger("thrifty")


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "DeepSpeed"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _offline_defaults() -> None:
    """wandb offline unless configured; no accelerator warnings from DeepSpeed on CPU."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import torch

        if not torch.cuda.is_available():
            os.environ.setdefault("DS_ACCELERATOR", "cpu")
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


# -------------------------------------------------------------------------------------------------------------
# Recipe-driven stages
# -------------------------------------------------------------------------------------------------------------
def _sft_dataclasses() -> tuple[type, ...]:
    """The dataclasses of an SFT recipe (``thrifty sft``, and the recipes ``toy pretrain`` and ``demo`` take)."""
    from trl import ModelConfig

    from thrifty.trainers.sft import DataArguments, ThriftySFTConfig

    return DataArguments, ThriftySFTConfig, ModelConfig


def cmd_sft(argv: list[str]) -> int:
    from thrifty.recipes import parse_recipe
    from thrifty.trainers.sft import run_sft

    data_args, training_args, model_args = parse_recipe(_sft_dataclasses(), argv)
    out = run_sft(data_args, training_args, model_args)
    logger.info("saved to %s", out)
    return 0


def lazy(target: str) -> Callable[[list[str]], int]:
    """A command that imports ``module:function`` only when it runs (so ``thrifty --help`` stays instant)."""

    def command(argv: list[str]) -> int:
        import importlib

        module, function = target.split(":")
        return getattr(importlib.import_module(module), function)(argv)

    command.__name__ = target
    return command


RECIPE_COMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "sft": (cmd_sft, "supervised fine-tuning (full or LoRA) from a recipe"),
    "grpo": (lazy("thrifty.trainers.grpo:cmd_grpo"),
             "GRPO, Ada-GRPO (format-balanced) or MinD (fewer turns) from a recipe"),
    "eval": (lazy("thrifty.eval.commands:cmd_eval"),
             "accuracy against tokens on benchmarks (also: thrifty eval score --benchmark B --predictions FILE)"),
    "dpo": (lazy("thrifty.trainers.dpo:cmd_dpo"),
            "DPO with LoRA (the frozen base is the reference) on preference pairs"),
    "eval-longwrite": (lazy("thrifty.eval.longbench_write:cmd_eval_longbench_write"),
                       "LongBench-Write / LongWrite-Ruler: length score + judge quality"),
    "select-style": (lazy("thrifty.data_builders.style_select:cmd_select_style"),
                     "choose the response style that fits the target model (alignment score)"),
}

#: Commands with their own flags (not a recipe), handed the raw argv.
PLAIN_COMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "publish": (lazy("thrifty.trainers.publish:cmd_publish"),
                "push a LoRA adapter (or merged weights) with a model card and the eval report: "
                "thrifty publish RUN_DIR --repo-id ID [--private] [--merge] [--dry-run OUT]; also "
                "--eval-only EVAL_RUN (a new eval report on a published card) and a `thrifty build` folder"),
    "launch": (lazy("thrifty.trainers.launch:main"),
               "accelerate/DeepSpeed launch of a recipe (same as scripts/launch.sh): "
               "thrifty launch RECIPE [--accelerate zero2|zero3|ddp] [--num-processes N]"),
    "decontaminate": (lazy("thrifty.eval.contamination:cmd_decontaminate"),
                      "n-gram overlap of a dataset's questions with the benchmarks (open-r1's 8-grams): "
                      "thrifty decontaminate DATA [--benchmarks ...] [--ngram-size 8] [--out CLEAN.jsonl]"),
    "report": (lazy("thrifty.eval.commands:cmd_report"),
               "put several eval runs side by side (Pareto plot per benchmark, deltas against the first run): "
               "thrifty report RUN_DIR [RUN_DIR ...]"),
}

#: ``thrifty build KIND --config RECIPE``: the SFT data builders.
BUILD_COMMANDS: dict[str, tuple[Callable[[list[str]], int], str]] = {
    "multiformat": (lazy("thrifty.data_builders.multiformat:cmd_build_multiformat"),
                    "ARM multi-format SFT data (direct, short CoT, code, long CoT)"),
    "multiturn": (lazy("thrifty.data_builders.multiturn:cmd_build_multiturn"),
                  "MinD multi-turn SFT data (one thinking unit per turn)"),
    "agentwrite": (lazy("thrifty.data_builders.agentwrite:cmd_build_agentwrite"),
                   "LongWriter AgentWrite long-output SFT data (plan, then write)"),
    "preference-pairs": (lazy("thrifty.data_builders.preference_pairs:cmd_build_preference_pairs"),
                         "long-output DPO pairs ranked by length and judge scores"),
}


# -------------------------------------------------------------------------------------------------------------
# Toy world and demo
# -------------------------------------------------------------------------------------------------------------
def cmd_toy_build(args: argparse.Namespace) -> int:
    from thrifty.data_builders.toy_build import ARM_WEIGHTS, build_toy_dataset
    from thrifty.toy_world import ToyWorld

    paths = build_toy_dataset(
        args.out, n_train=args.n_train, n_test_per_difficulty=args.n_test, world=ToyWorld(seed=args.seed),
        weights=ARM_WEIGHTS if args.arm_formats else None, all_formats=args.all_formats,
    )
    print(json.dumps(paths, indent=2))
    return 0


def cmd_toy_pretrain(args: argparse.Namespace, extra: list[str]) -> int:
    from thrifty.paths import TOY_BASE_DIR, is_checkout, recipe_path

    if args.install and not is_checkout() and not args.into_site_packages:
        logger.error("--install copies the model over the toy base shipped in %s, which is not a source checkout "
                     "(thrifty is installed); add --into-site-packages to do that anyway, or use the model in --out",
                     TOY_BASE_DIR)
        return 2
    from thrifty.trainers.toy import pretrain_toy_base

    recipe = args.config or recipe_path("toy/pretrain.yaml")
    init_from = TOY_BASE_DIR if args.init_from == "base" else args.init_from
    final = pretrain_toy_base(args.out, recipe, extra, n_train=args.n_train, seed=args.seed, init_from=init_from)
    if args.install:
        import shutil

        shutil.copytree(final, TOY_BASE_DIR, dirs_exist_ok=True)
        final = TOY_BASE_DIR
    print(final)
    return 0


def cmd_models_import_gguf(args: argparse.Namespace) -> int:
    from thrifty.gguf_import import import_gguf

    out = import_gguf(args.file, args.out_dir, dtype=args.dtype, overwrite=args.overwrite)  # GGUFImportError: exit 2
    print(out)
    return 0


def cmd_recipes(args: argparse.Namespace) -> int:
    from thrifty.recipe_library import copy_recipe, recipe_descriptions

    if args.recipes_command == "list":
        rows = recipe_descriptions()
        width = max(len(name) for name, _ in rows)
        for name, description in rows:
            print(f"recipes/{name:<{width}}  {description}".rstrip())
        return 0
    try:
        for path in copy_recipe(args.name, args.dest, force=args.force):
            print(path)
    except FileExistsError as err:
        logger.error("%s", err)
        return 2
    return 0


#: ``thrifty demo``'s method names (the keys of ``thrifty.trainers.demo.DEMO_METHODS``, written out so the parser
#: does not import the trainers; ``tests/test_demo.py`` pins them): ``--method`` takes those evaluated in adaptive
#: mode, ``--baseline`` any of them.
DEMO_BASELINE_METHODS = ("arm2", "plain", "ada", "ada_length", "efficient", "efficient_alpha02", "efficient_alpha04",
                         "efficient_official_alpha02", "efficient_official", "efficient_tag", "efficient_opening",
                         "l1_exact", "adaptthink")
DEMO_ADAPTIVE_METHODS = ("arm2", "plain", "ada", "ada_length", "efficient", "efficient_alpha02", "efficient_alpha04",
                         "efficient_official_alpha02", "efficient_official", "efficient_tag", "efficient_opening",
                         "adaptthink")


def cmd_demo(args: argparse.Namespace, extra: list[str]) -> int:
    from thrifty.trainers.demo import run_demo

    grpo_overrides = ["--max_steps", str(args.grpo_steps)] if args.grpo_steps is not None else None
    report = run_demo(args.out, from_scratch=args.from_scratch, sft_overrides=extra, grpo_overrides=grpo_overrides,
                      seed=args.seed, method=args.method, baselines=tuple(args.baseline))
    print(report)
    return 0


def positive_int(text: str) -> int:
    """argparse type of counts (``--n-train``, ``--grpo-steps``): an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}; it takes an integer >= 1") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is out of range: it must be an integer >= 1")
    return value


def build_parser(sft_recipe_help: bool = False) -> argparse.ArgumentParser:
    """The top-level parser. ``sft_recipe_help``: also list, under ``toy pretrain`` and ``demo``, the SFT recipe
    keys their extra ``--key value`` arguments set (imports TRL, so only when that help is asked for)."""
    recipe_epilog = None
    if sft_recipe_help:
        from thrifty.recipes import recipe_help

        recipe_epilog = "Extra --key value arguments override the SFT recipe; its keys:\n\n" + recipe_help(
            "thrifty sft", "supervised fine-tuning", _sft_dataclasses(), keys_only=True)
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="thrifty",
        description="RL fine-tuning for efficient reasoning models: data builders, SFT, GRPO variants, eval.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in RECIPE_COMMANDS.items():
        sub.add_parser(name, help=f"{help_text}: thrifty {name} --config RECIPE [--key value ...]", add_help=False)
    for name, (_, help_text) in PLAIN_COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)

    build_cmd = sub.add_parser("build", help="SFT data builders: thrifty build KIND --config RECIPE")
    build_sub = build_cmd.add_subparsers(dest="build_command", metavar="KIND")
    for name, (_, help_text) in BUILD_COMMANDS.items():
        build_sub.add_parser(name, help=f"{help_text}: thrifty build {name} --config RECIPE", add_help=False)

    demo = sub.add_parser("demo", help="the toy-world pipeline end to end: data -> SFT -> ARM2 GRPO -> eval -> report",
                          epilog=recipe_epilog, formatter_class=raw)
    demo.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    demo.add_argument("--from-scratch", action="store_true",
                      help="train a new tiny model from scratch instead of starting from the shipped toy base")
    demo.add_argument("--seed", type=int, default=0,
                      help="seed of the toy data, the SFT and the GRPO run (default 0); each seed is its own world")
    demo.add_argument("--method", choices=DEMO_ADAPTIVE_METHODS, default="efficient_opening",
                      help="the GRPO method trained into OUT/grpo: efficient_opening (default, the recommended path: "
                           "Efficient RL at alpha 0.2 with thrifty's opening-token loss weight), arm2 (ARM2's "
                           "length-aware Ada-GRPO), plain (plain GRPO), ada (ARM's Ada-GRPO), ada_length (Ada-GRPO "
                           "+ Kimi's length reward), efficient (Efficient RL: Arora & Zanette's accuracy, paid less "
                           "for a longer right answer, alpha 0.1), efficient_alpha02 and efficient_alpha04 (the same "
                           "at alpha 0.2 and 0.4), efficient_official (alpha 0.1 with the official code's loss and "
                           "whitening), efficient_official_alpha02 (the same at alpha 0.2), efficient_tag (the "
                           "weight on format tags only) or adaptthink (AdaptThink)")
    demo.add_argument("--baseline", action="append", default=[], choices=DEMO_BASELINE_METHODS,
                      help="also train this method into OUT/grpo_<name> from the same SFT model and compare it "
                           "(repeatable; e.g. --baseline plain, about 3 more minutes)")
    demo.add_argument("--grpo-steps", type=positive_int, default=None,
                      help="GRPO steps (default: the method's recipe, 80); other --key value go to the SFT recipe")

    toy = sub.add_parser("toy", help="the toy world: build its data, pretrain its base model")
    toy_sub = toy.add_subparsers(dest="toy_command", metavar="TOY_COMMAND")
    defaults = argparse.ArgumentDefaultsHelpFormatter
    build = toy_sub.add_parser("build", help="write toy problems, traces and SFT data to a folder",
                               formatter_class=defaults)
    build.add_argument("--out", required=True, help="output folder")
    build.add_argument("--n-train", type=positive_int, default=20000, help="training problems")
    build.add_argument("--n-test", type=positive_int, default=100, help="distinct test problems per difficulty (at most)")
    build.add_argument("--seed", type=int, default=0, help="toy world seed")
    build.add_argument("--arm-formats", action="store_true",
                       help="SFT data in ARM's four formats only (no MinD multi-turn rows), as the demo builds it")
    build.add_argument("--all-formats", action="store_true",
                       help="every training problem once in each format (ARM's SFT layout), not one drawn format")
    pretrain = toy_sub.add_parser("pretrain", help="train the toy base model (from scratch or --init-from a model; resumable)",
                                  epilog=recipe_epilog, formatter_class=raw)
    pretrain.add_argument("--out", default="runs/toy_pretrain", help="output folder (default runs/toy_pretrain)")
    pretrain.add_argument("--config", default=None, help="recipe (default recipes/toy/pretrain.yaml)")
    pretrain.add_argument("--n-train", type=positive_int, default=200000, help="training rows (default 200000)")
    pretrain.add_argument("--seed", type=int, default=0, help="toy world seed (default 0)")
    pretrain.add_argument("--init-from", default=None, metavar="DIR",
                          help="continue pretraining this toy model (its tokenizer too) instead of a fresh one; "
                               "'base' is the shipped toy base")
    pretrain.add_argument("--install", action="store_true",
                          help="copy the final model to thrifty/assets/toy_base (the demo's base model) of a checkout")
    pretrain.add_argument("--into-site-packages", action="store_true",
                          help="with --install: also when thrifty is installed (overwrites the installed package's toy base)")

    models = sub.add_parser("models", help="model utilities: thrifty models import-gguf FILE OUT_DIR")
    models_sub = models.add_subparsers(dest="models_command", metavar="MODELS_COMMAND")
    gguf = models_sub.add_parser("import-gguf", help="convert a GGUF file (llama.cpp) into a transformers model folder")
    gguf.add_argument("file", help="the .gguf file")
    gguf.add_argument("out_dir", help="the model folder to write (safetensors + tokenizer + chat template)")
    gguf.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16", "auto"),
                      help="dtype of the saved weights (default float32; auto: bf16 on a GPU that has it, else fp32)")
    gguf.add_argument("--overwrite", action="store_true", help="replace an existing OUT_DIR")

    recipes = sub.add_parser("recipes", help="the shipped recipes: thrifty recipes list | cp NAME DEST")
    recipes_sub = recipes.add_subparsers(dest="recipes_command", metavar="RECIPES_COMMAND")
    recipes_sub.add_parser("list", help="list the shipped recipes (usable as --config recipes/NAME from any folder)")
    cp = recipes_sub.add_parser("cp", help="copy a shipped recipe (or folder of recipes) to edit it")
    cp.add_argument("name", help="e.g. toy/sft.yaml, recipes/toy/sft.yaml or toy")
    cp.add_argument("dest", help="a file name or a folder")
    cp.add_argument("--force", action="store_true", help="overwrite existing files")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``thrifty`` command. A user error (:class:`thrifty.errors.UserInputError`, argparse's complaints
    included) exits with status 2 and ONE line on stderr naming the file/row/key, with no traceback."""
    from thrifty.errors import report_user_error

    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in argv or "--verbose" in argv
    argv = [a for a in argv if a not in ("-v", "--verbose")]
    _setup_logging(verbose)
    saved = argparse.ArgumentParser.error
    argparse.ArgumentParser.error = _raise_usage_error  # type: ignore[method-assign]
    try:
        return _dispatch(argv)
    except Exception as err:
        from thrifty.backends import BackendError
        from thrifty.errors import UserInputError
        from thrifty.network import is_network_error, network_message

        if is_network_error(err) and not isinstance(err, (UserInputError, BackendError)):  # no message of ours
            return report_user_error(network_message(err))  # the Hub could not be reached: what, the way offline
        if isinstance(err, _user_errors()):
            return report_user_error(err)
        if isinstance(err, OSError) and _is_hub_lookup_error(err):  # transformers' "no such Hub repo / file"
            return report_user_error(err)
        raise
    finally:
        argparse.ArgumentParser.error = saved  # type: ignore[method-assign]


def _raise_usage_error(parser: argparse.ArgumentParser, message: str):
    from thrifty.errors import raise_usage_error

    raise_usage_error(parser, message)


def _user_errors() -> tuple[type[BaseException], ...]:
    from thrifty.backends import BackendError
    from thrifty.errors import UserInputError

    return (UserInputError, BackendError, FileNotFoundError)


def _is_hub_lookup_error(err: OSError) -> bool:
    """Whether ``err`` is transformers' report of a model id or file that the Hub (or its cache) does not have."""
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError

    return isinstance(err.__cause__, (HFValidationError, HfHubHTTPError, LocalEntryNotFoundError))


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] in PLAIN_COMMANDS:
        _offline_defaults()
        return _run(PLAIN_COMMANDS[argv[0]][0], argv[1:])
    if argv[:2] == ["eval", "score"]:  # own flags, not a recipe
        _offline_defaults()
        return _run(RECIPE_COMMANDS["eval"][0], argv[1:])
    recipe_command = _recipe_command(argv)
    if recipe_command is not None:
        (handler, help_text), name, rest = recipe_command
        if "-h" in rest or "--help" in rest:
            return _recipe_help(handler, name, help_text)
        _offline_defaults()
        return _run(handler, rest)
    wants_help = "-h" in argv or "--help" in argv
    parser = build_parser(sft_recipe_help=wants_help and (argv[:2] == ["toy", "pretrain"] or argv[:1] == ["demo"]))
    args, extra = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    _offline_defaults()
    if args.command == "demo":
        return _run(cmd_demo, args, extra)
    if extra and args.command in ("toy", "models", "recipes") and not (args.command == "toy"
                                                                        and args.toy_command == "pretrain"):
        parser.error(f"unrecognised arguments: {' '.join(extra)}")  # toy build, models import-gguf, recipes
    if args.command == "build":
        parser.parse_args(["build", "--help"])
    if args.command == "toy":
        if args.toy_command == "build":
            return _run(cmd_toy_build, args)
        if args.toy_command == "pretrain":
            return _run(cmd_toy_pretrain, args, extra)
        parser.parse_args(["toy", "--help"])
    if args.command == "models":
        if args.models_command == "import-gguf":
            return _run(cmd_models_import_gguf, args)
        parser.parse_args(["models", "--help"])
    if args.command == "recipes":
        if args.recipes_command in ("list", "cp"):
            return _run(cmd_recipes, args)
        parser.parse_args(["recipes", "--help"])
    parser.error(f"unrecognised arguments: {' '.join(extra)}")
    return 2


def _recipe_help(handler: Callable[[list[str]], int], name: str, help_text: str) -> int:
    """Print the command's recipe keys: the handler is run with ``--help`` and its :func:`parse_recipe` raises
    :class:`RecipeHelp` with the dataclasses it parses, so the help lists exactly the keys the command reads."""
    from thrifty.recipes import RecipeHelp, recipe_help

    epilog = ("thrifty eval score --benchmark B --predictions FILE scores completions made elsewhere "
              "(thrifty eval score --help)." if name == "eval" else None)
    try:
        handler(["--help"])
    except RecipeHelp as request:
        print(recipe_help(f"thrifty {name}", help_text, request.dataclass_types, epilog=epilog))
        return 0
    raise RuntimeError(f"thrifty {name} did not parse a recipe for --help")  # pragma: no cover - wiring bug


def _recipe_command(argv: list[str]):
    """(handler and help, display name, remaining argv) for recipe-driven commands, else None."""
    if argv and argv[0] in RECIPE_COMMANDS:
        return RECIPE_COMMANDS[argv[0]], argv[0], argv[1:]
    if len(argv) > 1 and argv[0] == "build" and argv[1] in BUILD_COMMANDS:
        return BUILD_COMMANDS[argv[1]], f"build {argv[1]}", argv[2:]
    return None


def _run(func: Callable, *args) -> int:
    """Run a command; user errors propagate to :func:`main`, which prints them as one line and exits 2."""
    return func(*args)


# -------------------------------------------------------------------------------------------------------------
# Parsing a command without running it (the docs' commands are checked this way: tests/test_docs.py)
# -------------------------------------------------------------------------------------------------------------
#: ``module:function`` returning the argparse parser of each command with its own flags (not a recipe).
PLAIN_PARSERS: dict[str, str] = {
    "publish": "thrifty.trainers.publish:publish_parser",
    "launch": "thrifty.trainers.launch:parser",
    "decontaminate": "thrifty.eval.contamination:decontaminate_parser",
    "report": "thrifty.eval.commands:report_parser",
    "eval score": "thrifty.eval.commands:score_parser",
}


def command_parser(name: str) -> argparse.ArgumentParser:
    """The argparse parser of ``name``, a key of :data:`PLAIN_PARSERS` (``publish``, ``eval score``...)."""
    import importlib

    module, function = PLAIN_PARSERS[name].split(":")
    return getattr(importlib.import_module(module), function)()


def recipe_dataclasses(name: str) -> tuple[type, ...]:
    """The dataclasses whose fields are the recipe keys of the recipe command ``name`` (``sft``, ``build
    multiturn``): the ones its handler parses, asked for with ``--help`` as ``thrifty NAME --help`` does."""
    from thrifty.recipes import RecipeHelp

    recipe_command = _recipe_command(name.split())
    if recipe_command is None:
        raise KeyError(f"{name!r} is not a recipe command")
    try:
        recipe_command[0][0](["--help"])
    except RecipeHelp as request:
        return request.dataclass_types
    raise RuntimeError(f"thrifty {name} did not parse a recipe for --help")  # pragma: no cover - wiring bug


def check_command(argv: list[str], placeholder: Callable[[str], bool] | None = None) -> None:
    """Parse ``thrifty ARGV`` as the command would, without running it (nothing is loaded or written): the
    subcommand, the recipe (resolved as the command resolves it, shipped recipes included), every key of the recipe
    and of the ``--key value`` overrides (values converted and checked by the stage's dataclasses), and the flags of
    commands with their own. A mistake raises :class:`thrifty.errors.UserInputError` (argparse's as ``UsageError``).

    ``placeholder(token)`` marks values written as placeholders (``RUN_DIR``, ``N``): an option's placeholder is
    replaced by a value of the option's type, and a placeholder recipe is not read (its keys are unknown)."""
    argv = [a for a in argv if a not in ("-v", "--verbose")]
    saved_error, saved_env = argparse.ArgumentParser.error, dict(os.environ)
    argparse.ArgumentParser.error = _raise_usage_error  # type: ignore[method-assign]
    try:
        _check(argv, placeholder or (lambda token: False))
    finally:
        argparse.ArgumentParser.error = saved_error  # type: ignore[method-assign]
        for key in set(os.environ) - set(saved_env):  # a recipe's env: entries
            del os.environ[key]
        os.environ.update(saved_env)


def fill_placeholders(argv: list[str], actions: dict[str, argparse.Action],
                      placeholder: Callable[[str], bool]) -> list[str]:
    """``argv`` with each option value that is a placeholder replaced by a value the option accepts."""
    out, action = [], None
    for token in argv:
        if token.startswith("-") and not token.lstrip("-").replace(".", "").isdigit():
            flag, eq, value = token.partition("=")
            action = actions.get(flag) or actions.get(flag.replace("-", "_"))
            if eq and placeholder(value):
                token = f"{flag}={_dummy(action)}"
            out.append(token)
            continue
        out.append(_dummy(action) if action is not None and placeholder(token) else token)
    return out


def _dummy(action: argparse.Action | None) -> str:
    if action is not None and action.choices:
        return str(next(iter(action.choices)))
    kind = getattr(getattr(action, "type", None), "__name__", "")
    return {"int": "1", "float": "1.0", "string_to_bool": "true"}.get(kind, "PLACEHOLDER")


def _parse_recipe_command(types: tuple[type, ...], argv: list[str], placeholder: Callable[[str], bool]) -> None:
    from transformers import HfArgumentParser

    from thrifty.recipes import parse_recipe

    if "--config" in argv[:-1] and placeholder(argv[argv.index("--config") + 1]):
        i = argv.index("--config")
        argv = argv[:i] + argv[i + 2:]
    parse_recipe(types, fill_placeholders(argv, HfArgumentParser(types)._option_string_actions, placeholder))


def _check(argv: list[str], placeholder: Callable[[str], bool]) -> None:
    from thrifty.paths import recipe_path, shipped_recipe
    from thrifty.recipes import HELP_FLAGS, RecipeError

    wants_help = any(a in HELP_FLAGS for a in argv)
    plain = "eval score" if argv[:2] == ["eval", "score"] else argv[0] if argv and argv[0] in PLAIN_PARSERS else None
    recipe_command = _recipe_command(argv)
    if plain is not None or recipe_command is not None:
        if wants_help:
            return
        if plain == "launch":
            _check_launch(argv[1:], placeholder)
        elif plain is not None:
            parser = command_parser(plain)
            rest = argv[len(plain.split()):]
            parser.parse_args(fill_placeholders(rest, parser._option_string_actions, placeholder))
        else:
            _, name, rest = recipe_command
            _parse_recipe_command(recipe_dataclasses(name), rest, placeholder)
        return
    parser = build_parser()
    argv = [a for a in argv if a not in HELP_FLAGS]
    leaf = parser  # the (sub)parser whose options the placeholders are values of
    for name in argv[:2] if argv[:1] in (["toy"], ["models"], ["recipes"]) else argv[:1]:
        subparsers = [a for a in leaf._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers or name not in subparsers[0].choices:
            break
        leaf = subparsers[0].choices[name]
    args, extra = parser.parse_known_args(fill_placeholders(argv, leaf._option_string_actions, placeholder))
    if wants_help or args.command is None or (args.command == "build" and args.build_command is None):
        return
    if args.command == "demo" or (args.command == "toy" and args.toy_command == "pretrain"):
        if args.command == "demo":
            from thrifty.trainers.demo import refuse_owned_overrides

            refuse_owned_overrides(extra, "SFT recipe overrides")
            recipe = recipe_path("toy/sft.yaml")
        else:
            recipe = args.config or recipe_path("toy/pretrain.yaml")
        _parse_recipe_command(_sft_dataclasses(), ["--config", str(recipe), *extra], placeholder)
        return
    if extra:
        parser.error(f"unrecognised arguments: {' '.join(extra)}")
    if args.command == "recipes" and args.recipes_command == "cp" and not placeholder(args.name) \
            and shipped_recipe(args.name) is None:
        raise RecipeError(f"no shipped recipe {args.name!r}; `thrifty recipes list` lists them")


def _check_launch(argv: list[str], placeholder: Callable[[str], bool]) -> None:
    """``thrifty launch`` / ``scripts/launch.sh``: the launcher's flags, the recipe, its stage, the accelerate config
    and the stage's overrides (a placeholder recipe: the overrides must be keys of some training stage)."""
    from thrifty.paths import recipe_path, resolve_recipe
    from thrifty.recipes import RecipeError
    from thrifty.trainers.launch import STAGES, LaunchError, detect_stage, parser, resolve_accelerate_config

    launcher = parser()
    args, overrides = launcher.parse_known_args(fill_placeholders(argv, launcher._option_string_actions, placeholder))
    if overrides[:1] and not overrides[0].startswith("--"):
        raise LaunchError(f"unexpected argument {overrides[0]!r}: overrides take the form --key value")
    if placeholder(args.recipe):
        if args.accelerate is not None and not placeholder(args.accelerate):
            resolve_accelerate_config(recipe_path("toy/sft.yaml"), args.accelerate)
        errors = []
        for stage in [detect_stage(recipe_path("toy/sft.yaml"), args.stage)] if args.stage else STAGES:
            try:
                return _parse_recipe_command(recipe_dataclasses(stage), overrides, placeholder)
            except RecipeError as err:
                errors.append(f"{stage}: {err}")
        raise RecipeError("; ".join(errors))
    try:
        recipe = resolve_recipe(args.recipe)
    except FileNotFoundError as err:
        raise LaunchError(str(err)) from None
    stage = detect_stage(recipe, args.stage)
    if args.accelerate is None or not placeholder(args.accelerate):
        resolve_accelerate_config(recipe, args.accelerate)
    _parse_recipe_command(recipe_dataclasses(stage), ["--config", str(recipe), *overrides], placeholder)


if __name__ == "__main__":
    sys.exit(main())
