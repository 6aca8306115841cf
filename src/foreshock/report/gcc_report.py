"""`--format gcc`: `path:line:col: severity: [rule] message`, one line per finding (editors and CI parse it).

The severity word is gcc's: error, warning or note (foreshock's "info").
"""

from __future__ import annotations

from typing import TextIO

from foreshock.core.model import CheckResult

_WORD = {"error": "error", "warning": "warning", "info": "note"}


def one_line(text: str) -> str:
    return " ".join(text.split())


def render(result: CheckResult, out: TextIO) -> None:
    lines = [
        f"{f.path}:{f.line}:{f.column}: {_WORD.get(f.severity, f.severity)}: [{f.rule}] "
        f"{one_line(f.message)}\n"
        for f in result.findings
    ]
    out.write("".join(lines))
