r"""A seeded generator of (gold, prediction) pairs that covers what models really write, for the differential test
of :class:`thrifty.answer_check.AnswerChecker` against plain math-verify (tests/test_answer_corpus.py).

``generate(seed, n)`` returns ``n`` distinct pairs, the same for the same arguments (``random.Random(seed)``, no
other source of randomness). Each family draws a gold of one shape and pairs it with predictions that are
equivalent in another form, rounded or truncated at many precisions, slightly off, decorated (separators, units,
``\text{}``, degrees, money, percents, ``\boxed{}`` nesting) or simply another answer. Families: integers with
separators, decimals, percents, fractions (``a/b``, ``\frac``, ``\dfrac``, mixed numbers), scientific notation,
negatives, units and text, degrees, money, boxed nesting, intervals, sets and tuples, matrices, radicals and pi,
expressions, equations, multiple-choice letters, plain text, empty and malformed strings, plus the string pairs
of math-verify's own test suite (``tests/data/math_verify_suite_cases.json``, extracted by
``tests/data/extract_math_verify_cases.py`` from huggingface/Math-Verify ``tests/``).
"""

from __future__ import annotations

import json
import random
from fractions import Fraction
from pathlib import Path

SUITE_CASES = Path(__file__).parent / "data" / "math_verify_suite_cases.json"


def _fmt_decimal(x: float, places: int) -> str:
    return f"{x:.{places}f}"


def _trunc(x: float, places: int) -> str:
    s = f"{x:.{places + 6}f}"
    head, _, tail = s.partition(".")
    return head + ("." + tail[:places] if places else "")


def _sep(n: int, sep: str) -> str:
    return f"{n:,}".replace(",", sep)


def _frac_forms(fr: Fraction, rng: random.Random) -> list[str]:
    a, b = fr.numerator, fr.denominator
    sign = "-" if a < 0 else ""
    a = abs(a)
    forms = [f"{sign}\\frac{{{a}}}{{{b}}}", f"{sign}{a}/{b}", f"{sign}\\dfrac{{{a}}}{{{b}}}", f"{sign}\\tfrac{{{a}}}{{{b}}}",
             f"\\frac{{{sign}{a}}}{{{b}}}", f"{sign}\\frac{{{2 * a}}}{{{2 * b}}}", f"{sign}({a})/({b})", f"{sign}{a} / {b}"]
    if a < 10 and b < 10:
        forms.append(f"{sign}\\frac{a}{b}")
    if a > b and b > 1:
        whole, rest = divmod(a, b)
        forms += [f"{sign}{whole}\\frac{{{rest}}}{{{b}}}", f"{sign}{whole} {rest}/{b}", f"{sign}{whole}\\ \\frac{{{rest}}}{{{b}}}"]
    value = float(fr)
    for places in rng.sample(range(0, 10), 5):
        forms.append(_fmt_decimal(value, places))
        forms.append(_trunc(value, places))
    return forms


def _integers(rng: random.Random) -> tuple[str, list[str]]:
    n = rng.choice([rng.randint(0, 20), rng.randint(21, 999), rng.randint(1000, 10**7), rng.randint(10**7, 10**12)])
    if rng.random() < 0.25:
        n = -n
    g = str(n)
    preds = [g, str(n + 1), str(n - 1), str(-n), f"{n}.0", f"{n}.00", f"0{n}" if n >= 0 else g, f"+{n}" if n >= 0 else g,
             _sep(n, ","), _sep(n, "{,}"), _sep(n, " "), _sep(n, "\\,"), _sep(n, "\\!"), _sep(n, "."), f"{n}.",
             f"{n}.4", f"{n}.5", f"{n}.0000004", f"{n}.000001", f"{n - 1}.9999996", f"{n}\\%", f"{n}%",
             f"\\${n}", f"${n}", f"{n} dollars", f"{n}\\text{{ cm}}", f"{n}^\\circ", f"x = {n}", f"\\boxed{{{n}}}",
             f"{n}e0", f"{n} + 0", f"{n}\\cdot 1", f"\\text{{{n}}}", f"{{{n}}}", f"{n} apples", f"{n},"]
    if 0 <= n <= 20:
        preds.append(f"{n}!")
    if rng.random() < 0.5:
        g = rng.choice([_sep(n, ","), f"{n}.0", f"\\${n}", f"{n}\\%", f"{n}^\\circ", f"{n}\\text{{ cm}}"])
    return g, preds


