"""The public API: one function per command; the CLI only parses options, calls it and renders the result."""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from foreshock.config import Settings
from foreshock.core.model import CheckResult, MigrationUnit, NotAnalysed
from foreshock.errors import ForeshockError, InputError
from foreshock.sources import discover
from foreshock.sources.files import Loaded, load_schema_files

if TYPE_CHECKING:
    from foreshock.analysis import FileOutcome
    from foreshock.cache import Store
    from foreshock.cache.fast import Output
    from foreshock.rules.durations import Durations
    from foreshock.scale.stats import Stats


def _paths(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        return [os.fspath(paths)]
    return [os.fspath(p) for p in paths]


def check(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    settings: Settings | None = None,
    *,
    schema: Sequence[str | os.PathLike[str]] = (),
    since: str | None = None,
    sizes: Stats | None = None,
    cache: Store | None = None,
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
    its reason. cache: a history cache store (foreshock.cache.Store; see check_units).
    """
    return prepare_check(paths, settings, schema=schema, since=since, cache=cache).run(sizes, cache)


@dataclass(frozen=True)
class PreparedCheck:
    """A check whose inputs are read (migrations found, rendered and loaded) but not yet analysed."""

    settings: Settings
    loaded: Loaded
    history: Loaded

    def run(self, sizes: Stats | None = None, cache: Store | None = None) -> CheckResult:
        settings, loaded, history = self.settings, self.loaded, self.history
        result = check_units(
            loaded.units,
            settings,
            history=history.units,
            history_errors=history.errors,
            errors=loaded.errors,
            sizes=sizes,
            cache=cache,
        )
        down = None
        if settings.sources.include_down:
            # Down sections run against the schema the whole forward history built, newest first; they are
            # a report of their own and never feed the forward history.
            forward = [dataclasses.replace(u, history=True) for u in loaded.units]
            down = check_units(
                [*forward, *reversed(loaded.down)], settings, history=history.units, sizes=sizes, cache=cache
            )
            down = dataclasses.replace(down, migrations_found=len(loaded.down))
        return _accounted(result, loaded, settings, down)

    def run_lines(
        self, fmt: str, sizes: Stats | None, cache: Store, output_key: str
    ) -> Output | None:
        """check's whole output in a line-per-finding format: (stdout, as fast.Text; stderr; the
        exit code), made of each reported file's share (foreshock.report.parts). The shares of the longest
        start of the history the cache holds them for are read in one entry; the files after it are
        analysed through the cache as `run` does, and the shares of the whole history kept for the next run.
        The output is the one rendering `run`'s result gives; it is kept (fast.write_output) under
        `output_key`, its stdout as the shares' entry and what follows them. None when a report cannot be
        made of per-file shares (another format, --include-down, a maintenance window, two units of one
        path): `run` then."""
        from foreshock.analysis import analyse
        from foreshock.cache import fast, shares
        from foreshock.cache.keys import digest
        from foreshock.report import parts
        from foreshock.report.common import check_stderr

        settings, loaded, history = self.settings, self.loaded, self.history
        units = loaded.units
        reported = [u.path for u in units if not u.history]
        if (
            fmt not in parts.FORMATS
            or settings.sources.include_down
            or settings.deployment.any_window
            or len(set(reported)) != len(reported)
        ):
            return None
        chained = self.keys
        # What the lines depend on beyond the history: the format, the sizes, whether info is listed.
        lines_key = repr((fmt, sizes, settings.show_info))
        start, kept = _kept_shares(units, chained[1:], cache, lines_key)
        analysed = analyse(units, settings, history=history.units, store=cache, keys=chained, start=start)
        outcomes = analysed.files
        judged = size_verdict(_result(outcomes, settings, ()), sizes, settings)
        by_path: dict[str, list[Any]] = {o.analysis.path: [] for o in outcomes}
        for f in judged.findings:
            by_path[f.path].append(f)
        made = [
            parts.file_part(o.analysis.path, by_path[o.analysis.path], o.analysis.errors, o.errors, fmt,
                            settings.show_info)
            for o in outcomes
        ]
        new_lines = shares.join([lines for _, lines in made])
        all_shares: list[Any] = [*(kept[1] if kept is not None else ()), *(share for share, _ in made)]
        # Every error by the key a run tells duplicates by (its printed line follows from it), with what the
        # format prints for it on stdout: as check_units lists them, each file's before the rule engine's.
        first = (*history.errors, *analysed.schema_errors, *loaded.errors)
        listed = [
            *((parts.error_key(e), parts.error_text(e, fmt)) for e in first),
            *(pair for share in all_shares for pair in zip(share[3], share[6], strict=False)),
            *(pair for share in all_shares for pair in zip(share[4], share[6][len(share[3]) :], strict=True)),
        ]
        texts = dict(reversed(listed))  # the first text of each key
        errors = _dedupe([key for key, _ in listed])
        rest = CheckResult(
            files=(),
            findings=(),
            errors=tuple(errors),
            pg_version=settings.analysis.pg_version,
            size_blind=sizes is None,
            show_info=settings.show_info,
            migrations_found=loaded.found,
            not_analysed=_not_analysed(loaded, ((share[0], share[5]) for share in all_shares)),
            layouts=tuple(loaded.layouts),
            notes=tuple(loaded.notes),
            accept_not_analysed=settings.accept_not_analysed,
        )
        hidden = 0 if settings.show_info else sum(share[2] for share in all_shares)
        # The result's exit code but for its findings (it has none here): 2 stands, else any error finding.
        code = rest.exit_code if rest.exit_code == 2 else int(any(share[1] for share in all_shares))
        out, tail = parts.stdout(
            [*(kept[2] if kept is not None else ()), new_lines], [texts[key] for key in errors], rest, fmt
        )
        output = (out, check_stderr(rest, fmt, hidden), code)
        if units:
            parts_key = digest(chained[-1], lines_key)
            if start < len(units):  # else the shares read are those of this very history
                shares.write(cache, parts_key, kept, [share for share, _ in made], new_lines)
            fast.write_output(cache, output_key, output, joined=(parts_key, tail))
        else:
            fast.write_output(cache, output_key, output)
        return output

    @functools.cached_property
    def keys(self) -> list[str]:
        """The history cache's chain over the `--schema` history and the units (analysis.chain_keys): the
        base, then each unit's key."""
        from foreshock.analysis import chain_keys

        return chain_keys(self.loaded.units, self.settings, self.history.units)

    def fingerprint(self, sizes: Stats | None = None) -> str:
        """A key for the whole result: everything it depends on (foreshock's code, the settings, every input
        read and its accounting, the sizes). The same key means the same result."""
        from foreshock.cache.keys import digest, text_digest, unit_fingerprint

        s, loaded = self.settings, self.loaded
        parts = [
            # The chain's last key: the code, the analysis settings, the `--schema` history, every unit.
            self.keys[-1],
            repr((s.accept_not_analysed, s.sources, s.show_info)),
            repr([error_line(e) for e in (*self.history.errors, *loaded.errors)]),
            repr((loaded.found, loaded.not_analysed, loaded.layouts, loaded.notes)),
            repr(sizes),
            str(len(loaded.units)),
        ]
        for unit in loaded.down:
            parts += [unit_fingerprint(unit), text_digest(unit.text)]
        return digest(*parts)


def prepare_check(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    settings: Settings | None = None,
    *,
    schema: Sequence[str | os.PathLike[str]] = (),
    since: str | None = None,
    cache: Store | None = None,
) -> PreparedCheck:
    """check's first half: find, render and load the migrations (see check); with a cache store, Django and
    Alembic migrations whose history did not change are not rendered again."""
    settings = settings or Settings()
    if cache is not None:
        from foreshock.analysis import start_helper

        # When the history changed since a kept run, its schema snapshot is restored meanwhile.
        start_helper(cache)
    history = load_schema_files([os.fspath(s) for s in schema])
    loaded = discover(_paths(paths), since=since, options=settings.sources, cache=cache)
    return PreparedCheck(settings, loaded, history)


def _accounted(
    result: CheckResult, loaded: Loaded, settings: Settings, down: CheckResult | None
) -> CheckResult:
    """The result with the sources' accounting: every migration found, analysed or named with its reason."""
    first_errors = (
        (fa.path, next(((e.message, e.line) for e in fa.errors if isinstance(e, InputError)), None))
        for fa in result.files
    )
    return dataclasses.replace(
        result,
        migrations_found=loaded.found,
        not_analysed=_not_analysed(loaded, first_errors),
        layouts=tuple(loaded.layouts),
        notes=tuple(loaded.notes),
        accept_not_analysed=settings.accept_not_analysed,
        down=down,
    )


def _not_analysed(
    loaded: Loaded, first_errors: Iterable[tuple[str, tuple[str, int] | None]]
) -> tuple[NotAnalysed, ...]:
    """The sources' not-analysed migrations, then each reported file (path, (message, line) of its first
    input error or None) that PostgreSQL's parser rejects in part: it is analysed only in part."""
    not_analysed = list(loaded.not_analysed)
    named = {n.path for n in not_analysed}
    for path, first in first_errors:
        if first is not None and path not in named:
            message, line = first
            not_analysed.append(NotAnalysed(path, message, line, input_error=True, kind="syntax-error"))
            named.add(path)
    return tuple(not_analysed)


def check_units(
    units: Sequence[MigrationUnit],
    settings: Settings | None = None,
    *,
    history: Sequence[MigrationUnit] = (),
    history_errors: Sequence[Any] = (),
    errors: Sequence[Any] = (),
    sizes: Stats | None = None,
    cache: Store | None = None,
) -> CheckResult:
    """check over migration units already loaded: the one analysis (with the user's settings) that rehearse
    and apply also take. history: `--schema` units, read before the others; history_errors / errors: what
    loading them and the units found wrong, reported first. cache: a history cache store
    (foreshock.cache.Store): files whose history did not change are read from it, the others analysed and
    kept there; the result is the one an uncached run gives (files read from the cache carry no syntax
    trees: `statement.node` is None)."""
    from foreshock.analysis import analyse

    settings = settings or Settings()
    analysed = analyse(units, settings, history=history, store=cache)
    result = _result(analysed.files, settings, [*history_errors, *analysed.schema_errors, *errors])
    return size_verdict(result, sizes, settings)


def _result(outcomes: Sequence[FileOutcome], settings: Settings, errors: Sequence[Any]) -> CheckResult:
    """The files' outcomes as one result, before the size verdict: `errors` (reported first), each file's,
    then the rule engine's, duplicates once; findings in report order (file, then position)."""
    found: list[Any] = [*errors]
    files = [outcome.analysis for outcome in outcomes]
    for fa in files:
        found.extend(fa.errors)
    for outcome in outcomes:
        found.extend(outcome.errors)

    order = {fa.path: i for i, fa in enumerate(files)}
    findings = sorted(
        (f for outcome in outcomes for f in outcome.findings),
        key=lambda f: (order.get(f.path, len(order)), f.line, f.column, f.rule),
    )
    return CheckResult(
        files=tuple(files),
        findings=tuple(findings),
        errors=tuple(_dedupe(found)),
        pg_version=settings.analysis.pg_version,
        show_info=settings.show_info,
    )


def _kept_shares(
    units: Sequence[MigrationUnit], keys: Sequence[str], cache: Store, lines_key: str
) -> tuple[int, Any]:
    """The longest start of `units` the cache holds report shares for (foreshock.cache.shares), and what
    it holds: (0, None) when none. A start ending in a history unit is never taken: the statements such a
    unit could not apply are reported with the next analysed file (foreshock.analysis)."""
    from foreshock.cache import fast, shares
    from foreshock.cache.keys import digest
    from foreshock.report.parts import is_share

    for n in range(len(units), 0, -1):
        if units[n - 1].history:
            continue
        key = digest(keys[n - 1], lines_key)
        if not cache.has(shares.PARTS, key):
            continue
        kept = fast.prefetched(cache, key) or shares.read(cache, key)
        reported = [u.path for u in units[:n] if not u.history]
        if (
            kept is not None
            and len(kept[1]) == len(reported)
            and all(is_share(s) and s[0] == path for s, path in zip(kept[1], reported, strict=True))
        ):
            return n, kept
    return 0, None


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


def _dedupe(errors: list[Any]) -> list[Any]:
    from foreshock.report.parts import error_key

    seen: set[str] = set()
    out: list[Any] = []
    for e in errors:
        key = error_key(e)
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
