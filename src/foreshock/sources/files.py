"""SQL files and directories -> MigrationUnits, in the order migration tools would run them (directory
layouts and their order: foreshock.sources.layouts; what runs forward inside a file: sources.sections).

A file is one migration. A directory is a history, read as the layout of the tool that wrote it, so that
earlier migrations build the schema later ones run against. Bad input never raises out of
`load_sql_paths`: each problem becomes one InputError naming the path (and line:col where there is one)
and the other files are still loaded.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from foreshock.cache import fast
from foreshock.core.model import LAYOUTS, Layout, MigrationUnit, NotAnalysed, Note, SourceSettings
from foreshock.core.paths import first_match
from foreshock.errors import InputError
from foreshock.sources.listing import SCRIPT, Entry, Listing
from foreshock.sources.sections import Sections, split_sections

_BOM = b"\xef\xbb\xbf"

@dataclass(eq=False, repr=False)
class Loaded:
    """What a set of paths turned into: units in run order, one InputError per unreadable input, and the
    accounting: forward migrations found, those not analysed (with why), the layouts read, notes, and the
    sections that are not forward migrations (skipped, by kind; the down ones in `down` on request)."""

    units: list[MigrationUnit] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    found: int = 0
    not_analysed: list[NotAnalysed] = field(default_factory=list)
    layouts: list[Layout] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    down: list[MigrationUnit] = field(default_factory=list)

    def extend(self, other: Loaded) -> None:
        self.units.extend(other.units)
        self.errors.extend(other.errors)
        self.found += other.found
        self.not_analysed.extend(other.not_analysed)
        self.layouts.extend(other.layouts)
        self.notes.extend(other.notes)
        self.skipped.update(other.skipped)
        self.down.extend(other.down)

    def add_project(self, project: ProjectRead, layout: Layout) -> None:
        self.units.extend(project.units)
        self.errors.extend(project.errors)
        self.not_analysed.extend(project.not_analysed)
        self.notes.extend(project.notes)
        self.found += project.found
        self.layouts.append(layout)


@dataclass(eq=False, repr=False)
class ProjectRead:
    """One framework project (Alembic, Django) read: units in run order and the accounting of every
    migration in it."""

    units: list[MigrationUnit] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    not_analysed: list[NotAnalysed] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    found: int = 0

    def input_errors(self) -> list[InputError]:
        """Errors and migrations not analysed, as InputErrors (for callers that want one list)."""
        return [*self.errors, *(InputError(n.reason, n.path, n.line, 1 if n.line else 0)
                                for n in self.not_analysed)]


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and character column of byte `offset`, given that everything before it is UTF-8."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return line, column


def _has_sql(text: str) -> bool:
    """True when the text holds anything but whitespace and comments (as PostgreSQL's scanner reads them:
    `--` to the end of the line, `/* */` nested). Reads only up to the first token, which in a migration
    is almost always its first character; an unterminated comment counts as SQL, for the parser to report
    with its position."""
    at, n = 0, len(text)
    while at < n:
        ch = text[at]
        if ch.isspace():
            at += 1
        elif text.startswith("--", at):
            end = text.find("\n", at)
            if end < 0:
                return False
            at = end + 1
        elif text.startswith("/*", at):
            depth, at = 1, at + 2
            while depth:
                close, open_ = text.find("*/", at), text.find("/*", at)
                if close < 0:
                    return True
                if 0 <= open_ < close:
                    depth, at = depth + 1, open_ + 2
                else:
                    depth, at = depth - 1, close + 2
        else:
            return True
    return False


def read_sql(path: str, *, history: bool = False, name: str = "") -> MigrationUnit | InputError:
    """Read one SQL file; an InputError (returned, not raised) when it cannot be analysed."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
            # What a run read is what keeps its answer (cache.fast): the bytes, and the file as it was then.
            fast.read(path, os.fstat(fh.fileno()), data)
    except FileNotFoundError:
        return InputError("no such file or directory", path)
    except IsADirectoryError:
        return InputError("is a directory, expected a .sql file", path)
    except OSError as err:
        return InputError(f"cannot read: {err.strerror or err}", path)
    nul = data.find(b"\x00")
    if nul >= 0:
        line, col = _position(data, nul)
        return InputError("binary file (NUL byte), expected SQL text", path, line, col)
    body = data[len(_BOM) :] if data.startswith(_BOM) else data
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        line, col = _position(body, err.start)
        return InputError(
            f"not valid UTF-8 (byte 0x{body[err.start]:02x}); save the file as UTF-8", path, line, col
        )
    return MigrationUnit(path=path, text=text, name=name or _file_name(path), history=history)


