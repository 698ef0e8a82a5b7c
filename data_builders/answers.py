r"""Finding the answer a piece of reasoning states, without a model.

Used by the data builders to read the candidate answer of a thinking unit (MinD), of a short solution or of
an LLM-written rationale (ARM), and the printed result of a ``>>> f()`` program (ARM code format).

Order of evidence, strongest first: the last ``\boxed{}``; a sentence naming the answer ("the answer is X",
"Answer: C", "final answer: X"); a concluding sentence ("So/Therefore/Thus/Hence ... is X" or "... = X").
What follows the cue is trimmed of LaTeX inline-math wrappers and trailing punctuation, and kept only when it
is short (an expression, not a sentence), so a paragraph that merely discusses numbers states no answer.
"""

from __future__ import annotations

import re

from thrifty.formats import last_boxed

#: Longest text accepted as an answer expression after a cue.
MAX_ANSWER_CHARS = 60

_NAMED = re.compile(
    r"(?:final answer|the answer|answer|the result|the solution|the value|the remainder|the sum|the total)"
    r"\s*(?:is|should be|would be|must be|will be|=|:)\s*(?:therefore\s*)?(?P<ans>[^\n]+?)\s*"
    r"(?=(?:\.\s|\.$|,\s(?:which|since|because|so|but)|;|\n|$))",
    re.IGNORECASE,
)
_CONCLUDE = re.compile(
    r"(?:^|(?<=[.!?]\s))(?:so|therefore|thus|hence|that means|this means|which means)\b[^\n]*?"
    r"(?:\bis\b|\bare\b|\bequals\b|=)\s*(?P<ans>[^\n=]+?)\s*"
    r"(?=(?:\.\s|\.$|,\s(?:which|since|because|so|but|and so)|;|\n|$))",
    re.IGNORECASE,
)
_CHOICE = re.compile(
    r"(?:\b(?:answer|ans|option|choice)\s*(?:is|:)?\s*[:\-]?\s*|^)\(?([A-Ea-e])\)?\s*\.?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
#: "Answer: D) 109 rolls" / "ANSWER D 8000": a cue, then a capital option letter and the option's text.
_CHOICE_WITH_TEXT = re.compile(
    r"\b(?:answer|ans|option|choice)\s*(?:is|:)?\s*[:\-]?\s*\(?((?-i:[A-E]))(?:\)|\s)[^\n]*$",
    re.IGNORECASE | re.MULTILINE)
#: "Thus, C is the correct answer" / "So option A is correct".
_CHOICE_CORRECT = re.compile(r"(?:\b(?:option|choice)\s*)?\(?\b((?-i:[A-E]))\)?\s+is\s+(?:the\s+)?correct\b",
                             re.IGNORECASE)
#: GSM8K's final line ``#### 72``, and its calculator notes ``<<48/2=24>>``.
_GSM8K_FINAL = re.compile(r"^\s*####\s*(.+?)\s*$", re.MULTILINE)
_CALCULATOR = re.compile(r"<<[^<>\n]*>>")
_WRAPPERS = (("**", "**"),)
_MATH_DELIMITERS = re.compile(r"\\[()\[\]]|\$")
_WORDY = re.compile(r"\b(the|that|this|we|i|it|to|of|and|for|which|not|be|can|need|have|has|since|when)\b", re.I)


_LEADING_WORDS = re.compile(r"^(?:indeed|also|exactly|just|still|actually|simply|then|now|equal to)\s+", re.I)


def clean_expression(text: str) -> str | None:
    """Strip math wrappers and trailing punctuation; None when what is left is not a short expression."""
    s = _MATH_DELIMITERS.sub("", text)
    s = _LEADING_WORDS.sub("", s.strip()).rstrip(".,;:!").strip()
    if "=" in s:  # "x = 4" -> "4"
        s = s.rsplit("=", 1)[1].strip()
    changed = True
    while changed:
        changed = False
        for op, cl in _WRAPPERS:
            if s.startswith(op) and s.endswith(cl) and len(s) > len(op) + len(cl):
                s = s[len(op) : len(s) - len(cl)].strip().rstrip(".,;:").strip()
                changed = True
    if s.startswith("\\boxed"):
        s = last_boxed(s) or s
    if not s or len(s) > MAX_ANSWER_CHARS or len(_WORDY.findall(s)) > 1:
        return None
    if s.count("(") != s.count(")") or s.count("{") != s.count("}"):
        return None
    return s


def stated_answer(text: str, choice: bool = False) -> str | None:
    r"""The answer ``text`` states, or None: its last ``\boxed{}``, else the last named or concluded answer.

    With ``choice`` (multiple choice) a closing "Answer: C" / "Correct option - C" / a bare last-line letter is
    read first, as AQuA rationales end.
    """
    boxed = last_boxed(text)
    if boxed is not None and boxed.strip():
        return boxed.strip()
    final = _GSM8K_FINAL.findall(text)
    if final:  # GSM8K's "#### 72" states the answer outright
        return final[-1]
    text = _CALCULATOR.sub("", text)
    if choice:
        tail = text.strip()[-200:]
        found = [m for p in (_CHOICE, _CHOICE_WITH_TEXT, _CHOICE_CORRECT) for m in p.finditer(tail)]
        if found:
            return max(found, key=lambda m: m.start(1)).group(1).upper()
    for pattern in (_NAMED, _CONCLUDE):
        found = None
        for m in pattern.finditer(text):
            cand = clean_expression(m.group("ans"))
            if cand is not None:
                found = cand
        if found is not None:
            return found
    return None


def clean_solution(text: str | None) -> str | None:
    """A reference solution as short-CoT reasoning: GSM8K's ``<<a=b>>`` calculator notes and its final
    ``#### N`` line removed (the answer goes in the ``<ANSWER>`` block); None when nothing is left."""
    if not text:
        return None
    body = _GSM8K_FINAL.sub("", _CALCULATOR.sub("", text)).strip()
    return re.sub(r"\n{3,}", "\n\n", body) or None


def program_output(code: str) -> tuple[str, str] | None:
    """Split an ARM code body into (program, printed output): the output is the line after ``>>> f()``.

    Returns None when there is no ``>>> `` call line or nothing printed after it.
    """
    lines = code.strip("\n").splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].lstrip().startswith(">>> "):
            output = "\n".join(lines[i + 1 :]).strip()
            if not output:
                return None
            return "\n".join(lines[: i + 1]), output
    return None