def _decimals(rng: random.Random) -> tuple[str, list[str]]:
    places = rng.randint(1, 6)
    x = round(rng.uniform(-1000, 1000) if rng.random() < 0.3 else rng.uniform(0, 10), places)
    g = _fmt_decimal(x, places)
    preds = [g, g + "0", g + "00000001", g + "0000001", g + "000001", g + "00001", g.lstrip("0") if g.startswith("0.") else g,
             g.replace(".", ","), _fmt_decimal(x + 10 ** -places, places), _fmt_decimal(x - 10 ** -places, places),
             _fmt_decimal(x * 100, max(0, places - 2)) + "\\%", _fmt_decimal(x, places + 3)]
    for p in rng.sample(range(0, 10), 4):
        preds += [_fmt_decimal(x, p), _trunc(x, p)]
    fr = Fraction(g).limit_denominator(1000)
    preds += [f"\\frac{{{fr.numerator}}}{{{fr.denominator}}}", f"{fr.numerator}/{fr.denominator}"]
    return g, preds


def _fractions(rng: random.Random) -> tuple[str, list[str]]:
    b = rng.choice([2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 16, 17, 25, 99, 125, 1000])
    a = rng.randint(1, 3 * b)
    if rng.random() < 0.2:
        a = -a
    fr = Fraction(a, b)
    forms = _frac_forms(fr, rng)
    g = rng.choice(forms[:4]) if fr.denominator > 1 else str(fr.numerator)
    other = Fraction(a + rng.choice([-1, 1]), b)
    preds = forms + [f"\\frac{{{other.numerator}}}{{{other.denominator}}}", f"\\frac{{{b}}}{{{a}}}" if a else "0",
                     f"{float(other):.6f}", f"{float(fr) * 100:.4f}\\%", f"{float(fr) * 100:.1f}%"]
    return g, preds


def _percents(rng: random.Random) -> tuple[str, list[str]]:
    p = rng.choice([rng.randint(1, 100), round(rng.uniform(0, 100), 1), round(rng.uniform(0, 1), 2)])
    ps = str(p)
    frac = Fraction(str(p)) / 100
    g = rng.choice([f"{ps}\\%", f"{ps}%", str(float(frac)), ps, f"\\frac{{{frac.numerator}}}{{{frac.denominator}}}"])
    preds = [f"{ps}\\%", f"{ps}%", f"{ps} \\%", f"{ps}\\text{{ percent}}", f"{ps} percent", str(float(frac)), ps,
             f"{frac.numerator}/{frac.denominator}", f"\\frac{{{frac.numerator}}}{{{frac.denominator}}}",
             f"{float(frac) * 100 + 1:g}\\%", f"{float(frac):.3f}", f"0{ps}\\%", f"{ps}\\,\\%"]
    return g, preds


def _scientific(rng: random.Random) -> tuple[str, list[str]]:
    m, e = round(rng.uniform(1, 9.99), rng.randint(0, 3)), rng.randint(-6, 9)
    value = Fraction(str(m)) * Fraction(10) ** e
    plain = str(int(value)) if value.denominator == 1 else _fmt_decimal(float(value), max(0, -e + 3))
    g = rng.choice([f"{m} \\times 10^{{{e}}}", plain, f"{m}\\cdot10^{{{e}}}"])
    preds = [f"{m} \\times 10^{{{e}}}", f"{m}\\times10^{e}" if 0 <= e < 10 else f"{m}\\times10^{{{e}}}",
             f"{m} \\cdot 10^{{{e}}}", f"{m}e{e}", f"{m}E{e}", f"{m}*10^{e}", f"{m}*10**{e}", plain,
             f"{m} \\times 10^{{{e + 1}}}", f"{round(m + 0.1, 3)} \\times 10^{{{e}}}", f"10^{{{e}}}"]
    return g, preds


