"""Size limits of src/instacap: a module under about 400 lines, a function under about 60.

A longer one passes when a comment or docstring line near its top starts with "Long because"
and gives the reason (within the module's first 30 lines; within a function's first 5 lines
after its signature). The modules and functions that are over the limit today and still to be
split are listed in KNOWN below; when one of them is back within the limit the check says so,
so that it leaves the list.

Usage: python .ci/sizes.py [ROOT]   (ROOT defaults to src/instacap)
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

MODULE_LINES = 400
FUNCTION_LINES = 60
REASON = re.compile(r"^\s*(#\s*|\"\"\"|)long because\b", re.IGNORECASE)

# Over the limit today, waiting to be split: "module.py" or "module.py:function".
KNOWN: set[str] = set()


def _has_reason(lines: list[str], start: int, count: int) -> bool:
    return any(REASON.match(line) for line in lines[start : start + count])


def oversized(root: Path) -> set[str]:
    """Every module and function of `root` over its limit without a written reason."""
    found: set[str] = set()
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        if len(lines) > MODULE_LINES and not _has_reason(lines, 0, 30):
            found.add(name)
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            assert node.end_lineno is not None
            length = node.end_lineno - node.lineno + 1
            # From the `def` line to five lines into the body (comments are not statements).
            top = node.body[0].lineno - node.lineno + 5
            if length > FUNCTION_LINES and not _has_reason(lines, node.lineno - 1, top):
                found.add(f"{name}:{node.name}")
    return found


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "src/instacap")
    found = oversized(root)
    new, fixed = sorted(found - KNOWN), sorted(KNOWN - found)
    for item in new:
        limit = f"{FUNCTION_LINES} lines" if ":" in item else f"{MODULE_LINES} lines"
        print(
            f"{root}/{item} is over {limit}: split it, or say why at its top in a line "
            'starting "Long because".'
        )
    for item in fixed:
        print(f"note: {item} is within the limits now; remove it from KNOWN in .ci/sizes.py.")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
