"""The format-tag loss weight (``format_tag_loss_weight``, ``format_tag_weight_untagged``): a thrifty extension, in
no reference; opt-in, off (1.0) by default. docs/methods/efficient.md ("On the toy world") states why and what it
measured; docs/guides/grpo.md how to use it.

An ARM-format completion chooses its format with its first tokens, the opening tag (``<ANSWER>``, ``<COT>``,
``<CODE>``, ``<LONG_COT>``: :data:`thrifty.formats.OPENING_TAGS`); every later token follows from that choice. How
much the policy-gradient loss weighs that choice depends on the loss's normalisation:

- DAPO's token-level mean (Yu et al. 2025, section 3.3): ``L = sum_i sum_t l_it / N``, N the batch's completion
  tokens. The tag weighs as much as any one token of a 300-token long CoT, so a length-aware reward's advantage
  reaches the choice of format only through one token in N.
- GRPO's per-sequence mean (Shao et al. 2024): ``L = mean_i (sum_t l_it / |o_i|)``. A short completion's tag weighs
  ``mean|o| / |o_i|`` times more than under DAPO, a long one's less; the same factor scales every other token of the
  sequence, which is the length bias Dr. GRPO removes (Liu et al. 2025, "Understanding R1-Zero-Like Training").

With weight ``w``, the tag's tokens count ``w`` times in TRL's loss mask and every other token once: under DAPO
(and ``dr_grpo``, ``cispo``) ``L = sum_i (w * l_i,tag + sum_{t not tag} l_it) / N`` with N unchanged (TRL counts
the tokens before this mask is applied); under ``grpo`` and ``bnpo``, which divide by the mask's sum, the tag
counts as ``w`` tokens of its sequence or batch. Every tag gets the same ``w``, whatever its completion's length,
so the choice of format gains weight without the per-sequence mean's length bias. The weights reach the loss
through TRL 1.16's ``tool_mask``, which ``GRPOTrainer._compute_loss`` multiplies into its mask
(``tests/test_format_tag_weight.py`` checks the loss itself, so a TRL that stops doing so fails there).

The tag's tokens are found per completion by decoding its first tokens (:func:`opening_tag_token_counts`): one
token where the tokenizer has the tags as added tokens (thrifty's SFT adds them), several where it splits them;
a completion that opens with no tag gets no extra weight, unless ``format_tag_weight_untagged`` is set: then its
first token, where the model chose to open without a tag, gets the weight. Without it the weight is lopsided: a
penalised tag is pushed down ``w`` times harder than an untagged start, so probability can leak from the tags to
untagged starts, which ARM's reward gives 0 (seen on the toy world: bursts of 20-25% untagged completions late in
training, docs/experiments/compare.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from thrifty.formats import OPENING_TAGS

#: A tag split by a tokenizer into more pieces than this is not looked for further.
MAX_TAG_TOKENS = 16


def opening_tag_token_counts(completion_ids: Sequence[Sequence[int]], decode: Callable[[list[int]], str],
                             tags: Sequence[str] = tuple(OPENING_TAGS.values())) -> list[int]:
    """For each completion, the number k of its first tokens whose text starts with one of ``tags`` (the fewest
    such k), or 0 when it opens with none. A completion is given up on as soon as its decoded start is neither a
    tag's prefix nor starts with a tag, so untagged completions cost one decode."""
    counts = []
    for ids in completion_ids:
        ids = list(ids)
        found = 0
        for k in range(1, min(len(ids), MAX_TAG_TOKENS) + 1):
            text = decode(ids[:k])
            if any(text.startswith(tag) for tag in tags):
                found = k
                break
            if not any(tag.startswith(text) for tag in tags):
                break
        counts.append(found)
    return counts


def format_tag_loss_weights(counts: Sequence[int], shape: tuple[int, int], weight: float,
                            device: torch.device | str = "cpu") -> torch.Tensor:
    """A ``shape`` (completions x padded length) tensor of ones with ``weight`` on each row's first ``counts[i]``
    tokens: the factor the trainer multiplies into TRL's loss mask."""
    weights = torch.ones(shape, dtype=torch.float32, device=device)
    for row, count in enumerate(counts):
        weights[row, :count] = weight
    return weights