def _units(rng: random.Random) -> tuple[str, list[str]]:
    n = rng.choice([rng.randint(1, 500), round(rng.uniform(0, 100), 2)])
    unit = rng.choice(["cm", "m", "km", "kg", "meters", "inches", "square units", "units", "mph", "hours", "minutes",
                       "cm^2", "m^3", "feet", "degrees", "dollars", "cents", "liters", "ways"])
    g = rng.choice([str(n), f"{n}\\text{{ {unit}}}", f"{n} \\mbox{{{unit}}}"])
    preds = [str(n), f"{n}\\text{{ {unit}}}", f"{n}\\text{{{unit}}}", f"{n} \\text{{ {unit}}}", f"{n}\\ \\text{{{unit}}}",
             f"{n} \\mbox{{ {unit}}}", f"{n}\\,\\mathrm{{{unit}}}", f"{n} {unit}", f"{n}{unit}", f"\\text{{{n} {unit}}}",
             f"{n}\\textbf{{ {unit}}}", f"{n}\\text{{ {unit}}}^2", f"{n + 1}\\text{{ {unit}}}", f"{n}\\ {unit}"]
    return g, preds


def _degrees(rng: random.Random) -> tuple[str, list[str]]:
    d = rng.choice([15, 30, 36, 45, 60, 72, 75, 90, 105, 120, 135, 150, 180, 210, 270, 300, 330, 360, rng.randint(1, 359)])
    fr = Fraction(d, 180)
    rad = ("\\pi" if fr == 1 else f"\\frac{{{fr.numerator}\\pi}}{{{fr.denominator}}}" if fr.denominator > 1
           else f"{fr.numerator}\\pi")
    g = rng.choice([str(d), f"{d}^\\circ", f"{d}^{{\\circ}}", rad])
    preds = [str(d), f"{d}^\\circ", f"{d}^{{\\circ}}", f"{d}°", f"{d} degrees", f"{d}\\text{{ degrees}}", f"{d}\\degree",
             rad, f"{d + 1}^\\circ", f"{d}^\\circ C", f"\\angle {d}^\\circ", f"{float(fr) * 3.14159265:.4f}"]
    return g, preds


def _money(rng: random.Random) -> tuple[str, list[str]]:
    x = rng.choice([rng.randint(1, 100000), round(rng.uniform(0, 1000), 2)])
    s = f"{x:.2f}" if isinstance(x, float) else str(x)
    g = rng.choice([s, f"\\${s}", f"\\$ {s}", f"{s} dollars"])
    preds = [s, f"\\${s}", f"${s}", f"\\$ {s}", f"\\${x:,}", f"{s}\\$", f"{s} dollars", f"\\text{{\\${s}}}",
             f"USD {s}", f"{s}\\text{{ dollars}}", f"\\${s}.00" if "." not in s else f"\\${s}0", f"€{s}", f"{s}€",
             f"\\${float(x) + 0.01:.2f}", f"£{s}", f"{float(x) * 100:.0f} cents"]
    return g, preds


def _boxed(rng: random.Random) -> tuple[str, list[str]]:
    inner = rng.choice(["5", "\\frac{1}{2}", "2\\sqrt{3}", "x+1", "(1,2)", "\\{1,2\\}", "-3", "0.5", "\\pi", "B"])
    g = rng.choice([inner, f"\\boxed{{{inner}}}"])
    preds = [f"\\boxed{{{inner}}}", f"\\boxed{{\\boxed{{{inner}}}}}", f"\\fbox{{{inner}}}", f"\\boxed {inner}",
             f"{{{inner}}}", f"{{{{{inner}}}}}", f"\\boxed{{{inner}}}}}", f"{inner}}}", f"{{{inner}", f"\\boxed{{{inner}",
             "\\boxed{}", f"\\boxed{{ {inner} }}", f"$\\boxed{{{inner}}}$", f"\\[\\boxed{{{inner}}}\\]",
             f"\\boxed{{1}} \\boxed{{{inner}}}", f"\\boxed{{{inner}}} and \\boxed{{7}}", f"\\text{{\\boxed{{{inner}}}}}"]
    return g, preds


