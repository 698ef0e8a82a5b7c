"""Extract the (gold, prediction) string pairs of Math-Verify's own test suite into math_verify_suite_cases.json.

Usage (after fetching https://github.com/huggingface/Math-Verify; MIT licence, (c) 2024 The HuggingFace Team):
    python tests/data/extract_math_verify_cases.py MATH_VERIFY_REPO/tests > tests/data/math_verify_suite_cases.json

Every ``@pytest.mark.parametrize`` row whose first two values are string literals is kept as ``[gold, pred]``,
with the file it came from. Only the strings are used by thrifty's corpus (tests/answer_corpus.py): the verdict
they are checked against is math-verify's own on thrifty's boxed inputs, not the suite's expected column.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path


def cases(folder: Path) -> list[list[str]]:
    out: list[list[str]] = []
    for path in sorted(folder.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "parametrize" and len(node.args) >= 2):
                continue
            rows = node.args[1]
            if not isinstance(rows, (ast.List, ast.Tuple)):
                continue
            for row in rows.elts:
                if isinstance(row, ast.Tuple) and len(row.elts) >= 2:
                    values = row.elts[:2]
                    if all(isinstance(v, ast.Constant) and isinstance(v.value, str) for v in values):
                        out.append([values[0].value, values[1].value, path.name])
    return out


if __name__ == "__main__":
    json.dump(cases(Path(sys.argv[1])), sys.stdout, ensure_ascii=False, indent=0)
    sys.stdout.write("\n")
