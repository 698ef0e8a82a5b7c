r"""Two accelerations of math-verify that leave every verdict unchanged; used by the answer-check workers.

Profiled on MATH-500 answers against wrong answers (``scripts/bench_rewards.py``), math-verify spends its time in
two places: the ANTLR LaTeX parser of ``latex2sympy2_extended`` (about 60%) and ``sympy.simplify(gold - pred)``
inside ``verify`` when the answer is wrong (about 35%: a wrong answer exhausts every comparison strategy).

1. **SLL-first parsing** (:func:`enable_sll_first_parsing`). ANTLR 4's two-stage parsing (Parr, Harwell and
   Fisher, "Adaptive LL(*) Parsing: The Power of Dynamic Analysis", OOPSLA 2014, section 3.2): parse with the
   cheaper SLL prediction mode first and, only on a syntax error, again with full LL. ANTLR guarantees that an SLL
   parse that succeeds returns *the same parse tree* LL would (``antlr4.atn.PredictionMode.SLL``), so the sympy
   expression is the same; any error falls back to the unchanged original parser. About 3x faster parsing.
2. **Numeric refutation** (:func:`refutes`). For two parsed *plain expressions* (no relation, set, tuple, matrix,
   bare symbol, percentage or unevaluated object), ``verify`` is True only through ``gold == pred``,
   ``sympy_numeric_eq`` (equal after rounding to 6 decimals when a float is involved, else ``evalf`` of the
   difference is 0) or ``simplify(gold - pred) == 0``; each of these implies that the two expressions take the
   same value at every point. So one point (an assignment of the free symbols) where both evaluate to finite
   numbers that differ by more than ``1e-5`` absolute *and* ``1e-9`` relative proves that ``verify`` returns
   False, without running ``simplify``. The point is positive and irrational-looking, and symbols declared
   integer, negative, zero, etc. are excluded, so the point satisfies every assumption ``simplify`` could use.
   Pairs that are not refuted go to ``verify`` as before.
"""

from __future__ import annotations

import logging
import zlib
from functools import lru_cache

logger = logging.getLogger(__name__)

#: A difference must exceed both to refute: far above float rounding to 6 decimals and 15-digit float precision.
ABS_TOL = 1e-5
REL_TOL = 1e-9
_DIGITS = 30
#: Symbol assumptions that a positive non-integer point would violate (such symbols are never refuted).
_EXCLUDED_ASSUMPTIONS = (
    "integer", "rational", "negative", "nonpositive", "zero", "imaginary", "prime", "even", "odd", "composite",
)

_SLL_INSTALLED = False

#: Answers of every common shape. Parsing them once at worker start fills ANTLR's shared prediction cache (its DFA),
#: which otherwise is built during the first few hundred real parses of each process.
WARMUP_ANSWERS = (
    "57", "-7", "3.14", "\\frac{3}{4}", "-\\dfrac{1}{2}", "\\frac{\\sqrt{3}}{2}", "3\\sqrt{7}", "\\sqrt[3]{2}", "7\\sqrt3",
    "\\frac52", "2\\pi", "\\frac{5\\pi}{6}", "3^{10}", "2^{-3}", "e^{2}", "\\log_2 8", "\\sin x", "\\cos^2 \\theta",
    "x^2 - 5x + 6", "(x-1)(x+2)", "\\frac{x+1}{x-1}", "y = 4x - 1", "x = 5", "x \\le 3", "2x + 3y - z = 1",
    "(5, 2)", "\\left( 2, \\frac{\\pi}{4} \\right)", "[-2, 5)", "(-\\infty, 1] \\cup (4, \\infty)", "\\{1, 2, 3\\}",
    "1, 2, 3", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\text{Tuesday}", "\\text{Monday}", "10\\%", "35^\\circ",
    "3 + 4i", "\\$12.35", "1,000", "\\infty", "|x|", "\\binom{5}{2}", "5!", "\\frac{1}{2}\\cdot 3", "21_8",
)


