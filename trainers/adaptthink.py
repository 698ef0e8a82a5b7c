"""AdaptThink's trainer side (``variant: adaptthink``; Zhang et al. 2025, THU-KEG/AdaptThink; the formulas are in
:mod:`thrifty.rewards.adaptthink`, the fidelity table in docs/methods/adaptthink.md).

TRL 1.16's ``GRPOTrainer`` gets three changes, each where the official verl code makes it:

1. **Rollouts** (``adapt_think_vllm_rollout.py``): in every group the first ``round(G * ratio)`` rollouts get the
   NoThinking prefix (``</think>``) appended to the prompt, the others the Thinking prefix (``Alright``); the prefix
   becomes the first tokens of the completion, which the reward reads and the loss trains on
   (:func:`force_prefixes`).
2. **Advantages** (``adapt_think_reward_manager.py``, ``adv_estimator=naive``): the weighted reward (the accuracy)
   minus the row's ``ref_accuracy``, plus delta for a NoThinking rollout; no group mean or std.
3. **Ratio** (``adapt_think_core_algos.py``): the old log-probabilities are pi_IS's: ``log(ratio)`` or
   ``log(1 - ratio)`` on the prefix's first token, 0 (probability 1) on its other tokens, pi_old elsewhere
   (:func:`importance_old_logps`); with ``importance_sampling_level: sequence`` and ``loss_type: grpo`` TRL's loss
   is then the official one: ``exp(mean_t (log pi_theta - log pi_IS))`` per sequence, clipped, averaged over
   sequences.

The reference accuracy is a dataset column ``ref_accuracy``: from ``adaptthink_ref_file`` (the official
``ref_results`` JSON, or JSONL of ``problem`` and ``ref_accuracy``), or pre-sampled here from the starting model in
Thinking mode (``adaptthink_ref_samples`` per prompt, :func:`presample_reference_accuracy`), as
``src/presampling_ref_responses.py`` does offline.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from thrifty.jsonl import DataError, iter_jsonl, read_text, write_jsonl
from thrifty.rewards.adaptthink import forced_nothinking, importance_first_logprob

logger = logging.getLogger(__name__)

REF_COLUMN = "ref_accuracy"


def force_prefixes(prompt_ids: list[list[int]], first_index: int, group_size: int, ratio: float,
                   nothinking_ids: list[int], thinking_ids: list[int]) -> tuple[list[list[int]], list[bool]]:
    """Each prompt with its forced prefix appended (NoThinking for the first ``round(G * ratio)`` of each group,
    counting from the batch-wide index ``first_index``), and which rollouts are NoThinking."""
    forced = [forced_nothinking(first_index + i, group_size, ratio) for i in range(len(prompt_ids))]
    return [list(p) + list(nothinking_ids if f else thinking_ids) for p, f in zip(prompt_ids, forced, strict=True)], forced


def importance_old_logps(old_logps: torch.Tensor, forced: list[bool], prefix_lengths: list[int],
                         ratio: float) -> torch.Tensor:
    """``old_logps`` (batch x completion tokens) with pi_IS on each row's forced prefix: its first token
    ``log(ratio)`` (NoThinking) or ``log(1 - ratio)``, its later tokens 0 (forced with probability 1)."""
    out = old_logps.clone()
    for row, (nothinking, length) in enumerate(zip(forced, prefix_lengths, strict=True)):
        out[row, 0] = importance_first_logprob(nothinking, ratio)
        if length > 1:
            out[row, 1:length] = 0.0
    return out


def load_reference_accuracy(path: str | Path) -> dict[str, float]:
    """``problem text (stripped) -> reference accuracy`` from the official ``ref_results`` JSON (a list of
    ``{"problem", "metrics": {"avg_acc_thinking"}}``, its ``__OVERALL__`` entry skipped) or a JSONL of ``problem``
    and ``ref_accuracy``; a clear error names the file and entry otherwise."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"adaptthink_ref_file: {path} does not exist")
    if path.suffix == ".jsonl":
        entries = list(iter_jsonl(path))
    else:
        try:
            entries = json.loads(read_text(path))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
    table: dict[str, float] = {}
    for i, entry in enumerate(entries):
        problem = str(entry.get("problem", "")).strip() if isinstance(entry, dict) else ""
        if not problem or problem == "__OVERALL__":
            continue
        value = entry.get(REF_COLUMN, (entry.get("metrics") or {}).get("avg_acc_thinking"))
        if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
            raise DataError(f"{path} entry {i}: no reference accuracy in [0, 1] (ref_accuracy or "
                            f"metrics.avg_acc_thinking), found {value!r}")
        table[problem] = float(value)
    return table


