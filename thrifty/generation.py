"""Batched generation with a transformers causal LM, shared by eval, the data builders and the style selector.

Prompts are chat conversations rendered with the model's chat template (generation prompt added), optionally
followed by a pre-fill of the assistant turn (instruction-guided inference: a format tag such as ``<COT>``).
The returned text includes the pre-fill, so format detection sees the whole assistant turn. Output tokens are
counted with the model's tokenizer, per sample, up to and including the end-of-turn token.
"""

from __future__ import annotations

from dataclasses import dataclass

from tqdm.auto import tqdm


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


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
