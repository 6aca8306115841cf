"""The one call behind `foreshock trace`: load migrations, run them on a sandbox, compare with check."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import replace

from foreshock.config import Settings
from foreshock.core.analyze import analyze
from foreshock.core.model import FileAnalysis
from foreshock.errors import InputError
from foreshock.sandbox import open_sandbox
from foreshock.sources import discover
from foreshock.trace.compare import compare
from foreshock.trace.units import TraceResult, trace_units


def trace(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    settings: Settings | None = None,
    *,
    schema: Sequence[str | os.PathLike[str]] = (),
    sandbox: str = "embedded",
    pg_version: int | None = None,
    sandbox_dsn: str | None = None,
    allow_existing: bool = False,
) -> tuple[TraceResult, tuple[FileAnalysis, ...]]:
    """Trace migrations (SQL files/dirs, Alembic or Django projects) on a sandbox and compare with check.

    sandbox: "embedded" (default), "initdb" (pg_version picks /usr/lib/postgresql/<v>/bin) or "dsn"
    (sandbox_dsn, refused when its database holds tables foreshock did not create unless allow_existing).
    Returns the trace (with .disagreements filled in) and the static analyses (for the side-by-side view). The
    static side is analysed for the sandbox's major version, so both sides talk about the same PostgreSQL.
    Raises SandboxError/ConfigError when no sandbox can be had; input errors are in result.errors.
    """
    settings = settings or Settings()
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    path_list = [os.fspath(p) for p in paths]
    loaded = discover(path_list, schema=[os.fspath(s) for s in schema], options=settings.sources)
    input_errors = [e.one_line() if isinstance(e, InputError) else str(e) for e in loaded.errors]
    # Migrations the sources could not render are not traced either: say which, and why.
    input_errors += [
        f"{n.path}{f':{n.line}' if n.line else ''}: not analysed: {n.reason}"
        for n in loaded.not_analysed
        if not n.input_error
    ]
    if not any(not u.history for u in loaded.units):
        if not input_errors:
            input_errors.append("no migrations to trace (only schema set-up was given)")
        return TraceResult((), 0, tuple(input_errors)), ()
    kind = "dsn" if sandbox_dsn else sandbox
    with open_sandbox(kind, version=pg_version, dsn=sandbox_dsn, allow_existing=allow_existing) as sb:
        analysis = replace(settings.analysis, pg_version=sb.major_version)
        static = analyze(loaded.units, analysis)
        result = trace_units(sb, loaded.units, analysis, static)
    disagreements = tuple(compare(static, result.files))
    result = replace(result, errors=(*input_errors, *result.errors), disagreements=disagreements)
    return result, static
