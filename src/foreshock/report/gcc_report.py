"""`--format gcc`: `path:line:col: severity: [rule] message`, one line per finding (editors and CI parse it).

The severity word is gcc's: error, warning or note (foreshock's "info").
"""

from __future__ import annotations

from typing import TextIO

from foreshock.core.model import CheckResult

_WORD = {"error": "error", "warning": "warning", "info": "note"}


def one_line(text: str) -> str:
    return " ".join(text.split())


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
