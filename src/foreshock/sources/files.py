"""SQL files and directories -> MigrationUnits, in the order migration tools would run them.

A file is one migration. A directory is a history: every *.sql below it (recursively), ordered the way
Flyway-style and numbered-file tools order them, so that earlier files build the schema later ones run
against. Bad input never raises out of `load_sql_paths`: each problem becomes one InputError naming the
path (and line:col where there is one) and the other files are still loaded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pglast import parser as pgparser

from foreshock.core.model import MigrationUnit
from foreshock.errors import InputError

_BOM = b"\xef\xbb\xbf"

# Flyway: V<version>__<description>.sql with version parts separated by "." or "_" (V1_1__ == V1.1__),
# compared numerically part by part. B (baseline) sorts like V; R (repeatable) runs after every versioned
# migration, ordered by description; U (undo) never runs on migrate, so it is treated as an ordinary name.
_FLYWAY = re.compile(r"^(?P<kind>[VvBbRr])(?P<version>\d+(?:[._]\d+)*)?__(?P<desc>.*)$")
# Numbered files (001_init.sql, 2-add.sql, 20240101120000_orders.sql): the leading integer is the
# version, so "10_" follows "9_" and timestamps order by time.
_NUMBERED = re.compile(r"^(?P<version>\d+(?:\.\d+)*)(?:[_\-.\s]|$)")
_DIGITS = re.compile(r"(\d+)")

NaturalKey = tuple[tuple[int, int | str], ...]


@dataclass
class Loaded:
    """What a set of paths turned into: units in run order and one InputError per unreadable input."""

    units: list[MigrationUnit] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)

    def extend(self, other: Loaded) -> None:
        self.units.extend(other.units)
        self.errors.extend(other.errors)


def natural_key(text: str) -> NaturalKey:
    """'a2' < 'a10': digit runs compare as numbers, the rest case-insensitively."""
    parts: list[tuple[int, int | str]] = []
    for i, piece in enumerate(_DIGITS.split(text)):
        if not piece:
            continue
        parts.append((0, int(piece)) if i % 2 else (1, piece.lower()))
    return tuple(parts)


def path_key(relpath: str) -> tuple[NaturalKey, ...]:
    """Natural order of a relative path, directory by directory ("sub/a1" before "sub2/x")."""
    return tuple(natural_key(part) for part in relpath.split("/"))


OrderKey = tuple[int, tuple[int, ...], tuple[NaturalKey, ...], tuple[NaturalKey, ...]]


def order_key(relpath: str) -> OrderKey:
    """Sort key for a file inside a history directory (relpath uses "/" separators).

    Groups: 0 versioned (Flyway V/B or numbered), 1 unversioned (natural sort of the path),
    2 Flyway repeatables (R__, by description). Versioned files sort by version wherever they live in
    the tree, as Flyway does; ties fall back to the natural order of the path.
    """
    name = relpath.rsplit("/", 1)[-1]
    stem = name[:-4] if name.lower().endswith(".sql") else name
    m = _FLYWAY.match(stem)
    if m and m.group("kind") in "Rr" and m.group("version") is None:
        return (2, (), (natural_key(m.group("desc")),), path_key(relpath))
    if m and m.group("kind") in "VvBb" and m.group("version") is not None:
        version = tuple(int(p) for p in re.split(r"[._]", m.group("version")))
        return (0, version, path_key(relpath), ())
    n = _NUMBERED.match(stem)
    if n:
        version = tuple(int(p) for p in n.group("version").split("."))
        return (0, version, path_key(relpath), ())
    return (1, (), path_key(relpath), ())


def _position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and character column of byte `offset`, given that everything before it is UTF-8."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    line = data.count(b"\n", 0, offset) + 1
    column = len(data[line_start:offset].decode("utf-8", errors="replace")) + 1
    return line, column


_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)


def _has_sql(text: str) -> bool:
    """True when the text holds anything but whitespace and comments.

    A regex strips comments first (scanning a whole 20,000-statement file costs seconds); it can only err
    towards "has SQL" (a `--` inside a string leaves the quote behind), so a short residue is settled by
    PostgreSQL's own scanner, which also knows nested /* comments */.
    """
    residue = _COMMENTS.sub("", text)
    if not residue.strip():
        return False
    if len(residue) > 200:
        return True
    try:
        return any(t.name not in ("SQL_COMMENT", "C_COMMENT") for t in pgparser.scan(text))
    except pgparser.ParseError:
        # An unterminated string or comment: let the parser report it with its position.
        return True


def read_sql(path: str, *, history: bool = False, name: str = "") -> MigrationUnit | InputError:
    """Read one SQL file; an InputError (returned, not raised) when it cannot be analysed."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
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
    return MigrationUnit(path=path, text=text, name=name or Path(path).name, history=history)


def _sql_files(directory: str) -> list[str]:
    found: list[tuple[OrderKey, str]] = []
    for root, dirs, files in os.walk(directory):
        # Hidden directories (.git, .venv) are never migration history.
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            if f.lower().endswith(".sql") and not f.startswith("."):
                full = os.path.join(root, f)
                rel = os.path.relpath(full, directory).replace(os.sep, "/")
                found.append((order_key(rel), full))
    found.sort(key=lambda item: item[0])
    return [full for _, full in found]


def _load_one(path: str, history: bool) -> Loaded:
    out = Loaded()
    result = read_sql(path, history=history)
    if isinstance(result, InputError):
        out.errors.append(result)
    elif not _has_sql(result.text):
        if history:
            out.units.append(result)
        else:
            # An empty migration is almost always a file saved before it was written, or a merge gone
            # wrong; nothing in it can be checked, so it is reported like other unanalysable input.
            out.errors.append(
                InputError("empty migration: no SQL statements (write the migration or delete it)", path)
            )
    else:
        out.units.append(result)
    return out


def load_sql_paths(paths: Iterable[str], *, history: bool = False) -> Loaded:
    """Files and directories of SQL -> units in run order; problems become InputErrors, never exceptions."""
    out = Loaded()
    for path in paths:
        if os.path.isdir(path):
            files = _sql_files(path)
            if not files:
                out.errors.append(
                    InputError("directory holds no .sql files (point foreshock at SQL migrations)", path)
                )
                continue
            for f in files:
                out.extend(_load_one(f, history))
        elif path.endswith(".py") and os.path.isfile(path):
            # A single Alembic revision or Django migration cannot be rendered without its project.
            out.errors.append(
                InputError("a Python file, not SQL: point foreshock at the Alembic project (alembic.ini) "
                           "or the Django project (manage.py) it belongs to", path)
            )
        elif os.path.exists(path) or os.path.islink(path):
            out.extend(_load_one(path, history))
        else:
            out.errors.append(InputError("no such file or directory", path))
    return out


def load_schema_files(paths: Sequence[str]) -> Loaded:
    """`--schema FILE`: history (a pg_dump --schema-only dump), analysed for the model, never reported."""
    return load_sql_paths(paths, history=True)
