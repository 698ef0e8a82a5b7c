r"""Answer verification: the one implementation shared by the rewards, eval and the data builders.

A *prediction* is an already-extracted answer string (callers run :func:`thrifty.formats.extract_final_answer`
on a completion first); a *gold* is the reference answer string. Kinds:

- ``math``: symbolic equivalence with math-verify (Hugging Face, https://github.com/huggingface/Math-Verify):
  both strings are wrapped as ``\boxed{...}``, parsed with ``LatexExtractionConfig`` + ``ExprExtractionConfig``
  and compared with ``verify(gold, prediction)`` (gold first: the order matters for intervals and sets).
- ``number``: like ``math``, but thousands separators, ``$`` and ``%`` are stripped first (GSM8K style).
- ``choice``: multiple-choice letters A-E (GPQA, AQuA, CSQA); ``(B)``, ``B)``, ``\text{B}``, ``option b`` all
  read as ``B``.
- ``auto``: ``choice`` when the gold is a single letter A-E, ``number`` when it is a plain number, else ``math``.

Speed and safety (:class:`AnswerChecker`):

- fast path: when both strings are plain numbers or simple rationals (``3/4``, ``\frac{3}{4}``; compared exactly),
  or identical, the verdict is computed in the calling process, with the result math-verify gives (tested on
  MATH-500 answers, and checked by ``scripts/bench_rewards.py``);
- every verdict is cached by (gold, prediction, kind); in the workers each parsed string (golds in particular)
  is cached, and items are dispatched with gold affinity, so a gold is parsed once however many completions are
  scored against it;
- the workers parse LaTeX SLL-first and refute numerically different plain expressions without ``simplify``
  (:mod:`thrifty.math_verify_speedups`; both leave every verdict as math-verify gives it);
- math-verify's own timeouts use ``signal.alarm``, which raises on any thread but the main one (Math-Verify#50,
  verl#3407: rewards silently became 0) and cannot interrupt C code such as a huge integer power. So
  math-verify runs with ``parsing_timeout=None, timeout_seconds=None`` in worker *processes*, and the parent
  enforces ``timeout_s`` per item by killing and replacing a worker that overruns. This works from any thread;
- adversarial predictions (``9^9^9^9``, deep nesting, 100 KB of text, unbalanced braces) score False and are
  counted in :attr:`AnswerChecker.stats` (``timeouts``, ``errors``, ``rejected``); they never hang or crash.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections import OrderedDict, deque
from fractions import Fraction
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as mp_wait

logger = logging.getLogger(__name__)

KINDS = ("auto", "math", "number", "choice")
CHOICE_LETTERS = "ABCDE"
#: Items a worker holds at once (one being verified, the next already in its pipe).
PIPELINE_DEPTH = 2

_INT = re.compile(r"[+-]?\d+")
_DEC = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)")
_CHOICE_PATTERNS = (
    re.compile(r"^\(?([A-Ea-e])\)?[.:]?$"),
    re.compile(r"^\\text(?:bf)?\{\(?([A-Ea-e])\)?\}$"),
    re.compile(r"^(?:option|answer|choice)\s*(?:is\s*)?:?\s*\(?([A-Ea-e])\)?[.:]?$", re.IGNORECASE),
    re.compile(r"^\(?([A-Ea-e])\)\s*\S.*$"),  # "B) 21", "(B) 21"
)
_DELIMS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))


# ---------------------------------------------------------------------------------------------------------
# String normalisation shared by the fast path, the workers and scripts/bench_rewards.py
# ---------------------------------------------------------------------------------------------------------
def strip_math_delimiters(text: str) -> str:
    r"""Strip whitespace and one pair of enclosing ``$..$``, ``$$..$$``, ``\(..\)`` or ``\[..\]``."""
    text = text.strip()
    for left, right in _DELIMS:
        if len(text) >= len(left) + len(right) and text.startswith(left) and text.endswith(right):
            return text[len(left) : len(text) - len(right)].strip()
    return text


def math_verify_input(answer: str) -> str:
    r"""The string handed to math-verify's ``parse`` for an answer: ``\boxed{answer}``."""
    return "\\boxed{" + strip_math_delimiters(answer) + "}"


