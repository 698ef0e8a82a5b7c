"""Batched generation with a transformers causal LM, shared by eval, the data builders and the style selector.

Prompts are chat conversations rendered with the model's chat template (generation prompt added), or through a
plain-text prompt template for base models (:mod:`thrifty.prompt_templates`), optionally followed by a pre-fill of
the assistant turn (instruction-guided inference: a format tag such as ``<COT>``). The returned text includes the
pre-fill, so format detection sees the whole assistant turn. Output tokens are counted with the model's tokenizer,
per sample, up to and including the end-of-turn token. Every backend sends token ids built by
:func:`prompt_token_ids` (exactly one BOS where the model uses one).
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
    #: strings that end a completion (kept in its text and tokens), e.g. ``</answer>`` for R1-Zero's template
    stop: tuple[str, ...] = ()


@dataclass
class Generation:
    """One sampled completion: its text (pre-fill included), output token count and why it stopped."""

    text: str
    num_tokens: int
    finish_reason: str  # "stop" (end-of-turn token) or "length"


def tokenizer_adds_bos(tokenizer) -> bool:
    """Whether ``tokenizer(text)`` (special tokens on, the default) starts with its BOS token (cached)."""
    cached = getattr(tokenizer, "_thrifty_adds_bos", None)
    if cached is None:
        bos = tokenizer.bos_token_id
        ids = tokenizer("a")["input_ids"] if bos is not None else []
        cached = bool(ids) and ids[0] == bos
        try:
            tokenizer._thrifty_adds_bos = cached
        except AttributeError:  # pragma: no cover - a tokenizer that refuses new attributes
            pass
    return cached


def with_single_bos(tokenizer, ids: list[int]) -> list[int]:
    """``ids`` with exactly one leading BOS when the model uses one, none added otherwise.

    A chat template that writes the BOS itself (Llama 3's ``<|begin_of_text|>``) tokenized with special tokens
    on gets a second one; a template that omits it on a tokenizer that adds one (Llama 2-style) gets none when
    special tokens are off. The rule: leading BOS runs collapse to one; no leading BOS and a tokenizer that adds
    one -> prepend it; a model without BOS (Qwen) is left alone.
    """
    bos = tokenizer.bos_token_id
    if bos is None:
        return list(ids)
    n = 0
    while n < len(ids) and ids[n] == bos:
        n += 1
    if n > 1:
        return list(ids[n - 1 :])
    if n == 0 and tokenizer_adds_bos(tokenizer):
        return [bos, *ids]
    return list(ids)


def prompt_token_ids(tokenizer, text: str) -> list[int]:
    """Token ids of a chat-templated prompt, as every backend sends it: the rendered text tokenized without
    special tokens (the template already wrote them), with exactly one BOS where the model uses one
    (:func:`with_single_bos`)."""
    return with_single_bos(tokenizer, tokenizer(text, add_special_tokens=False)["input_ids"])


def render_prompt(tokenizer, messages: list[dict], prefill: str = "", system: str | None = None,
                  template=None) -> str:
    """Render ``messages`` with a generation prompt, then append ``prefill`` to the assistant turn.

    ``template`` (a :class:`thrifty.prompt_templates.PromptTemplate`; default: the chat template) decides how:
    :func:`thrifty.prompt_templates.render_chat`. A tokenizer with no chat template and no plain-text template
    is a one-line :class:`~thrifty.prompt_templates.PromptTemplateError` naming both ways out, never
    transformers' traceback."""
    from thrifty.prompt_templates import render_chat

    return render_chat(tokenizer, messages, template, prefill, system)


class TransformersGenerator:
    """Batched generation with a transformers causal LM: left padding, KV cache, n samples per prompt.

    Prompts are sorted by length before batching so a batch carries little padding; results come back in
    the input order. One ``model.generate`` call runs at most ``max_sequences`` sequences (prompts x samples),
    which bounds the KV cache whatever ``batch_size`` and ``n`` are: a batch holds ``max_sequences // n``
    prompts (at least one), and when ``n`` alone exceeds the cap a prompt's samples are split across calls.
    Greedy outputs do not depend on the cap (and greedy ``n > 1`` generates once and repeats it); sampled ones keep
    their distribution but not their exact draws.
    """

    def __init__(self, model, tokenizer, batch_size: int = 64, max_sequences: int | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        self.batch_size = batch_size
        self.max_sequences = max_sequences
        eos = model.generation_config.eos_token_id
        self.stop_ids = set(eos if isinstance(eos, list) else [eos]) | {tokenizer.eos_token_id}
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    @classmethod
    def from_pretrained(cls, name_or_path: str, batch_size: int = 64, dtype: str | None = "auto",
                        max_sequences: int | None = None):
        from thrifty.models import load_model_and_tokenizer

        device = "cuda" if _cuda() else None
        model, tokenizer = load_model_and_tokenizer(name_or_path, dtype=dtype, device=device)
        return cls(model, tokenizer, batch_size, max_sequences)

    def _call_shape(self, n: int) -> tuple[int, int]:
        """(prompts per generate call, samples per prompt per call) under ``batch_size`` and ``max_sequences``."""
        if not self.max_sequences:
            return self.batch_size, n
        samples = max(1, min(n, self.max_sequences))
        return max(1, min(self.batch_size, self.max_sequences // samples)), samples

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
        per_call, samples_per_call = self._call_shape(params.n if sample else 1)
        with tqdm(total=len(prompts), desc=desc, leave=False) as bar:
            for start in range(0, len(order), per_call):
                idx = order[start : start + per_call]
                ids = [prompt_token_ids(self.tokenizer, prompts[i]) for i in idx]
                batch = self.tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt").to(self.model.device)
                for i in idx:
                    results[i] = []
                if not sample:  # greedy samples are all the same: generate one, repeat it n times
                    samples_per_call = params.n
                for done in range(0, params.n, samples_per_call):
                    k = min(samples_per_call, params.n - done) if sample else 1
                    with torch.no_grad():
                        out = self.model.generate(
                            **batch,
                            max_new_tokens=params.max_new_tokens,
                            do_sample=sample,
                            temperature=params.temperature if sample else None,
                            top_p=params.top_p if sample else None,
                            top_k=None,
                            num_return_sequences=k,
                            pad_token_id=self.pad_id,
                            eos_token_id=sorted(self.stop_ids),
                            **({"stop_strings": list(params.stop), "tokenizer": self.tokenizer} if params.stop else {}),
                        )
                    new_tokens = out[:, batch["input_ids"].shape[1] :].tolist()
                    del out
                    for j, i in enumerate(idx):
                        results[i] += [self._to_generation(new_tokens[j * k + s], prefills[i], params.stop)
                                       for s in range(k)]
                        if not sample:
                            results[i] *= params.n
                bar.update(len(idx))
        return results  # type: ignore[return-value]

    def _to_generation(self, token_ids: list[int], prefill: str, stop: tuple[str, ...] = ()) -> Generation:
        kept, finish = [], "length"
        for t in token_ids:
            if t in self.stop_ids or (stop and t == self.pad_id):  # a stop string ended it: padding follows
                finish = "stop"
                break
            kept.append(t)
        text = self.tokenizer.decode(kept, skip_special_tokens=True)
        ended = cut_at_stop(text, stop)
        if ended is not None:  # generation halted on the token that completed a stop string: the count stands
            return Generation(prefill + ended, len(kept), "stop")
        if stop and finish == "stop" and token_ids[len(kept)] == self.pad_id and self.pad_id not in self.stop_ids:
            finish = "length"  # a pad token the model wrote itself, not a stop
        return Generation(prefill + text, len(kept) + (1 if finish == "stop" else 0), finish)


def cut_at_stop(text: str, stop: tuple[str, ...] | list[str]) -> str | None:
    """``text`` up to and including the first of the ``stop`` strings in it, or None when none occurs."""
    ends = [text.find(s) + len(s) for s in stop if s and s in text]
    return text[: min(ends)] if ends else None


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()
