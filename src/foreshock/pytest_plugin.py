"""pytest plugin: assert in a team's own test suite that its migrations are safe.

    def test_migrations_are_safe(foreshock_check):
        foreshock_check("migrations/")                        # fails on error-level findings
        foreshock_check("alembic.ini", max_severity="info")   # fails on warnings too
        foreshock_check("migrations/", stats="prod-stats.json")  # judged at production size

The fixture fails the test with one readable block listing each finding (file:line:col, rule, message, fix)
and each input that could not be analysed. It returns the CheckResult for further assertions.
Registered through the `pytest11` entry point, or with `-p foreshock.pytest_plugin`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import pytest

from foreshock.core.model import SEVERITIES, CheckResult, Finding, Severity

__all__ = ["ForeshockCheck", "foreshock_check", "format_failure", "run_check"]

PathArg = str | os.PathLike[str]

# SEVERITIES is ordered worst first: ("error", "warning", "info").
_RANK = {s: i for i, s in enumerate(SEVERITIES)}


class ForeshockCheck(Protocol):
    def __call__(
        self,
        paths: PathArg | Iterable[PathArg],
        *,
        stats: PathArg | None = ...,
        max_severity: Severity = ...,
        schema: Sequence[PathArg] = ...,
        config: PathArg | None = ...,
        pg_version: int | None = ...,
    ) -> CheckResult: ...


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("foreshock", "foreshock migration checks")
    group.addoption(
        "--foreshock-stats",
        default=None,
        metavar="FILE",
        help="Production size statistics (foreshock snapshot or hand-written) for foreshock_check.",
    )
    group.addoption(
        "--foreshock-pg-version", default=None, type=int, metavar="N", help="Target PostgreSQL major version."
    )


def _too_severe(findings: Iterable[Finding], max_severity: Severity) -> list[Finding]:
    limit = _RANK[max_severity]
    return [f for f in findings if _RANK.get(f.severity, 0) < limit]


def format_failure(result: CheckResult, bad: Sequence[Finding], max_severity: Severity, what: str) -> str:
    """The failure message: a header, then one line per finding (and its fix), then inputs not analysed."""
    lines: list[str] = []
    if bad:
        noun = "finding" if len(bad) == 1 else "findings"
        lines.append(f"foreshock: {len(bad)} {noun} above {max_severity!r} in {what}")
        for f in sorted(bad, key=lambda f: (f.path, f.line, f.column, f.rule)):
            lines.append(f"  {f.path}:{f.line}:{f.column}: {f.severity} [{f.rule}] {f.message}")
            if f.estimate is not None:
                e = f.estimate
                span = f"{e.low:.3g}-{e.high:.3g}s"
                lines.append(f"      at production size: ~{e.seconds:.3g}s ({span}) {e.source}")
            if f.fix:
                fix = f.fix.strip().splitlines()
                lines.append(f"      fix: {fix[0]}")
                lines.extend(f"           {ln}" for ln in fix[1:])
    if result.errors:
        lines.append(f"foreshock: {len(result.errors)} input(s) could not be analysed in {what}")
        lines.extend(f"  {_error_text(e)}" for e in result.errors)
    if result.size_blind and bad:
        lines.append("  (no production sizes given: pass stats= or --foreshock-stats to judge at size)")
    return "\n".join(lines)


def _error_text(err: Any) -> str:
    one_line = getattr(err, "one_line", None)
    return str(one_line()) if callable(one_line) else str(err)


def _as_list(paths: PathArg | Iterable[PathArg]) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def run_check(
    paths: PathArg | Iterable[PathArg],
    *,
    stats: PathArg | None = None,
    max_severity: Severity = "warning",
    schema: Sequence[PathArg] = (),
    config: PathArg | None = None,
    pg_version: int | None = None,
) -> CheckResult:
    """Run `foreshock check` and fail the current test when anything is above `max_severity`.

    max_severity is the worst severity tolerated: "warning" (default) fails on errors, "info" fails on
    warnings and errors, "error" never fails on findings. Inputs that cannot be analysed always fail.
    """
    from foreshock import api
    from foreshock.config import load_config, with_overrides

    if max_severity not in _RANK:
        raise pytest.UsageError(f"max_severity must be one of {', '.join(SEVERITIES)}, not {max_severity!r}")
    settings = load_config(config)
    if pg_version is not None:
        settings = with_overrides(settings, pg_version=str(pg_version))
    from foreshock.scale.sizes import load_sizes

    sizes = load_sizes(os.fspath(stats)) if stats is not None else None
    path_list = _as_list(paths)
    result = api.check(path_list, settings, schema=[os.fspath(s) for s in schema], sizes=sizes)
    bad = _too_severe(result.findings, max_severity)
    if bad or result.errors:
        what = ", ".join(path_list)
        pytest.fail(format_failure(result, bad, max_severity, what), pytrace=False)
    return result


@pytest.fixture
def foreshock_check(request: pytest.FixtureRequest) -> ForeshockCheck:
    """foreshock_check(paths, *, stats=None, max_severity="warning", schema=(), config=None, pg_version=None)

    Defaults for stats and pg_version come from --foreshock-stats and --foreshock-pg-version.
    """
    default_stats = request.config.getoption("--foreshock-stats", default=None)
    default_pg = request.config.getoption("--foreshock-pg-version", default=None)

    def check(paths: PathArg | Iterable[PathArg], **options: Any) -> CheckResult:
        for name, default in (("stats", default_stats), ("pg_version", default_pg)):
            if options.get(name) is None:
                options[name] = default
        return run_check(paths, **options)

    return check
