"""``scripts/launch.sh``: run a thrifty training stage under ``accelerate launch`` (DDP or DeepSpeed ZeRO).

    scripts/launch.sh RECIPE [--accelerate ddp|zero2|zero3|zero3_offload|multi_node_zero3|PATH]
                             [--num-processes N] [--num-machines M --machine-rank R --main-process-ip HOST
                             [--main-process-port P]] [--stage sft|grpo] [--cpu] [--dry-run] [--key value ...]

Everything the launcher does not know is passed to the stage as a recipe override (``--key value``).

Which stage runs (first rule that applies):
1. ``--stage NAME``;
2. a comment line ``# stage: NAME`` in the recipe;
3. the recipe's file name: the first of its ``_``/``-``/``.``-separated words that is a stage
   (``grpo_qwen2.5_7b.yaml`` -> grpo, ``sft.yaml`` -> sft);
4. the recipe's keys: GRPO-only keys (``variant``, ``reward_funcs``, ``num_generations``) -> grpo, else sft.

Which accelerate config: ``--accelerate NAME|PATH``, else a comment line ``# accelerate: NAME|PATH`` in the
recipe, else ``ddp``. A NAME is ``recipes/accelerate/NAME.yaml``; a missing one is a :class:`LaunchError` that
lists the available names.

On a machine without CUDA (or with ``--cpu``) the config is rewritten into ``.cache/accelerate/`` with
``use_cpu: true``, ``mixed_precision: 'no'`` (recipes are switched to fp32 on CPU, and DeepSpeed's bf16 must
match the trainer's) and 2 processes unless ``--num-processes`` says otherwise; processes talk over gloo. With
``--cpu`` on a GPU machine the stage also gets ``CUDA_VISIBLE_DEVICES=""``, so it trains on CPU in fp32. On GPU,
``--num-processes`` defaults to the visible GPUs (``torch.cuda.device_count()``) times the machines. The process
count must split evenly over the machines, and ``--machine-rank`` must be below ``--num-machines``.
The environment gets defaults (kept when already set): ``OMP_NUM_THREADS`` (cores / processes),
``TORCH_EXTENSIONS_DIR`` (``.cache/torch_extensions``: DeepSpeed compiles its ops there once) and, on CPU,
``DS_ACCELERATOR=cpu``. When the run's ``output_dir`` is known (recipe or override), the effective recipe
(recipe + overrides) is written to ``OUTPUT_DIR/thrifty_recipe.yaml`` for ``thrifty publish``'s model card, secret
values redacted (:mod:`thrifty.redact`); when the folder already records a run, the copy waits in
``thrifty_recipe.pending.yaml`` and replaces it only once the stage exits successfully (:func:`recipe_copy_target`). ``--hub_token X`` reaches the stage as ``HF_TOKEN`` in its environment,
not on its command line (where ``ps`` would show it); ``--dry-run`` prints it as ``<redacted>``.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from thrifty.errors import UserInputError, report_user_error
from thrifty.jsonl import atomic_open, read_text
from thrifty.paths import RECIPES_DIR, default_cache_dir, resolve_recipe, shipped_recipe
from thrifty.recipes import load_yaml
from thrifty.redact import REDACTED, redact_argv, redact_mapping

logger = logging.getLogger(__name__)

STAGES = ("sft", "grpo", "dpo")
ACCELERATE_DIR = RECIPES_DIR / "accelerate"
DEFAULT_ACCELERATE = "ddp"
CPU_DEFAULT_PROCESSES = 2
GRPO_ONLY_KEYS = ("variant", "reward_funcs", "num_generations")
RECIPE_COPY = "thrifty_recipe.yaml"
RECIPE_PENDING = "thrifty_recipe.pending.yaml"
_DIRECTIVE = re.compile(r"^\s*#\s*(stage|accelerate)\s*:\s*(\S+)\s*$")


class LaunchError(UserInputError):
    """A launch the user asked for cannot work; the message says what to change."""


def cache_dir() -> Path:
    """Where launch artifacts are cached: ``$THRIFTY_CACHE_DIR``, else ``.cache/`` in the checkout, else
    ``~/.cache/thrifty`` (an installed thrifty never writes into site-packages)."""
    return default_cache_dir()


def recipe_directives(recipe: str | Path) -> dict[str, tuple[str, int]]:
    """``# stage: X`` / ``# accelerate: Y`` comment lines of a recipe: ``{name: (value, line number)}``."""
    found: dict[str, tuple[str, int]] = {}
    for lineno, line in enumerate(read_text(recipe).splitlines(), 1):
        m = _DIRECTIVE.match(line)
        if m and m.group(1) not in found:
            found[m.group(1)] = (m.group(2), lineno)
    return found