def presample_reference_accuracy(model_path: str, tokenizer, dataset, reward_funcs: list, reward_weights: list[float],
                                 thinking_prefix: str, samples: int, max_new_tokens: int, temperature: float,
                                 out_file: Path, batch_prompts: int = 16, seed: int = 0) -> list[float]:
    """The starting model's mean accuracy per training prompt in Thinking mode: ``samples`` completions per
    prompt, each starting with ``thinking_prefix``, scored by the recipe's reward functions (weighted sum, as the
    accuracy the advantage uses). Written to ``out_file`` (JSONL: index, prompt, ref_accuracy) and reused from it
    when it holds the same prompts and settings."""
    from transformers import AutoModelForCausalLM

    prompts = [_render(tokenizer, row["prompt"]) + thinking_prefix for row in dataset]
    settings = {"model": str(model_path), "samples": samples, "max_new_tokens": max_new_tokens,
                "temperature": temperature, "prefix": thinking_prefix, "seed": seed}
    if out_file.exists():
        rows = list(iter_jsonl(out_file))
        if rows and rows[0].get("settings") == settings and [r["prompt"] for r in rows] == prompts:
            logger.info("AdaptThink reference accuracy: reusing %s", out_file)
            return [r[REF_COLUMN] for r in rows]
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    model.eval()
    columns = [c for c in dataset.column_names if c != "prompt"]
    weights = torch.tensor(reward_weights, dtype=torch.float32)
    accuracies: list[float] = []
    from tqdm.auto import tqdm

    for start in tqdm(range(0, len(prompts), batch_prompts), desc="AdaptThink reference accuracy", unit="batch"):
        chunk = prompts[start : start + batch_prompts]
        enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.no_grad():
            out = model.generate(**enc, do_sample=temperature > 0, temperature=temperature or None,
                                 max_new_tokens=max_new_tokens, num_return_sequences=samples,
                                 pad_token_id=tokenizer.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        ids = [_until_eos(row.tolist(), tokenizer) for row in new]
        texts = [thinking_prefix + tokenizer.decode(i, skip_special_tokens=True) for i in ids]
        rows = [dataset[start + j // samples] for j in range(len(texts))]
        kwargs = {c: [r[c] for r in rows] for c in columns}
        scores = torch.stack([torch.tensor([float("nan") if v is None else v for v in
                                            f(prompts=[r["prompt"] for r in rows], completions=texts,
                                              completion_ids=ids, **kwargs)])
                              for f in reward_funcs], dim=1)
        total = (scores * weights).nansum(dim=1).view(-1, samples).mean(dim=1)
        accuracies += [float(a) for a in total]
    write_jsonl(out_file, ({"index": i, "prompt": p, REF_COLUMN: a, "settings": settings}
                           for i, (p, a) in enumerate(zip(prompts, accuracies, strict=True))))
    logger.info("AdaptThink reference accuracy of %d prompts (%d samples each): mean %.3f -> %s", len(prompts),
                samples, sum(accuracies) / max(len(accuracies), 1), out_file)
    return accuracies


def _render(tokenizer, prompt: Any) -> str:
    """A TRL prompt as the text the model continues: chat messages through the chat template with the generation
    prompt, or a plain-text prompt as it is."""
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)


def _until_eos(ids: list[int], tokenizer) -> list[int]:
    """The generated ids up to and including the first end-of-sequence token (as TRL's ``completion_ids``)."""
    eos = {tokenizer.eos_token_id, tokenizer.pad_token_id} - {None}
    for i, token in enumerate(ids):
        if token in eos:
            return ids[: i + 1]
    return ids