def _intervals(rng: random.Random) -> tuple[str, list[str]]:
    a, b = sorted(rng.sample(range(-20, 21), 2))
    lo, hi = rng.choice("(["), rng.choice(")]")
    g = rng.choice([f"{lo}{a}, {b}{hi}", f"{lo}{a},{b}{hi}", f"(-\\infty, {b}{hi}", f"{lo}{a}, \\infty)",
                    f"(-\\infty, {a}) \\cup ({b}, \\infty)", f"\\left{lo}{a}, {b}\\right{hi}"])
    flip = {"(": "[", "[": "(", ")": "]", "]": ")"}
    preds = [g, f"{lo}{a}, {b}{hi}", f"{flip[lo]}{a}, {b}{hi}", f"{lo}{a}, {b}{flip[hi]}", f"\\left{lo} {a}, {b} \\right{hi}",
             f"{lo}{a}, {b + 1}{hi}", f"x \\in {lo}{a}, {b}{hi}", f"{a} < x < {b}", f"{a} \\le x \\le {b}",
             f"(-\\infty, {b}{hi}", f"(-\\infty,{b}]", f"[{a}, \\infty)", f"(-\\infty, {a}) \\cup ({b}, \\infty)",
             f"(-\\infty, {a}) \\cup ({b}, +\\infty)", f"({b}, \\infty) \\cup (-\\infty, {a})", f"(-\\infty, {a}] \\cup [{b}, \\infty)",
             "\\mathbb{R}", f"[{a},{b}]\\cup[{b + 2},{b + 5}]", f"x<{a}", f"x \\geq {b}"]
    return g, preds


def _sets_tuples(rng: random.Random) -> tuple[str, list[str]]:
    xs = rng.sample(range(-9, 15), rng.randint(2, 4))
    joined = ", ".join(map(str, xs))
    rev = ", ".join(map(str, reversed(xs)))
    g = rng.choice([f"\\{{{joined}\\}}", f"({joined})", joined, f"\\left({joined}\\right)", f"[{joined}]"])
    preds = [f"\\{{{joined}\\}}", f"\\{{{rev}\\}}", f"({joined})", f"({rev})", joined, rev, f"[{joined}]",
             f"\\left( {joined} \\right)", f"{{{joined}}}", f"\\{{ {joined} \\}}", ",".join(map(str, xs)),
             f"x = {xs[0]}, {xs[1]}", f"x = {xs[0]} \\text{{ or }} x = {xs[1]}", f"{xs[0]} \\text{{ and }} {xs[1]}",
             f"({', '.join(map(str, xs[:-1]))})", f"({joined}, 0)", f"\\{{{joined}, {xs[0]}\\}}", f"{joined}; {xs[0]}",
             f"({xs[0]}, {xs[1]} + 0)", f"(x, y) = ({joined})"]
    return g, preds


def _matrices(rng: random.Random) -> tuple[str, list[str]]:
    r, c = rng.choice([(2, 1), (3, 1), (2, 2), (1, 2), (3, 3)])
    vals = [[rng.randint(-9, 9) for _ in range(c)] for _ in range(r)]

    def mat(env: str, v=vals) -> str:
        return f"\\begin{{{env}}}" + " \\\\ ".join(" & ".join(map(str, row)) for row in v) + f"\\end{{{env}}}"

    bumped = [row[:] for row in vals]
    bumped[0][0] += 1
    half = [[f"\\frac{{{2 * x}}}{{2}}" for x in row] for row in vals]
    g = rng.choice([mat("pmatrix"), mat("bmatrix")])
    preds = [mat("pmatrix"), mat("bmatrix"), mat("matrix"), mat("vmatrix"), mat("pmatrix", bumped), mat("pmatrix", half),
             "\\left(" + mat("array").replace("\\begin{array}", "\\begin{array}{" + "c" * c + "}") + "\\right)",
             "(" + ", ".join(str(x) for row in vals for x in row) + ")", mat("pmatrix", [list(t) for t in zip(*vals, strict=True)])]
    return g, preds


