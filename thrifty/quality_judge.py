"""LLM-judge quality score of long outputs (LongBench-Write's S_q; LongWriter, Bai et al. 2024, section 2).

Follows the official evaluation, THUDM/LongWriter ``evaluation/eval_quality.py``:

- a judge model behind the ``openai`` backend (:class:`thrifty.backends.OpenAIBackend`, with its
  HTTP retries, bounded concurrency and disk cache) rates a response to a writing instruction on six
  dimensions, each 1-5: Relevance, Accuracy, Coherence, Clarity, Breadth and Depth, Reading Experience, and is
  told to ignore length (length has its own score, S_l);
- the judge samples at temperature 0.5 with up to 1024 reply tokens (``get_response_gpt4``'s defaults);
- a reply that holds no JSON object with the six scores is *malformed*: the item is asked again, up to
  ``judge_max_attempts`` (5) attempts in all, as the official ``while scores is None and trys < 5`` loop does,
  and an item with no valid reply after the last attempt is dropped (left out of S_q) and counted
  (``judge_dropped``; every malformed reply is counted in ``judge_malformed_replies``). A retry is a new draw:
  the cache key of attempt k > 1 is salted with k, so a cached malformed reply is never served again;
- each dimension becomes ``(s - 1) * 25`` (0-100) and S_q is their mean.

Prompts: :data:`JUDGE_PROMPT` is thrifty's own wording of the same six dimensions and 1-5 scale (placeholders
``{instruction}``, ``{response}``); ``judge_prompt_file`` runs any other prompt, such as the official
``evaluation/judge.txt`` (placeholders ``$INST$``, ``$RESPONSE$``, both styles understood).
Parsing (:func:`parse_judge_reply`): as the official code, a fenced ```json block is taken out and the text
parsed as one JSON object with newlines removed; failing that, the last JSON object in the reply that holds
the six scores wins (thrifty's prompt asks for reasoning first, then the object). Key case, spaces and
underscores are ignored; a score must be a number from 1 to 5 (the official code takes any number).

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
JUDGE_PROMPT = """You are grading the quality of an AI assistant's answer to a writing request. Grade \
strictly. Do not take the length of the answer into account at all: judge only its quality.

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

_DECODER = json.JSONDecoder(strict=False)
_FENCED_JSON = re.compile(r"```json\n(.*?)\n```", re.DOTALL)


def _norm(key: str) -> str:
    return re.sub(r"[\s_\-&]+", "", key).lower().replace("and", "")


_WANTED = {_norm(d): d for d in DIMENSIONS}


def _scores(obj) -> dict[str, float] | None:
    """The six scores of a parsed JSON object (numbers 1-5), else None."""
    if not isinstance(obj, dict):
        return None
    scores: dict[str, float] = {}
    for key, value in obj.items():
        name = _WANTED.get(_norm(str(key)))
        if name is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        if not 1 <= number <= 5:
            return None
        scores[name] = int(number) if number.is_integer() else number
    return {d: scores[d] for d in DIMENSIONS} if len(scores) == len(DIMENSIONS) else None


def parse_judge_reply(text: str | None) -> dict[str, float] | None:
    """The six 1-5 scores of a judge reply, else None (see the module docstring)."""
    if not text:
        return None
    official = text
    if "```json" in official:  # eval_quality.py: extract_info(r'```json\n(.*?)\n```', output)
        m = _FENCED_JSON.search(official)
        official = m.group(1) if m else ""
    try:
        found = _scores(json.loads(official.replace("\n", "")))
        if found:
            return found
    except json.JSONDecodeError:
        pass
    last = None
    for start in (i for i, ch in enumerate(text) if ch == "{"):
        try:
            obj, _ = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        last = _scores(obj) or last
    return last