def _recipe_keys(recipe: Path) -> dict[str, Any]:
    try:
        data = load_yaml(read_text(recipe)) or {}
    except yaml.YAMLError as err:
        raise LaunchError(f"{recipe}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise LaunchError(f"{recipe}: a recipe must be a YAML mapping of key: value")
    return data


def detect_stage(recipe: str | Path, explicit: str | None = None) -> str:
    """The thrifty stage that trains ``recipe`` (rules in the module docstring)."""
    recipe = Path(recipe)
    if explicit:
        if explicit not in STAGES:
            raise LaunchError(f"--stage {explicit!r}: use one of {', '.join(STAGES)}")
        return explicit
    directive = recipe_directives(recipe).get("stage")
    if directive:
        value, lineno = directive
        if value not in STAGES:
            raise LaunchError(f"{recipe}:{lineno}: '# stage: {value}' is not a stage; use one of {', '.join(STAGES)}")
        return value
    for word in re.split(r"[_\-.]", recipe.stem.lower()):
        if word in STAGES:
            return word
    keys = _recipe_keys(recipe)
    return "grpo" if any(k in keys for k in GRPO_ONLY_KEYS) else "sft"


def available_accelerate_configs() -> list[str]:
    return sorted(p.stem for p in ACCELERATE_DIR.glob("*.yaml"))


def resolve_accelerate_config(recipe: str | Path, explicit: str | None = None) -> Path:
    """The accelerate config file for a launch: ``--accelerate``, the recipe's ``# accelerate:`` line, or ddp."""
    recipe = Path(recipe)
    where = "--accelerate"
    value = explicit
    if value is None:
        directive = recipe_directives(recipe).get("accelerate")
        if directive:
            value, lineno = directive
            where = f"{recipe}:{lineno} ('# accelerate: {value}')"
    if value is None:
        value = DEFAULT_ACCELERATE
        where = "the default"
    candidates = [Path(value)] if value.endswith((".yaml", ".yml")) or os.sep in value else []
    shipped = shipped_recipe(value) if candidates else None  # recipes/accelerate/zero3.yaml from any folder
    if shipped is not None and shipped.is_file():
        candidates.append(shipped)
    candidates.append(ACCELERATE_DIR / f"{value}.yaml")
    for path in candidates:
        if path.is_file():
            return path
    raise LaunchError(
        f"accelerate config {value!r} from {where} does not exist (looked for "
        f"{', '.join(str(c) for c in candidates)}); use one of {', '.join(available_accelerate_configs())} "
        f"or a path to an accelerate YAML (make one with `accelerate config --config_file FILE`), "
        f"and fix the recipe's '# accelerate:' line or pass --accelerate NAME"
    )


def read_accelerate_config(config: Path) -> dict[str, Any]:
    """An accelerate config file as a mapping; a :class:`LaunchError` naming the file when it is not one."""
    try:
        data = yaml.safe_load(read_text(config)) or {}
    except yaml.YAMLError as err:
        raise LaunchError(f"{config}: not a valid accelerate config (YAML error: {str(err).splitlines()[0]}); fix it "
                          "or make one with `accelerate config --config_file FILE`") from None
    if not isinstance(data, dict):
        raise LaunchError(f"{config}: an accelerate config must be a YAML mapping (make one with "
                          "`accelerate config --config_file FILE`)")
    return data


def cpu_accelerate_config(config: Path, num_processes: int) -> Path:
    """A copy of ``config`` for CPU: ``use_cpu``, no mixed precision, ``num_processes``; returns its path."""
    data = read_accelerate_config(config)
    data.update(use_cpu=True, mixed_precision="no", num_processes=num_processes)
    data.pop("gpu_ids", None)
    if data.get("distributed_type") == "MULTI_CPU":  # silently starts one process without mpirun (FIELD-NOTES)
        data["distributed_type"] = "MULTI_GPU"
    if num_processes == 1 and data.get("distributed_type") == "MULTI_GPU":
        data["distributed_type"] = "NO"
    out = cache_dir() / "accelerate" / f"{config.stem}.cpu{num_processes}.yaml"
    with atomic_open(out) as fh:
        fh.write(f"# generated by thrifty's launcher from {config} for CPU; do not edit\n")
        yaml.safe_dump(data, fh, sort_keys=True)
    return out


def _parse_value(text: str) -> Any:
    try:
        return load_yaml(text)
    except yaml.YAMLError:
        return text


def overrides_dict(overrides: list[str]) -> dict[str, Any]:
    """``--key value [value ...]`` tokens as a dict (lists for several values)."""
    out: dict[str, Any] = {}
    key = None
    for token in overrides:
        if token.startswith("--"):
            key, _, inline = token[2:].partition("=")
            out[key] = _parse_value(inline) if inline else None
        elif key is not None:
            value = _parse_value(token)
            prev = out[key]
            out[key] = value if prev is None else (prev + [value] if isinstance(prev, list) else [prev, value])
    return out


def recipe_copy_target(output_dir: str | Path) -> Path:
    """Where the launcher writes the effective recipe of a run into ``output_dir``.

    ``OUTPUT_DIR/thrifty_recipe.yaml`` when the folder holds none yet; else ``OUTPUT_DIR/thrifty_recipe.pending.yaml``,
    which :func:`main` renames over the recorded copy only once the stage has exited successfully. So a rerun that
    the stage refuses (other arguments than the checkpoints it would resume, a bad key) never replaces the recipe
    of the model already in the folder, which ``thrifty publish`` puts on the model card.
    """
    output_dir = Path(str(output_dir))
    return output_dir / (RECIPE_PENDING if (output_dir / RECIPE_COPY).exists() else RECIPE_COPY)


def write_recipe_copy(recipe: Path, overrides: list[str], command: list[str]) -> Path | None:
    """Write the effective recipe (recipe + overrides) to :func:`recipe_copy_target` when ``output_dir`` is
    known; returns its path. Secret values (``hub_token``, ``*_api_key``, ``hf_...``: :mod:`thrifty.redact`) are
    written as ``<redacted>``."""
    merged = {k: v for k, v in _recipe_keys(recipe).items() if k != "env"}
    merged.update(overrides_dict(overrides))
    output_dir = merged.get("output_dir")
    if not output_dir:
        return None
    path = recipe_copy_target(output_dir)
    with atomic_open(path) as fh:
        fh.write(f"# effective recipe: {recipe} with command-line overrides\n"
                 f"# command: {shlex.join(redact_argv(command))}\n")
        yaml.safe_dump(redact_mapping(merged), fh, sort_keys=False)
    path.chmod(0o644)
    return path


def record_recipe_copy(recipe: Path, overrides: list[str], command: list[str]) -> Path | None:
    """Write the effective recipe straight to ``OUTPUT_DIR/thrifty_recipe.yaml``: for in-process stages (``thrifty
    demo``), called once the stage has succeeded."""
    copy = write_recipe_copy(recipe, overrides, command)
    return promote_recipe_copy(copy) if copy is not None and copy.name == RECIPE_PENDING else copy


def promote_recipe_copy(pending: Path) -> Path:
    """Rename a pending recipe copy (:func:`recipe_copy_target`) over ``thrifty_recipe.yaml``; returns the latter."""
    final = pending.with_name(RECIPE_COPY)
    pending.replace(final)
    logger.info("run finished: its recipe is recorded in %s", final)
    return final


@dataclass
class LaunchPlan:
    """What a launch runs: the command line and the environment variables it adds."""

    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    stage: str = ""
    accelerate_config: Path | None = None
    on_cpu: bool = False
    secret_env: dict[str, str] = field(default_factory=dict)  # set for the stage, never printed
    forced_env: dict[str, str] = field(default_factory=dict)  # set for the stage even when the caller has a value
    pending_recipe: Path | None = None  # a recipe copy to promote once the stage succeeds (recipe_copy_target)


#: Secret overrides that the stage can read from the environment instead of its command line (where ``ps`` shows
#: them to every user of the machine): ``--hub_token X`` -> ``HF_TOKEN=X`` (huggingface_hub reads it).
SECRET_ENV = {"hub_token": "HF_TOKEN"}


def _secrets_to_env(overrides: list[str]) -> tuple[list[str], dict[str, str]]:
    """``overrides`` without the :data:`SECRET_ENV` flags, and the environment variables that carry them."""
    kept, env = [], {}
    i = 0
    while i < len(overrides):
        key, eq, inline = overrides[i][2:].partition("=") if overrides[i].startswith("--") else ("", "", "")
        if key in SECRET_ENV:
            if eq:
                env[SECRET_ENV[key]] = inline
                i += 1
                continue
            if i + 1 < len(overrides) and not overrides[i + 1].startswith("--"):
                env[SECRET_ENV[key]] = overrides[i + 1]
                i += 2
                continue
        kept.append(overrides[i])
        i += 1
    return kept, env


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def _visible_gpus() -> int:
    """GPUs this machine's processes can use (``torch.cuda.device_count()`` honours ``CUDA_VISIBLE_DEVICES``)."""
    import torch

    return torch.cuda.device_count()


def default_gpu_processes(machines: int, gpus_per_machine: int) -> int | None:
    """Total processes on GPU when ``--num-processes`` is not given: one per visible GPU on every machine (not the
    accelerate configs' example ``num_processes: 8``); None when no GPU is counted (then the config decides)."""
    return gpus_per_machine * machines if gpus_per_machine > 0 else None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scripts/launch.sh",
        description="Run a thrifty training stage under accelerate launch (DDP / DeepSpeed ZeRO). "
        "Unknown --key value pairs are passed to the stage as recipe overrides.",
    )
    p.add_argument("recipe", help="YAML recipe of the stage (thrifty sft/grpo --config RECIPE)")
    p.add_argument("--accelerate", default=None,
                   help=f"accelerate config: a name in recipes/accelerate ({', '.join(available_accelerate_configs())}) "
                   "or a path; default: the recipe's '# accelerate:' line, else ddp")
    p.add_argument("--num-processes", type=int, default=None, help="total processes (all machines)")
    p.add_argument("--num-machines", type=int, default=None)
    p.add_argument("--machine-rank", type=int, default=None)
    p.add_argument("--main-process-ip", default=None)
    p.add_argument("--main-process-port", type=int, default=None)
    p.add_argument("--stage", default=None, help=f"one of {', '.join(STAGES)} (default: from the recipe)")
    p.add_argument("--cpu", action="store_true", help="run on CPU over gloo (automatic when CUDA is absent)")
    p.add_argument("--dry-run", action="store_true", help="print the command and environment, run nothing")
    return p