def _radicals_pi(rng: random.Random) -> tuple[str, list[str]]:
    k, m = rng.randint(1, 9), rng.choice([2, 3, 5, 6, 7, 10, 11])
    q = rng.randint(2, 9)
    value = k * m ** 0.5
    g = rng.choice([f"{k}\\sqrt{{{m}}}", f"\\sqrt{{{k * k * m}}}", f"{k}\\pi", f"\\frac{{{k}\\pi}}{{{q}}}",
                    f"\\frac{{\\sqrt{{{m}}}}}{{{q}}}", f"{k} + \\sqrt{{{m}}}", f"{k}\\sqrt[3]{{{m}}}", f"{k}\\pi^2", "\\pi"])
    preds = [g, f"{k}\\sqrt{{{m}}}", f"{k}\\sqrt{m}", f"{k} \\sqrt {{{m}}}", f"\\sqrt{{{k * k * m}}}", f"{k}*sqrt({m})",
             f"{k}\\cdot\\sqrt{{{m}}}", f"{value:.4f}", f"{value:.2f}", f"{value:.6f}", f"{k + 1}\\sqrt{{{m}}}",
             f"{k}\\pi", f"{k} \\pi", f"{k}*pi", f"{k * 3.14159265:.4f}", f"{k * 3.14:.2f}", f"\\frac{{{k}\\pi}}{{{q}}}",
             f"\\frac{{{k}}}{{{q}}}\\pi", f"{k}\\pi/{q}", f"\\frac{{\\sqrt{{{m}}}}}{{{q}}}", f"\\frac{{1}}{{{q}}}\\sqrt{{{m}}}",
             f"\\sqrt{{{m}}}/{q}", f"{k} + \\sqrt{{{m}}}", f"\\sqrt{{{m}}} + {k}", f"{k}\\sqrt[3]{{{m}}}",
             f"{k}\\pi^2", f"{k}\\pi^{{2}}", "\\pi", "pi", "3.14159", "\\sqrt{-1}", f"{k}i", f"{k} + {m}i"]
    return g, preds


