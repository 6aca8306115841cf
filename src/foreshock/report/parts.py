"""A line-per-finding report (`gcc`, `github`) in shares, one per reported file, so that the history cache
keeps the shares of the files that did not change and a run over the same history with new files prints
them without rebuilding those files' findings.

A file's share is its findings' lines and what the rest of the run's output needs of it: how many of its
findings are errors (the exit code) and info (the count of those not listed), its errors by the key a run
tells duplicates by (its printed line follows from it), and the first bad input in it (which names the file
as not analysed). Whether a report can be made this way, and of which shares, is the caller's to say: the
findings' lines of one file must not depend on another's (check's verdict is per file, but for migrations
deployed in a maintenance window and `--include-down`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from foreshock.cache import fast
from foreshock.core.model import CheckResult, Finding
from foreshock.errors import InputError
from foreshock.report import gcc_report, github_report

__all__ = ["FORMATS", "Share", "error_key", "error_text", "file_part", "is_share", "stdout"]

FORMATS = ("gcc", "github")
# Each format's reporter: its lines for findings, for errors (a format that prints them on stdout), and what
# follows them.
_REPORTERS = {"gcc": gcc_report, "github": github_report}

# (path, error-level findings, info-level findings, keys of the analysis' errors in the file, keys of the
# rule engine's errors in it, (message, line) of its first bad input or None, what the format prints on
# stdout for each of those errors, in that order): plain values, kept with marshal (foreshock.cache.shares)
# and read back without pickle. The file's lines are kept apart.
Share = tuple[
    str, int, int, tuple[str, ...], tuple[str, ...], tuple[str, int] | None, tuple[str, ...]
]


def error_key(err: Any) -> str:
    """What tells an error from another in a run's list (duplicates are reported once); the printed line is
    made from it alone (report.common.error_line gives the same line for an error and for its key)."""
    return err.one_line() if isinstance(err, InputError) else str(err)


def file_part(
    path: str,
    findings: Sequence[Finding],
    file_errors: Iterable[Any],
    engine_errors: Iterable[Any],
    fmt: str,
    show_info: bool,
) -> tuple[Share, str | bytes]:
    """One file's share and its lines (as fast.encoded gives them): its findings (as the verdict left them,
    in report order) and its errors."""
    if fmt not in FORMATS:
        raise ValueError(f"no per-file shares for format {fmt!r}")
    shown = findings if show_info else [f for f in findings if f.severity != "info"]
    errors = tuple(file_errors)
    engine = tuple(engine_errors)
    first = next((e for e in errors if isinstance(e, InputError)), None)
    share = (
        path,
        sum(1 for f in findings if f.severity == "error"),
        sum(1 for f in findings if f.severity == "info"),
        tuple(error_key(e) for e in errors),
        tuple(error_key(e) for e in engine),
        None if first is None else (first.message, first.line),
        tuple(error_text(e, fmt) for e in (*errors, *engine)),
    )
    return share, fast.encoded(_REPORTERS[fmt].finding_lines(shown))


def error_text(err: Any, fmt: str) -> str:
    """What the format prints on stdout for an input error ("" for gcc: its errors go to stderr only)."""
    return github_report.error_lines([err]) if fmt == "github" else ""


def _strings(value: object) -> bool:
    return isinstance(value, tuple) and all(isinstance(v, str) for v in value)


def is_share(value: object) -> bool:
    """A share as file_part makes it (a kept entry is checked before it is used)."""
    if not (isinstance(value, tuple) and len(value) == 7):
        return False
    path, errors, info, file_errors, engine_errors, first, texts = value
    first_ok = first is None or (
        isinstance(first, tuple) and len(first) == 2 and isinstance(first[0], str)
        and isinstance(first[1], int)
    )
    return (
        isinstance(path, str)
        and isinstance(errors, int)
        and isinstance(info, int)
        and _strings(file_errors)
        and _strings(engine_errors)
        and first_ok
        and _strings(texts)
        and len(texts) == len(file_errors) + len(engine_errors)
    )


def stdout(
    lines: Sequence[str | bytes], errors: Sequence[str], rest: CheckResult, fmt: str
) -> tuple[list[str | bytes], str | bytes]:
    """The report in pieces (fast.Text): the shares' lines in order, what the format prints for the run's
    `errors` (error_text of each, once), then what follows (`rest`: the run's result but for its findings);
    and that last piece."""
    if fmt not in FORMATS:
        raise ValueError(f"no per-file shares for format {fmt!r}")
    tail = fast.encoded("".join(errors) + _REPORTERS[fmt].trailer(rest))
    return [*lines, tail], tail
