"""LLM-judge quality score of long outputs (LongBench-Write's S_q; LongWriter, Bai et al. 2024, section 2).

A judge model behind the ``openai`` backend (:class:`thrifty.data_builders.backends.OpenAIBackend`, so with
its retries, bounded concurrency and disk cache) rates a response to a writing instruction on six
dimensions, each 1-5: Relevance, Accuracy, Coherence, Clarity, Breadth and Depth, Reading Experience. The
judge is told to ignore length (length has its own score, S_l). Each dimension becomes ``(s - 1) * 25``
(0-100) and S_q is their mean. A reply that is not a JSON object with the six integer scores (a fenced
```json block is accepted; key case, spaces and underscores are ignored) yields no score and is counted.

Used by the LongBench-Write evaluation (:mod:`thrifty.eval.longbench_write`) and by the long-output
preference-pair builder (:mod:`thrifty.data_builders.preference_pairs`).
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field, fields

from .backends import BackendArguments, LLMBackend, make_backend

logger = logging.getLogger(__name__)

DIMENSIONS: tuple[str, ...] = (
    "Relevance", "Accuracy", "Coherence", "Clarity", "Breadth and Depth", "Reading Experience",
)

#: Placeholders: ``{instruction}``, ``{response}``. Our own wording of LongBench-Write's six-dimension judge.
JUDGE_PROMPT = """You are grading the quality of an AI assistant's answer to a writing request. Do not take \
the length of the answer into account at all: judge only its quality.

Rate the answer from 1 (very poor) to 5 (excellent) on each of these six dimensions:
- Relevance: does it address the request and follow its instructions?
- Accuracy: are its facts and claims correct, with no made-up content?
- Coherence: is it well organised, with a logical flow from one part to the next?
- Clarity: is the language clear, precise and easy to follow?
- Breadth and Depth: does it cover the subject broadly and go into enough depth?
- Reading Experience: is it engaging and pleasant to read, free of repetition and filler?

[Writing request]
{instruction}

[Answer]
{response}

First explain your ratings briefly, then end with a JSON object holding exactly these keys and integer \
scores, for example:
{"Relevance": 4, "Accuracy": 4, "Coherence": 3, "Clarity": 4, "Breadth and Depth": 3, "Reading Experience": 3}"""

_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)


def _norm(key: str) -> str:
    return re.sub(r"[\s_\-&]+", "", key).lower().replace("and", "")


_WANTED = {_norm(d): d for d in DIMENSIONS}


def parse_judge_reply(text: str | None) -> dict[str, int] | None:
    """The six 1-5 scores of a judge reply (the last JSON object holding all six wins), else None."""
    if not text:
        return None
    for candidate in reversed(_JSON_OBJECT.findall(text)):
        try:
            obj = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        scores: dict[str, int] = {}
        for key, value in obj.items():
            name = _WANTED.get(_norm(str(key)))
            if name is None:
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                break
            if not number.is_integer() or not 1 <= number <= 5:
                break
            scores[name] = int(number)
        if len(scores) == len(DIMENSIONS):
            return {d: scores[d] for d in DIMENSIONS}
    return None


def quality_score(scores: dict[str, int]) -> float:
    """S_q: the mean over the six dimensions of ``(score - 1) * 25``."""
    return sum((scores[d] - 1) * 25.0 for d in DIMENSIONS) / len(DIMENSIONS)


@dataclass
class JudgeArguments:
    """Recipe keys of the quality judge (an OpenAI-compatible endpoint); ``judge_backend: none`` skips S_q.

    Its own keys (not ``llm_*``) because one recipe may configure both a generator and a judge; every
    ``judge_X`` except ``judge_backend`` and ``judge_prompt`` is passed on as the backend's ``llm_X``."""

    judge_backend: str = field(default="openai", metadata={"help": "openai | none"})
    judge_model: str | None = field(default=None, metadata={"help": "judge model name (e.g. gpt-4o-2024-05-13)"})
    judge_base_url: str = field(default="https://api.openai.com/v1", metadata={"help": "OpenAI-compatible base URL"})
    judge_api_key_env: str | None = field(
        default=None, metadata={"help": "NAME of the environment variable holding the judge's API key"}
    )
    judge_max_concurrency: int = field(default=8, metadata={"help": "parallel judge requests"})
    judge_max_retries: int = field(default=5, metadata={"help": "retries on 429/5xx/timeouts/malformed replies"})
    judge_timeout_s: float = field(default=300.0, metadata={"help": "per-request timeout"})
    judge_backoff_base_s: float = field(default=1.0, metadata={"help": "first backoff delay"})
    judge_temperature: float = field(default=0.0, metadata={"help": "judge sampling temperature"})
    judge_max_tokens: int = field(default=1024, metadata={"help": "max judge reply tokens"})
    judge_prompt: str = field(default=JUDGE_PROMPT, metadata={"help": "judge prompt; {instruction} {response}"})


def make_judge(args: JudgeArguments, cache_path: str | os.PathLike | None) -> LLMBackend | None:
    """The judge backend, or None for ``judge_backend: none``."""
    kind = (args.judge_backend or "none").lower()
    if kind == "none":
        return None
    if kind != "openai":
        raise ValueError(f"judge_backend must be openai or none, not {args.judge_backend!r}")
    for name in ("instruction", "response"):
        if "{" + name + "}" not in args.judge_prompt:
            from thrifty.jsonl import DataError

            raise DataError(f"recipe key judge_prompt: the prompt lacks the placeholder {{{name}}}")
    # every judge_X key but the two of its own is the backend's llm_X key
    shared = {"llm_" + f.name.removeprefix("judge_"): getattr(args, f.name) for f in fields(JudgeArguments)
              if f.name not in ("judge_backend", "judge_prompt")}
    return make_backend(BackendArguments(llm_backend="openai", llm_cache=str(cache_path) if cache_path else None,
                                         **shared))


def judge(backend: LLMBackend, prompt: str, instructions: list[str], responses: list[str]) -> list[dict | None]:
    """Per response: ``{"scores": {dimension: 1-5}, "S_q": float}``, or None when the judge failed or its
    reply could not be parsed (logged with the counts)."""
    chats = [[{"role": "user", "content": prompt.replace("{instruction}", i).replace("{response}", r)}]
             for i, r in zip(instructions, responses, strict=True)]
    replies = backend.generate(chats) if chats else []
    out: list[dict | None] = []
    failed = unparsed = 0
    for reply in replies:
        scores = parse_judge_reply(reply)
        if reply is None:
            failed += 1
        elif scores is None:
            unparsed += 1
        out.append({"scores": scores, "S_q": quality_score(scores)} if scores else None)
    if failed or unparsed:
        logger.warning("judge: %d request(s) failed, %d reply(ies) unparseable, of %d", failed, unparsed, len(out))
    return out
