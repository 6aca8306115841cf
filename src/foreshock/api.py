"""The public API: one function per command; the CLI only parses options, calls it and renders the result."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from foreshock.config import Settings
from foreshock.core.model import CheckResult, FileAnalysis, MigrationUnit, NotAnalysed, StatementAnalysis
from foreshock.core.schema import Schema
from foreshock.core.sql import parse
from foreshock.errors import ForeshockError, InputError
from foreshock.sources import discover
from foreshock.sources.files import Loaded, load_schema_files

if TYPE_CHECKING:
    from foreshock.rules.durations import Durations
    from foreshock.scale.stats import Stats


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
    sizes: Stats | None = None,
) -> CheckResult:
    """Analyse migrations (SQL files/directories in any supported layout, Alembic or Django projects)
    without touching a database (Django, and Alembic revisions that query the database, are rendered on a
    private sandbox).

    schema: schema history files (pg_dump --schema-only). since: a git ref; only migrations changed since
    it are reported, the others are read as history. sizes: production sizes (scale.sizes.load_sizes: a stats
    file or a live catalog snapshot); findings then carry lock-hold estimates, and duration findings follow
    them (rules.verdict). Bad input never raises: every file, path or statement that cannot be analysed
    becomes one entry of CheckResult.errors (an InputError with path:line:col) and everything else is still
    analysed. Every forward migration found is either analysed or named in CheckResult.not_analysed with
    its reason.
    """
    settings = settings or Settings()
    history = load_schema_files([os.fspath(s) for s in schema])
    loaded = discover(_paths(paths), since=since, options=settings.sources)
    result = check_units(
        loaded.units,
        settings,
        history=history.units,
        history_errors=history.errors,
        errors=loaded.errors,
        sizes=sizes,
    )
    down = None
    if settings.sources.include_down:
        # Down sections run against the schema the whole forward history built, newest first; they are a
        # report of their own and never feed the forward history.
        forward = [dataclasses.replace(u, history=True) for u in loaded.units]
        down = check_units([*forward, *reversed(loaded.down)], settings, history=history.units, sizes=sizes)
        down = dataclasses.replace(down, migrations_found=len(loaded.down))
    return _accounted(result, loaded, settings, down)


def _accounted(
    result: CheckResult, loaded: Loaded, settings: Settings, down: CheckResult | None
) -> CheckResult:
    """The result with the sources' accounting: every migration found, analysed or named with its reason."""
    not_analysed = list(loaded.not_analysed)
    # A migration PostgreSQL's parser rejects in part is analysed only in part: account for it too.
    named = {n.path for n in not_analysed}
    for fa in result.files:
        first = next((e for e in fa.errors if isinstance(e, InputError)), None)
        if first is not None and fa.path not in named:
            not_analysed.append(
                NotAnalysed(fa.path, first.message, first.line, input_error=True, kind="syntax-error")
            )
            named.add(fa.path)
    return dataclasses.replace(
        result,
        migrations_found=loaded.found,
        not_analysed=tuple(not_analysed),
        layouts=tuple(loaded.layouts),
        notes=tuple(loaded.notes),
        accept_not_analysed=settings.accept_not_analysed,
        down=down,
    )


def check_units(
    units: Sequence[MigrationUnit],
    settings: Settings | None = None,
    *,
    history: Sequence[MigrationUnit] = (),
    history_errors: Sequence[Any] = (),
    errors: Sequence[Any] = (),
    sizes: Stats | None = None,
) -> CheckResult:
    """check over migration units already loaded: the one analysis (with the user's settings) that rehearse
    and apply also take. history: `--schema` units, read before the others; history_errors / errors: what
    loading them and the units found wrong, reported first."""
    from foreshock.core.analyze import analyze
    from foreshock.rules import RuleEngine

    settings = settings or Settings()
    found: list[Any] = list(history_errors)
    model = _schema_model(history, found)
    engine = RuleEngine(settings)
    analyses = analyze(units, settings.analysis, visitor=engine, schema=model)

    by_path = {u.path: u for u in units if not u.history}
    files: list[FileAnalysis] = []
    found.extend(errors)
    for fa in analyses:
        unit = by_path.get(fa.path)
        fa = _remap_file(fa, unit) if unit is not None else fa
        files.append(fa)
        found.extend(fa.errors)
    # The rule engine reports findings and suppression errors in source lines already.
    found.extend(getattr(engine, "errors", ()))

    order = {fa.path: i for i, fa in enumerate(files)}
    findings = sorted(
        engine.findings,
        key=lambda f: (order.get(f.path, len(order)), f.line, f.column, f.rule),
    )
    result = CheckResult(
        files=tuple(files),
        findings=tuple(findings),
        errors=tuple(_dedupe(found)),
        pg_version=settings.analysis.pg_version,
        show_info=settings.show_info,
    )
    return size_verdict(result, sizes, settings)


def size_verdict(result: CheckResult, sizes: Stats | None, settings: Settings) -> CheckResult:
    """The engine's size verdict over an analysed result: hold times from the calibrated model over `sizes`,
    duration findings' severities following them, and for window deployments each statement's and
    migration's time against the window (rules.verdict.judge). check applies it once; a fleet applies it to
    one analysis with each target's sizes."""
    from foreshock.rules.verdict import judge

    return judge(result, model_durations(sizes), settings)


def model_durations(sizes: Stats | None) -> Durations | None:
    """The calibrated duration model over production sizes, or None (size-blind) without them."""
    if sizes is None:
        return None
    from foreshock.scale.estimate import ModelDurations

    return ModelDurations(sizes)


def _schema_model(units: Sequence[MigrationUnit], errors: list[Any]) -> Schema:
    """The schema model from `--schema` files, keeping their syntax errors.

    analyze() drops parse errors of history units (history is not reported), but a schema the user
    handed over explicitly and that could not be read in full makes every later answer doubtful: say so.
    """
    from foreshock.core.analyze import apply_history

    model = Schema()
    for unit in units:
        parsed = parse(unit.text, unit.path)
        errors.extend(parsed.errors)
        model.begin_file(True)
        errors.extend(apply_history(parsed.statements, model))
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
