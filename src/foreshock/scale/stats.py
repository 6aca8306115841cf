"""Production sizes: the `--stats` file format and its loader.

Two files share one format (documented in docs/stats-format.md):

* the minimal, hand-written one: ``{"tables": {"public.orders": {"rows": 80000000, "bytes": 12884901888}}}``;
* the superset `foreshock snapshot` writes: schema DDL, per-table heap/index/TOAST sizes, per-column pg_stats,
  server version, the settings that shape timing, and observed read/write rates.

Everything but ``tables`` is optional, and every field of a table but one of ``rows``/``bytes`` is optional,
so a user who only knows their table sizes gets an answer. Parsing is pure (text in, records out); only
`load_stats` touches the file system.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from foreshock.errors import InputError

FORMAT_NAME = "foreshock-stats"
FORMAT_VERSION = 1
# When only one of rows/bytes is known the other is derived with this average heap row size (tuple header
# 24 bytes + line pointer 4 + a handful of typical columns); documented in docs/stats-format.md.
DEFAULT_ROW_BYTES = 120


@dataclass(frozen=True)
class ColumnStats:
    """One column: its type from the catalog and its pg_stats row (all optional)."""

    name: str
    type: str = ""
    not_null: bool = False
    default: str | None = None
    null_frac: float | None = None
    n_distinct: float | None = None  # pg_stats convention: < 0 means a fraction of the row count
    avg_width: int | None = None
    most_common_vals: tuple[Any, ...] = ()
    most_common_freqs: tuple[float, ...] = ()
    histogram_bounds: tuple[Any, ...] = ()
    correlation: float | None = None

    def distinct_count(self, rows: int) -> int:
        if self.n_distinct is None:
            return rows
        if self.n_distinct < 0:
            return max(1, int(-self.n_distinct * rows))
        return max(1, int(self.n_distinct))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "not_null": self.not_null}
        for key in ("default", "null_frac", "n_distinct", "avg_width", "correlation"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        for key in ("most_common_vals", "most_common_freqs", "histogram_bounds"):
            value = getattr(self, key)
            if value:
                out[key] = list(value)
        return out


@dataclass(frozen=True)
class IndexStats:
    name: str
    bytes: int | None = None
    columns: tuple[str, ...] = ()
    unique: bool = False
    definition: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "bytes": self.bytes,
            "columns": list(self.columns),
            "unique": self.unique,
            "definition": self.definition,
        }


@dataclass(frozen=True)
class Activity:
    """Observed traffic from pg_stat_user_tables, turned into rates over the time since stats_reset."""

    seq_scan: int = 0
    idx_scan: int = 0
    n_tup_ins: int = 0
    n_tup_upd: int = 0
    n_tup_del: int = 0
    seconds: float | None = None  # how long the counters have been accumulating

    @property
    def writes_per_second(self) -> float | None:
        if not self.seconds:
            return None
        return (self.n_tup_ins + self.n_tup_upd + self.n_tup_del) / self.seconds

    @property
    def reads_per_second(self) -> float | None:
        if not self.seconds:
            return None
        return (self.seq_scan + self.idx_scan) / self.seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "seq_scan": self.seq_scan,
            "idx_scan": self.idx_scan,
            "n_tup_ins": self.n_tup_ins,
            "n_tup_upd": self.n_tup_upd,
            "n_tup_del": self.n_tup_del,
            "seconds": self.seconds,
            "writes_per_second": self.writes_per_second,
            "reads_per_second": self.reads_per_second,
        }


@dataclass(frozen=True)
class TableStats:
    """Size of one table. rows/bytes are always filled after loading (one may be derived: see `derived`)."""

    name: str  # schema-qualified, e.g. public.orders
    rows: int
    bytes: int  # heap (main fork) bytes
    index_bytes: int | None = None
    toast_bytes: int | None = None
    kind: str = "table"  # table | matview | partitioned
    columns: dict[str, ColumnStats] = field(default_factory=dict, compare=False)
    indexes: dict[str, IndexStats] = field(default_factory=dict, compare=False)
    activity: Activity | None = None
    derived: str = ""  # "rows" or "bytes" when that figure was derived from the other

    @property
    def total_bytes(self) -> int:
        return self.bytes + (self.index_bytes or 0) + (self.toast_bytes or 0)

    @property
    def row_bytes(self) -> float:
        return self.bytes / self.rows if self.rows else float(DEFAULT_ROW_BYTES)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rows": self.rows, "bytes": self.bytes}
        if self.index_bytes is not None:
            out["index_bytes"] = self.index_bytes
        if self.toast_bytes is not None:
            out["toast_bytes"] = self.toast_bytes
        if self.kind != "table":
            out["kind"] = self.kind
        if self.columns:
            out["columns"] = {n: c.to_json() for n, c in self.columns.items()}
        if self.indexes:
            out["indexes"] = {n: i.to_json() for n, i in self.indexes.items()}
        if self.activity is not None:
            out["activity"] = self.activity.to_json()
        return out


@dataclass(frozen=True)
class ServerInfo:
    version_num: int | None = None  # server_version_num, e.g. 160002
    version: str = ""
    # Settings in their natural unit: memory in bytes, counts as ints, the rest as strings.
    settings: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def major(self) -> int | None:
        return self.version_num // 10000 if self.version_num else None

    def setting_bytes(self, name: str) -> int | None:
        value = self.settings.get(name)
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            return parse_memory(value)
        return None

    def to_json(self) -> dict[str, Any]:
        return {"version_num": self.version_num, "version": self.version, "settings": dict(self.settings)}


@dataclass(frozen=True)
class Stats:
    tables: dict[str, TableStats] = field(default_factory=dict, compare=False)
    server: ServerInfo = field(default_factory=ServerInfo)
    schema: str = ""  # DDL reconstructed by snapshot; "" in hand-written files
    taken_at: str = ""
    source: str = ""  # "snapshot" or the file path it was loaded from
    # Every table of the database is listed (a snapshot): a table missing here does not exist there, so a
    # migration that works on it has created it -- empty -- first.
    complete: bool = False

    def table(self, name: str) -> TableStats | None:
        """Look a table up by `schema.table`, bare name (public first), or quoted spelling."""
        key = normalize_table_name(name)
        if key in self.tables:
            return self.tables[key]
        if "." not in name.replace('"', ""):
            matches = [t for k, t in self.tables.items() if k.split(".", 1)[1] == key.split(".", 1)[1]]
            if len(matches) == 1:
                return matches[0]
        return None

    def seen_from(self, schema: str | None) -> Stats:
        """The sizes as a session with search_path = schema, public sees them (a schema-per-tenant target):
        the analysis names an unqualified table public.<name>, which there is the schema's table when it
        has one."""
        if not schema:
            return self
        tables = dict(self.tables)
        prefix = f"{schema}."
        for key, table in self.tables.items():
            if key.startswith(prefix):
                name = f"public.{key[len(prefix) :]}"
                tables[name] = replace(table, name=name)
        return replace(self, tables=tables)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
        if self.taken_at:
            out["taken_at"] = self.taken_at
        if self.server.version_num or self.server.settings:
            out["server"] = self.server.to_json()
        out["tables"] = {n: t.to_json() for n, t in self.tables.items()}
        if self.complete:
            out["complete"] = True
        if self.schema:
            out["schema"] = self.schema
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, default=str) + "\n"


_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|TB)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3, "tb": 1024**4}


def parse_memory(text: str) -> int | None:
    """PostgreSQL memory spelling ('128MB', '4GB', '65536kB') -> bytes; None if not a size."""
    m = _MEMORY.match(text)
    if not m:
        return None
    return int(float(m.group(1)) * _UNITS[(m.group(2) or "").lower()])


def normalize_table_name(name: str) -> str:
    """'orders' -> 'public.orders'; quoted parts keep their case, unquoted ones fold to lower."""
    parts = []
    for part in _split_qualified(name.strip()):
        parts.append(part[1:-1].replace('""', '"') if part.startswith('"') else part.lower())
    if len(parts) == 1:
        parts.insert(0, "public")
    return ".".join(parts[-2:])


def _split_qualified(name: str) -> list[str]:
    out: list[str] = []
    cur = ""
    quoted = False
    for ch in name:
        if ch == '"':
            quoted = not quoted
        if ch == "." and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out


class _Located:
    """Finds a line:col for a key in the raw text, so structural errors point somewhere useful."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path

    def error(self, message: str, *keys: str) -> InputError:
        offset = 0
        for key in keys:
            found = self.text.find(json.dumps(key), offset)
            if found < 0:
                break
            offset = found
        line = self.text.count("\n", 0, offset) + 1 if keys else 0
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1 if keys else 0
        return InputError(message, self.path, line, column)


