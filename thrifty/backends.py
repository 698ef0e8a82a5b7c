"""LLM backends for the data builders (multiformat, multiturn, later AgentWrite): one interface, two engines.

Interface (:class:`LLMBackend`): ``generate(list_of_messages, **sampling) -> list[str | None]``, one
completion per chat (a list of ``{"role", "content"}`` dicts), in order; ``None`` where a request failed after
every retry (the failure is logged and counted in :attr:`LLMBackend.stats`, so a builder drops that item
instead of crashing). Sampling keys: ``temperature``, ``top_p``, ``max_tokens``, ``seed``, ``stop``.

Every backend has a disk cache (:class:`ResponseCache`, an append-only JSONL file keyed by a SHA-256 of
``(model, messages, sampling)``), so rerunning a build costs nothing and a build killed half-way resumes with
the answers it already paid for. Only successful completions are cached.

- :class:`OpenAIBackend`: any OpenAI-compatible ``POST {base_url}/chat/completions`` (vLLM, TGI, SGLang, a
  hosted API). Requests run on a bounded thread pool (``max_concurrency``); 429, 5xx, timeouts, connection
  errors and malformed bodies are retried with exponential backoff and full jitter (``Retry-After`` honoured,
  capped at ``backoff_max_s``); other 4xx fail at once. The API key is read from the environment variable whose
  *name* the recipe gives (``llm_api_key_env``); it is sent only in the ``Authorization`` header and is never
  logged, cached or written.
- :class:`TransformersBackend`: a local causal LM, chat template applied (or, for a base model, the recipe's
  plain-text ``prompt_template``: :mod:`thrifty.prompt_templates`), batched generation with left padding (greedy
  at temperature 0).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from thrifty.jsonl import ResumableJsonlWriter

logger = logging.getLogger(__name__)

Messages = list[dict[str, str]]
SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "seed", "stop")


class BackendError(RuntimeError):
    """A backend that cannot work at all (bad configuration, missing API key variable, ...)."""


class LLMBackend(Protocol):
    """What the data builders need from an LLM."""

    model: str
    stats: Counter

    def generate(self, chats: list[Messages], cache_salt: str | None = None, **sampling: Any) -> list[str | None]: ...

    def close(self) -> None: ...


# ---------------------------------------------------------------------------------------------------------
# Disk cache
# ---------------------------------------------------------------------------------------------------------
def cache_key(model: str, messages: Messages, sampling: dict[str, Any], salt: str | None = None) -> str:
    """SHA-256 of the canonical JSON of (model, messages, sampling[, salt]); no credentials ever enter it.

    ``salt`` tells apart repeated draws of the same request (a judge's retry after a malformed reply); it is
    never sent to the server."""
    body: dict[str, Any] = {"model": model, "messages": messages,
                            "sampling": {k: v for k, v in sampling.items() if v is not None}}
    if salt is not None:
        body["salt"] = salt
    payload = json.dumps(body, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ResponseCache:
    """Thread-safe, crash-safe cache of completions: ``{"id": key, "text": ...}`` lines in one JSONL file.

    Built on :class:`thrifty.jsonl.ResumableJsonlWriter`: each entry is flushed and fsynced as it is written,
    and a line torn by a kill is dropped on the next open.
    """

    def __init__(self, path: str | os.PathLike):
        self._writer = ResumableJsonlWriter(path, key="id")
        self._texts = {row["id"]: row["text"] for row in self._writer.rows}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._texts)

    def get(self, key: str) -> str | None:
        return self._texts.get(key)

    def put(self, key: str, text: str) -> None:
        with self._lock:
            if key in self._texts:
                return
            self._writer.append({"id": key, "text": text})
            self._texts[key] = text

    def close(self) -> None:
        self._writer.close()


class _CachedBackend:
    """Cache lookups around an engine's ``_generate_uncached``; subclasses set ``model`` and ``cache``."""

    model: str
    cache: ResponseCache | None
    default_sampling: dict[str, Any]

    def _sampling(self, sampling: dict[str, Any]) -> dict[str, Any]:
        unknown = set(sampling) - set(SAMPLING_KEYS)
        if unknown:
            raise BackendError(f"unknown sampling parameter(s) {sorted(unknown)}; use {', '.join(SAMPLING_KEYS)}")
        merged = {**self.default_sampling, **{k: v for k, v in sampling.items() if v is not None}}
        return {k: v for k, v in merged.items() if v is not None}

    def generate(self, chats: list[Messages], cache_salt: str | None = None, **sampling: Any) -> list[str | None]:
        """One completion per chat (None where it failed); cached completions are not requested again.

        ``cache_salt`` makes a fresh draw of requests already cached (see :func:`cache_key`)."""
        params = self._sampling(sampling)
        name = getattr(self, "cache_name", None) or self.model  # what the cache keys name (model + prompting)
        keys = [cache_key(name, chat, params, cache_salt) for chat in chats]
        out: list[str | None] = [self.cache.get(k) if self.cache else None for k in keys]
        todo = [i for i, text in enumerate(out) if text is None]
        self.stats["cache_hits"] += len(chats) - len(todo)
        if todo:
            fresh = self._generate_uncached([chats[i] for i in todo], params)
            for i, text in zip(todo, fresh, strict=True):
                out[i] = text
                if text is not None and self.cache is not None:
                    self.cache.put(keys[i], text)
        return out

    def _generate_uncached(self, chats: list[Messages], params: dict[str, Any]) -> list[str | None]:
        raise NotImplementedError

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


# ---------------------------------------------------------------------------------------------------------
# OpenAI-compatible HTTP
# ---------------------------------------------------------------------------------------------------------
class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class OpenAIBackend(_CachedBackend):
    """Chat completions from an OpenAI-compatible server (see the module docstring for the retry policy)."""

    def __init__(
        self,
        model: str,
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key_env: str | None = None,
        max_concurrency: int = 8,
        max_retries: int = 5,
        timeout_s: float = 120.0,
        backoff_base_s: float = 1.0,
        backoff_max_s: float = 60.0,
        cache_path: str | os.PathLike | None = None,
        default_sampling: dict[str, Any] | None = None,
    ):
        import httpx

        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.max_concurrency = max(1, int(max_concurrency))
        self.max_retries = max(0, int(max_retries))
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.default_sampling = dict(default_sampling or {})
        self.stats: Counter = Counter()
        headers = {"Content-Type": "application/json"}
        if api_key_env:
            key = os.environ.get(api_key_env)
            if not key:
                raise BackendError(f"the API key variable {api_key_env} named by llm_api_key_env is not set")
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=self.max_concurrency),
        )
        self.cache = ResponseCache(cache_path) if cache_path else None
        self._rng = random.Random(0)

    def __repr__(self) -> str:  # never shows headers
        return f"OpenAIBackend(model={self.model!r}, url={self.url!r})"

    def _generate_uncached(self, chats: list[Messages], params: dict[str, Any]) -> list[str | None]:
        from tqdm.auto import tqdm

        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            futures = [pool.submit(self._request_with_retries, chat, params) for chat in chats]
            results = []
            for fut in tqdm(futures, desc=f"llm {self.model}", disable=len(futures) < 8, leave=False):
                results.append(fut.result())
        return results

    def _request_with_retries(self, chat: Messages, params: dict[str, Any]) -> str | None:
        for attempt in range(self.max_retries + 1):
            try:
                text = self._request(chat, params)
                self.stats["requests_ok"] += 1
                return text
            except _Retryable as err:
                self.stats[f"retry_{err.reason}"] += 1
                if attempt == self.max_retries:
                    logger.warning("request failed after %d attempts (%s)", attempt + 1, err.reason)
                    break
                delay = min(self.backoff_max_s, self.backoff_base_s * 2**attempt)
                delay = self._rng.uniform(0, delay)  # full jitter
                if err.retry_after is not None:
                    delay = min(self.backoff_max_s, max(delay, err.retry_after))
                time.sleep(delay)
            except BackendError as err:
                logger.warning("request failed: %s", err)
                break
        self.stats["requests_failed"] += 1
        return None

    def _request(self, chat: Messages, params: dict[str, Any]) -> str:
        import httpx

        body = {"model": self.model, "messages": chat, **params}
        try:
            response = self._client.post(self.url, json=body)
        except httpx.TimeoutException:
            raise _Retryable("timeout") from None
        except httpx.TransportError:
            raise _Retryable("connection") from None
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = None
            try:
                retry_after = float(response.headers.get("retry-after", ""))
            except ValueError:
                pass
            raise _Retryable(f"http_{status}", retry_after)
        if status >= 400:
            raise BackendError(f"HTTP {status} from {self.url}: {response.text[:300]}")
        try:
            content = response.json()["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Retryable("malformed") from None
        if not isinstance(content, str):
            raise _Retryable("malformed")
        return content

    def close(self) -> None:
        self._client.close()
        super().close()


# ---------------------------------------------------------------------------------------------------------
# Local transformers model
# ---------------------------------------------------------------------------------------------------------
class TransformersBackend(_CachedBackend):
    """Batched chat generation with a local model (left padding; greedy when temperature is 0 or unset)."""

    def __init__(
        self,
        model: str,
        batch_size: int = 8,
        dtype: str | None = "auto",
        device: str | None = None,
        cache_path: str | os.PathLike | None = None,
        default_sampling: dict[str, Any] | None = None,
        prompt_template: str | None = None,
        chat_template_path: str | None = None,
    ):
        from thrifty.generation import TransformersGenerator
        from thrifty.models import load_model_and_tokenizer, load_tokenizer, tokenizer_source
        from thrifty.prompt_templates import (
            apply_chat_template_path,
            check_prompt_setup,
            resolve_prompt_template,
        )

        self.template = resolve_prompt_template(prompt_template)
        if not self.template.completion:  # refuse a model that cannot be prompted before loading its weights
            check_prompt_setup(apply_chat_template_path(load_tokenizer(tokenizer_source(model)), chat_template_path),
                               self.template, model)
        self.model = model
        self.batch_size = max(1, int(batch_size))
        self.default_sampling = {"max_tokens": 256, **(default_sampling or {})}
        self.stats: Counter = Counter()
        self._model, self.tokenizer = load_model_and_tokenizer(model, dtype=dtype, device=device)
        apply_chat_template_path(self.tokenizer, chat_template_path)
        # another prompt template renders the same chat differently: its completions are cached apart
        prompting = [f"prompt_template={self.template.label}"] if self.template.name != "chat" else []
        prompting += [f"chat_template={hashlib.sha256(self.tokenizer.chat_template.encode()).hexdigest()[:16]}"] \
            if chat_template_path else []
        self.cache_name = "|".join([model, *prompting])
        self._generator = TransformersGenerator(self._model, self.tokenizer, self.batch_size)
        self.cache = ResponseCache(cache_path) if cache_path else None

    def _generate_uncached(self, chats: list[Messages], params: dict[str, Any]) -> list[str | None]:
        from thrifty.generation import SamplingParams, render_prompt

        sampling = SamplingParams(
            max_new_tokens=int(params.get("max_tokens", 256)),
            temperature=float(params.get("temperature") or 0.0),
            top_p=float(params.get("top_p") or 1.0),
            seed=int(params["seed"]) if params.get("seed") is not None else 0,
        )
        prompts = [render_prompt(self.tokenizer, chat, template=self.template) for chat in chats]
        stops = params.get("stop") or []
        stops = [stops] if isinstance(stops, str) else stops
        out: list[str | None] = []
        for (generation,) in self._generator.generate(prompts, sampling, desc=f"generate {Path(self.model).name}"):
            text = generation.text
            for stop in stops:
                text = text.split(stop, 1)[0]
            out.append(text)
        self.stats["requests_ok"] += len(chats)
        return out


# ---------------------------------------------------------------------------------------------------------
# Recipe keys and factory
# ---------------------------------------------------------------------------------------------------------
@dataclass
class BackendArguments:
    """Recipe keys of the LLM backend shared by the builders (``llm_backend: none`` uses no LLM)."""

    llm_backend: str = field(default="none", metadata={"help": "none | openai | transformers"})
    llm_model: str | None = field(default=None, metadata={"help": "model name (openai) or path/Hub id (transformers)"})
    llm_base_url: str = field(default="http://127.0.0.1:8000/v1", metadata={"help": "OpenAI-compatible base URL"})
    llm_api_key_env: str | None = field(
        default=None, metadata={"help": "NAME of the environment variable holding the API key (never the key)"}
    )
    llm_max_concurrency: int = field(default=8, metadata={"help": "parallel HTTP requests"})
    llm_max_retries: int = field(default=5, metadata={"help": "retries on 429/5xx/timeouts/malformed replies"})
    llm_timeout_s: float = field(default=120.0, metadata={"help": "per-request timeout"})
    llm_backoff_base_s: float = field(default=1.0, metadata={"help": "first backoff delay (doubles per retry)"})
    llm_temperature: float = field(default=0.0, metadata={"help": "sampling temperature"})
    llm_top_p: float | None = field(default=None, metadata={"help": "nucleus sampling"})
    llm_max_tokens: int = field(default=1024, metadata={"help": "max completion tokens"})
    llm_seed: int | None = field(default=None, metadata={"help": "sampling seed (part of the cache key)"})
    llm_batch_size: int = field(default=8, metadata={"help": "batch size of the transformers backend"})
    llm_cache: str | None = field(
        default=None, metadata={"help": "cache file (default: <output_dir>/llm_cache.jsonl)"}
    )
    prompt_template: str | None = field(default=None, metadata={
        "help": "transformers backend: how a chat becomes the prompt (thrifty.prompt_templates): unset = the model's "
                "chat template; r1_zero, plain or a text with {problem} for a base model (system and user messages "
                "joined into {problem})"})
    chat_template_path: str | None = field(default=None, metadata={
        "help": "transformers backend: a Jinja chat template file for a model whose tokenizer has none"})

    def __post_init__(self):
        from thrifty.prompt_templates import check_prompt_keys

        check_prompt_keys(self.prompt_template, self.chat_template_path)


def make_backend(args: BackendArguments, default_cache: str | os.PathLike | None = None) -> LLMBackend | None:
    """The backend a recipe asks for, or None for ``llm_backend: none``."""
    kind = (args.llm_backend or "none").lower()
    if kind == "none":
        return None
    if not args.llm_model:
        raise BackendError(f"llm_backend {kind} needs llm_model")
    cache = args.llm_cache or default_cache
    sampling = {
        "temperature": args.llm_temperature,
        "top_p": args.llm_top_p,
        "max_tokens": args.llm_max_tokens,
        "seed": args.llm_seed,
    }
    if kind == "openai" and (args.prompt_template or args.chat_template_path):
        raise BackendError("prompt_template and chat_template_path apply to llm_backend: transformers (a local model); "
                           "an OpenAI-compatible server renders prompts with its own template")
    if kind == "openai":
        return OpenAIBackend(
            args.llm_model,
            base_url=args.llm_base_url,
            api_key_env=args.llm_api_key_env,
            max_concurrency=args.llm_max_concurrency,
            max_retries=args.llm_max_retries,
            timeout_s=args.llm_timeout_s,
            backoff_base_s=args.llm_backoff_base_s,
            cache_path=cache,
            default_sampling=sampling,
        )
    if kind == "transformers":
        return TransformersBackend(
            args.llm_model, batch_size=args.llm_batch_size, cache_path=cache, default_sampling=sampling,
            prompt_template=args.prompt_template, chat_template_path=args.chat_template_path,
        )
    raise BackendError(f"unknown llm_backend {args.llm_backend!r}; use none, openai or transformers")
