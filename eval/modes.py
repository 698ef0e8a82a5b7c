"""Inference modes (ARM, Wu et al. 2025, section 3.3; DESIGN.md 4.2; docs/methods/arm.md).

- ``adaptive``: the model chooses its format (nothing pre-filled).
- instruction-guided: the assistant turn is pre-filled with a format's opening tag and a newline, as ARM's
  ``verl/stage2_scripts/data_preprocess/instruction_guided/gsm8k.py`` (``token_dict``) and
  ``verl/verl/trainer/main_eval_list.py`` do, one mode per format: ``direct`` (``<ANSWER>\n``), ``short_cot``
  (``<COT>\n``), ``code`` (``<CODE>\n``), ``long_cot`` (``<LONG_COT>\n``), and ``multiturn`` (``<think>\n``,
  MinD's turn opening). The pre-fill is part of the completion text but not of its output tokens.
- ``consensus`` (the ARM paper's consensus-guided mode; the official code has none): for each sample, generate
  ``direct``, ``short_cot`` and ``code``; if their three final answers agree (all present and each equivalent to
  the direct one, as judged by the answer checker) that answer is taken, otherwise ``long_cot`` is generated and
  its answer taken. The sample's output tokens are the sum of everything generated for it (3 completions, or 4
  on a fallback; pre-fills not counted); the fallback rate is reported.
- ``l1_exact:N`` and ``l1_max:N`` (L1, Aggarwal and Welleck 2025; docs/methods/l1.md): nothing pre-filled; the
  problem ends with L1's instruction and ``Think for N tokens.`` / ``Think for maximum N tokens.``
  (:func:`thrifty.l1_budget.l1_prompt`; the instruction is the ``l1_instruction`` key of ``thrifty eval``), and
  the summary adds the length error against N (:func:`thrifty.l1_budget.l1_length_stats`).

:func:`generate_mode` returns, per problem, ``n`` raw samples (completion text, tokens, finish reason,
pre-fill and, for consensus, the parts); scoring happens afterwards (:mod:`thrifty.eval.scoring`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from thrifty.answer_check import AnswerChecker
from thrifty.benchmarks import Problem, problem_text
from thrifty.formats import ARM_FORMATS, CODE, DIRECT, LONG_COT, OPENING_TAGS, SHORT_COT, THINK_OPEN
from thrifty.l1_budget import L1_INSTRUCTION, l1_mode_budget, l1_prompt
from thrifty.prompt_templates import PromptTemplate, resolve_prompt_template

from .generation import Generation, SamplingParams, render_prompt
from .scoring import MULTITURN, final_prediction

logger = logging.getLogger(__name__)

ADAPTIVE = "adaptive"
CONSENSUS = "consensus"
CONSENSUS_FORMATS: tuple[str, ...] = (DIRECT, SHORT_COT, CODE)
INSTRUCTION_MODES: tuple[str, ...] = (*ARM_FORMATS, MULTITURN)
MODES: tuple[str, ...] = (ADAPTIVE, *INSTRUCTION_MODES, CONSENSUS)


def mode_prefill(mode: str) -> str:
    """The assistant-turn pre-fill of an inference mode: the format's tag and a newline, as ARM ("" for adaptive
    and the L1 budget modes)."""
    if mode == ADAPTIVE or l1_mode_budget(mode) is not None:
        return ""
    if mode == MULTITURN:
        return THINK_OPEN + "\n"
    if mode in OPENING_TAGS:
        return OPENING_TAGS[mode] + "\n"
    raise ValueError(f"unknown inference mode {mode!r}; expected one of {', '.join(MODES)}, l1_exact:N, l1_max:N")


def validate_modes(modes: Sequence[str]) -> None:
    unknown = [m for m in modes if m not in MODES and l1_mode_budget(m) is None]
    if unknown:
        raise ValueError(f"unknown inference mode(s) {', '.join(unknown)}; expected some of {', '.join(MODES)}, "
                         "l1_exact:N or l1_max:N (N a token budget >= 1)")


def _prompts(generator, problems: Sequence[Problem], prefill: str, template: PromptTemplate | str | None,
             system: str | None, budget: int | None = None, l1_instruction: str = L1_INSTRUCTION) -> list[str]:
    """Each problem's prompt: :func:`thrifty.benchmarks.problem_text` (with an L1 ``budget``, ended by the
    instruction and the budget sentence) through the prompt template (:mod:`thrifty.prompt_templates`; a string is
    resolved as the ``prompt_template`` recipe key is)."""
    if not isinstance(template, PromptTemplate):
        template = resolve_prompt_template(template)

    def text(p: Problem) -> str:
        return problem_text(p) if budget is None else l1_prompt(problem_text(p), budget, l1_instruction)

    return [render_prompt(generator.tokenizer, [{"role": "user", "content": text(p)}], prefill, system,
                          template=template)
            for p in problems]


def _sample(g: Generation, prefill: str) -> dict:
    return {"completion": g.text, "num_tokens": g.num_tokens, "finish_reason": g.finish_reason, "prefill": prefill}


def generate_mode(generator, problems: Sequence[Problem], mode: str, params: SamplingParams,
                  template: PromptTemplate | str | None = None, system: str | None = None,
                  checker: AnswerChecker | None = None, l1_instruction: str = L1_INSTRUCTION) -> list[list[dict]]:
    """``params.n`` samples per problem in ``mode`` (see the module docstring); consensus needs ``checker``."""
    if mode == CONSENSUS:
        if checker is None:
            raise ValueError("consensus mode needs an AnswerChecker to compare the three answers")
        return _consensus(generator, problems, params, template, system, checker)
    prefill = mode_prefill(mode)
    prompts = _prompts(generator, problems, prefill, template, system, l1_mode_budget(mode), l1_instruction)
    gens = generator.generate(prompts, params, [prefill] * len(problems), desc=f"{mode}")
    return [[_sample(g, prefill) for g in per_problem] for per_problem in gens]


def sample_seed(seed: int, sample: int) -> int:
    """The seed of sample ``sample``'s consensus fallback: ``seed`` for sample 0, another one per later sample.
    Fallbacks are sent with n=1, and a backend that seeds each request (vLLM) would otherwise draw the same
    long CoT for every sample of a problem."""
    return seed if sample == 0 else (seed * 1_000_003 + sample) % 2**31


def _consensus(generator, problems: Sequence[Problem], params: SamplingParams, template: PromptTemplate | str | None,
               system: str | None, checker: AnswerChecker) -> list[list[dict]]:
    prompts, prefills = [], []
    for fmt in CONSENSUS_FORMATS:
        prefill = mode_prefill(fmt)
        prompts += _prompts(generator, problems, prefill, template, system)
        prefills += [prefill] * len(problems)
    gens = generator.generate(prompts, params, prefills, desc="consensus")
    m = len(problems)
    parts = {fmt: gens[j * m : (j + 1) * m] for j, fmt in enumerate(CONSENSUS_FORMATS)}

    # agreement: every answer present and equivalent to the direct answer
    jobs: list[tuple[int, int]] = [(i, s) for i in range(m) for s in range(params.n)]
    answers = {(i, s, fmt): final_prediction(parts[fmt][i][s].text, problems[i])
               for i, s in jobs for fmt in CONSENSUS_FORMATS}
    preds, golds, kinds, index = [], [], [], []
    for i, s in jobs:
        ref = answers[(i, s, DIRECT)]
        if ref is None:
            continue
        for fmt in (SHORT_COT, CODE):
            preds.append(answers[(i, s, fmt)])
            golds.append(ref)
            kinds.append(problems[i].kind)
            index.append((i, s))
    verdicts = checker.check(preds, golds, kinds) if preds else []
    agree_votes: dict[tuple[int, int], list[bool]] = {}
    for key, v in zip(index, verdicts, strict=True):
        agree_votes.setdefault(key, []).append(v)
    agreed = {key: len(v) == 2 and all(v) for key, v in agree_votes.items()}

    fallback = [(i, s) for i, s in jobs if not agreed.get((i, s), False)]
    long_gens: dict[tuple[int, int], Generation] = {}
    prefill = mode_prefill(LONG_COT)
    groups: dict[int, list[tuple[int, int]]] = {}  # sampling: one call per sample index, each with its own seed
    for i, s in fallback:
        groups.setdefault(0 if params.temperature <= 0 else s, []).append((i, s))
    for s, keys in sorted(groups.items()):
        fb_prompts = _prompts(generator, [problems[i] for i, _ in keys], prefill, template, system)
        one = SamplingParams(max_new_tokens=params.max_new_tokens, temperature=params.temperature,
                             top_p=params.top_p, n=1, seed=sample_seed(params.seed, s), stop=params.stop)
        out = generator.generate(fb_prompts, one, [prefill] * len(keys), desc="consensus fallback")
        long_gens.update({key: gens_[0] for key, gens_ in zip(keys, out, strict=True)})
    logger.info("consensus: %d/%d samples fell back to long CoT", len(fallback), len(jobs))

    results: list[list[dict]] = []
    for i in range(m):
        samples = []
        for s in range(params.n):
            used = {fmt: parts[fmt][i][s] for fmt in CONSENSUS_FORMATS}
            is_fallback = (i, s) in long_gens
            if is_fallback:
                used[LONG_COT] = long_gens[(i, s)]
            chosen_fmt = LONG_COT if is_fallback else DIRECT
            chosen = used[chosen_fmt]
            sample = _sample(chosen, mode_prefill(chosen_fmt))
            sample["num_tokens"] = sum(g.num_tokens for g in used.values())
            sample["finish_reason"] = "length" if any(g.finish_reason == "length" for g in used.values()) else "stop"
            sample["consensus"] = {
                "fallback": is_fallback,
                "parts": {fmt: {"prediction": final_prediction(g.text, problems[i]), "num_tokens": g.num_tokens,
                                "completion": g.text} for fmt, g in used.items()},
            }
            samples.append(sample)
        results.append(samples)
    return results
