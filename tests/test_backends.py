"""LLM backends: the OpenAI-compatible client against a real local HTTP server, and a local tiny model."""

from __future__ import annotations

import logging

import pytest
from _llm_server import FakeLLMServer

from thrifty.backends import (
    BackendArguments,
    BackendError,
    OpenAIBackend,
    TransformersBackend,
    make_backend,
)


def echo(prompt: str) -> str:
    return f"echo: {prompt}"


def chat(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


@pytest.fixture
def server():
    with FakeLLMServer(echo, slow_s=1.0) as srv:
        yield srv


def make(server, tmp_path, **kw) -> OpenAIBackend:
    opts = dict(base_url=server.base_url, max_concurrency=4, max_retries=3, timeout_s=0.4,
                backoff_base_s=0.01, backoff_max_s=0.05, cache_path=tmp_path / "cache.jsonl")
    opts.update(kw)
    return OpenAIBackend("test-model", **opts)


def test_openai_retries_faults_and_keeps_order(server, tmp_path):
    backend = make(server, tmp_path)
    prompts = ["plain", "a [429x2]", "b [500x1]", "c [slowx1]", "d [malformedx2]", "e [500always]", "f [400]"]
    out = backend.generate([chat(p) for p in prompts], temperature=0.0, max_tokens=16)
    assert out[:5] == [echo(p) for p in prompts[:5]]
    assert out[5] is None and out[6] is None  # failed after all retries / not retried
    assert server.attempts["a [429x2]"] == 3
    assert server.attempts["b [500x1]"] == 2
    assert server.attempts["c [slowx1]"] == 2
    assert server.attempts["d [malformedx2]"] == 3
    assert server.attempts["e [500always]"] == 4  # 1 + max_retries
    assert server.attempts["f [400]"] == 1  # a client error is not retried
    s = backend.stats
    assert s["retry_http_429"] == 2 and s["retry_timeout"] == 1 and s["retry_malformed"] == 2
    assert s["requests_failed"] == 2
    body = server.requests[0]["body"]
    assert body["model"] == "test-model" and body["temperature"] == 0.0 and body["max_tokens"] == 16
    backend.close()


def test_openai_cache_makes_reruns_free_and_survives_restart(server, tmp_path):
    backend = make(server, tmp_path)
    prompts = [chat(f"q{i}") for i in range(6)]
    first = backend.generate(prompts, temperature=0.0)
    n = len(server.requests)
    assert backend.generate(prompts, temperature=0.0) == first
    assert len(server.requests) == n  # all from the cache
    backend.generate(prompts[:1], temperature=0.7)  # other sampling params: a new key
    assert len(server.requests) == n + 1
    backend.close()
    again = make(server, tmp_path)  # a new process would read the same file
    assert again.generate(prompts, temperature=0.0) == first
    assert len(server.requests) == n + 1
    assert again.stats["cache_hits"] == 6
    again.close()


def test_openai_bounded_concurrency(tmp_path):
    with FakeLLMServer(echo, latency_s=0.05) as srv:
        backend = make(srv, tmp_path, max_concurrency=3, timeout_s=5)
        out = backend.generate([chat(f"p{i}") for i in range(12)])
        assert out == [echo(f"p{i}") for i in range(12)]
        assert 1 < srv.peak_in_flight <= 3
        backend.close()


def test_openai_api_key_from_named_env_never_logged_or_cached(server, tmp_path, monkeypatch, caplog):
    secret = "sk-test-SECRET-0123456789"
    monkeypatch.setenv("THRIFTY_TEST_KEY", secret)
    caplog.set_level(logging.DEBUG)
    backend = make(server, tmp_path, api_key_env="THRIFTY_TEST_KEY")
    backend.generate([chat("hello"), chat("x [500always]")])
    backend.close()
    assert server.requests[0]["headers"]["Authorization"] == f"Bearer {secret}"
    assert secret not in (tmp_path / "cache.jsonl").read_text()
    assert secret not in caplog.text and secret not in repr(backend)
    monkeypatch.delenv("THRIFTY_TEST_KEY")
    with pytest.raises(BackendError, match="THRIFTY_TEST_KEY"):
        make(server, tmp_path, api_key_env="THRIFTY_TEST_KEY")


def test_make_backend_from_recipe_keys(server, tmp_path):
    assert make_backend(BackendArguments()) is None
    args = BackendArguments(llm_backend="openai", llm_model="m", llm_base_url=server.base_url, llm_max_tokens=8)
    backend = make_backend(args, default_cache=tmp_path / "c.jsonl")
    assert backend.generate([chat("hi")]) == ["echo: hi"]
    assert server.requests[-1]["body"]["max_tokens"] == 8
    backend.close()
    with pytest.raises(BackendError, match="unknown llm_backend"):
        make_backend(BackendArguments(llm_backend="nope", llm_model="m"))
    with pytest.raises(BackendError, match="unknown sampling"):
        OpenAIBackend("m", base_url=server.base_url).generate([chat("x")], temprature=1.0)


def test_transformers_backend_batched_left_padding(tiny_model_dir, tmp_path):
    backend = TransformersBackend(str(tiny_model_dir), batch_size=3, cache_path=tmp_path / "tf_cache.jsonl")
    chats = [chat("sum mod 10 : 3 _ _ _ _ _"), chat("sum mod 10 : 3 8 5 9 1 2"), chat("sum mod 10 : 1 2 _ _ _ _")]
    batched = backend.generate(chats, max_tokens=6)
    assert len(batched) == 3 and all(isinstance(t, str) for t in batched)
    # left padding: a prompt generates the same greedy text alone as in a padded batch
    alone = TransformersBackend(str(tiny_model_dir), batch_size=1)
    assert [alone.generate([c], max_tokens=6)[0] for c in chats] == batched
    assert backend.generate(chats, max_tokens=6) == batched and backend.stats["cache_hits"] == 3
    backend.close()
