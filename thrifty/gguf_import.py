"""``thrifty models import-gguf FILE OUT_DIR``: turn a GGUF file into a plain transformers checkpoint.

Many small chat models circulate only as GGUF files (llama.cpp's format). transformers reads them
(``from_pretrained(dir, gguf_file=name)``, with the ``gguf`` package) and dequantizes the weights, but such a
model refuses ``save_pretrained`` ("quantized with gguf and is not serializable"). The import therefore:

1. loads the tokenizer and the dequantized model from the GGUF file (transformers' GGUF integration,
   ``transformers/integrations/ggml.py``; the quantization rounding stays in the weights);
2. builds a fresh model of the same architecture with ``AutoModelForCausalLM.from_config`` (the config without
   its ``quantization_config``) and copies every tensor in with a strict ``load_state_dict``;
3. saves model, generation config and tokenizer (chat template included) into a temporary folder beside
   ``OUT_DIR`` and renames it into place, so an interrupted import leaves nothing half-written.

The result loads with ``AutoModelForCausalLM.from_pretrained(OUT_DIR)`` like any Hub checkpoint, so every
thrifty stage (SFT, GRPO, DPO, eval, publish) takes it as ``model_name_or_path``. Measured (FIELD-NOTES):
SmolLM2-135M-Instruct Q4_1 (93 MB) -> 538 MB fp32 safetensors in about 15 s on 2 CPU cores.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from thrifty.errors import UserInputError
from thrifty.paths import share_files

logger = logging.getLogger(__name__)


DTYPES = ("float32", "bfloat16", "float16", "auto")


class GGUFImportError(UserInputError):
    """The GGUF file cannot be imported; the message says why and what to do."""


def import_gguf(gguf_file: str | Path, out_dir: str | Path, dtype: str = "float32", overwrite: bool = False) -> Path:
    """Convert ``gguf_file`` into a transformers model folder at ``out_dir`` (see the module docstring).

    ``dtype`` is the dtype the weights are saved in (``float32``, ``bfloat16`` or ``float16``). An existing
    ``out_dir`` is an error unless ``overwrite``.
    """
    import struct

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from thrifty.models import resolve_dtype

    gguf_file, out_dir = Path(gguf_file), Path(out_dir)
    if not gguf_file.is_file():
        raise GGUFImportError(f"{gguf_file}: no such GGUF file")
    if gguf_file.suffix.lower() != ".gguf":
        raise GGUFImportError(f"{gguf_file}: not a .gguf file (expected a llama.cpp GGUF model)")
    if dtype not in DTYPES:
        raise GGUFImportError(f"--dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if gguf_file.resolve().is_relative_to(out_dir.resolve()):  # --overwrite would delete the input
        raise GGUFImportError(f"{out_dir} holds the input {gguf_file}: choose an OUT_DIR that does not contain it")
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise GGUFImportError(f"{out_dir} already exists and is not empty; pass --overwrite or choose another folder")
    try:
        import gguf  # noqa: F401 - transformers needs it to read the file
    except ImportError as err:  # pragma: no cover - gguf is a dependency
        raise GGUFImportError("reading GGUF files needs the 'gguf' package: pip install gguf") from err
    torch_dtype = resolve_dtype(dtype)
    source, name = str(gguf_file.parent), gguf_file.name
    logger.info("loading %s (dequantizing)", gguf_file)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(source, gguf_file=name, dtype=torch_dtype)
    except (ValueError, KeyError, RuntimeError, IndexError, EOFError, OSError, struct.error) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise GGUFImportError(f"{gguf_file}: transformers cannot load this GGUF file (truncated or not a model?): "
                              f"{detail}") from err
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    plain.load_state_dict(loaded.state_dict(), strict=True, assign=True)
    if getattr(config, "tie_word_embeddings", False):
        plain.tie_weights()
    plain.generation_config = loaded.generation_config
    del loaded
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the model folder is an ordinary one
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        share_files(tmp)
        tmp.rename(out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    n_params = sum(p.numel() for p in plain.parameters())
    logger.info("imported %s: %s, %.1fM parameters, saved to %s", name, type(plain).__name__, n_params / 1e6, out_dir)
    return out_dir
