"""The public API: one function per command; the CLI only parses options, calls it and renders the result."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from foreshock.config import Settings
from foreshock.core.locks import LockMode
from foreshock.core.model import CheckResult, FileAnalysis, MigrationUnit, StatementAnalysis
from foreshock.core.schema import Schema
from foreshock.core.sql import parse
from foreshock.errors import ForeshockError, InputError
from foreshock.sources import discover
from foreshock.sources.files import load_schema_files


def _paths(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def _remap_statement(sa: StatementAnalysis, unit: MigrationUnit) -> StatementAnalysis:
    st = sa.statement
    # Generated SQL (Alembic/Django): the column in the generated text means nothing in the .py file.
    moved = dataclasses.replace(
        st,
        line=unit.source_line(st.line),
        column=1,
        end_line=unit.source_line(st.end_line),
        end_column=1,
    )
    return dataclasses.replace(sa, statement=moved)


def _remap_file(fa: FileAnalysis, unit: MigrationUnit) -> FileAnalysis:
    if unit.line_map is None:
        return fa
    return dataclasses.replace(
        fa,
        statements=tuple(_remap_statement(sa, unit) for sa in fa.statements),
        transactions=tuple(
            dataclasses.replace(t, line=unit.source_line(t.line), column=1) for t in fa.transactions
        ),
        errors=tuple(_remap_error(e, unit) for e in fa.errors),
    )


def _remap_error(err: Any, unit: MigrationUnit | None) -> Any:
    if unit is None or unit.line_map is None or not isinstance(err, InputError) or not err.line:
        return err
    return InputError(err.message, err.path, unit.source_line(err.line), 1)


def check(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    settings: Settings | None = None,
    *,
    schema: Sequence[str | os.PathLike[str]] = (),
    since: str | None = None,
) -> CheckResult:
    """Analyse migrations (SQL files/directories, Alembic or Django projects) without touching a database.

    schema: schema history files (pg_dump --schema-only). since: a git ref; only migrations changed since
    it are reported, the others are read as history. Bad input never raises: every file, path or
    statement that cannot be analysed becomes one entry of CheckResult.errors (an InputError with
    path:line:col) and everything else is still analysed.
    """
    from foreshock.core.analyze import analyze
    from foreshock.rules import RuleEngine

    settings = settings or Settings()
    history = load_schema_files([os.fspath(s) for s in schema])
    errors: list[Any] = list(history.errors)
    model = _schema_model(history.units, errors)
    loaded = discover(_paths(paths), since=since)
    engine = RuleEngine(settings)
    analyses = analyze(loaded.units, settings.analysis, visitor=engine, schema=model)

    units = {u.path: u for u in loaded.units if not u.history}
    files: list[FileAnalysis] = []
    errors.extend(loaded.errors)
    for fa in analyses:
        unit = units.get(fa.path)
        fa = _remap_file(fa, unit) if unit is not None else fa
        files.append(fa)
        errors.extend(fa.errors)
    # The rule engine reports findings and suppression errors in source lines already.
    errors.extend(getattr(engine, "errors", ()))

    order = {fa.path: i for i, fa in enumerate(files)}
    findings = sorted(
        engine.findings,
        key=lambda f: (order.get(f.path, len(order)), f.line, f.column, f.rule),
    )
    errors = _dedupe(errors)
    return CheckResult(
        files=tuple(files),
        findings=tuple(findings),
        errors=tuple(errors),
        pg_version=settings.analysis.pg_version,
    )


def _schema_model(units: Sequence[MigrationUnit], errors: list[Any]) -> Schema:
    """The schema model from `--schema` files, keeping their syntax errors.

    analyze() drops parse errors of history units (history is not reported), but a schema the user
    handed over explicitly and that could not be read in full makes every later answer doubtful: say so.
    """
    model = Schema()
    for unit in units:
        parsed = parse(unit.text, unit.path)
        errors.extend(parsed.errors)
        model.begin_file(True)
        for stmt in parsed.statements:
            model.apply(stmt.node)
    return model


def _dedupe(errors: list[Any]) -> list[Any]:
    seen: set[str] = set()
    out: list[Any] = []
    for e in errors:
        key = e.one_line() if isinstance(e, InputError) else str(e)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def error_line(err: object) -> str:
    """The one line a CLI prints for an error record."""
    if isinstance(err, InputError):
        return err.one_line()
    if isinstance(err, ForeshockError):
        return str(err)
    return str(err)

def schema_indexes(
    paths: Iterable[str | os.PathLike[str]],
    schema: Sequence[str | os.PathLike[str]] = (),
    settings: Any = None,
    since: str | None = None,
) -> dict[str, list[tuple[str, ...]]]:
    """Key columns of every index per table, from the schema history the migrations build (so a minimal
    stats file, which has sizes only, still knows that an UPDATE maintains the table's indexes)."""
    from foreshock.core.analyze import analyze
    from foreshock.core.model import AnalysisSettings
    from foreshock.core.schema import Schema
    from foreshock.sources import discover
    from foreshock.sources.files import load_schema_files

    model = Schema()
    analysis = getattr(settings, "analysis", None) or AnalysisSettings()
    history = load_schema_files([os.fspath(s) for s in schema])
    loaded = discover([os.fspath(p) for p in paths], since=since)
    analyze([*history.units, *loaded.units], analysis, schema=model)
    from foreshock.scale.estimate import indexes_from_schema

    return indexes_from_schema(model)


def sized_check(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    settings: Any = None,
    *,
    schema: Sequence[str | os.PathLike[str]] = (),
    since: str | None = None,
    stats_path: str | os.PathLike[str] | None = None,
    dsn: str | None = None,
    budgets: Mapping[LockMode, float | None] | None = None,
    duration_rules: Sequence[str] | None = None,
) -> CheckResult:
    """`check`, with lock-hold estimates and budget severities when sizes are given; size-blind otherwise."""
    from foreshock.scale.estimate import apply_sizes
    from foreshock.scale.sizes import load_sizes

    result = check(paths, settings, schema=schema, since=since)
    stats = load_sizes(stats_path, dsn)
    if stats is None:
        return replace(result, size_blind=True)
    path_list = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    indexes = schema_indexes(path_list, schema, settings, since)
    return apply_sizes(result, stats, budgets=budgets, schema_indexes=indexes, duration_rules=duration_rules)
