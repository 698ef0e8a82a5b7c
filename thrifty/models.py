"""Loading a model and its tokenizer from a Hub id or a local folder (full weights or a PEFT adapter)."""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def default_dtype():
    """bf16 on a GPU that supports it, else fp32 (bf16 on CPU is ~10x slower; FIELD-NOTES)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def resolve_dtype(name: str | None):
    import torch

    if name in (None, "auto"):
        return default_dtype()
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
    except KeyError:
        raise ValueError(f"unknown dtype {name!r}; use auto, float32, bfloat16 or float16") from None


def model_init_kwargs(model_args, training_args=None, dtype_as_name: bool = False) -> dict:
    """``from_pretrained`` keyword arguments for every model setting of a recipe.

    From TRL's ``ModelConfig``: ``model_revision`` -> ``revision``, ``attn_implementation``, ``dtype`` (``auto``:
    :func:`default_dtype`) and, with ``load_in_4bit``/``load_in_8bit``, a bitsandbytes ``quantization_config``
    (``trl.get_quantization_config``, as TRL's own ``scripts/sft.py`` builds it) placed on this process's GPU.
    From the training config (TRL 1.16 keeps them there): ``trust_remote_code`` and the recipe's own
    ``model_init_kwargs``, which win. ``dtype_as_name`` gives the dtype as a string (``"float32"``), for configs
    serialised to JSON (``GRPOConfig.model_init_kwargs``); there the quantization config is left out and goes to
    the trainer's ``quantization_config`` argument.
    """
    from trl import get_quantization_config

    dtype = resolve_dtype(model_args.dtype)
    kwargs: dict = {
        "revision": model_args.model_revision,
        "trust_remote_code": bool(getattr(training_args, "trust_remote_code", False)),
        "attn_implementation": model_args.attn_implementation,
        "dtype": str(dtype).removeprefix("torch.") if dtype_as_name else dtype,
    }
    quantization = get_quantization_config(model_args)
    if quantization is not None and not dtype_as_name:
        kwargs["quantization_config"] = quantization
        import torch

        if torch.cuda.is_available():  # k-bit weights are placed at load time, one copy per process
            from accelerate import PartialState

            kwargs["device_map"] = {"": PartialState().local_process_index}
    extra = getattr(training_args, "model_init_kwargs", None)
    if isinstance(extra, dict):
        kwargs.update(extra)
    return kwargs


def is_adapter_dir(path: str | Path) -> bool:
    return (Path(path) / "adapter_config.json").exists()


def adapter_base(path: str | Path) -> str:
    """The ``base_model_name_or_path`` of the LoRA adapter folder ``path``."""
    import json

    return str(json.loads((Path(path) / "adapter_config.json").read_text())["base_model_name_or_path"])


def tokenizer_source(name_or_path: str) -> str:
    """Where a model's tokenizer is: the folder itself, or an adapter folder's base when it has no tokenizer."""
    path = Path(str(name_or_path))
    if is_adapter_dir(path) and not (path / "tokenizer_config.json").exists():
        return adapter_base(path)
    return str(name_or_path)


def load_trainable_model(model_args, training_args=None, use_peft: bool | None = None):
    """The model a training stage starts from, and whether it already carries the LoRA adapter to train.

    A model folder or Hub id loads as usual (``(model, False)``; the trainer adds a new LoRA when ``use_peft``).
    A LoRA adapter folder (e.g. the output of a LoRA SFT) is never loaded as a plain model, which would drop the
    adapter: its base (``base_model_name_or_path``) is loaded, then

    - with ``use_peft``: the adapter itself is loaded trainable (``PeftModel.from_pretrained(...,
      is_trainable=True)``) and training continues it (``(peft_model, True)``: pass no ``peft_config``; the
      recipe's ``lora_*`` keys are not used, the adapter keeps its own rank and target modules). The saved output
      is again an adapter on the same base, and TRL's DPO/GRPO reference (``beta > 0``) is a frozen copy of the
      loaded adapter, i.e. the model the run starts from;
    - without ``use_peft``: the adapter is merged into its base (``merge_and_unload``) and the merged model is
      trained in full (``(model, False)``).
    """
    from transformers import AutoModelForCausalLM

    use_peft = bool(getattr(model_args, "use_peft", False)) if use_peft is None else use_peft
    kwargs = model_init_kwargs(model_args, training_args)
    path = model_args.model_name_or_path
    if not is_adapter_dir(path):
        return AutoModelForCausalLM.from_pretrained(path, **kwargs), False
    from peft import PeftModel

    base_name = adapter_base(path)
    kwargs.pop("revision", None)  # the recipe's revision names the adapter's, not the base's
    base = AutoModelForCausalLM.from_pretrained(base_name, **kwargs)
    if use_peft:
        logger.warning("model_name_or_path %s is a LoRA adapter on %s: continuing to train that adapter (its own "
                       "rank and target modules; the recipe's lora_* keys are not used)", path, base_name)
        return PeftModel.from_pretrained(base, path, is_trainable=True), True
    logger.warning("model_name_or_path %s is a LoRA adapter on %s and use_peft is false: training the merged model "
                   "(base + adapter) in full", path, base_name)
    merged = PeftModel.from_pretrained(base, path).merge_and_unload()
    return merged.requires_grad_(True), False  # PEFT froze the base's weights when it loaded the adapter


def load_tokenizer(name_or_path: str, padding_side: str = "left", **kwargs):
    """Load a tokenizer (``kwargs``: ``revision``, ``trust_remote_code``); ``padding_side`` is set explicitly
    because it is not saved (FIELD-NOTES)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    tokenizer.padding_side = padding_side
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model_and_tokenizer(name_or_path: str, dtype: str | None = "auto", device: str | None = None):
    """Load a causal LM and its tokenizer from a Hub id, a model folder or a PEFT adapter folder.

    An adapter folder is loaded onto its ``base_model_name_or_path``; the tokenizer comes from the adapter
    folder when it has one, else from the base.
    """
    from transformers import AutoModelForCausalLM

    torch_dtype = resolve_dtype(dtype)
    if is_adapter_dir(name_or_path):
        from peft import AutoPeftModelForCausalLM

        model = AutoPeftModelForCausalLM.from_pretrained(name_or_path, dtype=torch_dtype)
        has_tok = (Path(name_or_path) / "tokenizer_config.json").exists()
        tok_source = name_or_path if has_tok else model.peft_config["default"].base_model_name_or_path
    else:
        model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=torch_dtype)
        tok_source = name_or_path
    if device:
        model.to(device)
    model.eval()
    return model, load_tokenizer(tok_source)


def _looks_like_hub_id(name: str) -> bool:
    """``owner/name`` or ``name`` with Hub characters, and not written as a path (``./x``, ``/x``, ``~/x``)."""
    import re

    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        return False
    return re.fullmatch(r"[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?", name) is not None


def check_model_source(name_or_path: str | None, key: str = "model_name_or_path") -> None:
    """Refuse, before anything is loaded or written, a model that cannot load: a missing folder (``runs/sft``
    beside a local ``runs/`` folder too, unless the Hub cache holds that id: a mistyped path, not a Hub id), a folder with
    neither ``config.json`` nor ``adapter_config.json``, an adapter whose base is a missing folder, or (with
    ``HF_HUB_OFFLINE=1``) a Hub id that is not in the local cache. Raises :class:`thrifty.errors.UserInputError`
    naming ``key``."""
    import os

    from thrifty.errors import UserInputError

    if not name_or_path:
        raise UserInputError(f"{key} is required: a model folder, a Hub id or a LoRA adapter folder")
    name = str(name_or_path)
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserInputError(f"{key} {name}: is a file, not a model folder (give the folder that holds config.json)")
        if (path / "adapter_config.json").is_file():
            import json

            try:
                base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
            except json.JSONDecodeError as err:
                raise UserInputError(f"{path / 'adapter_config.json'}: not valid JSON ({err.msg}); "
                                     "re-save the adapter") from None
            if not base:
                raise UserInputError(f"{path / 'adapter_config.json'}: names no base_model_name_or_path; set it to "
                                     "the model the adapter was trained on")
            try:
                check_model_source(base, f"base_model_name_or_path of {path / 'adapter_config.json'}")
            except UserInputError as err:
                raise UserInputError(f"{key} {name} is a LoRA adapter whose base cannot be loaded: {err}") from None
            return
        if not (path / "config.json").is_file():
            raise UserInputError(f"{key} {name}: the folder has no config.json or adapter_config.json; is it a "
                                 "model folder (a training output_dir or a checkpoint-N inside one)?")
        return
    if not _looks_like_hub_id(name):
        raise UserInputError(f"{key} {name}: no such folder; give a model folder, a Hub id (owner/name) or an "
                             "adapter folder")
    owner = name.split("/")[0] if "/" in name else None
    local_owner = bool(owner) and Path(owner).is_dir()  # `runs/sft` beside a `runs/` folder: a mistyped path
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if (local_owner or offline) and not _in_hub_cache(name):
        if local_owner:  # refused at once rather than waiting for the Hub
            raise UserInputError(f"{key} {name}: no such folder (the folder {owner}/ is here, so this reads as a "
                                 "local path, not a Hub id); check the path, e.g. the output_dir of the run you mean")
        raise UserInputError(f"{key} {name}: no such folder, and not in the Hub cache while HF_HUB_OFFLINE is set; "
                             "give a local model folder, or download it first")


def _in_hub_cache(repo_id: str) -> bool:
    """Whether the local Hub cache holds a model (``config.json``) or adapter config for ``repo_id``."""
    from huggingface_hub import try_to_load_from_cache

    return any(isinstance(try_to_load_from_cache(repo_id, f), str) for f in ("config.json", "adapter_config.json"))


def model_fingerprint(name_or_path: str) -> str:
    """A short fingerprint of a model, for refusing to mix samples of two models in one eval run.

    A local folder: sha256 over its ``config.json`` / ``adapter_config.json`` and, per weight file (sorted), its
    name, size and three 64 KiB samples (start, middle, end), so a retrained or replaced model changes it while
    a copy of the same folder keeps it, and it costs milliseconds even for 100 GB of weights; an adapter adds its
    base's fingerprint. A Hub id: ``hub:<id>``.
    """
    import hashlib

    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        return f"hub:{name_or_path}"
    digest = hashlib.sha256()
    for name in ("config.json", "adapter_config.json"):
        if (path / name).is_file():
            digest.update(name.encode() + (path / name).read_bytes())
    weights = sorted(p for pattern in ("*.safetensors", "*.bin", "*.pt", "*.gguf") for p in path.glob(pattern)
                     if p.name != "training_args.bin")
    for weight in weights:
        size = weight.stat().st_size
        digest.update(f"{weight.name}:{size}".encode())
        with weight.open("rb") as fh:
            for offset in sorted({0, max(size // 2 - 32768, 0), max(size - 65536, 0)}):
                fh.seek(offset)
                digest.update(fh.read(65536))
    if (path / "adapter_config.json").is_file():
        import json

        base = json.loads((path / "adapter_config.json").read_text()).get("base_model_name_or_path")
        if base:
            digest.update(model_fingerprint(str(base)).encode())
    return digest.hexdigest()[:16]