def quality_score(scores: dict[str, float]) -> float:
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
    judge_max_retries: int = field(default=5, metadata={"help": "HTTP retries on 429/5xx/timeouts/broken bodies"})
    judge_max_attempts: int = field(
        default=5, metadata={"help": "judge draws per item until its reply holds the six scores (official: 5); "
                                     "then the item is dropped and counted"}
    )
    judge_timeout_s: float = field(default=300.0, metadata={"help": "per-request timeout"})
    judge_backoff_base_s: float = field(default=1.0, metadata={"help": "first backoff delay"})
    judge_temperature: float = field(default=0.5, metadata={"help": "judge sampling temperature (official: 0.5)"})
    judge_max_tokens: int = field(default=1024, metadata={"help": "max judge reply tokens"})
    judge_prompt: str = field(default=JUDGE_PROMPT, metadata={"help": "judge prompt; {instruction} {response}"})
    judge_prompt_file: str | None = field(
        default=None, metadata={"help": "judge prompt read from a file (wins over judge_prompt), e.g. LongWriter's "
                                        "evaluation/judge.txt with $INST$ and $RESPONSE$"}
    )

    def prompt_text(self) -> str:
        """The judge prompt: ``judge_prompt_file``'s content if set, else ``judge_prompt``."""
        if not self.judge_prompt_file:
            return self.judge_prompt
        from thrifty.jsonl import DataError

        path = os.path.expanduser(self.judge_prompt_file)
        if not os.path.isfile(path):
            raise DataError(f"recipe key judge_prompt_file: {path} does not exist")
        from thrifty.jsonl import read_text

        return read_text(path)


def make_judge(args: JudgeArguments, cache_path: str | os.PathLike | None) -> LLMBackend | None:
    """The judge backend, or None for ``judge_backend: none``."""
    kind = (args.judge_backend or "none").lower()
    if kind == "none":
        return None
    if kind != "openai":
        raise ValueError(f"judge_backend must be openai or none, not {args.judge_backend!r}")
    prompt = args.prompt_text()
    for name, official in (("instruction", "$INST$"), ("response", "$RESPONSE$")):
        if "{" + name + "}" not in prompt and official not in prompt:
            from thrifty.jsonl import DataError

            key = "judge_prompt_file" if args.judge_prompt_file else "judge_prompt"
            raise DataError(f"recipe key {key}: the prompt lacks the placeholder {{{name}}} (or {official})")
    if args.judge_max_attempts < 1:
        from thrifty.recipes import RecipeError

        raise RecipeError("judge_max_attempts must be at least 1")
    # every judge_X key but those of its own is the backend's llm_X key
    own = ("judge_backend", "judge_prompt", "judge_prompt_file", "judge_max_attempts")
    shared = {"llm_" + f.name.removeprefix("judge_"): getattr(args, f.name) for f in fields(JudgeArguments)
              if f.name not in own}
    return make_backend(BackendArguments(llm_backend="openai", llm_cache=str(cache_path) if cache_path else None,
                                         **shared))


def fill_prompt(prompt: str, instruction: str, response: str) -> str:
    """Fill ``{instruction}``/``{response}`` (thrifty) or ``$INST$``/``$RESPONSE$`` (the official judge.txt)."""
    return (prompt.replace("$INST$", instruction).replace("$RESPONSE$", response)
            .replace("{instruction}", instruction).replace("{response}", response))


def judge(backend: LLMBackend, prompt: str, instructions: list[str], responses: list[str],
          max_attempts: int = 5) -> list[dict | None]:
    """Per response: ``{"scores": {dimension: 1-5}, "S_q": float}``, or None when no attempt gave a valid reply.

    Every item is drawn again while its reply is malformed (or its request failed), up to ``max_attempts``
    draws in all (eval_quality.py's retry loop); ``backend.stats`` counts ``judge_malformed_replies``,
    ``judge_failed_requests`` and ``judge_dropped``."""
    chats = [[{"role": "user", "content": fill_prompt(prompt, i, r)}]
             for i, r in zip(instructions, responses, strict=True)]
    out: list[dict | None] = [None] * len(chats)
    pending = list(range(len(chats)))
    for attempt in range(1, max(1, max_attempts) + 1):
        if not pending:
            break
        replies = backend.generate([chats[i] for i in pending],
                                   cache_salt=None if attempt == 1 else f"judge-attempt-{attempt}")
        still = []
        for i, reply in zip(pending, replies, strict=True):
            scores = parse_judge_reply(reply)
            if scores is not None:
                out[i] = {"scores": scores, "S_q": quality_score(scores)}
                continue
            backend.stats["judge_failed_requests" if reply is None else "judge_malformed_replies"] += 1
            still.append(i)
        pending = still
    backend.stats["judge_dropped"] += len(pending)
    if pending:
        logger.warning("judge: %d of %d item(s) dropped after %d attempt(s) without a valid reply",
                       len(pending), len(out), max_attempts)
    return out