def _file_name(path: str) -> str:
    """Path(path).name, without building a Path for the usual name (a history's hundreds of files)."""
    base = os.path.basename(path)
    return base if base not in ("", ".") else Path(path).name


def _statement_count(text: str) -> int:
    from pglast import parser as pgparser

    try:
        return len(pgparser.split(text))
    except pgparser.ParseError:
        return 2  # the parser reports the error itself; several statements is the safe assumption


def _glob_mode(path: str, options: SourceSettings) -> bool | None:
    """The configured transaction mode of the first `[tool.foreshock.transaction]` glob matching path."""
    return first_match(path, options.transaction_globs, options.glob_root)


def _transactional(entry: Entry, sections: Sections, text: str, options: SourceSettings) -> bool | None:
    """The file's own marker, else the configured glob, else the tool's convention."""
    if sections.explicit_transactions:
        return False
    if sections.transactional is not None:
        return sections.transactional
    configured = _glob_mode(entry.path, options)
    if configured is not None:
        return configured
    if entry.transactional == SCRIPT:
        return True if _statement_count(text) > 1 else None
    return entry.transactional if isinstance(entry.transactional, bool) else None


def _load_entry(entry: Entry, history: bool, options: SourceSettings, out: Loaded) -> str:
    """Read one forward migration into `out`; returns the marker syntax seen in it ("" for none)."""
    if not history and not entry.history:
        out.found += 1
    if entry.code:
        out.not_analysed.append(
            NotAnalysed(entry.path, entry.code, entry.line, kind=entry.kind, migration=entry.migration)
        )
        return ""
    if entry.missing is not None:
        fast.probe(entry.path)  # a run answered from the cache must see the file appear
        out.errors.append(entry.missing)
        out.not_analysed.append(
            NotAnalysed(entry.path, entry.missing.message, input_error=True, kind="missing")
        )
        return ""
    if entry.text is not None:
        _load_text(entry, history, out)
        return ""
    result = read_sql(entry.path, history=history or entry.history, name=entry.name)
    if isinstance(result, InputError):
        out.errors.append(result)
        if not history:
            out.not_analysed.append(
                NotAnalysed(entry.path, result.message, result.line, input_error=True, kind="unreadable")
            )
        return ""
    for placeholder, value in entry.rewrite:
        if placeholder in result.text:
            result = replace(result, text=result.text.replace(placeholder, value))
            out.notes.append(Note(entry.path, f"{placeholder} read as {value}, as the migration tool "
                                              "substitutes it"))
    sections = split_sections(result.text)
    for message in sections.notes:
        out.notes.append(Note(entry.path, message))
    if sections.problem:
        out.not_analysed.append(NotAnalysed(entry.path, sections.problem, kind="template"))
        return sections.syntax
    for kind, n in sections.skipped.items():
        out.skipped[kind] += n
    # Built anew rather than through dataclasses.replace (hundreds of files).
    unit = MigrationUnit(
        path=result.path,
        text=sections.forward,
        name=result.name,
        transactional=_transactional(entry, sections, sections.forward, options),
        history=result.history,
        migration_lines=tuple(sections.starts),
    )
    if not _has_sql(unit.text) and not unit.history:
        # Tools generate empty migrations on purpose (a placeholder for another dialect, a version bump):
        # nothing runs, nothing to check - worth a note, not a failure.
        out.notes.append(Note(entry.path, "empty migration: no SQL statements"))
    out.units.append(unit)
    if options.include_down and not unit.history:
        _load_down(entry, sections, options, out)
    return sections.syntax


def _load_text(entry: Entry, history: bool, out: Loaded) -> None:
    """A migration written inside another file (a changeset of a Liquibase YAML or XML changelog)."""
    assert entry.text is not None
    if entry.partial and not history:
        out.not_analysed.append(NotAnalysed(entry.path, entry.partial, entry.line, kind="liquibase-change",
                                            migration=entry.migration))
    out.units.append(
        MigrationUnit(
            path=entry.path,
            text=entry.text,
            name=entry.name,
            line_map=entry.line_map,
            transactional=entry.transactional if isinstance(entry.transactional, bool) else None,
            history=history or entry.history,
        )
    )