def plan_launch(argv: list[str]) -> tuple[LaunchPlan, list[str], Path]:
    """Parse the launcher's argv into a :class:`LaunchPlan`; returns (plan, stage overrides, recipe)."""
    args, overrides = parser().parse_known_args(argv)
    try:
        recipe = resolve_recipe(args.recipe)  # recipes/toy/sft.yaml: the shipped one when not in the working dir
    except FileNotFoundError as err:
        raise LaunchError(str(err)) from None
    if not recipe.is_file():
        raise LaunchError(f"recipe {recipe} is not a file")
    stray = [t for t in overrides[:1] if not t.startswith("--")]
    if stray:
        raise LaunchError(f"unexpected argument {stray[0]!r}: overrides take the form --key value")
    stage = detect_stage(recipe, args.stage)
    config = resolve_accelerate_config(recipe, args.accelerate)
    cuda = _cuda_available()
    on_cpu = args.cpu or not cuda
    machines = int(args.num_machines or read_accelerate_config(config).get("num_machines") or 1)
    num_processes = args.num_processes
    if num_processes is None and not on_cpu:
        num_processes = default_gpu_processes(machines, _visible_gpus())
        if num_processes is not None:
            logger.info("--num-processes not given: %d (one per visible GPU on %d machine(s))", num_processes, machines)
    if on_cpu:
        config = cpu_accelerate_config(config, num_processes or CPU_DEFAULT_PROCESSES)
    per_node = num_processes or read_accelerate_config(config).get("num_processes") or 1
    _check_topology(int(per_node), machines, args.machine_rank)
    cores = os.cpu_count() or 1
    env = {
        "OMP_NUM_THREADS": str(max(1, cores * int(machines) // max(int(per_node), 1))),
        "TORCH_EXTENSIONS_DIR": str(cache_dir() / "torch_extensions"),
        "TOKENIZERS_PARALLELISM": "false",
    }
    forced_env = {}
    if on_cpu:
        env["DS_ACCELERATOR"] = "cpu"
    if args.cpu and cuda:  # hide the GPUs, so the stage itself switches to use_cpu and fp32 (thrifty.recipes)
        forced_env.update(CUDA_VISIBLE_DEVICES="", DS_ACCELERATOR="cpu")
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config)]
    for flag, value in (("--num_processes", num_processes), ("--num_machines", args.num_machines),
                        ("--machine_rank", args.machine_rank), ("--main_process_ip", args.main_process_ip),
                        ("--main_process_port", args.main_process_port)):
        if value is not None:
            command += [flag, str(value)]
    stage_args, secret_env = _secrets_to_env(overrides)
    command += ["-m", "thrifty.cli", stage, "--config", str(recipe), *stage_args]
    plan = LaunchPlan(command=command, env=env, stage=stage, accelerate_config=config, on_cpu=on_cpu,
                      secret_env=secret_env, forced_env=forced_env)
    if not args.dry_run and not args.machine_rank:
        copy = write_recipe_copy(recipe, overrides, command)
        if copy is not None and copy.name == RECIPE_PENDING:
            plan.pending_recipe = copy
    return plan, overrides, recipe


