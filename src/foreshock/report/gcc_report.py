"""`--format gcc`: `path:line:col: severity: [rule] message`, one line per finding (editors and CI parse it).

The severity word is gcc's: error, warning or note (foreshock's "info"). Migrations that could not be
analysed follow as `path:line:1: error: [not-analysed] reason` (warning when accepted); the summary (layouts,
migration counts) goes to stderr with the input errors, so every line here stays parseable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TextIO

from foreshock.core.model import CheckResult, Finding

_WORD = {"error": "error", "warning": "warning", "info": "note"}


_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """Whitespace folded to single spaces and other control characters dropped: one clean line."""
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text  # already one clean line (most messages): nothing to fold
    return _CONTROLS.sub("", " ".join(text.split()))


def _path(path: str) -> str:
    # A newline in a file name would split the record; gcc's format has no quoting, so escape it visibly.
    return path.replace("\r", "\\r").replace("\n", "\\n")


def finding_lines(findings: Iterable[Finding]) -> str:
    """The findings' lines, in the order given (a history cache keeps each file's share of a report)."""
    return "".join(
        f"{_path(f.path)}:{f.line}:{f.column}: {_WORD.get(f.severity, f.severity)}: [{f.rule}] "
        f"{one_line(f.message)}\n"
        for f in findings
    )


def trailer(result: CheckResult) -> str:
    """What follows the findings: the migrations not analysed, then the down sections' findings."""
    # Migrations that could not be analysed, where an editor can jump to them (bad input is on stderr).
    word = "warning" if result.accept_not_analysed else "error"
    lines = [
        f"{_path(n.path)}:{n.line or 1}:1: {word}: [not-analysed] {one_line(n.reason)}\n"
        for n in result.not_analysed
        if not n.input_error
    ]
    if result.down is not None:
        lines += [
            f"{_path(f.path)}:{f.line}:{f.column}: {_WORD.get(f.severity, f.severity)}: [{f.rule}] (down) "
            f"{one_line(f.message)}\n"
            for f in result.down.findings
        ]
    return "".join(lines)


def render(result: CheckResult, out: TextIO) -> None:
    out.write(finding_lines(result.shown()) + trailer(result))
