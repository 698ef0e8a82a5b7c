"""``thrifty select-style``: choose the response style (training-data strategy) that fits the target model.

Method (DESIGN.md section 4.5: the alignment-score idea of choosing the style of training outputs by how
close it is to the target model's *own* output distribution, instead of fine-tuning on every candidate; the
premise, that a model learns faster from outputs written the way it would write them, is the one of Ren et
al. 2024, "I Learn Better If You Speak My Language"):
several strategies produce valid outputs for the same inputs (direct answer, short CoT, long CoT, code,
multi-turn, a rewrite, another LLM's answers ...). On a seeded subset of ``subset_size`` shared inputs:

1. sample ``num_samples`` (m) outputs of the target model per input (temperature sampling, batched);
2. run the target model over every strategy's output (teacher forcing, batched forward passes) and score the
   strategy by

   - **alignment**: cosine similarity between the target's mean-pooled hidden states (mean over the output
     tokens, then over the transformer layers) of the candidate output and of each of the target's own m
     samples for the same input, averaged over the m pairs and over inputs. Higher = closer in style;
   - **alignment_correct** (a variant): the same, with only the target's *correct* samples as references
     (inputs where none is correct are skipped), i.e. closeness to the way the target writes when it succeeds;
   - **perplexity** (the baseline): per input, ``exp`` of the mean NLL of the candidate output's tokens given
     the prompt (no end-of-turn token), then the mean of these per-example perplexities over the inputs, as
     SPPL computes it (XuanRen4470/SPPL, ``utils/in_context_perplexity_measurement_function.py``,
     ``calculate_perplexity``: ``exp(loss)`` per example with the question masked, averaged in
     ``Mix_Score_Ranking_Calculation/icppl_calculation.py``). Lower = more familiar;
   - **self-aligned perplexity** (SPPL, Ren et al. 2025): the same, with ``n_style_examples`` of the target's
     own *correct* outputs on *other* subset inputs laid out in the one user turn, in SPPL's words
     (:data:`SPPL_TEMPLATE`: the question, then "inference example: ..." per example, then "now, according to
     the inference examples, please solve the problem."), so that the score measures fit to the style the
     target would use rather than to its prior over styles. Lower = better. The earliest examples are dropped
     when the sequence would exceed ``max_length``; with too few correct samples, any of the target's samples
     serve (the report says so).

   A target sample is correct when its final answer (:func:`thrifty.formats.extract_final_answer`; the
   ``<answer>`` block with ``prompt_template: r1_zero``) verifies against the row's ``answer_key`` column, or else
   against the candidates' own final answer.

3. rank the strategies by each score and choose the best by ``selection_score``: ``perplexity`` by default, the
   score that predicted post-SFT accuracy best on the toy world (Spearman +0.93 over seven strategies, against
   +0.59 for self-aligned perplexity and +0.30 for alignment; ``scripts/bench_style_select.py``,
   ``docs/methods/style_selection.md``).

Outputs in ``output_dir``: ``target_samples.jsonl`` (reused on a rerun with the same subset, m, seed and
sampling, and the same prompt and gold answer per id), ``selection.json`` (scores, rankings, chosen strategy,
config; per strategy the share of sequences cut at ``max_length`` and of SPPL style examples left out to fit,
also warned about in the log and ``report.md``), ``report.md`` and ``scores.png``. Everything is written
atomically.

:func:`spearman` (rank correlation with average ranks for ties) is here for comparing a score with post-SFT
accuracy (``scripts/bench_style_select.py``).
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from thrifty.answer_check import verify_answer
from thrifty.console import emit
from thrifty.formats import extract_answer, extract_final_answer
from thrifty.jsonl import DataError, read_jsonl, write_json, write_jsonl, write_text
from thrifty.prompt_templates import PromptTemplateError
from thrifty.recipes import RecipeError

logger = logging.getLogger(__name__)

SCORES = ("alignment", "alignment_correct", "perplexity", "self_aligned_perplexity")
#: Whether a higher value of a score is better.
HIGHER_IS_BETTER = {"alignment": True, "alignment_correct": True, "perplexity": False,
                    "self_aligned_perplexity": False}
SAMPLES_FILE = "target_samples.jsonl"

#: SPPL's in-context layout, word for word (XuanRen4470/SPPL, ``Mix_Score_Ranking_Calculation/icppl_calculation.py``):
#: the question, then one ``inference example:`` paragraph per example, in one user turn.
SPPL_HEAD = ("Question: {question}\n\nWe have inference examples below to show you how to solve the problem. "
             "please follow the inference style and solve the problem\n\n")
SPPL_EXAMPLE = "inference example: {example}\n\n"
SPPL_TAIL = "now, according to the inference examples, please solve the problem. \n\n\n"


# ---------------------------------------------------------------------------------------------------------
# Recipe
# ---------------------------------------------------------------------------------------------------------
@dataclass
class StyleSelectArguments:
    """Recipe keys of ``thrifty select-style``."""

    model_name_or_path: str = field(default=None, metadata={"help": "the target model (folder or Hub id)"})
    candidates: list[str] = field(
        default=None,
        metadata={"help": "candidate datasets, one per strategy: 'name=path.jsonl' or 'path.jsonl' (name = file "
                          "stem); with toy_candidates, bare strategy names of the toy world"},
    )
    output_dir: str = field(default="runs/select_style", metadata={"help": "where the report goes"})
    subset_size: int = field(default=100, metadata={"help": "inputs scored (a seeded sample of the shared ids)"})
    num_samples: int = field(default=4, metadata={"help": "m: target samples per input"})
    seed: int = field(default=0, metadata={"help": "seed of the subset, the sampling and the style examples"})
    temperature: float = field(default=1.0, metadata={"help": "sampling temperature of the target's samples"})
    top_p: float = field(default=1.0, metadata={"help": "nucleus sampling of the target's samples"})
    max_new_tokens: int = field(default=256, metadata={"help": "max tokens of a target sample"})
    n_style_examples: int = field(
        default=3, metadata={"help": "target's own correct outputs in the user turn for self-aligned perplexity "
                                     "(SPPL's script uses 3)"}
    )
    batch_size: int = field(default=16, metadata={"help": "sequences per forward pass / generate call"})
    max_length: int = field(default=1024, metadata={"help": "max tokens of a scored sequence (context included)"})
    selection_score: str = field(
        default="perplexity",
        metadata={"help": "score that picks the strategy: " + ", ".join(SCORES) + " (default: the best predictor of "
                          "post-SFT accuracy in scripts/bench_style_select.py; docs/methods/style_selection.md)"},
    )
    id_key: str | None = field(
        default=None, metadata={"help": "column joining the strategies (default: problem_id if present, else id)"}
    )
    answer_key: str = field(
        default="answer", metadata={"help": "gold answer column (else the candidates' own final answer)"}
    )
    dtype: str = field(default="auto", metadata={"help": "auto, float32, bfloat16, float16"})
    toy_candidates: bool = field(
        default=False, metadata={"help": "write the toy world's candidate datasets first (demo / tests)"}
    )
    toy_n: int = field(default=200, metadata={"help": "problems per toy candidate dataset"})
    prompt_template: str | None = field(default=None, metadata={
        "help": "how the target model is prompted (thrifty.prompt_templates): unset = its chat template; r1_zero, "
                "plain or a text with {problem} for a base model (the candidates' user message fills {problem}; "
                "r1_zero's samples are judged by their <answer> block)"})
    chat_template_path: str | None = field(default=None, metadata={
        "help": "a Jinja chat template file for a target model whose tokenizer has none"})

    def __post_init__(self):
        from thrifty.prompt_templates import check_prompt_keys

        check_prompt_keys(self.prompt_template, self.chat_template_path)
        if self.selection_score not in SCORES:
            raise RecipeError(f"selection_score must be one of {', '.join(SCORES)}, not {self.selection_score!r}")
        if self.num_samples < 1 or self.subset_size < 1 or self.batch_size < 1:
            raise RecipeError("num_samples, subset_size and batch_size must be at least 1")
        if self.toy_candidates and self.candidates:
            from thrifty.formats import ARM_FORMATS
            from thrifty.toy_world import MULTITURN

            names = (*ARM_FORMATS, MULTITURN)
            wrong = [s for s in self.candidates if parse_candidate_spec(s)[0] not in names]
            if wrong:
                raise RecipeError(f"candidates: {', '.join(map(repr, wrong))} with toy_candidates: true; the toy "
                                  f"world's strategies are {', '.join(names)} (or set toy_candidates: false to "
                                  "score your own files)")


# ---------------------------------------------------------------------------------------------------------
# Candidate data
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Candidate:
    """One strategy's output for one input."""

    key: str
    prompt: list[dict]  # the chat up to (not including) the output
    output: str
    answer: str | None