def math_verify_configs() -> list:
    """The extraction configs used for golds and predictions alike."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    return [LatexExtractionConfig(), ExprExtractionConfig()]


def _strip_number_decorations(text: str) -> str:
    text = strip_math_delimiters(text)
    text = text.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    return text.replace("\\!", "").strip()


def braces_balanced(text: str) -> bool:
    r"""Whether the ``{``/``}`` of ``text`` (escaped ``\{``/``\}`` aside) are balanced and well nested."""
    depth = 0
    for ch in text.replace("\\{", "").replace("\\}", ""):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def normalize_choice(text: str | None) -> str | None:
    """The letter A-E a multiple-choice answer names, or None."""
    if text is None:
        return None
    text = strip_math_delimiters(text)
    if text.startswith("\\boxed{") and text.endswith("}"):
        text = text[7:-1].strip()
    for pattern in _CHOICE_PATTERNS:
        m = pattern.match(text)
        if m:
            return m.group(1).upper()
    return None


def resolve_kind(gold: str, kind: str = "auto") -> str:
    """The kind ``auto`` stands for, given the gold answer."""
    if kind not in KINDS:
        raise ValueError(f"unknown answer kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind != "auto":
        return kind
    stripped = strip_math_delimiters(gold)
    if len(stripped) <= 4 and normalize_choice(stripped) is not None and stripped.upper().strip("().") in CHOICE_LETTERS:
        return "choice"
    if _DEC.fullmatch(_strip_number_decorations(gold)):
        return "number"
    return "math"


_LATEX_FRAC = re.compile(r"(-?)\\[dt]?frac(?:\{(\d+)\}|(\d))(?:\{(\d+)\}|(\d))")
_SLASH_FRAC = re.compile(r"(-?\d+)/(\d+)")


def simple_rational(text: str) -> Fraction | None:
    r"""The exact value of a plain rational written as ``12``, ``-0.5``, ``3/4``, ``\frac{3}{4}``, ``\dfrac34`` or
    ``-\frac{1}{2}``; None for anything else (math-verify decides those)."""
    t = text.replace(" ", "")
    if _DEC.fullmatch(t):
        return Fraction(t)
    m = _SLASH_FRAC.fullmatch(t) or _LATEX_FRAC.fullmatch(t)
    if m is None:
        return None
    if len(m.groups()) == 2:
        num, den = int(m.group(1)), int(m.group(2))
    else:
        sign, n1, n2, d1, d2 = m.groups()
        num, den = int(n1 or n2) * (-1 if sign else 1), int(d1 or d2)
    return Fraction(num, den) if den else None


def _squeeze(text: str) -> str:
    return "".join(text.split())


def fast_verdict(prediction: str, gold: str, kind: str) -> bool | None:
    """The verdict when it needs no math-verify, else None.

    Choices compare letters; plain numbers and simple rationals (integers, decimals, ``a/b``, ``\frac{a}{b}``)
    compare exactly; a prediction identical to the gold (ignoring whitespace and ``$`` delimiters) is correct.
    """
    if kind == "choice":
        letter = normalize_choice(prediction)
        return letter is not None and letter == normalize_choice(gold)
    if kind == "number":
        p, g = _strip_number_decorations(prediction), _strip_number_decorations(gold)
    else:
        p, g = strip_math_delimiters(prediction), strip_math_delimiters(gold)
    if _INT.fullmatch(p) and _INT.fullmatch(g):
        return int(p) == int(g)
    if _DEC.fullmatch(p) and _DEC.fullmatch(g) and Fraction(p) == Fraction(g):
        return True
    if p and _squeeze(p) == _squeeze(g):
        return True
    rp, rg = simple_rational(p), simple_rational(g)
    if rp is not None and rg is not None:
        return rp == rg
    return None


# ---------------------------------------------------------------------------------------------------------
# Worker processes
# ---------------------------------------------------------------------------------------------------------
def _worker_main(conn_in, conn_out, cache_size: int) -> None:  # pragma: no cover - runs in a child process
    """Serve ``(gold, prediction)`` requests: parse both (cached), verify, answer ``(verdict, error)``."""
    import logging as _logging

    _logging.getLogger("math_verify").setLevel(_logging.ERROR)
    from math_verify import parse, verify

    from thrifty.math_verify_speedups import enable_sll_first_parsing, refutes, warm_up_parser

    enable_sll_first_parsing()
    configs = math_verify_configs()
    cache: OrderedDict[str, list] = OrderedDict()

    def parsed(text: str) -> list:
        hit = cache.get(text)
        if hit is not None:
            cache.move_to_end(text)
            return hit
        value = parse(math_verify_input(text), extraction_config=configs, parsing_timeout=None, raise_on_error=True)
        cache[text] = value
        if len(cache) > cache_size:
            cache.popitem(last=False)
        return value

    warm_up_parser(lambda answer: parse(math_verify_input(answer), extraction_config=configs, parsing_timeout=None))
    conn_out.send("ready")
    while True:
        try:
            request = conn_in.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if request is None:
            return
        gold, prediction = request
        try:
            gold_parsed = parsed(gold)
            pred_parsed = parsed(prediction)
            if refutes(gold_parsed, pred_parsed):
                conn_out.send((False, None, True))
                continue
            verdict = bool(verify(gold_parsed, pred_parsed, timeout_seconds=None, raise_on_error=True))
            conn_out.send((verdict, None, False))
        except BaseException as err:  # noqa: BLE001 - any failure of math-verify/sympy scores False
            conn_out.send((False, f"{type(err).__name__}: {str(err)[:200]}", False))


def _serve_stdio() -> None:  # pragma: no cover - the worker's entry point
    """Worker entry point: requests on fd 0, answers on the original fd 1 (stdout is moved to stderr)."""
    out_fd = os.dup(1)
    os.dup2(2, 1)
    _worker_main(Connection(0, writable=False), Connection(out_fd, readable=False), int(sys.argv[1]))


class _Worker:
    """A math-verify worker: a ``python -m thrifty.answer_check`` subprocess speaking over pipes.

    A plain subprocess (not ``multiprocessing``) so that nothing of the parent's ``__main__`` is re-imported
    (pytest, scripts and launchers all work) and no forked copy of a multi-threaded trainer is made.
    """

    def __init__(self, cache_size: int):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "thrifty.answer_check", str(cache_size)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"},
        )
        self.send_conn = Connection(os.dup(self.process.stdin.fileno()), readable=False)
        self.conn = Connection(os.dup(self.process.stdout.fileno()), writable=False)
        self.process.stdin.close()
        self.process.stdout.close()
        self.ready = False
        self.gold: str | None = None  # the gold of its last item (parsed and cached in this worker)
        self.in_flight: deque[int] = deque()  # indices of the items sent and not yet answered, oldest first
        self.deadline = 0.0  # when the oldest item in flight times out

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Block until the worker has imported math-verify (so start-up never counts against an item)."""
        if self.ready:
            return
        if not self.conn.poll(timeout):
            self.kill()
            raise RuntimeError(f"the answer-check worker did not start within {timeout:.0f}s")
        message = self.conn.recv()
        if message != "ready":
            raise RuntimeError(f"the answer-check worker sent {message!r} instead of 'ready'")
        self.ready = True

    def send(self, item) -> None:
        self.send_conn.send(item)

    def kill(self) -> None:
        try:
            self.process.kill()
            self.process.wait(timeout=5)
        except Exception:  # noqa: BLE001
            pass
        for conn in (self.send_conn, self.conn):
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.send_conn.send(None)
            self.process.wait(timeout=2)
        except Exception:  # noqa: BLE001
            pass
        self.kill()


