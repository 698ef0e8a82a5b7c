"""Generation backends for eval: batched transformers generation (CPU or GPU) and vLLM (GPU, optional extra).

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
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)


@dataclass
class SamplingParams:
    """Decoding settings; ``temperature == 0`` means greedy."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    seed: int = 0


@dataclass
class Generation:
    """One sampled completion: its text (pre-fill included), output token count and why it stopped."""

    text: str
    num_tokens: int
    finish_reason: str  # "stop" (end-of-turn token) or "length"


def render_prompt(tokenizer, messages: list[dict], prefill: str = "", system: str | None = None) -> str:
    """Chat-template ``messages`` with a generation prompt, then append ``prefill`` to the assistant turn."""
    if system:
        messages = [{"role": "system", "content": system}, *messages]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text + prefill


class TransformersGenerator:
    """Batched generation with a transformers causal LM: left padding, KV cache, n samples per prompt.

    Prompts are sorted by length before batching so a batch carries little padding; results come back in
    the input order.
    """

    def __init__(self, model, tokenizer, batch_size: int = 64):
        self.model = model
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        self.batch_size = batch_size
        eos = model.generation_config.eos_token_id
        self.stop_ids = set(eos if isinstance(eos, list) else [eos]) | {tokenizer.eos_token_id}
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    @classmethod
    def from_pretrained(cls, name_or_path: str, batch_size: int = 64, dtype: str | None = "auto"):
        from thrifty.models import load_model_and_tokenizer

        device = "cuda" if _cuda() else None
        model, tokenizer = load_model_and_tokenizer(name_or_path, dtype=dtype, device=device)
        return cls(model, tokenizer, batch_size)

    def generate(self, prompts: list[str], params: SamplingParams, prefills: list[str] | None = None,
                 desc: str = "generating") -> list[list[Generation]]:
        """Generate ``params.n`` completions for every prompt (already chat-templated, pre-fill included).

        ``prefills[i]`` is the part of prompt ``i`` that belongs to the assistant turn; it is prepended to the
        returned text.
        """
        import torch

        prefills = prefills or [""] * len(prompts)
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        results: list[list[Generation] | None] = [None] * len(prompts)
        torch.manual_seed(params.seed)
        sample = params.temperature > 0
        with tqdm(total=len(prompts), desc=desc, leave=False) as bar:
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self.tokenizer([prompts[i] for i in idx], return_tensors="pt", padding=True,
                                       add_special_tokens=False).to(self.model.device)
                with torch.no_grad():
                    out = self.model.generate(
                        **batch,
                        max_new_tokens=params.max_new_tokens,
                        do_sample=sample,
                        temperature=params.temperature if sample else None,
                        top_p=params.top_p if sample else None,
                        top_k=None,
                        num_return_sequences=params.n,
                        pad_token_id=self.pad_id,
                        eos_token_id=sorted(self.stop_ids),
                    )
                new_tokens = out[:, batch["input_ids"].shape[1] :].tolist()
                for j, i in enumerate(idx):
                    results[i] = [
                        self._to_generation(new_tokens[j * params.n + s], prefills[i]) for s in range(params.n)
                    ]
                bar.update(len(idx))
        return results  # type: ignore[return-value]

    def _to_generation(self, token_ids: list[int], prefill: str) -> Generation:
        kept, finish = [], "length"
        for t in token_ids:
            if t in self.stop_ids:
                finish = "stop"
                break
            kept.append(t)
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        return Generation(prefill + text, len(kept) + (1 if finish == "stop" else 0), finish)


class VLLMGenerator:
    """The same interface on vLLM (``vllm.LLM``): continuous batching and paged attention on GPUs.

    A thin adapter, untested on the CPU machines thrifty is developed on (vLLM needs a GPU): prompts are the
    already chat-templated strings the transformers backend gets, so both backends see identical inputs.
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
        )
        logger.info("%s: %d prompts x %d samples with vLLM", desc, len(prompts), params.n)
        outputs = self.llm.generate(prompts, sampling, use_tqdm=True, lora_request=self.lora_request)
        return [
            [Generation(prefill + o.text, len(o.token_ids), "stop" if o.finish_reason == "stop" else "length")
             for o in out.outputs]
            for out, prefill in zip(outputs, prefills, strict=True)
        ]


BACKENDS = ("transformers", "vllm")


def make_generator(backend: str, name_or_path: str, batch_size: int = 64, dtype: str | None = "auto", **vllm_kwargs):
    """A generator for ``backend`` (``transformers`` or ``vllm``) on a model folder, Hub id or adapter folder."""
    if backend == "transformers":
        return TransformersGenerator.from_pretrained(name_or_path, batch_size=batch_size, dtype=dtype)
    if backend == "vllm":
        return VLLMGenerator(name_or_path, dtype=dtype or "auto", **vllm_kwargs)
    raise ValueError(f"unknown generation backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