def enable_sll_first_parsing() -> bool:
    """Make ``latex2sympy2_extended`` parse SLL-first with an LL fallback (module docstring); idempotent.

    Returns whether the patch is active (False, with a debug log, when the installed version does not have the
    expected structure; parsing is then simply unchanged).
    """
    global _SLL_INSTALLED
    if _SLL_INSTALLED:
        return True
    try:
        from antlr4.atn.PredictionMode import PredictionMode
        from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy
    except ImportError as err:  # pragma: no cover - depends on the installed versions
        logger.debug("SLL-first parsing not enabled: %s", err)
        return False
    original_parse, original_create = getattr(_Latex2Sympy, "parse", None), getattr(_Latex2Sympy, "create_parser", None)
    if original_parse is None or original_create is None:  # pragma: no cover
        logger.debug("SLL-first parsing not enabled: latex2sympy2_extended has no _Latex2Sympy.parse/create_parser")
        return False

    def create_parser(self, latex_str):
        parser = original_create(self, latex_str)
        if getattr(self, "_thrifty_sll", False):
            parser._interp.predictionMode = PredictionMode.SLL
        return parser

    def parse(self, latex_str):
        state = {k: (v.copy() if isinstance(v, dict) else v) for k, v in self.__dict__.items()}
        self._thrifty_sll = True
        try:
            return original_parse(self, latex_str)
        except Exception:  # noqa: BLE001 - SLL syntax error (or any error): the original LL parse decides
            self.__dict__.clear()
            self.__dict__.update(state)
            return original_parse(self, latex_str)
        finally:
            self.__dict__.pop("_thrifty_sll", None)

    _Latex2Sympy.create_parser = create_parser
    _Latex2Sympy.parse = parse
    _SLL_INSTALLED = True
    return True


def warm_up_parser(parse_answer) -> None:
    """Parse :data:`WARMUP_ANSWERS` with ``parse_answer`` (errors ignored) to fill ANTLR's prediction cache."""
    for answer in WARMUP_ANSWERS:
        try:
            parse_answer(answer)
        except Exception:  # noqa: BLE001
            pass


@lru_cache(maxsize=1)
def _allowed_node_types() -> tuple[type, ...]:
    import sympy

    return (
        sympy.Number, sympy.NumberSymbol, sympy.core.numbers.ImaginaryUnit, sympy.Symbol, sympy.Add, sympy.Mul,
        sympy.Pow, sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tan, sympy.cot, sympy.sec, sympy.csc,
        sympy.asin, sympy.acos, sympy.atan, sympy.acot, sympy.sinh, sympy.cosh, sympy.tanh, sympy.Abs,
    )


def _plain_expression(expr) -> bool:
    """A sympy ``Expr`` built only from numbers, constants, symbols, + * ^ and elementary functions."""
    import sympy

    if not isinstance(expr, sympy.Expr) or isinstance(expr, sympy.Symbol):
        return False  # bare symbols have their own comparison in math-verify (text answers, e vs E)
    allowed = _allowed_node_types()
    for node in sympy.preorder_traversal(expr):
        if not isinstance(node, allowed):
            return False
        if isinstance(node, sympy.Symbol) and any(getattr(node, f"is_{a}") for a in _EXCLUDED_ASSUMPTIONS):
            return False
    return True


def _point(symbols) -> dict:
    """A fixed positive, non-integer value in (0.5, 1.5) per symbol name (distinct names, distinct values)."""
    import sympy

    return {s: sympy.Float(0.5 + (zlib.crc32(s.name.encode()) % 99991) / 99991 + 1e-7, _DIGITS) for s in symbols}


def _finite_value(expr, point):
    import sympy

    value = expr.evalf(_DIGITS, subs=point) if point else expr.evalf(_DIGITS)
    if not value.is_number or value.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        return None
    real, imag = value.as_real_imag()
    if not (real.is_Number and imag.is_Number):
        return None
    return value


def refutes(gold_parsed: list, pred_parsed: list) -> bool:
    """True only when ``math_verify.verify(gold_parsed, pred_parsed)`` is certainly False (module docstring).

    Both arguments are ``math_verify.parse`` results (a sympy expression and its string). False means "don't
    know": the caller runs ``verify``.
    """
    import sympy

    gold_exprs = [x for x in gold_parsed if not isinstance(x, str)]
    pred_exprs = [x for x in pred_parsed if not isinstance(x, str)]
    if len(gold_exprs) != 1 or len(pred_exprs) != 1:
        return False
    gold_strs = [x.strip() for x in gold_parsed if isinstance(x, str)]
    pred_strs = [x.strip() for x in pred_parsed if isinstance(x, str)]
    if any(g and g == p for g in gold_strs for p in pred_strs):  # verify's string-to-string comparison
        return False
    gold, pred = gold_exprs[0], pred_exprs[0]
    if not (_plain_expression(gold) and _plain_expression(pred)):
        return False
    point = _point(gold.free_symbols | pred.free_symbols)
    gold_value, pred_value = _finite_value(gold, point), _finite_value(pred, point)
    if gold_value is None or pred_value is None:
        return False
    difference = abs(gold_value - pred_value).evalf(_DIGITS)
    scale = max(abs(gold_value).evalf(_DIGITS), abs(pred_value).evalf(_DIGITS), sympy.Integer(1))
    return bool(difference > ABS_TOL and difference > REL_TOL * scale)
