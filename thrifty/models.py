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