def parse_stats(text: str, path: str = "<stats>") -> Stats:
    """Parse a stats file's text. Raises InputError (file:line:col: what and what to do) on bad input."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"invalid JSON in stats file: {err.msg}", path, err.lineno, err.colno) from None
    loc = _Located(text, path)
    if not isinstance(data, dict):
        raise InputError(
            'stats file must be a JSON object like {"tables": {"public.orders": {"rows": 1000}}}', path, 1, 1
        )
    fmt = data.get("format", FORMAT_NAME)
    if fmt != FORMAT_NAME:
        raise loc.error(f"unknown stats format {fmt!r}; expected {FORMAT_NAME!r}", "format")
    version = data.get("version", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise loc.error(
            f"stats format version {version!r} is not supported (this foreshock reads 1..{FORMAT_VERSION});"
            " upgrade foreshock or re-run `foreshock snapshot`",
            "version",
        )
    tables_raw = data.get("tables")
    if not isinstance(tables_raw, dict):
        raise (
            loc.error(
                'missing "tables" object: write {"tables": {"public.orders": {"rows": N, "bytes": B}}}',
                "tables",
            )
            if "tables" in data
            else InputError(
                'missing "tables" object: write {"tables": {"public.orders": {"rows": N, "bytes": B}}}',
                path,
                1,
                1,
            )
        )
    tables: dict[str, TableStats] = {}
    for raw_name, raw in tables_raw.items():
        table = _parse_table(raw_name, raw, loc)
        if table.name in tables:
            raise loc.error(f"table {raw_name!r} is listed twice (as {table.name})", "tables", raw_name)
        tables[table.name] = table
    server = _parse_server(data.get("server"), loc)
    schema = data.get("schema", "")
    if not isinstance(schema, str):
        raise loc.error('"schema" must be a string of DDL', "schema")
    complete = data.get("complete", False)
    if not isinstance(complete, bool):
        raise loc.error('"complete" must be true or false', "complete")
    return Stats(
        tables=tables, server=server, schema=schema, taken_at=str(data.get("taken_at", "")), source=path,
        complete=complete,
    )


def _number(value: Any, what: str, loc: _Located, *keys: str, allow_float: bool = False) -> int | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not allow_float and not value.is_integer())
    ):
        raise loc.error(f"{what} must be a whole number, got {value!r}", *keys)
    if value < 0 or (isinstance(value, float) and not math.isfinite(value)):
        raise loc.error(f"{what} must be zero or more, got {value!r}", *keys)
    return int(value)


def _parse_table(raw_name: str, raw: Any, loc: _Located) -> TableStats:
    name = normalize_table_name(raw_name)
    if not isinstance(raw, dict):
        raise loc.error(
            f'table {raw_name!r} must map to an object like {{"rows": 1000, "bytes": 131072}}',
            "tables",
            raw_name,
        )
    known = {
        "rows",
        "bytes",
        "index_bytes",
        "toast_bytes",
        "kind",
        "columns",
        "indexes",
        "activity",
        "total_bytes",
    }
    for key in raw:
        if key not in known:
            raise loc.error(
                f"unknown field {key!r} for table {raw_name!r} (known: {', '.join(sorted(known))})",
                "tables",
                raw_name,
                key,
            )
    rows = _number(raw.get("rows"), f"{raw_name}.rows", loc, "tables", raw_name, "rows")
    size = _number(raw.get("bytes"), f"{raw_name}.bytes", loc, "tables", raw_name, "bytes")
    derived = ""
    if rows is None and size is None:
        raise loc.error(f'table {raw_name!r} needs "rows" or "bytes" (or both)', "tables", raw_name)
    if rows is None:
        assert size is not None
        rows, derived = size // DEFAULT_ROW_BYTES, "rows"
    if size is None:
        size, derived = rows * DEFAULT_ROW_BYTES, "bytes"
    columns: dict[str, ColumnStats] = {}
    for cname, craw in (raw.get("columns") or {}).items():
        if not isinstance(craw, dict):
            raise loc.error(f"column {cname!r} of {raw_name!r} must be an object", "tables", raw_name, cname)
        columns[cname] = ColumnStats(
            name=cname,
            type=str(craw.get("type", "")),
            not_null=bool(craw.get("not_null", False)),
            default=craw.get("default"),
            null_frac=craw.get("null_frac"),
            n_distinct=craw.get("n_distinct"),
            avg_width=craw.get("avg_width"),
            most_common_vals=tuple(craw.get("most_common_vals") or ()),
            most_common_freqs=tuple(float(f) for f in craw.get("most_common_freqs") or ()),
            histogram_bounds=tuple(craw.get("histogram_bounds") or ()),
            correlation=craw.get("correlation"),
        )
    indexes: dict[str, IndexStats] = {}
    for iname, iraw in (raw.get("indexes") or {}).items():
        if not isinstance(iraw, dict):
            raise loc.error(f"index {iname!r} of {raw_name!r} must be an object", "tables", raw_name, iname)
        indexes[iname] = IndexStats(
            name=iname,
            bytes=_number(iraw.get("bytes"), f"index {iname}.bytes", loc, "tables", raw_name, iname),
            columns=tuple(iraw.get("columns") or ()),
            unique=bool(iraw.get("unique", False)),
            definition=str(iraw.get("definition", "")),
        )
    activity = None
    if isinstance(raw.get("activity"), dict):
        a = raw["activity"]
        activity = Activity(
            seq_scan=int(a.get("seq_scan") or 0),
            idx_scan=int(a.get("idx_scan") or 0),
            n_tup_ins=int(a.get("n_tup_ins") or 0),
            n_tup_upd=int(a.get("n_tup_upd") or 0),
            n_tup_del=int(a.get("n_tup_del") or 0),
            seconds=float(a["seconds"]) if a.get("seconds") is not None else None,
        )
    index_bytes = _number(
        raw.get("index_bytes"), f"{raw_name}.index_bytes", loc, "tables", raw_name, "index_bytes"
    )
    if index_bytes is None and indexes and all(i.bytes is not None for i in indexes.values()):
        index_bytes = sum(i.bytes or 0 for i in indexes.values())
    return TableStats(
        name=name,
        rows=rows,
        bytes=size,
        index_bytes=index_bytes,
        toast_bytes=_number(
            raw.get("toast_bytes"), f"{raw_name}.toast_bytes", loc, "tables", raw_name, "toast_bytes"
        ),
        kind=str(raw.get("kind", "table")),
        columns=columns,
        indexes=indexes,
        activity=activity,
        derived=derived,
    )


def _parse_server(raw: Any, loc: _Located) -> ServerInfo:
    if raw is None:
        return ServerInfo()
    if not isinstance(raw, dict):
        raise loc.error(
            '"server" must be an object like {"version_num": 160002, "settings": {...}}', "server"
        )
    settings = raw.get("settings") or {}
    if not isinstance(settings, dict):
        raise loc.error('"server.settings" must be an object', "server", "settings")
    vnum = _number(raw.get("version_num"), "server.version_num", loc, "server", "version_num")
    return ServerInfo(version_num=vnum, version=str(raw.get("version", "")), settings=dict(settings))


def load_stats(path: str | Path) -> Stats:
    """Read and parse a stats file (the minimal hand-written one or a snapshot)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(
            f"cannot read stats file: {err.strerror or err}; check the --stats path", str(p)
        ) from None
    except UnicodeDecodeError as err:
        raise InputError(f"stats file is not UTF-8 text ({err.reason})", str(p), 1, 1) from None
    return parse_stats(text, str(p))