_NORMALIZE = re.compile(r"\s+|\\left|\\right|\\[,!;: ]|\$|\\\(|\\\)|\^\{?\\circ\}?|\\text\{\s*\}")


def normalize_expression(text: str) -> str:
    """A loose textual normal form for comparing answer strings (spacing, sizing and math wrappers removed)."""
    s = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    return _NORMALIZE.sub("", s).rstrip(".")


def trailing_value(paragraph: str) -> str | None:
    """The right-hand side of the last ``=`` of a paragraph's last line, cleaned; None if not a short value."""
    last_line = paragraph.strip().splitlines()[-1] if paragraph.strip() else ""
    if "=" not in last_line:
        return None
    rhs = last_line.rsplit("=", 1)[1]
    return clean_expression(rhs.replace("\\]", "").replace("\\)", "").replace("$", ""))


def states_value(paragraph: str, value: str) -> bool:
    """Whether the paragraph ends by writing ``value`` as the result of an equation (``... = value``)."""
    rhs = trailing_value(paragraph)
    return rhs is not None and normalize_expression(rhs) == normalize_expression(value)


# ---------------------------------------------------------------------------------------------------------
# Terse endings (MinD segmentation)
# ---------------------------------------------------------------------------------------------------------
#: A bare value: an integer or decimal (thousands commas allowed), a simple fraction, optionally with a degree or
#: percent sign, or a short inline-math span.
_VALUE = (
    r"(?P<ans>[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?(?:\s*(?:%|\^\\circ|°))?"
    r"|\\[dt]?frac\{[^{}]{1,12}\}\{[^{}]{1,12}\}|\$[^$\n]{1,30}\$)"
)
#: "... so 8+4 = 13." / "..., so the total = 13." as the paragraph's last sentence ("so" anywhere in it).
_TERSE_SO = re.compile(r"\b(?:so|thus|hence|therefore|then|which gives|giving)\b[^.!?\n]*?=\s*" + _VALUE + r"\s*[.!]?\s*$",
                       re.IGNORECASE)
#: "Yes, 28." / "Right, it's 28." / "Correct: 28." as the paragraph's last sentence.
_TERSE_YES = re.compile(
    r"(?:^|[.!?:]\s+)(?:yes|yep|right|correct|indeed|exactly|ok(?:ay)?|good|confirmed|that checks out)\b[,:!.]?\s*"
    r"(?:(?:it(?:'s| is)|that(?:'s| is)|the answer is|we get|i get|got)\s+)?" + _VALUE + r"\s*[.!]?\s*$",
    re.IGNORECASE,
)


def terse_answer(paragraph: str) -> str | None:
    """The value a paragraph's terse ending states, as R1 writes them, or None.

    Two endings, read only at the very end of the paragraph (so a value in the middle of a derivation is not an
    answer): a last sentence with "so"/"thus"/"then"... and ``= value`` ("... so 8+4 = 13."), and an affirmation
    followed by a bare value ("Yes, 28."). The value must be a number, a simple fraction or a short ``$...$``.
    """
    text = paragraph.strip()
    for pattern in (_TERSE_YES, _TERSE_SO):
        m = pattern.search(text)
        if m:
            value = clean_expression(m.group("ans"))
            if value is not None:
                return value.replace(",", "") if re.fullmatch(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", value) else value
    return None