def parse_candidate_spec(spec: str) -> tuple[str, Path]:
    """``'name=path'`` or ``'path'`` (name = the file's stem)."""
    if "=" in spec:
        name, path = spec.split("=", 1)
        return name.strip(), Path(path.strip())
    return Path(spec).stem, Path(spec)


def load_candidates(path: str | Path, id_key: str | None = None, answer_key: str = "answer") -> dict[str, Candidate]:
    """One strategy's rows keyed by input id; errors name the file, the row and the key."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"candidate dataset {path} does not exist")
    out: dict[str, Candidate] = {}
    for i, row in enumerate(read_jsonl(path), start=1):
        where = f"{path}: row {i}"
        key_name = id_key or ("problem_id" if "problem_id" in row else "id")
        if key_name not in row:
            raise DataError(f"{where}: no '{key_name}' key (set id_key to the column that joins the strategies)")
        messages = row.get("messages")
        if not isinstance(messages, list) or not messages:
            raise DataError(f"{where}: 'messages' must be a non-empty list of {{role, content}}")
        last = messages[-1]
        if not isinstance(last, dict) or last.get("role") != "assistant" or not isinstance(last.get("content"), str):
            raise DataError(f"{where}: the last message must be the assistant's output (role 'assistant')")
        key = str(row[key_name])
        if key in out:
            raise DataError(f"{where}: duplicate {key_name} {key!r}")
        answer = row.get(answer_key)
        if answer is None:
            answer = extract_final_answer(last["content"])
        out[key] = Candidate(key, messages[:-1], last["content"], None if answer is None else str(answer))
    if not out:
        raise DataError(f"candidate dataset {path} is empty")
    return out


def shared_subset(strategies: dict[str, dict[str, Candidate]], size: int, seed: int) -> list[str]:
    """A seeded sample of ``size`` ids present in every strategy (sorted first, so it is order-independent)."""
    names = list(strategies)
    shared = set(strategies[names[0]])
    for name in names[1:]:
        shared &= set(strategies[name])
    if not shared:
        raise DataError(f"the candidate datasets share no input id ({', '.join(names)}); check id_key")
    ids = sorted(shared)
    if len(ids) < size:
        logger.warning("only %d shared inputs (subset_size %d): scoring all of them", len(ids), size)
        return ids
    return sorted(random.Random(seed).sample(ids, size))


def write_toy_candidates(out_dir: str | Path, strategies: list[str], n: int, seed: int = 0) -> list[str]:
    """The toy world's training problems rendered in each strategy, one JSONL per strategy (``name=path``)."""
    from thrifty.toy_world import TRAIN, ToyWorld

    world = ToyWorld(seed=seed)
    problems = world.problems(TRAIN, n)
    specs = []
    for name in strategies:
        path = Path(out_dir) / f"{name}.jsonl"
        write_jsonl(path, (world.sft_row(p, name) for p in problems))
        specs.append(f"{name}={path}")
    return specs


