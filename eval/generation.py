"""Generation backends for eval: the core's batched transformers generator (:mod:`thrifty.generation`, CPU or
GPU) and vLLM (GPU, optional extra).

Both backends share one interface: ``generator.tokenizer`` and
``generator.generate(prompts, params, prefills, desc) -> list[list[Generation]]`` (``params.n`` per prompt, in
input order); :func:`make_generator` picks one by name. vLLM is imported only when chosen
(``pip install thrifty[gpu]``).

Prompts are chat conversations rendered with the model's chat template (generation prompt added), optionally
followed by a pre-fill of the assistant turn (instruction-guided inference: a format tag such as ``<COT>``).
The returned text includes the pre-fill, so format detection sees the whole assistant turn. Output tokens are
counted with the evaluated model's tokenizer, per sample, up to and including the end-of-turn token.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from thrifty.generation import (
    Generation,
    SamplingParams,
    TransformersGenerator,
    prompt_token_ids,
    render_prompt,
)

__all__ = ["Generation", "SamplingParams", "TransformersGenerator", "VLLMGenerator", "make_generator", "render_prompt",
           "vllm_prompts"]

logger = logging.getLogger(__name__)


def vllm_prompts(tokenizer, prompts: list[str]) -> list[dict[str, list[int]]]:
    """vLLM inputs for chat-templated prompts: token ids (vLLM's ``TokensPrompt``), not text.

    Given text, vLLM tokenizes it with special tokens on, so a template that writes its own BOS (Llama 3)
    would start with two; ids from :func:`thrifty.generation.prompt_token_ids` carry exactly one, the same ids
    the transformers backend generates from.
    """
    return [{"prompt_token_ids": prompt_token_ids(tokenizer, text)} for text in prompts]


class VLLMGenerator:
    """The same interface on vLLM (``vllm.LLM``): continuous batching and paged attention on GPUs.

    A thin adapter, untested on the CPU machines thrifty is developed on (vLLM needs a GPU): prompts are sent
    as token ids (:func:`vllm_prompts`, tested without a GPU), the ids the transformers backend generates from.
    ``num_tokens`` is ``len(output.token_ids)``, which includes the end-of-sequence token when generation
    stopped on it (as the transformers backend counts). A PEFT adapter folder is served with vLLM's LoRA
    support on its base model.
    """

    def __init__(self, name_or_path: str, dtype: str = "auto", tensor_parallel_size: int = 1,
                 gpu_memory_utilization: float = 0.9, max_model_len: int | None = None, max_lora_rank: int = 64):
        try:
            from vllm import LLM
        except ImportError as err:  # pragma: no cover - needs the gpu extra
            raise ImportError("backend 'vllm' needs vLLM: pip install 'thrifty[gpu]' (GPU only)") from err
        from thrifty.models import is_adapter_dir, load_tokenizer

        self.lora_request = None
        model = name_or_path
        kwargs: dict = {}
        if is_adapter_dir(name_or_path):  # pragma: no cover - GPU only
            from vllm.lora.request import LoRARequest

            model = json.loads((Path(name_or_path) / "adapter_config.json").read_text())["base_model_name_or_path"]
            kwargs.update(enable_lora=True, max_lora_rank=max_lora_rank)
            self.lora_request = LoRARequest("adapter", 1, str(name_or_path))
        self.llm = LLM(model=model, dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                       gpu_memory_utilization=gpu_memory_utilization, max_model_len=max_model_len, **kwargs)
        has_tok = (Path(name_or_path) / "tokenizer_config.json").exists() or not is_adapter_dir(name_or_path)
        self.tokenizer = load_tokenizer(name_or_path if has_tok else model)

    def generate(self, prompts: list[str], params: SamplingParams, prefills: list[str] | None = None,
                 desc: str = "generating") -> list[list[Generation]]:  # pragma: no cover - GPU only
        from vllm import SamplingParams as VLLMSamplingParams

        prefills = prefills or [""] * len(prompts)
        greedy = params.temperature <= 0
        sampling = VLLMSamplingParams(
            n=params.n, temperature=0.0 if greedy else params.temperature, top_p=1.0 if greedy else params.top_p,
            max_tokens=params.max_new_tokens, seed=params.seed, skip_special_tokens=True,
            **({"stop": list(params.stop), "include_stop_str_in_output": True} if params.stop else {}),
        )
        logger.info("%s: %d prompts x %d samples with vLLM", desc, len(prompts), params.n)
        outputs = self.llm.generate(vllm_prompts(self.tokenizer, prompts), sampling, use_tqdm=True,
                                    lora_request=self.lora_request)
        return [
            [Generation(prefill + o.text, len(o.token_ids), "stop" if o.finish_reason == "stop" else "length")
             for o in out.outputs]
            for out, prefill in zip(outputs, prefills, strict=True)
        ]


BACKENDS = ("transformers", "vllm")


def make_generator(backend: str, name_or_path: str, batch_size: int = 64, dtype: str | None = "auto",
                   max_sequences: int | None = None, **vllm_kwargs):
    """A generator for ``backend`` (``transformers`` or ``vllm``) on a model folder, Hub id or adapter folder.
    ``max_sequences`` caps the sequences (prompts x samples) of one transformers generate call; vLLM schedules
    its own batches within its memory budget (``gpu_memory_utilization``)."""
    if backend == "transformers":
        return TransformersGenerator.from_pretrained(name_or_path, batch_size=batch_size, dtype=dtype,
                                                     max_sequences=max_sequences)
    if backend == "vllm":
        return VLLMGenerator(name_or_path, dtype=dtype or "auto", **vllm_kwargs)
    raise ValueError(f"unknown generation backend {backend!r}; expected one of {', '.join(BACKENDS)}")
