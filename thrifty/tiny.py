"""A tokenizer trained locally and a tiny Qwen2-architecture model built from a config.

Nothing here downloads anything: the tokenizer is a byte-level BPE trained on a text corpus you pass (the
toy world's by default), and the model is ``Qwen2ForCausalLM`` initialised from a config. Both are saved
with ``save_pretrained`` so every tool (transformers, TRL, PEFT, vLLM) loads them like any Hub checkpoint.

Tokenizer design:
- Qwen2's own pre-tokenisation, digits split one per token;
- every ARM/MinD format tag (:data:`thrifty.formats.FORMAT_TAG_TOKENS`) is one token;
- Qwen-style chat template with ``<|im_start|>``/``<|im_end|>``, a generation prompt, and
  ``{% generation %}`` markers so TRL's ``assistant_only_loss`` works;
- ``AutoTokenizer`` on a ``qwen2`` checkpoint always returns ``Qwen2Tokenizer``, which ignores tokenizer.json's
  pre-tokeniser and rebuilds Qwen2's (FIELD-NOTES "Tokenizers"); training with that same pre-tokeniser makes
  ``AutoTokenizer``, ``PreTrainedTokenizerFast`` and TRL's loaders yield identical ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from thrifty.formats import FORMAT_TAG_TOKENS

logger = logging.getLogger(__name__)

PAD_TOKEN = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIAL_TOKENS = (PAD_TOKEN, IM_START, IM_END)

#: Qwen2's pre-tokenisation (transformers' ``Qwen2Tokenizer`` rebuilds exactly this whatever tokenizer.json
#: says, so training with it makes every loader agree on the ids). Digits are split one per token.
QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{%- if message['role'] == 'assistant' %}"
    "{{- '<|im_start|>assistant\\n' }}{% generation %}{{- message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{- '\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def train_tokenizer(corpus: Iterable[str], out_dir: str | Path | None = None, vocab_size: int = 512):
    """Train a byte-level BPE tokenizer on ``corpus`` and return it as a ``PreTrainedTokenizerFast``.

    Saved to ``out_dir`` when given.
    """
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer)
    tok.add_tokens([AddedToken(t, normalized=False, special=False) for t in FORMAT_TAG_TOKENS])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=IM_END,
        pad_token=PAD_TOKEN,
        additional_special_tokens=[IM_START],
        chat_template=CHAT_TEMPLATE,
        padding_side="left",
        model_max_length=4096,
    )
    if out_dir is not None:
        fast.save_pretrained(str(out_dir))
    return fast


@dataclass
class TinyModelConfig:
    """Shape of the tiny Qwen2 model (defaults: ~1M parameters, learns the toy world in CPU-minutes)."""

    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 4
    intermediate_size: int = 512
    max_position_embeddings: int = 1024
    seed: int = 0


def build_tiny_model(tokenizer, config: TinyModelConfig | None = None, out_dir: str | Path | None = None):
    """Build a randomly initialised ``Qwen2ForCausalLM`` sized by ``config`` for ``tokenizer``.

    Saves model + tokenizer (+ generation config stopping at ``<|im_end|>``) to ``out_dir`` when given.
    """
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    config = config or TinyModelConfig()
    torch.manual_seed(config.seed)
    eos_id = tokenizer.convert_tokens_to_ids(IM_END)
    pad_id = tokenizer.convert_tokens_to_ids(PAD_TOKEN)
    model_config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    model = Qwen2ForCausalLM(model_config)
    model.generation_config = GenerationConfig(eos_token_id=[eos_id, pad_id], pad_token_id=pad_id, do_sample=False)
    n_params = sum(p.numel() for p in model.parameters())
    logger.info("built tiny Qwen2: %d parameters, vocab %d", n_params, len(tokenizer))
    if out_dir is not None:
        model.save_pretrained(str(out_dir))
        tokenizer.save_pretrained(str(out_dir))
    return model