def default_num_workers() -> int:
    """Worker processes when none are asked for: this process's share of the CPUs (``os.cpu_count()`` divided by
    ``LOCAL_WORLD_SIZE``, the training processes of this machine), between 1 and 4. The caller waits while the
    workers verify, so its own core is free for them."""
    local_processes = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    return max(1, min(4, (os.cpu_count() or 1) // local_processes))


class _GoldAffinityQueue:
    """Pending ``(gold, prediction)`` items grouped by gold, oldest group first. A worker keeps drawing items of the
    gold it parsed last, and a worker that needs a new group prefers one no busy worker is on, so each gold is
    mostly parsed (and cached) in one worker instead of in all of them."""

    def __init__(self, items: list[tuple[str, str]]):
        self._groups: OrderedDict[str, deque[int]] = OrderedDict()
        for index, (gold, _) in enumerate(items):
            self._groups.setdefault(gold, deque()).append(index)

    def __bool__(self) -> bool:
        return bool(self._groups)

    def pop(self, last_gold: str | None, golds_in_progress: set[str | None]) -> int:
        """The next item index for a worker whose last gold was ``last_gold``."""
        if last_gold in self._groups:
            gold = last_gold
        else:  # at most len(golds_in_progress) + 1 groups are looked at
            gold = next((g for g in self._groups if g not in golds_in_progress), next(iter(self._groups)))
        group = self._groups[gold]
        index = group.popleft()
        if not group:
            del self._groups[gold]
        return index

    def push_back(self, gold: str, index: int) -> None:
        """Return an item that could not be sent; it is the next one served."""
        self._groups.setdefault(gold, deque()).appendleft(index)
        self._groups.move_to_end(gold, last=False)


# ---------------------------------------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------------------------------------
class AnswerChecker:
    """Batched, cached, timeout-safe answer verification (see the module docstring).

    Args:
        timeout_s: wall-clock limit for one math-verify parse+verify of one (gold, prediction) pair, enforced by
            the parent process (works from any thread); an overrun scores False and counts in ``stats["timeouts"]``.
        num_workers: math-verify worker processes; 0 picks :func:`default_num_workers`.
        max_chars: predictions longer than this (after stripping) score False without parsing
            (``stats["rejected"]``); an extracted final answer is never that long.
        cache_size: entries of the verdict cache (parent) and of each worker's parse cache.

    ``stats`` counts ``checked``, ``fast_path``, ``cache_hits``, ``math_verify``, ``timeouts``, ``errors``
    (math-verify raised, e.g. unparseable or too deep), ``rejected`` (too long or unbalanced braces), ``empty`` (no prediction).
    """

    def __init__(self, timeout_s: float = 5.0, num_workers: int = 0, max_chars: int = 1000, cache_size: int = 100_000):
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self.timeout_s = float(timeout_s)
        self.num_workers = num_workers if num_workers > 0 else default_num_workers()
        self.max_chars = max_chars
        self.cache_size = cache_size
        self.stats: dict[str, int] = dict.fromkeys(
            ("checked", "fast_path", "cache_hits", "math_verify", "refuted", "timeouts", "errors", "rejected", "empty"), 0
        )
        self._verdicts: OrderedDict[tuple[str, str, str], bool] = OrderedDict()
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()
        atexit.register(self.close)

    # -- public API -----------------------------------------------------------------------------------------
    def check(self, predictions: list[str | None], golds: list[str], kinds: list[str] | None = None) -> list[bool]:
        """Verdict for each (prediction, gold) pair, in order."""
        if len(predictions) != len(golds):
            raise ValueError(f"{len(predictions)} predictions but {len(golds)} golds")
        if kinds is None:
            kinds = ["auto"] * len(golds)
        elif len(kinds) != len(golds):
            raise ValueError(f"{len(kinds)} kinds but {len(golds)} golds")
        with self._lock:
            return self._check(predictions, golds, kinds)

    def check_one(self, prediction: str | None, gold: str, kind: str = "auto") -> bool:
        return self.check([prediction], [gold], [kind])[0]

    def start(self) -> AnswerChecker:
        """Start all worker processes now and wait until they have imported math-verify (a trainer calls this at
        set-up so that the first reward step does not pay the start-up); otherwise they start on first need."""
        with self._lock:
            self._ensure_workers(self.num_workers)
        return self

    def reset_stats(self) -> dict[str, int]:
        """Return the counters and zero them (a trainer logs them per step)."""
        with self._lock:
            old = dict(self.stats)
            for key in self.stats:
                self.stats[key] = 0
            return old

    def close(self) -> None:
        """Stop the worker processes (they are also daemons, and closed at exit)."""
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.close()

    def __enter__(self) -> AnswerChecker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):  # picklable (e.g. a reward function holding a checker sent to a dataloader worker)
        state = self.__dict__.copy()
        state.update(_workers=[], _lock=None, _verdicts=OrderedDict())
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- internals ------------------------------------------------------------------------------------------
    def _check(self, predictions, golds, kinds) -> list[bool]:
        results: list[bool | None] = [None] * len(golds)
        pending: dict[tuple[str, str, str], tuple[tuple[str, str], list[int]]] = {}
        for i, (prediction, gold, kind) in enumerate(zip(predictions, golds, kinds, strict=True)):
            self.stats["checked"] += 1
            if gold is None:
                raise ValueError(f"gold answer of item {i} is None")
            gold = str(gold)
            kind = resolve_kind(gold, kind)
            if prediction is None or not str(prediction).strip():
                self.stats["empty"] += 1
                results[i] = False
                continue
            prediction = str(prediction).strip()
            if len(prediction) > self.max_chars or not braces_balanced(prediction):
                self.stats["rejected"] += 1
                results[i] = False
                continue
            key = (gold, prediction, kind)
            cached = self._verdicts.get(key)
            if cached is not None:
                self.stats["cache_hits"] += 1
                results[i] = cached
                continue
            if key in pending:
                self.stats["cache_hits"] += 1
                pending[key][1].append(i)
                continue
            verdict = fast_verdict(prediction, gold, kind)
            if verdict is not None:
                self.stats["fast_path"] += 1
                self._remember(key, verdict)
                results[i] = verdict
                continue
            if kind == "number":  # not two plain numbers after all: math-verify on the decorated-free strings
                key_mv = (_strip_number_decorations(gold), _strip_number_decorations(prediction))
            else:
                key_mv = (gold, prediction)
            pending[key] = (key_mv, [i])
        if pending:
            verdicts = self._run_math_verify([pair for pair, _ in pending.values()])
            for (key, (_, indices)), verdict in zip(pending.items(), verdicts, strict=True):
                self._remember(key, verdict)
                for i in indices:
                    results[i] = verdict
        return [bool(r) for r in results]

    def _remember(self, key, verdict: bool) -> None:
        self._verdicts[key] = verdict
        if len(self._verdicts) > self.cache_size:
            self._verdicts.popitem(last=False)

    def _ensure_workers(self, count: int) -> None:
        while len(self._workers) < count:
            self._workers.append(self._spawn())
        for worker in self._workers:
            worker.wait_ready()

    def _spawn(self) -> _Worker:
        return _Worker(self.cache_size)

    def _run_math_verify(self, items: list[tuple[str, str]]) -> list[bool]:
        """Run math-verify on ``(gold, prediction)`` pairs across the worker pool with per-item deadlines.

        Each worker has up to :data:`PIPELINE_DEPTH` items in flight, so it never waits for the parent between two
        items; the clock of an item starts when the worker answers the one before it (or when it is sent to an
        idle worker). A worker that overruns is killed: its current item scores False (a timeout), the items queued
        behind it go back to the queue, and a fresh worker takes its place.
        """
        self._ensure_workers(min(self.num_workers, len(items)))
        verdicts: list[bool] = [False] * len(items)
        queue = _GoldAffinityQueue(items)
        while True:
            for worker in list(self._workers):
                self._fill_pipeline(worker, queue, items)
            busy = [w for w in self._workers if w.in_flight]
            if not busy:
                return verdicts
            timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = {id(conn) for conn in mp_wait([w.conn for w in busy], timeout=timeout)}
            now = time.monotonic()
            for worker in busy:
                if id(worker.conn) in ready:
                    index = worker.in_flight.popleft()
                    try:
                        verdict, error, refuted = worker.conn.recv()
                    except (EOFError, OSError):  # crashed (segfault, OOM kill): score False, replace
                        self.stats["errors"] += 1
                        logger.warning("answer-check worker died on prediction %.80r", items[index][1])
                        self._replace(worker, queue, items)
                        continue
                    worker.deadline = time.monotonic() + self.timeout_s
                    self.stats["math_verify"] += 1
                    self.stats["refuted"] += int(refuted)
                    if error is not None:
                        self.stats["errors"] += 1
                        logger.debug("math-verify error on %.80r: %s", items[index][1], error)
                    verdicts[index] = verdict
                elif now >= worker.deadline:
                    index = worker.in_flight.popleft()
                    self.stats["timeouts"] += 1
                    logger.warning(
                        "answer check timed out after %.1fs on prediction %.80r (scored 0)", self.timeout_s, items[index][1]
                    )
                    self._replace(worker, queue, items)

    def _fill_pipeline(self, worker: _Worker, queue: _GoldAffinityQueue, items: list[tuple[str, str]]) -> None:
        while queue and len(worker.in_flight) < PIPELINE_DEPTH:
            others = {w.gold for w in self._workers if w is not worker and w.in_flight}
            index = queue.pop(worker.gold, others)
            try:
                worker.send(items[index])
            except (BrokenPipeError, OSError):  # the worker died: its items go back, a fresh worker takes over
                queue.push_back(items[index][0], index)
                self._replace(worker, queue, items)
                return
            if not worker.in_flight:
                worker.deadline = time.monotonic() + self.timeout_s
            worker.in_flight.append(index)
            worker.gold = items[index][0]

    def _replace(self, worker: _Worker, queue: _GoldAffinityQueue, items: list[tuple[str, str]]) -> None:
        """Kill ``worker``, put the items still queued in it back at the head of ``queue``, start a fresh one."""
        worker.kill()
        for index in reversed(worker.in_flight):
            queue.push_back(items[index][0], index)
        fresh = self._spawn()
        fresh.wait_ready()
        self._workers[self._workers.index(worker)] = fresh


_DEFAULT_CHECKER: AnswerChecker | None = None
_DEFAULT_LOCK = threading.Lock()


def default_checker() -> AnswerChecker:
    """A process-wide :class:`AnswerChecker` (default settings), created on first use."""
    global _DEFAULT_CHECKER
    with _DEFAULT_LOCK:
        if _DEFAULT_CHECKER is None:
            _DEFAULT_CHECKER = AnswerChecker()
        return _DEFAULT_CHECKER


def verify_answer(prediction: str | None, gold: str, kind: str = "auto") -> bool:
    """Whether ``prediction`` (an extracted answer string) matches ``gold``; see the module docstring for kinds.

    Uses the process-wide :func:`default_checker`, so it is cached, timeout-safe and thread-safe.
    """
    return default_checker().check([prediction], [gold], [kind])[0]


if __name__ == "__main__":  # pragma: no cover
    _serve_stdio()
