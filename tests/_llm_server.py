"""A real OpenAI-compatible HTTP server on 127.0.0.1 for the backend and builder tests.

It answers ``POST /v1/chat/completions`` with a reply computed by a ``responder(prompt) -> str`` function and
injects faults chosen by markers in the prompt, each for the first N attempts of that prompt:
``[429xN]`` (with ``Retry-After: 0``), ``[500xN]``, ``[slowxN]`` (sleeps past the client timeout),
``[malformedxN]`` (200 with a body that is not a completion), ``[400]`` (always), ``[500always]``.
It records every request (path, headers, body) and the peak number of requests in flight. Threads are
daemons and the server is shut down by the fixture that starts it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_FAULT = re.compile(r"\[(429|500|slow|malformed)x(\d+)\]")


class FakeLLMServer:
    def __init__(self, responder: Callable[[str], str], slow_s: float = 1.0, latency_s: float = 0.0):
        self.responder = responder
        self.slow_s = slow_s
        self.latency_s = latency_s
        self.requests: list[dict] = []
        self.attempts: Counter = Counter()
        self.in_flight = 0
        self.peak_in_flight = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                prompt = body["messages"][-1]["content"]
                with server._lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    server.attempts[prompt] += 1
                    attempt = server.attempts[prompt]
                    server.in_flight += 1
                    server.peak_in_flight = max(server.peak_in_flight, server.in_flight)
                try:
                    if server.latency_s:
                        time.sleep(server.latency_s)
                finally:
                    # leave the in-flight count before answering: once the client has the reply it may send
                    # its next request, and that must not be counted as overlapping this one
                    with server._lock:
                        server.in_flight -= 1
                self._answer(prompt, attempt, body)

            def _answer(self, prompt: str, attempt: int, body: dict) -> None:
                if self.path != "/v1/chat/completions":
                    return self._send(404, b'{"error": "not found"}')
                if "[400]" in prompt:
                    return self._send(400, b'{"error": {"message": "bad request"}}')
                if "[500always]" in prompt:
                    return self._send(500, b'{"error": "boom"}')
                for kind, n in _FAULT.findall(prompt):
                    if attempt <= int(n):
                        if kind == "429":
                            return self._send(429, b'{"error": "rate limited"}', {"Retry-After": "0"})
                        if kind == "500":
                            return self._send(500, b'{"error": "internal"}')
                        if kind == "slow":
                            time.sleep(server.slow_s)
                            break
                        if kind == "malformed":
                            return self._send(200, b'{"choices": [{"oops": tru')
                text = server.responder(prompt)
                reply = {
                    "id": "cmpl-test",
                    "object": "chat.completion",
                    "model": body.get("model"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                 "finish_reason": "stop"}],
                }
                return self._send(200, json.dumps(reply).encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeLLMServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
