"""`--format github`: GitHub Actions workflow commands, one annotation per finding and per input error.

Escaping follows the runner's rules: in the message `%`, CR and LF are percent-encoded; in property
values (file, title) `:` and `,` are too, since they delimit properties.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TextIO

from foreshock.core.model import CheckResult, Finding
from foreshock.report.common import error_location

_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(level: str, path: str, line: int, col: int, title: str, message: str) -> str:
    props = []
    if path:
        props.append(f"file={escape_property(path)}")
    if line:
        props.append(f"line={line}")
        props.append(f"col={col or 1}")
    props.append(f"title={escape_property(title)}")
    return f"::{level} {','.join(props)}::{escape_data(message)}\n"


def finding_lines(findings: Iterable[Finding]) -> str:
    """One annotation per finding, in the order given (a history cache keeps each file's share)."""
    parts = []
    for f in findings:
        message = f.message if not f.fix else f"{f.message}\n\nSafer:\n{f.fix}"
        parts.append(_command(_LEVEL.get(f.severity, "warning"), f.path, f.line, f.column,
                              f"foreshock {f.rule}", message))
    return "".join(parts)


def error_lines(errors: Iterable[Any]) -> str:
    """One annotation per input error."""
    parts = []
    for err in errors:
        path, line, col, message = error_location(err)
        parts.append(_command("error", path, line, col, "foreshock could not analyse", message))
    return "".join(parts)


def trailer(result: CheckResult) -> str:
    """The migrations not analysed (bad input is annotated with the errors)."""
    level = "warning" if result.accept_not_analysed else "error"
    title = "foreshock did not analyse this migration"
    return "".join(
        _command(level, n.path, n.line, 0, title, n.reason) for n in result.not_analysed if not n.input_error
    )


def render(result: CheckResult, out: TextIO) -> None:
    out.write(finding_lines(result.shown()) + error_lines(result.errors) + trailer(result))