def _load_down(entry: Entry, sections: Sections, options: SourceSettings, out: Loaded) -> None:
    if entry.down is not None:
        down = read_sql(entry.down, name=entry.name)
        if isinstance(down, InputError):
            out.errors.append(down)
            return
        down_sections = split_sections(down.text)
        own = Entry(entry.down, transactional=entry.transactional)
        down = replace(
            down,
            text=down_sections.forward,
            transactional=_transactional(own, down_sections, down_sections.forward, options),
        )
    elif sections.down.strip():
        down = MigrationUnit(
            path=entry.path,
            text=sections.down,
            name=entry.name or Path(entry.path).name,
            transactional=sections.down_transactional if sections.down_transactional is not None else (
                _transactional(entry, Sections(forward=""), sections.down, options)
            ),
        )
    else:
        return
    if _has_sql(down.text):
        out.down.append(down)


def load_sql_paths(
    paths: Iterable[str], *, history: bool = False, options: SourceSettings | None = None
) -> Loaded:
    """Files and directories of SQL -> units in run order; problems become InputErrors, never exceptions.

    A directory is read as the layout of the tool that wrote it (detected, or `options.layout`); a file on
    its own is one migration, read by the markers in it.
    """
    options = options or SourceSettings()
    out = Loaded()
    for path in paths:
        if os.path.isdir(path):
            _load_directory(path, history, options, out)
        elif path.endswith(".py") and os.path.isfile(path):
            # A single Alembic revision or Django migration cannot be rendered without its project.
            out.errors.append(
                InputError("a Python file, not SQL: point foreshock at the Alembic project (alembic.ini) "
                           "or the Django project (manage.py) it belongs to", path)
            )
        elif not path.endswith(".sql") and _is_changelog(path):
            from foreshock.sources.liquibase import read_changelog

            _load_listing(path, read_changelog(path), "liquibase", "detected", "", history, options, out)
        elif os.path.exists(path) or os.path.islink(path):
            before = Counter(out.skipped)
            syntax = _load_entry(Entry(path), history, options, out)
            if not history:
                out.layouts.append(_layout_record(path, syntax or "plain", "detected", out.skipped - before))
        else:
            out.errors.append(InputError("no such file or directory", path))
    return out


def _layout_record(path: str, layout: str, source: str, skipped: Counter[str], detail: str = "") -> Layout:
    # A single file's marker family names its layout; sqlx's `-- no-transaction` alone does not make one.
    name = layout if layout in LAYOUTS else "plain"
    return Layout(path, name, source, tuple(sorted(skipped.items())), detail)


def _is_changelog(path: str) -> bool:
    # The layouts (and Liquibase's reader) are imported for directories and changelogs only: a lone .sql
    # file, the quickest check there is, does without them.
    from foreshock.sources.liquibase import is_changelog

    return is_changelog(path)


def _load_directory(path: str, history: bool, options: SourceSettings, out: Loaded) -> None:
    from foreshock.sources.layouts import detect_layout, list_layout

    if options.layout is not None and not history:
        layout, source, why = options.layout, "configured", ""
    else:
        layout, why = detect_layout(path)
        source = "detected"
    listing = list_layout(path, layout)
    _load_listing(path, listing, layout, source, why, history, options, out)


def _load_listing(
    path: str, listing: Listing, layout: str, source: str, why: str, history: bool, options: SourceSettings,
    out: Loaded,
) -> None:
    out.errors.extend(listing.errors)
    if not listing.entries and not listing.errors:
        if os.path.isfile(path):
            out.errors.append(InputError("the changelog runs no migrations on PostgreSQL", path))
        elif not has_sql_files(path):
            out.errors.append(
                InputError("directory holds no .sql files (point foreshock at SQL migrations)", path)
            )
        else:
            out.errors.append(
                InputError(f"no {layout} migrations here (the layout was {source}; "
                           "choose another with --layout)", path)
            )
        return
    before = Counter(out.skipped)
    out.skipped.update(listing.skipped)
    for note_path, message in listing.notes:
        out.notes.append(Note(note_path, message))
    for entry in listing.entries:
        _load_entry(entry, history, options, out)
    if not history:
        out.layouts.append(_layout_record(path, layout, source, out.skipped - before, listing.detail or why))


def has_sql_files(directory: str) -> bool:
    """Any *.sql file below the directory (hidden directories aside)."""
    for _root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(f.lower().endswith(".sql") for f in files):
            return True
    return False


def load_schema_files(paths: Sequence[str]) -> Loaded:
    """`--schema FILE`: history (a pg_dump --schema-only dump), analysed for the model, never reported."""
    return load_sql_paths(paths, history=True)
