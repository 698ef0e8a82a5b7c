r"""Answer verification: the one implementation shared by the rewards, eval and the data builders.

A *prediction* is an already-extracted answer string (callers run :func:`thrifty.formats.extract_final_answer`
on a completion first, or let :meth:`AnswerChecker.check_completions` extract it as the field does); a *gold*
is the reference answer string. Kinds:

- ``math``: symbolic equivalence with math-verify (Hugging Face, https://github.com/huggingface/Math-Verify):
  both strings are wrapped as ``\boxed{...}`` (:func:`math_verify_input`), parsed with ``LatexExtractionConfig`` +
  ``ExprExtractionConfig`` and compared with ``verify(gold, prediction)`` (gold first: the order matters for
  intervals and sets). math-verify itself reads thousands separators, ``$``, ``%``, units and degrees, and
  compares decimals after rounding (``\frac{1}{3}`` = ``0.333333``, ``25\%`` = ``0.25``).
- ``number``: the same as ``math`` (kept so recipes that name it still work; math-verify reads the GSM8K-style
  decorations itself, so stripping them first would only change verdicts).
- ``choice``: multiple-choice letters A-E (GPQA, AQuA, CSQA); ``(B)``, ``B)``, ``\text{B}``, ``option b`` all
  read as ``B``.
- ``auto``: ``choice`` when the gold is a single letter A-E, else ``math``.

**The verdict rule.** For every kind but ``choice``, :class:`AnswerChecker` returns exactly the verdict of
``verify(parse(math_verify_input(gold)), parse(math_verify_input(prediction)))`` with math-verify's defaults.
A shortcut may decide a pair in the calling process only when *both* strings belong to a form whose math-verify
verdict is known exactly: a plain integer (``-?\d+``) or a simple fraction of integers (``a/b``, ``\frac{a}{b}``,
``\dfrac``/``\tfrac``, ``\frac34``, a leading ``-``), which math-verify parses to the sympy ``Integer``/``Rational``
of that value, so ``verify`` is True exactly when the two rationals are equal (no float, hence no rounding, is
involved); or a plain decimal (``-?[0-9]+.[0-9]+``) against a plain decimal or such a number, decided only when the
values are equal (True) or more than 1e-5 apart, absolute and relative 1e-9 (False: farther than any rounding of
math-verify's, which rounds floats to 6 decimals). Everything else (decimals within rounding distance, identical
LaTeX, units...) is deferred to math-verify in a worker. The only departures are
resource limits, counted in :attr:`AnswerChecker.stats`: a prediction over ``max_chars`` characters is refused
(``rejected``) and a pair over ``timeout_s`` scores False (``timeouts``), as math-verify's own timeouts score it.
The rule is checked by ``tests/test_answer_corpus.py`` against plain math-verify on a seeded corpus of more than
20,000 generated pairs (``tests/answer_corpus.py``) plus the string pairs of math-verify's own test suite.

**Whole completions** (:meth:`AnswerChecker.check_completions`, the default extraction of ``thrifty eval``): the
completion is parsed with math-verify's default extraction (``parse(completion)``, as lighteval and open-r1's
accuracy reward do) and verified against the boxed gold as above; the extracted answer string is returned too.
Multiple choice reads option letters the way lighteval's GPQA task does (:func:`extract_choice_letter`).

Speed and safety (:class:`AnswerChecker`):

- every verdict is cached by (gold, prediction, kind); in the workers each parsed string (golds in particular)
  is cached, and items are dispatched with gold affinity, so a gold is parsed once however many completions are
  scored against it;
- the workers parse LaTeX SLL-first and refute numerically different plain expressions without ``simplify``
  (:mod:`thrifty.math_verify_speedups`; both leave every verdict as math-verify gives it);
- math-verify's own timeouts use ``signal.alarm``, which raises on any thread but the main one (Math-Verify#50,
  verl#3407: rewards silently became 0) and cannot interrupt C code such as a huge integer power. So
  math-verify runs with ``parsing_timeout=None, timeout_seconds=None`` in worker *processes*, and the parent
  enforces ``timeout_s`` per item by killing a worker that overruns. This works from any thread;
- workers die with their parent (``prctl(PR_SET_PDEATHSIG, SIGKILL)`` on Linux, so a SIGKILLed trainer leaves no
  worker running), their address space is capped (``RLIMIT_AS``, ``max_memory_mb``: a memory bomb raises
  ``MemoryError`` in the worker and scores False) and a runaway item is killed at its deadline; a killed worker's
  replacement starts in the background (the batch goes on with the other workers, and after a first kill a warm
  spare is kept so a single-worker checker does not wait either);
- one checker per process (:func:`shared_checker`) serves every reward of a trainer, so a completion checked by
  the accuracy reward is a cache hit for the MinD ``fewer_turns`` reward in the same step;
- adversarial predictions (``9^9^9^9``, deep nesting, 100 KB of text) score False and are counted in
  :attr:`AnswerChecker.stats` (``timeouts``, ``errors``, ``rejected``); they never hang or crash.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
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
#: Option letters a multiple-choice answer can name (ten, as MMLU-Pro's options; the benchmarks' loaders accept as many).
CHOICE_LETTERS = "ABCDEFGHIJ"
#: Letters that make a bare gold answer multiple choice under kind ``auto`` (A-E only: ``i`` and ``j`` are also
#: math answers, e.g. the imaginary unit).
AUTO_CHOICE_LETTERS = "ABCDE"
#: Items a worker holds at once (one being verified, the next already in its pipe).
PIPELINE_DEPTH = 2

_INT = re.compile(r"-?[0-9]{1,100}")  # ASCII digits only: math-verify does not read "５" as 5
_LATEX_FRAC = re.compile(r"(-?)\\[dt]?frac(?:\{([0-9]{1,100})\}|([0-9]))(?:\{([0-9]{1,100})\}|([0-9]))")
_SLASH_FRAC = re.compile(r"(-?[0-9]{1,100})/([0-9]{1,100})")
_PLAIN_DECIMAL = re.compile(r"-?[0-9]{1,50}(?:\.[0-9]{1,50})?")
#: Two plain decimals this far apart (absolute and relative) are different to every comparison of math-verify
#: (it rounds floats to 6 decimals); the same bounds as the numeric refutation of thrifty.math_verify_speedups.
_DECIMAL_ABS_TOL, _DECIMAL_REL_TOL = 1e-5, 1e-9
_CHOICE_PATTERNS = (
    re.compile(r"^\(?([A-Ja-j])\)?[.:]?$"),
    re.compile(r"^\\text(?:bf)?\{\(?([A-Ja-j])\)?\}$"),
    re.compile(r"^(?:option|answer|choice)\s*(?:is\s*)?:?\s*\(?([A-Ja-j])\)?[.:]?$", re.IGNORECASE),
    re.compile(r"^\(?([A-Ja-j])\)\s*\S.*$"),  # "B) 21", "(B) 21"
)
_DELIMS = (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))
#: Request modes of the workers: an extracted answer (wrapped as ``\boxed{}``) or a whole completion.
ANSWER, COMPLETION = "a", "c"


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
    """The letter (A-J, :data:`CHOICE_LETTERS`) a multiple-choice answer names, or None."""
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


@functools.lru_cache(maxsize=32)
def _letter_patterns(letters: str) -> tuple[re.Pattern, ...]:
    """The four letter patterns of :func:`extract_choice_letter`, in priority order, for capital ``letters``.

    The anchor words match in any case; the letter after them is a capital, or a small letter that ends its line
    ("Final answer: c"), so "the answer is a bit subtle" names no option."""
    cls = "([" + re.escape(letters) + "])"
    small = "([" + re.escape(letters.lower()) + "])"
    return (
        re.compile(r"(?i:answer|option|choice)\s*(?i:is|would be|:)?\s*[:=]?\s*(?:\*\*)?\s*(?:\$?\\boxed\{)?\s*"
                   r"(?:\\text\{)?\(?(?:" + cls + r"\)?(?![A-Za-z])|" + small + r"\)?(?=[.]?[ \t]*(?:\r?\n|\Z)))"),
        re.compile(r"\\boxed\{\s*(?:\\text(?:bf)?\{)?\s*\(?" + cls + r"\)?\s*\}?\s*\}"),
        re.compile(r"\(" + cls + r"\)"),
        re.compile(r"(?:^|\n)\s*(?:\*\*)?" + cls + r"(?:\*\*)?\s*(?:[.):]|$)", re.MULTILINE),
    )


def extract_choice_letter(completion: str, letters: str = CHOICE_LETTERS) -> str | None:
    r"""The option letter a free-form completion answers with, as lighteval's GPQA task reads letters.

    lighteval's ``gpqa:diamond`` (``lighteval/tasks/tasks/gpqa.py``, metric ``gpqa_instruct_pass_at_k``:
    ``IndicesExtractionConfig(prefix_for_extraction="NativeLetters", try_extract_without_anchor=True)``) looks for a
    letter after an answer anchor first ("Answer: C", "the answer is (C)", ``\boxed{C}``) and otherwise for a
    letter standing alone, taking the last match. This is a re-implementation of that order of priority, not
    lighteval's regexes (lighteval is not a dependency). Here, in
    that order of priority, the last match of: an anchored letter (``answer``/``option``/``choice`` followed by
    the letter, ``**``, ``$\boxed{`` or ``\text{`` allowed in between), a boxed letter, a parenthesised ``(C)``,
    a letter alone on its line (``C.``, ``**C**``). Only capital letters in ``letters`` count (pass the problem's
    own option letters, e.g. ``"ABCD"`` for GPQA, so that a stray capital beyond them is not read as an answer);
    None when none.
    """
    for pattern in _letter_patterns("".join(sorted(set(letters)))):
        found = [next(g for g in m.groups() if g).upper() for m in pattern.finditer(completion)]
        if found:
            return found[-1]
    return None


def resolve_kind(gold: str, kind: str = "auto") -> str:
    """The kind ``auto`` stands for, given the gold answer (``number`` is ``math``, see the module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"unknown answer kind {kind!r}; expected one of {', '.join(KINDS)}")
    if kind == "number":
        return "math"
    if kind != "auto":
        return kind
    stripped = strip_math_delimiters(gold)
    if len(stripped) <= 4 and normalize_choice(stripped) is not None and stripped.upper().strip("().") in AUTO_CHOICE_LETTERS:
        return "choice"
    return "math"


def simple_rational(text: str) -> Fraction | None:
    r"""The exact value of a plain integer or simple fraction of integers: ``12``, ``-3``, ``3/4``, ``-3/4``,
    ``\frac{3}{4}``, ``\dfrac34``, ``-\tfrac{1}{2}``; None for anything else (math-verify decides those).

    These are exactly the forms that math-verify parses to a sympy ``Integer``/``Rational`` of the same value
    (module docstring); no whitespace is removed (``1 234`` is not an integer to math-verify) and decimals are not
    included (math-verify compares them after rounding)."""
    if _INT.fullmatch(text):
        return Fraction(int(text))
    m = _SLASH_FRAC.fullmatch(text)
    if m is not None:
        num, den = int(m.group(1)), int(m.group(2))
    else:
        m = _LATEX_FRAC.fullmatch(text)
        if m is None:
            return None
        sign, n1, n2, d1, d2 = m.groups()
        num, den = int(n1 or n2) * (-1 if sign else 1), int(d1 or d2)
    return Fraction(num, den) if den else None


def fast_verdict(prediction: str, gold: str, kind: str) -> bool | None:
    r"""The verdict when it needs no math-verify, else None (the rule of the module docstring).

    ``choice``: the letters compare. Otherwise only when both sides (delimiters stripped, as
    :func:`math_verify_input` strips them) are plain integers or simple fractions of integers: their exact values
    compare; or plain decimals (``-?[0-9]+.[0-9]+``) against such numbers: equal values are True, values more than
    1e-5 apart (and 1e-9 relative) are False, closer ones (math-verify rounds) return None. Anything else
    (identical LaTeX, units, ``.5``...) returns None.
    """
    kind = resolve_kind(gold, kind)
    if kind == "choice":
        letter = normalize_choice(prediction)
        return letter is not None and letter == normalize_choice(gold)
    p, g = strip_math_delimiters(prediction), strip_math_delimiters(gold)
    rp = simple_rational(p)
    if rp is None and not _PLAIN_DECIMAL.fullmatch(p):
        return None
    rg = simple_rational(g)
    if rp is not None and rg is not None:
        return rp == rg
    # plain decimals (one side may be an integer or fraction): equal values are equal for math-verify; clearly
    # different values are different; anything within rounding distance is math-verify's to decide
    if rg is None and not _PLAIN_DECIMAL.fullmatch(g):
        return None
    vp = rp if rp is not None else Fraction(p)
    vg = rg if rg is not None else Fraction(g)
    if vp == vg:
        return True
    difference = abs(vp - vg)
    if difference > _DECIMAL_ABS_TOL and difference > _DECIMAL_REL_TOL * max(abs(vp), abs(vg), 1):
        return False
    return None


# ---------------------------------------------------------------------------------------------------------
# Worker processes
# ---------------------------------------------------------------------------------------------------------
def _die_with_parent(parent_pid: int) -> None:  # pragma: no cover - runs in a child process
    """Ask Linux to SIGKILL this process when its parent dies (``prctl(PR_SET_PDEATHSIG, SIGKILL)``); exit now if
    the parent is already gone (it died between the fork and the prctl)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG (linux/prctl.h)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:
        os._exit(0)


def _cap_memory(max_memory_mb: int) -> None:  # pragma: no cover - runs in a child process
    """Cap this process's address space at ``max_memory_mb`` MiB (``RLIMIT_AS``): an allocation past it raises
    ``MemoryError`` instead of exhausting the machine."""
    if max_memory_mb <= 0:
        return
    try:
        import resource

        limit = max_memory_mb * 1024 * 1024
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, ValueError, OSError):
        pass


def _worker_main(conn_in, conn_out, cache_size: int, max_memory_mb: int = 0) -> None:  # pragma: no cover
    """Serve ``(gold, text, mode)`` requests: parse both (answers cached), verify, answer
    ``(verdict, error, refuted, extracted)``."""
    import logging as _logging

    _logging.getLogger("math_verify").setLevel(_logging.CRITICAL)
    _logging.getLogger("latex2sympy2_extended").setLevel(_logging.CRITICAL)
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
        value = parse(math_verify_input(text), extraction_config=configs, parsing_timeout=None)
        cache[text] = value
        if len(cache) > cache_size:
            cache.popitem(last=False)
        return value

    warm_up_parser(lambda answer: parse(math_verify_input(answer), extraction_config=configs, parsing_timeout=None))
    _cap_memory(max_memory_mb)  # after the imports: they are not what the cap is for
    conn_out.send("ready")
    while True:
        try:
            request = conn_in.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if request is None:
            return
        gold, text, mode = request
        extracted = None
        try:
            gold_parsed = parsed(gold)
            if mode == COMPLETION:  # math-verify's own extraction over the whole completion (lighteval, open-r1)
                pred_parsed = parse(text, parsing_timeout=None)
                extracted = next((x for x in reversed(pred_parsed) if isinstance(x, str)), None)
            else:
                pred_parsed = parsed(text)
            if refutes(gold_parsed, pred_parsed):
                conn_out.send((False, None, True, extracted))
                continue
            verdict = bool(verify(gold_parsed, pred_parsed, timeout_seconds=None))
            conn_out.send((verdict, None, False, extracted))
        except BaseException as err:  # noqa: BLE001 - any failure of math-verify/sympy (MemoryError too) scores False
            conn_out.send((False, f"{type(err).__name__}: {str(err)[:200]}", False, extracted))


def _serve_stdio() -> None:  # pragma: no cover - the worker's entry point
    """Worker entry point: requests on fd 0, answers on the original fd 1 (stdout is moved to stderr).

    argv: cache size, parent pid, memory cap in MiB."""
    _die_with_parent(int(sys.argv[2]))
    out_fd = os.dup(1)
    os.dup2(2, 1)
    _worker_main(Connection(0, writable=False), Connection(out_fd, readable=False), int(sys.argv[1]),
                 int(sys.argv[3]))


class _Spawner:
    """Starts worker subprocesses from one long-lived daemon thread.

    Linux sends the parent-death signal when the *thread* that forked the child ends, not the process; a checker
    first used from a short-lived thread (a reward computed off the main thread) would otherwise lose its workers
    when that thread ends."""

    def __init__(self):
        import queue

        self._requests: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def popen(self, *args, **kwargs) -> subprocess.Popen:
        import concurrent.futures

        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="thrifty-answer-check-spawner", daemon=True)
                self._thread.start()
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._requests.put((future, args, kwargs))
        return future.result()

    def _serve(self) -> None:
        while True:
            future, args, kwargs = self._requests.get()
            try:
                future.set_result(subprocess.Popen(*args, **kwargs))
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                future.set_exception(err)


_SPAWNER = _Spawner()


class _Worker:
    """A math-verify worker: a ``python -m thrifty.answer_check`` subprocess speaking over pipes.

    A plain subprocess (not ``multiprocessing``) so that nothing of the parent's ``__main__`` is re-imported
    (pytest, scripts and launchers all work) and no forked copy of a multi-threaded trainer is made. It starts in
    the background: :attr:`ready` turns True when its "ready" message is read (:meth:`poll_ready`).
    """

    STARTUP_TIMEOUT_S = 120.0

    def __init__(self, cache_size: int, max_memory_mb: int):
        self.process = _SPAWNER.popen(
            [sys.executable, "-m", "thrifty.answer_check", str(cache_size), str(os.getpid()), str(max_memory_mb)],
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
        self.deadline = time.monotonic() + self.STARTUP_TIMEOUT_S  # start-up, then: the oldest item in flight

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll_ready(self, timeout: float = 0.0) -> bool:
        """Read the "ready" message if it has arrived within ``timeout`` seconds; raise if the worker died or sent
        something else."""
        if self.ready:
            return True
        try:
            if not self.conn.poll(timeout):
                return False
            message = self.conn.recv()
        except (EOFError, OSError):
            raise RuntimeError(f"the answer-check worker (pid {self.pid}) exited during start-up; run "
                               f"'{sys.executable} -m thrifty.answer_check 1 {os.getpid()} 0' to see why") from None
        if message != "ready":
            raise RuntimeError(f"the answer-check worker sent {message!r} instead of 'ready'")
        self.ready = True
        return True

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the worker has imported math-verify (so start-up never counts against an item)."""
        if not self.poll_ready(self.STARTUP_TIMEOUT_S if timeout is None else timeout):
            self.kill()
            raise RuntimeError(f"the answer-check worker did not start within {self.STARTUP_TIMEOUT_S:.0f}s")

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

    def __init__(self, items: list[tuple[str, ...]]):
        self._groups: OrderedDict[str, deque[int]] = OrderedDict()
        for index, (gold, *_) in enumerate(items):
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
        max_completion_chars: the same for whole completions (:meth:`check_completions`).
        cache_size: entries of the verdict cache (parent) and of each worker's parse cache.
        max_memory_mb: address-space cap of each worker (``RLIMIT_AS``; 0: none).

    ``stats`` counts ``checked``, ``fast_path``, ``cache_hits``, ``math_verify``, ``refuted``, ``timeouts``,
    ``errors`` (an exception escaped math-verify's own handling, which turns its parse/verify errors into an empty
    parse or False exactly as its defaults do; or a worker crashed twice on an item), ``rejected`` (too long), ``empty``
    (no prediction), ``restarts`` (workers killed and replaced).
    """

    def __init__(self, timeout_s: float = 5.0, num_workers: int = 0, max_chars: int = 1000, cache_size: int = 100_000,
                 max_completion_chars: int = 200_000, max_memory_mb: int = 4096):
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self.timeout_s = float(timeout_s)
        self.num_workers = num_workers if num_workers > 0 else default_num_workers()
        self.max_chars = max_chars
        self.max_completion_chars = max_completion_chars
        self.cache_size = cache_size
        self.max_memory_mb = int(max_memory_mb)
        self.stats: dict[str, int] = dict.fromkeys(
            ("checked", "fast_path", "cache_hits", "math_verify", "refuted", "timeouts", "errors", "rejected", "empty",
             "restarts"), 0
        )
        self._verdicts: OrderedDict[tuple, tuple[bool, str | None]] = OrderedDict()
        self._workers: list[_Worker] = []
        self._spare: _Worker | None = None
        self._lock = threading.Lock()
        atexit.register(self.close)

    # -- public API -----------------------------------------------------------------------------------------
    def check(self, predictions: list[str | None], golds: list[str], kinds: list[str] | None = None) -> list[bool]:
        """Verdict for each (extracted prediction, gold) pair, in order."""
        kinds = self._kinds(predictions, golds, kinds, "predictions")
        with self._lock:
            return [v for v, _ in self._check(predictions, golds, kinds, ANSWER)]

    def check_one(self, prediction: str | None, gold: str, kind: str = "auto") -> bool:
        return self.check([prediction], [gold], [kind])[0]

    def check_completions(self, completions: list[str], golds: list[str], kinds: list[str] | None = None,
                          letters: list[str | None] | None = None) -> list[tuple[bool, str | None]]:
        """(verdict, extracted answer) for each whole completion: math-verify's own extraction over the completion
        (lighteval's and open-r1's), option letters for ``choice`` (:func:`extract_choice_letter`; ``letters[i]``
        are item i's option letters, e.g. ``"ABCD"``, default :data:`CHOICE_LETTERS`)."""
        kinds = self._kinds(completions, golds, kinds, "completions")
        letters = list(letters) if letters is not None else [None] * len(golds)
        if len(letters) != len(golds):
            raise ValueError(f"{len(letters)} letter sets but {len(golds)} golds")
        with self._lock:
            return self._check(completions, golds, kinds, COMPLETION, letters)

    def start(self) -> AnswerChecker:
        """Start all worker processes now and wait until they have imported math-verify (a trainer calls this at
        set-up so that the first reward step does not pay the start-up); otherwise they start on first need."""
        with self._lock:
            self._ensure_workers(self.num_workers)
            for worker in self._workers:
                worker.wait_ready()
        return self

    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (the spare included)."""
        return [w.pid for w in [*self._workers, *([self._spare] if self._spare else [])]]

    def reset_stats(self) -> dict[str, int]:
        """Return the counters and zero them (a trainer logs them per step)."""
        with self._lock:
            old = dict(self.stats)
            for key in self.stats:
                self.stats[key] = 0
            return old

    def close(self) -> None:
        """Stop the worker processes (also done at exit; they die with this process in any case)."""
        workers, self._workers = self._workers, []
        if self._spare is not None:
            workers.append(self._spare)
            self._spare = None
        for worker in workers:
            worker.close()

    def __enter__(self) -> AnswerChecker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self):  # picklable (e.g. a reward function holding a checker sent to a dataloader worker)
        state = self.__dict__.copy()
        state.update(_workers=[], _spare=None, _lock=None, _verdicts=OrderedDict())
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- internals ------------------------------------------------------------------------------------------
    @staticmethod
    def _kinds(texts, golds, kinds, what: str) -> list[str]:
        if len(texts) != len(golds):
            raise ValueError(f"{len(texts)} {what} but {len(golds)} golds")
        if kinds is None:
            return ["auto"] * len(golds)
        if len(kinds) != len(golds):
            raise ValueError(f"{len(kinds)} kinds but {len(golds)} golds")
        return list(kinds)

    def _check(self, texts, golds, kinds, mode: str, letters=None) -> list[tuple[bool, str | None]]:
        results: list[tuple[bool, str | None] | None] = [None] * len(golds)
        pending: dict[tuple, tuple[tuple[str, str, str], list[int]]] = {}
        limit = self.max_chars if mode == ANSWER else self.max_completion_chars
        for i, (text, gold, kind) in enumerate(zip(texts, golds, kinds, strict=True)):
            self.stats["checked"] += 1
            if gold is None:
                raise ValueError(f"gold answer of item {i} is None")
            gold = str(gold)
            kind = resolve_kind(gold, kind)
            if text is None or not str(text).strip():
                self.stats["empty"] += 1
                results[i] = (False, None)
                continue
            text = str(text).strip() if mode == ANSWER else str(text)
            if len(text) > limit:
                self.stats["rejected"] += 1
                results[i] = (False, None)
                continue
            options = (letters[i] if letters is not None else None) or CHOICE_LETTERS
            key = (gold, text if mode == ANSWER else hashlib.sha1(text.encode()).digest(), kind, mode,
                   options if kind == "choice" else None)
            cached = self._verdicts.get(key)
            if cached is not None:
                self.stats["cache_hits"] += 1
                self._verdicts.move_to_end(key)
                results[i] = cached
                continue
            if key in pending:
                self.stats["cache_hits"] += 1
                pending[key][1].append(i)
                continue
            if mode == COMPLETION and kind == "choice":
                letter = extract_choice_letter(text, options)
                result = (letter is not None and letter == normalize_choice(gold), letter)
            else:
                verdict = fast_verdict(text, gold, kind) if mode == ANSWER else None
                result = None if verdict is None else (verdict, text)
            if result is not None:
                self.stats["fast_path"] += 1
                self._remember(key, result)
                results[i] = result
                continue
            pending[key] = ((gold, text, mode), [i])
        if pending:
            outcomes = self._run_math_verify([item for item, _ in pending.values()])
            for (key, (_, indices)), outcome in zip(pending.items(), outcomes, strict=True):
                if outcome is not None:  # a timeout is not cached: a later, quieter run may finish it
                    self._remember(key, outcome)
                for i in indices:
                    results[i] = outcome or (False, None)
        return [(bool(r[0]), r[1]) for r in results]

    def _remember(self, key, result: tuple[bool, str | None]) -> None:
        self._verdicts[key] = result
        if len(self._verdicts) > self.cache_size:
            self._verdicts.popitem(last=False)

    def _ensure_workers(self, count: int) -> None:
        """Start workers up to ``count`` (in the background: the dispatch loop waits for the first ready one)."""
        while len(self._workers) < count:
            self._workers.append(self._spawn())

    def _spawn(self) -> _Worker:
        return _Worker(self.cache_size, self.max_memory_mb)

    def _run_math_verify(self, items: list[tuple[str, str, str]]) -> list[tuple[bool, str | None] | None]:
        """Run math-verify on ``(gold, text, mode)`` items across the worker pool with per-item deadlines.

        Each ready worker has up to :data:`PIPELINE_DEPTH` items in flight, so it never waits for the parent between
        two items; the clock of an item starts when the worker answers the one before it (or when it is sent to an
        idle worker). A worker that overruns is killed: its current item scores False (a timeout, returned as None),
        the items queued behind it go back to the queue, and a replacement starts in the background while the
        other workers go on. An item whose worker crashed (EOF) is retried once on another worker.
        """
        self._ensure_workers(min(self.num_workers, len(items)))
        results: list[tuple[bool, str | None] | None] = [(False, None)] * len(items)
        crashed: set[int] = set()
        queue = _GoldAffinityQueue(items)
        while True:
            for worker in list(self._workers):
                if worker.ready:
                    self._fill_pipeline(worker, queue, items)
            busy = [w for w in self._workers if w.in_flight]
            if not busy and not queue:
                return results
            starting = [w for w in self._workers if not w.ready]
            watched = busy + starting
            timeout = max(0.0, min(w.deadline for w in watched) - time.monotonic())
            ready = {id(conn) for conn in mp_wait([w.conn for w in watched], timeout=timeout)}
            now = time.monotonic()
            for worker in starting:
                if id(worker.conn) in ready:
                    worker.poll_ready()  # raises when it died during start-up: a broken installation
                elif now >= worker.deadline:
                    worker.kill()
                    raise RuntimeError(f"the answer-check worker did not start within {worker.STARTUP_TIMEOUT_S:.0f}s")
            for worker in busy:
                if id(worker.conn) in ready:
                    index = worker.in_flight[0]
                    try:
                        verdict, error, refuted, extracted = worker.conn.recv()
                    except (EOFError, OSError):  # crashed (segfault, killed from outside): retry once, then False
                        worker.in_flight.popleft()
                        if index in crashed:
                            self.stats["errors"] += 1
                            logger.warning("answer-check worker died twice on %.80r (scored 0)", items[index][1])
                        else:
                            crashed.add(index)
                            queue.push_back(items[index][0], index)
                        self._replace(worker, queue, items)
                        continue
                    worker.in_flight.popleft()
                    worker.deadline = time.monotonic() + self.timeout_s
                    self.stats["math_verify"] += 1
                    self.stats["refuted"] += int(refuted)
                    if error is not None:
                        self.stats["errors"] += 1
                        logger.debug("math-verify error on %.80r: %s", items[index][1], error)
                    results[index] = (verdict, extracted)
                elif now >= worker.deadline:
                    index = worker.in_flight.popleft()
                    self.stats["timeouts"] += 1
                    results[index] = None
                    logger.warning(
                        "answer check timed out after %.1fs on %.80r (scored 0)", self.timeout_s, items[index][1]
                    )
                    self._replace(worker, queue, items)

    def _fill_pipeline(self, worker: _Worker, queue: _GoldAffinityQueue, items: list[tuple[str, str, str]]) -> None:
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

    def _replace(self, worker: _Worker, queue: _GoldAffinityQueue, items: list[tuple[str, str, str]]) -> None:
        """Kill ``worker``, put the items still queued in it back at the head of ``queue``, and put the warm spare (or
        a fresh worker, starting in the background) in its place; keep a spare from the first kill on."""
        worker.kill()
        self.stats["restarts"] += 1
        for index in reversed(worker.in_flight):
            queue.push_back(items[index][0], index)
        worker.in_flight.clear()
        if self._spare is not None:
            fresh, self._spare = self._spare, self._spawn()
        else:
            fresh, self._spare = self._spawn(), self._spawn()
        self._workers[self._workers.index(worker)] = fresh


_SHARED: dict[tuple, AnswerChecker] = {}
_SHARED_LOCK = threading.Lock()


def shared_checker(timeout_s: float = 5.0, num_workers: int = 0) -> AnswerChecker:
    """The process-wide :class:`AnswerChecker` for these settings, created on first use.

    Every reward of a trainer (accuracy, MinD ``fewer_turns``, ...) takes its checker from here, so one pool of
    workers serves them all and a completion verified for one reward is a verdict-cache hit for the next."""
    key = (float(timeout_s), int(num_workers))
    with _SHARED_LOCK:
        checker = _SHARED.get(key)
        if checker is None:
            checker = _SHARED[key] = AnswerChecker(timeout_s=timeout_s, num_workers=num_workers)
        return checker


def default_checker() -> AnswerChecker:
    """A process-wide :class:`AnswerChecker` with default settings (:func:`shared_checker`)."""
    return shared_checker()


def verify_answer(prediction: str | None, gold: str, kind: str = "auto") -> bool:
    """Whether ``prediction`` (an extracted answer string) matches ``gold``; see the module docstring for kinds.

    Uses the process-wide :func:`shared_checker`, so it is cached, timeout-safe and thread-safe.
    """
    return shared_checker().check([prediction], [gold], [kind])[0]


if __name__ == "__main__":  # pragma: no cover
    _serve_stdio()