# ---------------------------------------------------------------------------------------------------------
# The target model: sampling and batched scoring
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Scored:
    """Per-sequence results of a forward pass."""

    embedding: Any  # 1-D tensor (hidden size) or None
    nll_sum: float
    n_tokens: int

    @property
    def perplexity(self) -> float:
        """``exp`` of the mean NLL over the output's tokens (SPPL's per-example perplexity); NaN when empty."""
        return math.exp(self.nll_sum / self.n_tokens) if self.n_tokens else float("nan")


def mean_perplexity(scored: list[Scored]) -> float:
    """The mean over examples of the per-example perplexities (SPPL), empty outputs left out."""
    values = [s.perplexity for s in scored if s.n_tokens]
    return sum(values) / len(values) if values else float("nan")


class TargetModel:
    """The target model and tokenizer: sampling (``sample``) and teacher-forced scoring (``score``)."""

    def __init__(self, model, tokenizer, batch_size: int = 16, max_length: int = 1024, template=None):
        from thrifty.prompt_templates import resolve_prompt_template

        self.model = model
        self.tokenizer = tokenizer
        self.template = template if template is not None else resolve_prompt_template(None)
        self.batch_size = batch_size
        self.max_length = max_length

    @classmethod
    def from_pretrained(cls, name_or_path: str, dtype: str | None = "auto", batch_size: int = 16,
                        max_length: int = 1024, prompt_template: str | None = None,
                        chat_template_path: str | None = None) -> TargetModel:
        """Load the target; a model that cannot be prompted as the recipe says (no chat template and no plain-text
        ``prompt_template``) is refused in one line before its weights are loaded."""
        from thrifty.models import load_model_and_tokenizer, load_tokenizer, tokenizer_source
        from thrifty.prompt_templates import (
            apply_chat_template_path,
            check_prompt_setup,
            resolve_prompt_template,
        )

        template = resolve_prompt_template(prompt_template)
        check_prompt_setup(apply_chat_template_path(load_tokenizer(tokenizer_source(name_or_path)), chat_template_path),
                           template, name_or_path)
        model, tokenizer = load_model_and_tokenizer(name_or_path, dtype=dtype)
        apply_chat_template_path(tokenizer, chat_template_path)
        return cls(model, tokenizer, batch_size=batch_size, max_length=max_length, template=template)

    # -- text <-> tokens ----------------------------------------------------------------------------------
    def prompt_text(self, messages: list[dict]) -> str:
        """The prompt of ``messages`` as the target is prompted: its chat template, or the recipe's plain-text
        ``prompt_template`` (:func:`thrifty.generation.render_prompt`)."""
        from thrifty.generation import render_prompt

        return render_prompt(self.tokenizer, messages, template=self.template)

    def encode(self, messages: list[dict], output: str) -> tuple[list[int], int, int]:
        """Token ids of prompt + output; (ids, output start, output end).

        No end-of-turn token follows the output: SPPL scores the answer tokens only. Prompt and output are
        tokenized separately, so the output's tokens are exactly its own. Too long a sequence is cut at
        ``max_length`` from the right.
        """
        tok = self.tokenizer
        prompt_ids = tok(self.prompt_text(messages), add_special_tokens=False)["input_ids"]
        out_ids = tok(output, add_special_tokens=False)["input_ids"]
        ids = (prompt_ids + out_ids)[: self.max_length]
        start = min(len(prompt_ids), len(ids))
        return ids, start, len(ids)

    def fits(self, messages: list[dict], output: str) -> bool:
        """Whether prompt + output fit ``max_length`` tokens uncut (:meth:`encode` cuts longer ones)."""
        tok = self.tokenizer
        n = (len(tok(self.prompt_text(messages), add_special_tokens=False)["input_ids"])
             + len(tok(output, add_special_tokens=False)["input_ids"]))
        return n <= self.max_length

    # -- sampling -------------------------------------------------------------------------------------------
    def sample(self, prompts: list[list[dict]], m: int, temperature: float, top_p: float, max_new_tokens: int,
               seed: int) -> list[list[str]]:
        """``m`` sampled outputs per prompt (left-padded batches of prompts, ``num_return_sequences=m``).

        At temperature 0 the greedy output is returned ``m`` times.
        """
        from thrifty.generation import SamplingParams, TransformersGenerator

        greedy = temperature <= 0  # greedy: one output per prompt, repeated m times
        params = SamplingParams(max_new_tokens=max_new_tokens, temperature=max(temperature, 0.0), top_p=top_p,
                                n=1 if greedy else m, seed=seed)
        generator = TransformersGenerator(self.model, self.tokenizer, batch_size=max(1, self.batch_size // params.n))
        generations = generator.generate([self.prompt_text(p) for p in prompts], params, desc="target samples")
        return [[g.text for g in gens] * (m if greedy else 1) for gens in generations]

    # -- scoring ----------------------------------------------------------------------------------------------
    def score(self, items: list[tuple[list[dict], str]], embed: bool = True, desc: str = "score") -> list[Scored]:
        """Teacher-forced forward passes over (prompt messages, output) pairs, batched by length.

        Per item: the output's NLL summed over its tokens (with the count), and
        with ``embed`` the hidden states of the output tokens mean-pooled over tokens, then averaged over the
        transformer layers (the embedding layer is left out).
        """
        import torch
        import torch.nn.functional as F
        from tqdm.auto import tqdm

        encoded = [self.encode(msgs, out) for msgs, out in items]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
        results: list[Scored | None] = [None] * len(encoded)
        pad = self.tokenizer.pad_token_id or 0
        device = self.model.device
        for start in tqdm(range(0, len(order), self.batch_size), desc=desc, leave=False):
            idx = order[start : start + self.batch_size]
            width = max(len(encoded[i][0]) for i in idx)
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            attn = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                seq = encoded[i][0]
                ids[row, : len(seq)] = torch.tensor(seq)
                attn[row, : len(seq)] = 1
            with torch.no_grad():
                outputs = self.model(input_ids=ids.to(device), attention_mask=attn.to(device),
                                     output_hidden_states=embed, use_cache=False)
            logprobs = F.log_softmax(outputs.logits[:, :-1].float(), dim=-1)
            token_nll = -logprobs.gather(-1, ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)
            if embed:
                layers = torch.stack(outputs.hidden_states[1:]).float()  # (L, B, T, H)
            for row, i in enumerate(idx):
                seq, s, e = encoded[i]
                nll = token_nll[row, max(s - 1, 0) : len(seq) - 1]  # predicts tokens s .. len-1
                emb = None
                if embed:
                    lo, hi = (s, e) if e > s else (max(s - 1, 0), s)  # an empty output pools its last context token
                    emb = layers[:, row, lo:hi].mean(dim=1).mean(dim=0).cpu()
                results[i] = Scored(emb, float(nll.sum()), int(nll.numel()))
        return results  # type: ignore[return-value]


def cosine(a, b) -> float:
    import torch

    return float(torch.nn.functional.cosine_similarity(a.unsqueeze(0), b.unsqueeze(0)).item())


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when a side is constant or has NaN, or n < 2."""
    if len(x) != len(y):
        raise ValueError("spearman needs two lists of the same length")

    def ranks(v: list[float]) -> list[float]:
        order = sorted(range(len(v)), key=lambda i: v[i])
        r = [0.0] * len(v)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and v[order[j + 1]] == v[order[i]]:
                j += 1
            for k in range(i, j + 1):
                r[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return r

    if len(x) < 2 or any(math.isnan(v) for v in (*x, *y)):
        return float("nan")
    rx, ry = ranks(x), ranks(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    return cov / math.sqrt(vx * vy) if vx > 0 and vy > 0 else float("nan")


# ---------------------------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------------------------
def _target_samples(target: TargetModel, args: StyleSelectArguments, ids: list[str],
                    prompts: dict[str, list[dict]], answers: dict[str, str | None], out_dir: Path) -> dict[str, list[dict]]:
    """The target's m samples per id, reused from ``target_samples.jsonl`` when it matches this run."""
    path = out_dir / SAMPLES_FILE
    sig = {"model": args.model_name_or_path, "m": args.num_samples, "seed": args.seed,
           "temperature": args.temperature, "top_p": args.top_p, "max_new_tokens": args.max_new_tokens}
    if target.template.name != "chat" or args.chat_template_path:  # other prompts, other samples
        sig.update(prompt_template=target.template.label, chat_template_path=args.chat_template_path)
    rule = target.template.extraction or "strict"  # R1-Zero's samples answer in <answer> tags
    # the samples belong to an id's prompt and gold answer, not to the id: another input set that reuses the
    # ids must not reuse them (nor their correctness labels)
    inputs = {k: _input_hash(prompts[k], answers.get(k)) for k in ids}
    if path.exists():
        rows = read_jsonl(path)
        by_id = {r["key"]: r["samples"] for r in rows
                 if r.get("signature") == sig and r.get("input") == inputs.get(r.get("key"))}
        if all(k in by_id for k in ids):
            logger.info("reusing the target's samples from %s", path)
            return {k: by_id[k] for k in ids}
    texts = target.sample([prompts[k] for k in ids], args.num_samples, args.temperature, args.top_p,
                          args.max_new_tokens, args.seed)
    samples = {}
    for k, outs in zip(ids, texts, strict=True):
        gold = answers.get(k)
        samples[k] = [{"text": t, "correct": None if gold is None else verify_answer(extract_answer(t, rule), gold)}
                      for t in outs]
    write_jsonl(path, ({"key": k, "signature": sig, "input": inputs[k], "samples": samples[k]} for k in ids))
    return samples


def _input_hash(prompt: list[dict], answer: str | None) -> str:
    """SHA-256 of an input's prompt messages and gold answer (what its target samples depend on)."""
    import hashlib
    import json

    body = json.dumps({"prompt": prompt, "answer": answer}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _style_examples(ids: list[str], samples: dict[str, list[dict]], k: int, seed: int) -> tuple[dict[str, list[str]], bool]:
    """Per id, ``k`` of the target's correct outputs on *other* ids (one per id), as SPPL's in-context examples.

    Falls back to any of the target's outputs when fewer than ``k`` are correct (returned flag False).
    """
    pool = [(i, s["text"]) for i in ids for s in samples[i] if s["correct"] and s["text"].strip()]
    all_correct = len({i for i, _ in pool}) > k
    if not all_correct:
        logger.warning("fewer than %d inputs with a correct target sample: style examples use any sample", k + 1)
        pool = [(i, s["text"]) for i in ids for s in samples[i] if s["text"].strip()]
    rng = random.Random(seed)
    out: dict[str, list[str]] = {}
    for key in ids:
        others = [p for p in pool if p[0] != key]
        chosen, seen = [], set()
        for i, text in rng.sample(others, len(others)):
            if i in seen:
                continue
            seen.add(i)
            chosen.append(text)
            if len(chosen) == k:
                break
        out[key] = chosen
    return out, all_correct


def sppl_prompt(prompt: list[dict], examples: list[str]) -> list[dict]:
    """``prompt`` with its last user turn rewritten in SPPL's in-context layout around ``examples``.

    No examples: the prompt unchanged (self-aligned perplexity is then plain perplexity). Other messages (a
    system prompt, earlier turns) are kept as they are.
    """
    if not examples:
        return prompt
    last = max((i for i, m in enumerate(prompt) if m.get("role") == "user"), default=None)
    if last is None:
        raise DataError("a candidate's prompt has no user message to hold the style examples")
    text = (SPPL_HEAD.format(question=prompt[last]["content"])
            + "".join(SPPL_EXAMPLE.format(example=e) for e in examples) + SPPL_TAIL)
    return [*prompt[:last], {**prompt[last], "content": text}, *prompt[last + 1 :]]


def _fit(target: TargetModel, examples: list[str], prompt: list[dict], output: str) -> tuple[list[dict], int]:
    """:func:`sppl_prompt`, dropping the earliest examples until the sequence fits ``max_length``; returns the
    prompt and how many examples were dropped."""
    dropped = 0
    while examples and len(target.encode(sppl_prompt(prompt, examples), output)[0]) >= target.max_length:
        examples = examples[1:]
        dropped += 1
    return sppl_prompt(prompt, examples), dropped


def select_style(args: StyleSelectArguments, target: TargetModel | None = None) -> dict:
    """Score every candidate strategy against the target model; writes the report files, returns the result."""
    if not args.model_name_or_path:
        raise DataError("model_name_or_path (the target model) is required")
    if not args.candidates:
        raise DataError("candidates is required: one dataset per strategy, 'name=path.jsonl'")
    missing = [str(p) for p in (parse_candidate_spec(s)[1] for s in args.candidates) if not p.is_file()]
    if missing and not args.toy_candidates:  # the local files first, before a Hub model is fetched
        raise DataError(f"candidate dataset {missing[0]} does not exist")
    if target is None:
        from thrifty.models import check_model_source

        model = args.model_name_or_path  # toy_base already resolved by parse_recipe; never a checkout fallback
        check_model_source(model)
        try:  # loaded before anything is written, so a model that cannot load leaves no candidates/ behind
            target = TargetModel.from_pretrained(model, args.dtype, args.batch_size, args.max_length,
                                                 args.prompt_template, args.chat_template_path)
        except PromptTemplateError:
            raise
        except (OSError, ValueError) as err:
            from thrifty.network import NetworkError, is_network_error, network_message

            if is_network_error(err):
                raise NetworkError(network_message(err, f"model_name_or_path {model}")) from None
            raise DataError(f"model_name_or_path {model}: cannot load the target model ({err})") from None
    out_dir = Path(args.output_dir)
    specs = list(args.candidates)
    if args.toy_candidates:
        specs = write_toy_candidates(out_dir / "candidates", [parse_candidate_spec(s)[0] for s in specs],
                                     args.toy_n, args.seed)
    strategies: dict[str, dict[str, Candidate]] = {}
    for spec in specs:
        name, path = parse_candidate_spec(spec)
        if name in strategies:
            raise DataError(f"candidates: strategy name {name!r} given twice (use 'name=path' to rename)")
        strategies[name] = load_candidates(path, args.id_key, args.answer_key)
    ids = shared_subset(strategies, args.subset_size, args.seed)
    first = next(iter(strategies.values()))
    prompts = {k: first[k].prompt for k in ids}
    answers = {k: next((s[k].answer for s in strategies.values() if s[k].answer is not None), None) for k in ids}
    logger.info("scoring %d strategies on %d inputs (m=%d)", len(strategies), len(ids), args.num_samples)

    samples = _target_samples(target, args, ids, prompts, answers, out_dir)
    own = target.score([(prompts[k], s["text"]) for k in ids for s in samples[k]], desc="target samples")
    own_emb = {k: [own[i * args.num_samples + j].embedding for j in range(args.num_samples)]
               for i, k in enumerate(ids)}
    own_ok = {k: [bool(s["correct"]) for s in samples[k]] for k in ids}
    examples, examples_correct = _style_examples(ids, samples, args.n_style_examples, args.seed)

    scores: dict[str, dict[str, float]] = {}
    for name, rows in strategies.items():
        plain = target.score([(rows[k].prompt, rows[k].output) for k in ids], desc=f"{name}")
        pairs = [[cosine(plain[i].embedding, e) for e in own_emb[k]] for i, k in enumerate(ids)]
        cos = [sum(p) / len(p) for p in pairs]
        cos_ok = [sum(c for c, ok in zip(p, own_ok[k], strict=True) if ok) / sum(own_ok[k])
                  for p, k in zip(pairs, ids, strict=True) if any(own_ok[k])]
        fitted = [_fit(target, examples[k], rows[k].prompt, rows[k].output) for k in ids]
        aligned = target.score([(p, rows[k].output) for (p, _), k in zip(fitted, ids, strict=True)], embed=False,
                               desc=f"{name} (self-aligned)")
        truncated = sum(not target.fits(rows[k].prompt, rows[k].output) for k in ids)
        examples_dropped = sum(d for _, d in fitted)
        if truncated or examples_dropped:
            logger.warning("%s: %d of %d sequences exceed max_length %d and are scored on their first tokens only; "
                           "%d SPPL style examples were left out to fit: raise max_length for a fair comparison",
                           name, truncated, len(ids), target.max_length, examples_dropped)
        n_tok = sum(s.n_tokens for s in plain)
        mean_cos = sum(cos) / len(cos)
        scores[name] = {
            "alignment": mean_cos,
            "alignment_std": math.sqrt(sum((c - mean_cos) ** 2 for c in cos) / len(cos)),
            "alignment_correct": sum(cos_ok) / len(cos_ok) if cos_ok else float("nan"),
            "perplexity": mean_perplexity(plain),
            "self_aligned_perplexity": mean_perplexity(aligned),
            "mean_output_tokens": n_tok / len(ids),
            "truncated_share": truncated / len(ids),
            "style_examples_dropped_share": examples_dropped / max(1, len(ids) * args.n_style_examples),
        }
    rankings = {s: rank(scores, s) for s in SCORES}
    n_samples = sum(len(v) for v in samples.values())
    n_correct = sum(1 for v in samples.values() for s in v if s["correct"])
    result = {
        "chosen": rankings[args.selection_score][0],
        "selection_score": args.selection_score,
        "ranking": rankings[args.selection_score],
        "rankings": rankings,
        "scores": scores,
        "n_inputs": len(ids),
        "target": {"model": args.model_name_or_path, "samples": n_samples,
                   "correct_rate": n_correct / n_samples if n_samples else float("nan"),
                   "style_examples_correct": examples_correct},
        "config": {k: getattr(args, k) for k in ("subset_size", "num_samples", "seed", "temperature", "top_p",
                                                 "max_new_tokens", "n_style_examples", "max_length")},
        "candidates": specs,
    }
    write_json(out_dir / "selection.json", json_safe(result))
    write_text(out_dir / "report.md", markdown_report(result))
    plot_scores(result, out_dir / "scores.png")
    logger.info("chosen strategy: %s (by %s)", result["chosen"], args.selection_score)
    return result


def json_safe(obj: Any) -> Any:
    """NaN (an undefined score) as null, so the JSON written is strict."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def rank(scores: dict[str, dict[str, float]], score: str) -> list[str]:
    """Strategy names best first by ``score`` (ties broken by name)."""
    sign = -1.0 if HIGHER_IS_BETTER[score] else 1.0

    def key(name: str) -> tuple:
        value = scores[name][score]
        return (math.isnan(value), 0.0 if math.isnan(value) else sign * value, name)  # NaN last

    return sorted(scores, key=key)


# ---------------------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------------------
def markdown_report(result: dict) -> str:
    """The ranking as a Markdown table (best first by the selection score)."""
    t = result["target"]
    lines = [
        "# Response-style selection",
        "",
        f"Target model: `{t['model']}`; {result['n_inputs']} inputs, m = {result['config']['num_samples']} "
        f"samples each (seed {result['config']['seed']}, temperature {result['config']['temperature']}); "
        f"target accuracy on its samples {t['correct_rate']:.2f}.",
        "",
        f"**Chosen: `{result['chosen']}`** (by {result['selection_score']}).",
        "",
        "| rank | strategy | alignment (cos, higher better) | alignment to correct samples "
        "| perplexity (lower better) | self-aligned perplexity (lower better) | output tokens |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for i, name in enumerate(result["ranking"], start=1):
        s = result["scores"][name]
        lines.append(f"| {i} | {name} | {s['alignment']:.4f} ± {s['alignment_std']:.4f} "
                     f"| {s['alignment_correct']:.4f} | {s['perplexity']:.3f} "
                     f"| {s['self_aligned_perplexity']:.3f} | {s['mean_output_tokens']:.1f} |")
    lines += ["", "Rankings by score:", ""]
    lines += [f"- {score}: {' > '.join(r)}" for score, r in result["rankings"].items()]
    if not t["style_examples_correct"]:
        lines += ["", "Note: the target had too few correct samples; the style examples include incorrect ones."]
    cut = {n: s for n, s in result["scores"].items()
           if s.get("truncated_share") or s.get("style_examples_dropped_share")}
    if cut:
        lines += ["", f"Warning: sequences longer than max_length ({result['config']['max_length']} tokens) were cut "
                      "and scored on a prefix, which favours long outputs; raise max_length:", ""]
        lines += [f"- {n}: {s.get('truncated_share', 0):.0%} of outputs cut, "
                  f"{s.get('style_examples_dropped_share', 0):.0%} of SPPL style examples left out"
                  for n, s in cut.items()]
    return "\n".join(lines) + "\n"


def plot_scores(result: dict, path: str | Path) -> None:
    """One bar chart per score (matplotlib Agg), the chosen strategy highlighted; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from thrifty.jsonl import atomic_open

    names = result["ranking"]
    fig, axes = plt.subplots(1, len(SCORES), figsize=(3.8 * len(SCORES), 3.6))
    for ax, score in zip(axes, SCORES, strict=True):
        values = [result["scores"][n][score] for n in names]
        colors = ["tab:orange" if n == result["chosen"] else "tab:blue" for n in names]
        ax.bar(range(len(names)), values, color=colors)
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{score} ({'higher' if HIGHER_IS_BETTER[score] else 'lower'} is better)", fontsize=9)
        finite = [v for v in values if not math.isnan(v)]
        if score.startswith("alignment") and finite:  # cosines: zoom on the range that differs
            lo, hi = min(finite), max(finite)
            ax.set_ylim(max(-1.0, lo - 0.2 * (hi - lo + 1e-3)), min(1.0, hi + 0.1 * (hi - lo + 1e-3)))
        elif finite and max(finite) / max(min(finite), 1e-9) > 50:
            ax.set_yscale("log")
    fig.suptitle(f"style selection: chosen {result['chosen']} (by {result['selection_score']})", fontsize=10)
    fig.tight_layout()
    with atomic_open(path, "wb", encoding=None) as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------
def cmd_select_style(argv: list[str]) -> int:
    """``thrifty select-style --config RECIPE [--key value ...]``: prints the chosen strategy and the report path."""
    from thrifty.recipes import parse_recipe

    (args,) = parse_recipe((StyleSelectArguments,), argv)
    result = select_style(args)
    emit(result["chosen"])  # the CLI's answer on stdout
    emit(Path(args.output_dir) / "report.md")
    return 0