def _check_topology(num_processes: int, machines: int, machine_rank: int | None) -> None:
    """Refuse a process count that does not split evenly over the machines, or a machine rank out of range."""
    if machines < 1:
        raise LaunchError(f"--num-machines {machines}: must be at least 1")
    if num_processes % machines:
        raise LaunchError(f"--num-processes {num_processes} is not divisible by --num-machines {machines}: "
                          "give the total over all machines (processes per machine x machines)")
    if machine_rank is not None and not 0 <= machine_rank < machines:
        raise LaunchError(f"--machine-rank {machine_rank}: must be in 0..{machines - 1} for {machines} machine(s)")


def run_stage(plan: LaunchPlan, env: dict[str, str]) -> int:
    """Run the stage as a child process (used when a pending recipe copy must wait for its success); returns its
    exit status. Ctrl-C reaches the child through the terminal; SIGTERM (Slurm, ``kill``) is forwarded to it."""
    child = subprocess.Popen(plan.command, env=env)
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: child.send_signal(signum))
    try:
        while True:
            try:
                return child.wait()
            except KeyboardInterrupt:  # the child got the same SIGINT: wait for it to stop
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``scripts/launch.sh``: plan, then replace this process with ``accelerate launch``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    argv = list(sys.argv[1:] if argv is None else argv)
    dry_run = "--dry-run" in argv
    try:
        plan, _, _ = plan_launch(argv)
    except LaunchError as err:
        return report_user_error(err, "scripts/launch.sh")
    env = {k: os.environ.get(k, v) for k, v in plan.env.items()}  # the caller's values win
    env.update(plan.forced_env)  # except where the launch itself needs a value (--cpu on a GPU machine)
    logger.info("stage %s, accelerate config %s%s", plan.stage, plan.accelerate_config, " (CPU)" if plan.on_cpu else "")
    if dry_run:
        shown = {**env, **{k: REDACTED for k in plan.secret_env}}
        sys.stdout.write("".join(f"{k}={shlex.quote(v)} " for k, v in shown.items())
                         + shlex.join(redact_argv(plan.command)) + "\n")  # a secret is shown as <redacted>
        return 0
    Path(env["TORCH_EXTENSIONS_DIR"]).mkdir(parents=True, exist_ok=True)
    os.environ.update(env)
    os.environ.update(plan.secret_env)  # an explicit --hub_token wins over an inherited HF_TOKEN
    sys.stdout.flush()
    sys.stderr.flush()
    if plan.pending_recipe is not None:  # the folder already records a run: replace its recipe only on success
        rc = run_stage(plan, dict(os.environ))
        if rc == 0:
            promote_recipe_copy(plan.pending_recipe)
        else:
            plan.pending_recipe.unlink(missing_ok=True)
            logger.error("the stage failed (exit status %d): %s still records the earlier run", rc,
                         plan.pending_recipe.with_name(RECIPE_COPY))
        return rc
    os.execvp(plan.command[0], plan.command)
    return 0  # pragma: no cover - execvp does not return

if __name__ == "__main__":
    sys.exit(main())
