"""`--format gcc`: `path:line:col: severity: [rule] message`, one line per finding (editors and CI parse it).

The severity word is gcc's: error, warning or note (foreshock's "info").
"""

from __future__ import annotations

import re
from typing import TextIO

from foreshock.core.model import CheckResult

_WORD = {"error": "error", "warning": "warning", "info": "note"}


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """Whitespace folded to single spaces and other control characters dropped: one clean line."""
    return _CONTROLS.sub("", " ".join(text.split()))


def _path(path: str) -> str:
    # A newline in a file name would split the record; gcc's format has no quoting, so escape it visibly.
    return path.replace("\r", "\\r").replace("\n", "\\n")


def render(result: CheckResult, out: TextIO) -> None:
    lines = [
        f"{_path(f.path)}:{f.line}:{f.column}: {_WORD.get(f.severity, f.severity)}: [{f.rule}] "
        f"{one_line(f.message)}\n"
        for f in result.findings
    ]
    out.write("".join(lines))
