"""Assistant-only loss masks for chat templates that have no ``{% generation %}`` markers.

TRL's ``SFTTrainer`` computes the assistant mask with ``apply_chat_template(return_assistant_tokens_mask=True)``,
which needs ``{% generation %}`` / ``{% endgeneration %}`` markers in the template; for templates it knows
(Qwen2.5, Qwen3, Llama 3, Gemma, Phi-3, ...) ``trl.chat_template_utils.get_training_chat_template`` swaps in a
marked copy, and for any other template it raises "The chat template is not training-compatible". Many real
checkpoints (SmolLM2's ChatML with a default system message, older fine-tunes, GGUF imports) fall in that gap.

:func:`assistant_masking_plan` decides who builds the mask: the template itself (markers), TRL (a template it
patches), or thrifty (:func:`tokenize_with_assistant_mask`). thrifty's mask is computed from the template's
own rendering, with no assumption about its syntax:

1. render the conversation once (``R``) and tokenize it with character offsets;
2. for every assistant message ``i``, render ``messages[:i]`` with the generation prompt (``P_i``) and
   ``messages[:i+1]`` (``Q_i``); ``P_i`` must be a prefix of ``Q_i`` and ``Q_i`` of ``R`` (the template is
   prefix-preserving), and the assistant span is ``[len(P_i), len(Q_i.rstrip()))``: the message as the model
   generates it after the generation prompt, end-of-turn token included (``<|im_end|>``, ``<|eot_id|>``), the
   whitespace the template adds between turns excluded, as TRL's training templates mark it;
3. a token is an assistant token when it starts inside a span.

A template that re-renders earlier turns differently once later ones follow (e.g. one that strips earlier
reasoning) is not prefix-preserving: that is an error naming the row, with what to do.
"""

from __future__ import annotations

import logging
from typing import Any

from thrifty.jsonl import DataError

logger = logging.getLogger(__name__)

MARKERS, TRL_PATCH, THRIFTY = "template markers", "TRL training template", "thrifty prefix rendering"


class AssistantMaskError(DataError):
    """The chat template does not allow an assistant mask for this conversation; the message says what to do."""


def assistant_masking_plan(tokenizer) -> str:
    """Who builds the assistant mask for ``tokenizer``'s chat template: :data:`MARKERS`, :data:`TRL_PATCH` or
    :data:`THRIFTY` (TRL 1.16's ``has_generation_markers`` / ``get_training_chat_template``)."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    template = tokenizer.chat_template
    if template is None:
        from thrifty.prompt_templates import no_template_message

        raise AssistantMaskError(no_template_message(getattr(tokenizer, "name_or_path", None)))
    if has_generation_markers(template):
        return MARKERS
    try:
        get_training_chat_template(tokenizer)
    except ValueError:
        return THRIFTY
    return TRL_PATCH


def _render(tokenizer, messages: list[dict], add_generation_prompt: bool = False, **kwargs) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt, **kwargs)


def assistant_char_spans(tokenizer, messages: list[dict], where: str = "conversation", **template_kwargs) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans of its assistant messages (module docstring, step 2)."""
    full = _render(tokenizer, messages, **template_kwargs)
    spans = []
    for i, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        before = _render(tokenizer, messages[:i], add_generation_prompt=True, **template_kwargs) if i else ""
        through = _render(tokenizer, messages[: i + 1], **template_kwargs)
        if not through.startswith(before) or not full.startswith(through):
            raise AssistantMaskError(
                f"{where}: the chat template renders assistant message {i} differently once later messages follow "
                "(it is not prefix-preserving), so the assistant tokens cannot be located; give the recipe a "
                "template with {% generation %} markers (chat_template_path: FILE.jinja) or set "
                "assistant_only_loss: false"
            )
        end = len(through.rstrip())
        if end > len(before):
            spans.append((len(before), end))
    return full, spans


def tokenize_with_assistant_mask(tokenizer, messages: list[dict], where: str = "conversation",
                                 **template_kwargs) -> dict[str, list[int]]:
    """``input_ids`` of the rendered conversation and ``assistant_masks`` (1 on assistant tokens, module docstring).

    The rendered text is tokenized without adding special tokens, as TRL tokenizes rendered chats, then given
    exactly one leading BOS where the model uses one, as generation sends prompts
    (:func:`thrifty.generation.with_single_bos`).
    """
    text, spans = assistant_char_spans(tokenizer, messages, where, **template_kwargs)
    if not spans:
        raise AssistantMaskError(f"{where}: no assistant message to train on (assistant_only_loss is true)")
    from thrifty.generation import with_single_bos

    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [int(any(s <= start < e for s, e in spans)) for start, _ in encoded["offset_mapping"]]
    ids = with_single_bos(tokenizer, list(encoded["input_ids"]))  # as generation sends the prompt
    shift = len(ids) - len(mask)
    mask = [0] * shift + mask if shift >= 0 else mask[-shift:]
    return {"input_ids": ids, "assistant_masks": mask}


def add_assistant_masks(dataset, tokenizer, source: str = "data"):
    """Tokenize a ``messages`` dataset into ``input_ids`` + ``assistant_masks`` (TRL then builds the labels)."""

    def convert(row: dict[str, Any], idx: int) -> dict[str, list[int]]:
        return tokenize_with_assistant_mask(tokenizer, row["messages"], where=f"{source} row {idx}")

    return dataset.map(convert, with_indices=True, remove_columns=dataset.column_names,
                       desc="assistant masks (thrifty)")