def _expressions(rng: random.Random) -> tuple[str, list[str]]:
    a, b = rng.randint(1, 9), rng.randint(-9, 9)
    sb = f"+ {b}" if b >= 0 else f"- {-b}"
    g = rng.choice([f"{a}x {sb}", f"x^2 + {2 * a}x + {a * a}", f"(x+{a})^2", f"\\frac{{x+{a}}}{{{a + 1}}}",
                    f"{a}x^2 {sb}x", f"\\log_{{2}} {2 ** a}", f"e^{{{a}}}", f"\\sin({a}x)", f"{a}^{{{b % 5 + 1}}}",
                    f"\\binom{{{a + 3}}}{{2}}", f"{a}!", f"|{b}|", f"\\ln {a}"])
    preds = [g, f"{a}x {sb}", f"{sb.replace(' ', '')} + {a}x", f"{a}*x {sb}", f"x^2 + {2 * a}x + {a * a}", f"(x+{a})^2",
             f"(x + {a})(x + {a})", f"\\frac{{x+{a}}}{{{a + 1}}}", f"\\frac{{1}}{{{a + 1}}}x + \\frac{{{a}}}{{{a + 1}}}",
             f"{a}x^2 {sb}x", f"x({a}x {sb})", f"{a}", str(2 ** a), f"\\log_{{2}} {2 ** a}", f"e^{a}", f"\\exp({a})",
             f"{2.718281828 ** a:.4f}", f"\\sin({a}x)", f"\\sin {a}x", f"{a ** (b % 5 + 1)}", f"{a}^{b % 5 + 1}",
             str((a + 3) * (a + 2) // 2), f"\\binom{{{a + 3}}}{{2}}", f"\\dbinom{{{a + 3}}}{{2}}", f"{a}!",
             str(__import__('math').factorial(a)), str(abs(b)), f"|{b}|", f"\\ln {a}", f"\\log {a}", f"{a}y {sb}",
             f"{a}t {sb}", f"{a}x {sb} + 0.0000001"]
    return g, preds


def _equations(rng: random.Random) -> tuple[str, list[str]]:
    n, m = rng.randint(-20, 20), rng.randint(1, 9)
    var = rng.choice(["x", "y", "a", "k", "n", "t"])
    g = rng.choice([str(n), f"{var} = {n}", f"{var}={n}", f"y = {m}x + {n}", f"{var} = {n}, y = {m}"])
    preds = [str(n), f"{var} = {n}", f"{var}={n}", f"{var} = {n + 1}", f"z = {n}", f"{n} = {var}", f"{var} \\approx {n}",
             f"y = {m}x + {n}", f"{m}x + {n}", f"y = {n} + {m}x", f"y - {m}x = {n}", f"{var} = {n}, y = {m}",
             f"y = {m}, {var} = {n}", f"({n}, {m})", f"{var} = {n} \\text{{ or }} {var} = {m}", f"{var} \\le {n}",
             f"{var} < {n}", f"{var} \\geq {n}", f"{var} = \\frac{{{2 * n}}}{{2}}", f"{var}^2 = {n * n}"]
    return g, preds


def _choices(rng: random.Random) -> tuple[str, list[str]]:
    letter = rng.choice("ABCDE")
    other = rng.choice([x for x in "ABCDE" if x != letter])
    g = rng.choice([letter, f"({letter})", f"\\text{{{letter}}}", f"\\text{{({letter})}}"])
    preds = [letter, letter.lower(), f"({letter})", f"{letter})", f"{letter}.", f"\\text{{{letter}}}", f"\\textbf{{{letter}}}",
             f"\\text{{({letter})}}", f"option {letter}", f"Option ({letter})", f"Answer: {letter}", f"answer is {letter}",
             f"({letter}) 42", f"{letter}) 21", other, f"({other})", f"{letter}, {other}", f"\\mathrm{{{letter}}}",
             f"\\boxed{{{letter}}}", f"{letter} and {other}", f"**{letter}**", f"\\text{{{letter}}} 5"]
    return g, preds


_WORDS = ["Tuesday", "Monday", "yes", "no", "even", "odd", "Alice", "Bob", "north", "east", "red", "blue", "true", "false",
          "always", "never", "infinite", "none", "impossible", "circle", "parabola", "ellipse", "hyperbola", "a square"]


def _text(rng: random.Random) -> tuple[str, list[str]]:
    w = rng.choice(_WORDS)
    o = rng.choice([x for x in _WORDS if x != w])
    g = rng.choice([w, f"\\text{{{w}}}", f"\\text{{ {w} }}", f"\\textbf{{{w}}}", f"\\mathrm{{{w}}}"])
    preds = [w, w.lower(), w.upper(), w.capitalize(), f"\\text{{{w}}}", f"\\text{{ {w}}}", f"\\textbf{{{w}}}",
             f"\\mathrm{{{w}}}", f"\\textit{{{w}}}", f"\\text{{{w}.}}", f"{w}.", f"The answer is {w}", f"\\text{{{o}}}",
             o, f"{w} {o}", f"\\text{{{w} and {o}}}", f"\\text{{(A) {w}}}", f"'{w}'", f'"{w}"']
    return g, preds


_MALFORMED = ["", " ", "\\", "{", "}", "{}", "$", "$$", "\\(", "\\)", "\\[", "\\]", "\\frac{1}{", "\\frac{}{}", "\\frac",
              "\\sqrt{}", "\\sqrt", "x^", "^2", "_3", "1..2", "--3", "3-", "+", "=", "==", "1==1", "()", "[]", "(,)",
              "\\left(", "\\right)", "\\begin{pmatrix}", "\\end{pmatrix}", "\\boxed{", "\\boxed", "\\text{", "\\text{}",
              "1/0", "0/0", "\\frac{1}{0}", "\\infty", "-\\infty", "∞", "NaN", "nan", "None", "null", "undefined",
              "∅", "\\emptyset", "\\varnothing", "???", "...", "\\ldots", "%", "\\%", "°", "\\circ", "&", "\\\\",
              "1 2 3", "1,,2", "(1,2", "1,2)", "[1,2", "\\{1,2", "\\}", "a=b=c", "x=", "=5", "3 =", "\\frac{1}{2",
              "\\dfrac", "x^{", "\\sqrt[3]", "\\log", "\\sin", "\\cos(", "e^", "10^", "1e", "1e+", ".", "-", "0x1F",
              "1_2", "12_3", "21_8", "\\mathbf{}", "\\overline{3}", "0.\\overline{3}", "0.(3)", "1,000,00", "1 000 000",
              "½", "²", "3²", "√2", "π", "2π", "α", "θ = 30", "\u200b5", "５", "5\u00a0000"]


def _malformed(rng: random.Random) -> tuple[str, list[str]]:
    g = rng.choice(["5", "\\frac{1}{2}", "0", "\\infty", "(1,2)", "x+1", "\\text{no}", "B", "1000", "\\sqrt{2}",
                    rng.choice(_MALFORMED)])
    return g, rng.sample(_MALFORMED, 25)


FAMILIES = {
    "integers": _integers, "decimals": _decimals, "fractions": _fractions, "percents": _percents,
    "scientific": _scientific, "units": _units, "degrees": _degrees, "money": _money, "boxed": _boxed,
    "intervals": _intervals, "sets_tuples": _sets_tuples, "matrices": _matrices, "radicals_pi": _radicals_pi,
    "expressions": _expressions, "equations": _equations, "choices": _choices, "text": _text, "malformed": _malformed,
}


def suite_pairs() -> list[tuple[str, str]]:
    """The (gold, prediction) string pairs of math-verify's own test suite."""
    return [(g, p) for g, p, _ in json.loads(SUITE_CASES.read_text())]


def generate(seed: int = 0, n: int = 20_000, include_suite: bool = True) -> list[tuple[str, str, str]]:
    """``n`` distinct ``(family, gold, prediction)`` triples, deterministic in ``seed`` (module docstring).

    Families take turns; within a family each gold gets its own predictions plus two predictions drawn from other
    families (cross-shape pairs). The suite pairs (family ``math_verify_suite``) come first when included.
    """
    rng = random.Random(seed)
    out: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()

    def add(family: str, gold: str, pred: str) -> None:
        if (gold, pred) not in seen and len(out) < n:
            seen.add((gold, pred))
            out.append((family, gold, pred))

    if include_suite:
        for gold, pred in suite_pairs():
            add("math_verify_suite", gold, pred)
    names = sorted(FAMILIES)
    pool: list[str] = ["0", "1", "-1"]
    stalls = 0
    while len(out) < n:
        before = len(out)
        for name in names:
            gold, preds = FAMILIES[name](rng)
            for pred in preds:
                add(name, gold, pred)
            for pred in rng.sample(pool, 2):
                add(name, gold, pred)
            pool.extend(rng.sample(preds, min(2, len(preds))))
            if len(pool) > 5000:
                pool = pool[-2500:]
        stalls = stalls + 1 if len(out) == before else 0
        if stalls > 50:
            raise RuntimeError(f"the corpus generator cannot reach {n} distinct pairs (stuck at {len(out)})")
    return out


# ---------------------------------------------------------------------------------------------------------
# The reference: plain math-verify, as a user calls it, in parallel processes
# ---------------------------------------------------------------------------------------------------------
def _reference_chunk(pairs: list[tuple[str, str]]) -> list[bool]:
    """``verify(parse(\\boxed{gold}), parse(\\boxed{prediction}))`` with math-verify's defaults (its own timeouts,
    no thrifty speed-up); parses are memoised per string (``parse`` is a pure function of its input)."""
    import logging

    logging.disable(logging.CRITICAL)
    from math_verify import parse, verify

    from thrifty.answer_check import math_verify_configs, math_verify_input

    configs = math_verify_configs()
    memo: dict[str, list] = {}

    def parsed(text: str) -> list:
        if text not in memo:
            memo[text] = parse(math_verify_input(text), extraction_config=configs)
        return memo[text]

    return [bool(verify(parsed(g), parsed(p))) for g, p in pairs]


def reference_verdicts(pairs: list[tuple[str, str]], processes: int = 2, chunk: int = 500) -> list[bool]:
    """Plain math-verify's verdict on each (gold, prediction), computed in ``processes`` fresh processes (spawned,
    so nothing of the caller is patched) on chunks of pairs sorted by gold (each gold parsed once per chunk)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    order = sorted(range(len(pairs)), key=lambda i: pairs[i][0])
    chunks = [[pairs[i] for i in order[k : k + chunk]] for k in range(0, len(order), chunk)]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = list(pool.map(_reference_chunk, chunks))
    flat = [v for part in results for v in part]
    out = [False] * len(pairs)
    for i, v in zip(order, flat, strict=True):
        out[i] = v
    return out


def _reference_completion_chunk(pairs: list[tuple[str, str]]) -> list[bool]:
    """``verify(parse(\\boxed{gold}), parse(completion))``: math-verify's default extraction over the whole completion
    (open-r1's accuracy reward, lighteval's default), its own timeouts, no thrifty speed-up."""
    import logging

    logging.disable(logging.CRITICAL)
    from math_verify import parse, verify

    from thrifty.answer_check import math_verify_configs, math_verify_input

    return [bool(verify(parse(math_verify_input(g), extraction_config=math_verify_configs()), parse(c))) for g, c in pairs]


def reference_completion_verdicts(pairs: list[tuple[str, str]], processes: int = 2) -> list[bool]:
    """:func:`_reference_completion_chunk` over ``(gold, completion)`` pairs in ``processes`` spawned processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    size = -(-len(pairs) // processes)
    chunks = [pairs[k : k + size] for k in range(0, len(pairs), size)]
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        return [v for part in pool.map(_reference_completion_chunk, chunks) for v in part]
