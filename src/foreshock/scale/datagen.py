"""Synthetic data shaped like production, from the snapshot's statistics — never from real rows.

`build_database(dsn, schema_sql, stats, fraction)` creates the production schema in an empty sandbox database
and fills every table with `rows × fraction` rows generated server-side (INSERT … SELECT over
generate_series: no row crosses the wire), then adds constraints, indexes and foreign keys, refreshes
materialized views, and VACUUM ANALYZEs, so the rehearsed migration meets tables in the state production's
are.

Per column, in order of preference:
* key columns (primary key / unique, single column): `g` (the row number), cast to the column type — unique
  and, for foreign keys, the same 1..N range the referencing side draws from;
* foreign-key columns: the scale's number of keys, spread over the parent's 1..parent_rows (fk_values), so
  the FK validates, as it does in production;
* pg_stats: NULL with probability null_frac; a most-common value with its frequency; otherwise a value from a
  histogram bucket (interpolated for numbers and dates; for text the bucket's shared prefix and a hashed
  tail, n_distinct values, production's width);
* no statistics: a type-shaped default (numbers uniform, md5 text, timestamps over the last year, …).
Columns that are identity or generated get their values from PostgreSQL itself.
CHECK constraints the synthetic data violates are added NOT VALID (reported), never silently dropped.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from foreshock.core.sql import parse
from foreshock.pg.connect import SessionSettings, connect, translate_error
from foreshock.scale.stats import ColumnStats, Stats, TableStats

DATAGEN_SESSION = SessionSettings(
    application_name="foreshock-datagen",
    lock_timeout="10s",
    statement_timeout="30min",
    idle_in_transaction_session_timeout="30min",
)
_NUMERIC = ("smallint", "integer", "bigint", "numeric", "real", "double precision")
_TEMPORAL = ("date", "timestamp without time zone", "timestamp with time zone")


@dataclass
class Phases:
    """The schema DDL split into what runs before the data, after it, and last."""

    before: list[str] = field(default_factory=list)  # CREATE SCHEMA/TYPE/SEQUENCE/TABLE
    after: list[str] = field(default_factory=list)  # PK/UNIQUE/CHECK constraints, indexes
    foreign_keys: list[str] = field(default_factory=list)
    last: list[str] = field(default_factory=list)  # materialized views, anything else
    # table -> {column: (parent table, parent column)}
    fk_columns: dict[str, dict[str, tuple[str, str]]] = field(default_factory=dict)
    unique_columns: dict[str, set[str]] = field(default_factory=dict)


def split_schema(schema_sql: str) -> Phases:
    phases = Phases()
    parsed = parse(schema_sql, "<schema>")
    for stmt in parsed.statements:
        if stmt.unparsed:
            continue  # PostgreSQL rejects it: nothing a sandbox can run
        node = stmt.node
        kind = type(node).__name__
        text = stmt.text.rstrip().rstrip(";") + ";"
        if kind in (
            "CreateSchemaStmt",
            "CreateEnumStmt",
            "CreateSeqStmt",
            "CreateStmt",
            "CompositeTypeStmt",
            "CreateDomainStmt",
            "CreateExtensionStmt",
            "VariableSetStmt",
        ):
            phases.before.append(text)
            if kind == "CreateStmt":
                table = _rv(node.relation)
                for elt in node.tableElts or ():
                    # Column constraints (ColumnDef.constraints) and table constraints (Constraint nodes).
                    for inline in getattr(elt, "constraints", None) or ((elt,) if _contype(elt) else ()):
                        ctype = _contype(inline)
                        cols = (
                            [elt.colname]
                            if getattr(elt, "colname", None)
                            else [
                                k.sval
                                for k in (
                                    getattr(inline, "keys", None) or getattr(inline, "fk_attrs", None) or ()
                                )
                            ]
                        )
                        if ctype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE") and len(cols) == 1:
                            phases.unique_columns.setdefault(table, set()).add(cols[0])
                        elif ctype == "CONSTR_FOREIGN" and len(cols) == 1:
                            parent_col = inline.pk_attrs[0].sval if inline.pk_attrs else "id"
                            phases.fk_columns.setdefault(table, {})[cols[0]] = (
                                _rv(inline.pktable),
                                parent_col,
                            )
        elif kind == "AlterTableStmt":
            table = _rv(node.relation)
            is_fk = False
            for cmd in node.cmds or ():
                con: Any = getattr(cmd, "def_", None)
                ctype = _contype(con)
                if ctype == "CONSTR_FOREIGN":
                    is_fk = True
                    if con.fk_attrs and len(con.fk_attrs) == 1:
                        parent_col = con.pk_attrs[0].sval if con.pk_attrs else "id"
                        phases.fk_columns.setdefault(table, {})[con.fk_attrs[0].sval] = (
                            _rv(con.pktable),
                            parent_col,
                        )
                elif (
                    ctype in ("CONSTR_PRIMARY", "CONSTR_UNIQUE")
                    and con is not None
                    and con.keys
                    and len(con.keys) == 1
                ):
                    phases.unique_columns.setdefault(table, set()).add(con.keys[0].sval)
            (phases.foreign_keys if is_fk else phases.after).append(text)
        elif kind == "IndexStmt":
            if node.unique and node.indexParams and len(node.indexParams) == 1 and node.indexParams[0].name:
                phases.unique_columns.setdefault(_rv(node.relation), set()).add(node.indexParams[0].name)
            phases.after.append(text)
        else:
            phases.last.append(text)
    return phases


def _contype(con: Any) -> str:
    contype = getattr(con, "contype", None)
    return getattr(contype, "name", "") if contype is not None else ""


def _rv(rv: Any) -> str:
    schema = getattr(rv, "schemaname", None) or "public"
    return f"{schema}.{rv.relname}"


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    not_null: bool
    identity: bool
    generated: bool
    enum_labels: tuple[str, ...] = ()
    has_default: bool = False


def _columns(conn: psycopg.Connection[Any], table: str) -> list[ColumnInfo]:
    schema, name = table.split(".", 1)
    rows = conn.execute(
        sql.SQL(
            "SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "a.attidentity <> '', "
            "a.attgenerated <> '', ARRAY(SELECT e.enumlabel FROM pg_catalog.pg_enum e WHERE "
            "e.enumtypid = a.atttypid "
            "ORDER BY e.enumsortorder), a.atthasdef "
            "FROM pg_catalog.pg_attribute a WHERE a.attrelid = {}::regclass "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
        ).format(sql.Literal(f'"{schema}"."{name}"'))
    ).fetchall()
    return [ColumnInfo(r[0], r[1], r[2], r[3], r[4], tuple(r[5]), r[6]) for r in rows]


def _base_type(typ: str) -> str:
    return re.sub(r"\(.*\)", "", typ).strip()


def _num(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def fk_values(parent_rows: int, distinct: int | None = None) -> sql.Composable:
    """Foreign-key values over `g`: `distinct` keys (default: all) spread evenly over the parent's keys
    1..parent_rows, in an order unrelated to the row's.

    Spread, not the first `distinct` keys: a parent kept at production size is then walked whole, as in
    production. With the first keys only, the rehearsal's validation of a foreign key ran as a merge anti-join
    that stopped after a tenth of the parent's index (500,000 referencing rows over 25,000 of 250,000 keys:
    24 ms, production's 5,000,000 rows 0.39 s, a per-row cost 1.6x the rehearsal's)."""
    keys = max(1, min(distinct or parent_rows, parent_rows))
    stride = max(1, parent_rows // keys)
    pick = sql.SQL("((g::bigint * 2654435761) % {})").format(sql.Literal(keys))
    if stride > 1:
        pick = sql.SQL("({} * {})").format(pick, sql.Literal(stride))
    return sql.SQL("(1 + {})").format(pick)


def column_expression(
    col: ColumnInfo,
    stats: ColumnStats | None,
    rows: int,
    *,
    unique: bool,
    fk_parent_rows: int | None,
    fk_distinct: int | None = None,
) -> sql.Composable:
    """A SQL expression over `g` (1..rows) producing this column's synthetic values. A foreign-key column
    takes fk_distinct values (default: all) among the parent's keys 1..fk_parent_rows (fk_values)."""
    typ = sql.SQL(col.type)  # format_type() output from our own sandbox's catalog, not user input
    base = _base_type(col.type)
    if fk_parent_rows is not None:
        expr = fk_values(max(fk_parent_rows, 1), fk_distinct)
        return _with_nulls(sql.SQL("{}::{}").format(expr, typ), stats, col)
    if unique:
        if base in _NUMERIC:
            return sql.SQL("g::{}").format(typ)
        if base in ("text", "character varying", "character"):
            width = stats.avg_width if stats is not None and stats.avg_width else 12
            return sql.SQL("rpad('u' || g::text, {}, 'x')::{}").format(sql.Literal(max(width - 1, 8)), typ)
        if base == "uuid":
            return sql.SQL("gen_random_uuid()")
        if base in _TEMPORAL:
            return sql.SQL("('2000-01-01'::timestamptz + g * interval '1 second')::{}").format(typ)
    choice = _from_stats(col, stats, rows, typ, base)
    if choice is None:
        choice = _by_type(col, stats, typ, base)
    return _with_nulls(choice, stats, col)


def _with_nulls(expr: sql.Composable, stats: ColumnStats | None, col: ColumnInfo) -> sql.Composable:
    if col.not_null or stats is None or not stats.null_frac:
        return expr
    return sql.SQL("CASE WHEN random() < {} THEN NULL ELSE {} END").format(sql.Literal(stats.null_frac), expr)


def _from_stats(
    col: ColumnInfo, stats: ColumnStats | None, rows: int, typ: sql.Composable, base: str
) -> sql.Composable | None:
    if stats is None or (not stats.most_common_vals and not stats.histogram_bounds):
        return None
    branches: list[sql.Composable] = []
    cumulative = 0.0
    non_null = 1.0 - (stats.null_frac or 0.0)
    for value, freq in zip(stats.most_common_vals, stats.most_common_freqs, strict=False):
        if value is None:
            continue
        # Frequencies in pg_stats are of all rows; the nulls are drawn separately, so renormalise.
        cumulative += freq / non_null if non_null > 0 else freq
        branches.append(
            sql.SQL("WHEN r < {} THEN {}::{}").format(
                sql.Literal(min(cumulative, 1.0)), sql.Literal(value), typ
            )
        )
    rest = _histogram_pick(stats, rows, typ, base)
    if rest is None:
        if not branches:
            return None
        rest = sql.SQL("{}::{}").format(sql.Literal(stats.most_common_vals[0]), typ)
    if not branches:
        return rest
    # `r` is one random draw per row (see the generating SELECT), so the CASE picks with the MCV frequencies.
    return sql.SQL("CASE {} ELSE {} END").format(sql.SQL(" ").join(branches), rest)


def _histogram_pick(stats: ColumnStats, rows: int, typ: sql.Composable, base: str) -> sql.Composable | None:
    bounds = [b for b in stats.histogram_bounds if b is not None]
    if len(bounds) < 2:
        return None
    buckets = len(bounds) - 1
    if base in _NUMERIC and all(_num(b) is not None for b in bounds):
        arr = sql.SQL("ARRAY[{}]::float8[]").format(sql.SQL(", ").join(sql.Literal(_num(b)) for b in bounds))
        if stats.correlation is not None and abs(stats.correlation) > 0.9:
            # Physically ordered in production (an append-only timestamp or id): walk the histogram in row
            # order, which matters for index builds (presorted input) and for scans in index order.
            pos = sql.SQL("((g - 1)::float8 / {} * {})").format(
                sql.Literal(max(rows, 1)), sql.Literal(buckets)
            )
            if stats.correlation < 0:
                pos = sql.SQL("({} - {})").format(sql.Literal(float(buckets)), pos)
            b = sql.SQL("least(floor({})::int, {})").format(pos, sql.Literal(buckets - 1))
            expr: sql.Composable = sql.SQL(
                "(({a})[1 + {b}] + (({a})[2 + {b}] - ({a})[1 + {b}]) * ({pos} - {b}))"
            ).format(a=arr, b=b, pos=pos)
        else:
            # Equal-frequency buckets: a bucket chosen uniformly (by a hash of the row number, so the three
            # uses agree without a subquery, which PostgreSQL would evaluate once), then a point inside it.
            b = sql.SQL("((g::bigint * 40503) % {})::int").format(sql.Literal(buckets))
            expr = sql.SQL("(({a})[1 + {b}] + (({a})[2 + {b}] - ({a})[1 + {b}]) * random())").format(
                a=arr, b=b
            )
        if base in ("smallint", "integer", "bigint"):
            return sql.SQL("round({})::{}").format(expr, typ)
        return sql.SQL("{}::{}").format(expr, typ)
    if base in _TEMPORAL:
        lo, hi = bounds[0], bounds[-1]
        frac: sql.Composable = sql.SQL("random()")
        if stats.correlation is not None and abs(stats.correlation) > 0.9:
            frac = sql.SQL("((g - 1)::float8 / {})").format(sql.Literal(max(rows, 1)))
            if stats.correlation < 0:
                frac = sql.SQL("(1 - {})").format(frac)
        return sql.SQL("({}::timestamptz + ({}::timestamptz - {}::timestamptz) * {})::{}").format(
            sql.Literal(lo), sql.Literal(hi), sql.Literal(lo), frac, typ
        )
    if base in ("jsonb", "json"):
        # Production's own documents (the histogram's bounds): their keys and width, so an expression index
        # or a CHECK on a key meets values, and the rows are as wide as production's.
        arr = sql.SQL("ARRAY[{}]::text[]").format(sql.SQL(", ").join(sql.Literal(str(b)) for b in bounds))
        return sql.SQL("({})[1 + floor(random() * {})::int]::{}").format(arr, sql.Literal(len(bounds)), typ)
    if base in ("text", "character varying", "character"):
        return sql.SQL("{}::{}").format(_text_pick([str(b) for b in bounds], stats, rows), typ)
    return None


def _shared_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _text_pick(bounds: list[str], stats: ColumnStats, rows: int) -> sql.Composable:
    """Text from a histogram: n_distinct values of production's width, each beginning as a bucket does.

    A value is the prefix its bucket's two bounds share, then a hashed tail (hex) up to avg_width: values of
    a bucket differ from the first character after that prefix, as production's do. Sorting them then costs
    what production's sort costs: PostgreSQL compares text by its first bytes first (abbreviated keys), and
    a whole bound with a numbered suffix made every comparison within a bucket run through the bound (a
    rehearsed index build on an md5 column cost 1.7x production's per row). A key k = hash(g) mod n_distinct
    picks both the bucket and the tail, so the column holds n_distinct values (the most common ones
    included), each as often."""
    distinct = max(1, stats.distinct_count(rows) - len(stats.most_common_vals))
    if distinct <= len(bounds):
        arr = sql.SQL("ARRAY[{}]::text[]").format(sql.SQL(", ").join(sql.Literal(b) for b in bounds))
        return sql.SQL("({})[1 + floor(random() * {})::int]").format(arr, sql.Literal(len(bounds)))
    buckets = len(bounds) - 1
    prefixes = [_shared_prefix(bounds[i], bounds[i + 1]) for i in range(buckets)]
    width = stats.avg_width or 16
    chars = width - 1 if width <= 127 else width - 4  # avg_width counts the length header
    # Enough hex digits to tell a bucket's values apart, at least.
    least = max(1, math.ceil(math.log(max(distinct / buckets, 2), 16)) + 1)
    lengths = [max(chars - len(p), least) for p in prefixes]
    reps = max(1, math.ceil(max(lengths) / 32))
    key = sql.SQL("((g::bigint * 2654435761) % {})").format(sql.Literal(distinct))
    bucket = sql.SQL("(1 + {} % {})::int").format(key, sql.Literal(buckets))
    heads = sql.SQL("ARRAY[{}]::text[]").format(sql.SQL(", ").join(sql.Literal(p) for p in prefixes))
    sizes = sql.SQL("ARRAY[{}]::int[]").format(sql.SQL(", ").join(sql.Literal(n) for n in lengths))
    tail = sql.SQL("repeat(md5({}::text), {})").format(key, sql.Literal(reps))
    return sql.SQL("(({heads})[{b}] || left({tail}, ({sizes})[{b}]))").format(
        heads=heads, b=bucket, tail=tail, sizes=sizes
    )


def _by_type(col: ColumnInfo, stats: ColumnStats | None, typ: sql.Composable, base: str) -> sql.Composable:
    width = stats.avg_width if stats is not None and stats.avg_width else None
    if col.enum_labels:
        arr = sql.SQL("ARRAY[{}]").format(sql.SQL(", ").join(sql.Literal(v) for v in col.enum_labels))
        return sql.SQL("({})[1 + floor(random() * {})::int]::{}").format(
            arr, sql.Literal(len(col.enum_labels)), typ
        )
    if base in ("smallint",):
        return sql.SQL("floor(random() * 30000)::smallint")
    if base in ("integer", "bigint"):
        return sql.SQL("floor(random() * 1000000)::{}").format(typ)
    if base in ("numeric", "real", "double precision"):
        return sql.SQL("round((random() * 100000)::numeric, 2)::{}").format(typ)
    if base == "boolean":
        return sql.SQL("(random() < 0.5)")
    if base in _TEMPORAL:
        return sql.SQL("(now() - random() * interval '365 days')::{}").format(typ)
    if base == "uuid":
        return sql.SQL("gen_random_uuid()")
    if base in ("jsonb", "json"):
        return sql.SQL("jsonb_build_object('k', floor(random() * 1000)::int)::{}").format(typ)
    if base in ("text", "character varying", "character"):
        target = max(width or 16, 1)
        reps = max(1, math.ceil(target / 32))
        return sql.SQL("left(repeat(md5(random()::text), {}), {})::{}").format(
            sql.Literal(reps), sql.Literal(target), typ
        )
    if base == "bytea":
        return sql.SQL("decode(md5(random()::text), 'hex')")
    if col.not_null:
        return sql.SQL("{}::{}").format(sql.Literal("0"), typ)
    return sql.SQL("NULL::{}").format(typ)


@dataclass
class BuildReport:
    rows: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# Rows given to a referenced table whose size the stats do not name.
FK_PARENT_DEFAULT_ROWS = 10_000


def target_rows(table: TableStats | None, fraction: float) -> int:
    if table is None:
        return 0
    return max(1, round(table.rows * fraction)) if table.rows else 0


def build_database(
    dsn: str,
    schema_sql: str,
    stats: Stats,
    fraction: float,
    progress: Callable[[str], None] | None = None,
    migration_sql: str = "",
    parent_rows_floor: int = 0,
    deadline: float | None = None,
) -> BuildReport:
    """Create the schema and fill it with `fraction` of production's row counts (1.0 = full size).

    migration_sql: the migration about to run; foreign keys it adds are honoured in the data too (production
    data satisfies them, or the migration could not work there), so its validation meets valid rows.
    deadline: a time.perf_counter() value no statement may run past (each gets the time left at the start).
    parent_rows_floor: a table that foreign keys reference gets at least min(its production rows, this)
    rows at every fraction. Each child row probes the parent (FK validation, joins, GROUP BY on the key), and
    the cost of a probe depends on the parent's size, not the child's: a hash of 10,000 keys fits a CPU
    cache where production's 100,000 do not (measured: the same 1M-row FK validation took 0.2 s against
    10,000 parents, 0.45 s against 100,000).
    """
    report = BuildReport()
    phases = split_schema(schema_sql)
    if migration_sql:
        for table, cols in split_schema(migration_sql).fk_columns.items():
            for col, parent in cols.items():
                phases.fk_columns.setdefault(table, {}).setdefault(col, parent)
    say = progress or (lambda _msg: None)
    with connect(dsn, DATAGEN_SESSION) as conn:

        def budgeted() -> None:
            """The caller's budget ends at `deadline`: the next statement may not run past it."""
            if deadline is not None:
                left = min(max(int((deadline - time.perf_counter()) * 1000), 1), 2**31 - 1)
                conn.execute(
                    sql.SQL("SELECT pg_catalog.set_config('statement_timeout', {}, false)").format(
                        sql.Literal(f"{left}ms")
                    )
                )

        try:
            for stmt in phases.before:
                conn.execute(sql.SQL(stmt))  # DDL from the snapshot, replayed as is
            tables = _tables_in_order(conn, phases)
            planned = {t: target_rows(stats.table(t), fraction) for t in tables}
            # A table with no known size that a filled table references must still hold rows, or no foreign
            # key value could be generated (a minimal stats file often names only the big table).
            for table in reversed(tables):
                for referenced, _ in phases.fk_columns.get(table, {}).values():
                    if planned.get(table) and referenced in planned and not planned[referenced]:
                        planned[referenced] = max(1, min(planned[table], FK_PARENT_DEFAULT_ROWS))
                        report.warnings.append(
                            f"no size for {referenced} (referenced by {table}): "
                            f"filled {planned[referenced]:,} rows"
                        )
            # Foreign-key values still take as many distinct values as the scaled key range holds, so the
            # referencing column keeps its rows per key (a GROUP BY meets as many groups as before, a btree
            # on it deduplicates as production's does); over a parent kept at production size they are
            # spread across its whole key range (fk_values).
            fk_domain = dict(planned)
            for table, rows in _full_size_parents(phases, stats, parent_rows_floor).items():
                if table in planned:
                    planned[table] = max(planned[table], rows)
            for table in tables:
                n = planned[table]
                report.rows[table] = n
                if n == 0:
                    continue
                say(f"generating {n:,} rows of {table}")
                budgeted()
                _fill(conn, table, n, stats, phases, fk_domain, planned)
            for stmt in [*phases.after, *phases.foreign_keys]:
                budgeted()
                _add_constraint(conn, stmt, report)
            for stmt in phases.last:
                budgeted()
                conn.execute(sql.SQL(stmt))
            say("VACUUM ANALYZE")
            budgeted()
            conn.execute(sql.SQL("VACUUM ANALYZE"))
            budgeted()
            conn.execute(sql.SQL("CHECKPOINT"))
        except psycopg.Error as err:
            raise translate_error(err, "generating synthetic data") from None
    return report


def _full_size_parents(phases: Phases, stats: Stats, floor: int) -> dict[str, int]:
    """Referenced tables kept at production size: at most `floor` rows, and smaller in production than a
    table referencing them (never a self-reference, nor the big table whose scale the ladder varies)."""
    out: dict[str, int] = {}
    if floor <= 0:
        return out
    for child, cols in phases.fk_columns.items():
        child_stats = stats.table(child)
        for parent, _ in cols.values():
            parent_stats = stats.table(parent)
            if parent_stats is None or child_stats is None or parent == child:
                continue
            if 0 < parent_stats.rows <= floor and parent_stats.rows < child_stats.rows:
                out[parent] = parent_stats.rows
    return out


def _add_constraint(conn: psycopg.Connection[Any], stmt: str, report: BuildReport) -> None:
    try:
        conn.execute(sql.SQL(stmt))
    except psycopg.errors.CheckViolation:
        relaxed = stmt.rstrip(";") + " NOT VALID;"
        conn.execute(sql.SQL(relaxed))
        report.warnings.append(f"synthetic data violates a CHECK; added NOT VALID: {stmt[:120]}")


def _tables_in_order(conn: psycopg.Connection[Any], phases: Phases) -> list[str]:
    """Plain tables and partitions (not partitioned parents), parents of foreign keys first."""
    rows = conn.execute(
        sql.SQL(
            "SELECT n.nspname || '.' || c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', "
            "'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1"
        )
    ).fetchall()
    names = [r[0] for r in rows]
    ordered: list[str] = []

    def visit(t: str, seen: set[str]) -> None:
        if t in ordered or t in seen:
            return
        seen.add(t)
        for parent, _ in phases.fk_columns.get(t, {}).values():
            if parent in names:
                visit(parent, seen)
        ordered.append(t)

    for t in names:
        visit(t, set())
    return ordered


def _fill(
    conn: psycopg.Connection[Any],
    table: str,
    n: int,
    stats: Stats,
    phases: Phases,
    rows: dict[str, int],
    filled: Mapping[str, int] | None = None,
) -> None:
    """Insert `n` generated rows into `table`. rows: each referenced table's key domain at this scale (how
    many distinct values a foreign key to it takes); filled: the rows each referenced table actually got
    (more than its domain when kept at production size)."""
    tstats = stats.table(table)
    cols = _columns(conn, table)
    unique = phases.unique_columns.get(table, set())
    if tstats is not None:
        for index in tstats.indexes.values():
            if index.unique and len(index.columns) == 1:
                unique = unique | {index.columns[0]}
    fks = phases.fk_columns.get(table, {})
    names: list[sql.Composable] = []
    exprs: list[sql.Composable] = []
    overriding = False
    for col in cols:
        if col.generated:
            continue
        if col.identity:
            overriding = True
            names.append(sql.Identifier(col.name))
            exprs.append(sql.SQL("g::{}").format(sql.SQL(col.type)))
            continue
        cstats = tstats.columns.get(col.name) if tstats is not None else None
        parent_rows = None
        keys: int | None = None
        if col.name in fks:
            parent = fks[col.name][0]
            parent_rows = rows.get(parent) or target_rows(
                stats.table(parent), n / max(tstats.rows, 1) if tstats else 1.0
            )
            keys = (filled or {}).get(parent) or parent_rows
        names.append(sql.Identifier(col.name))
        exprs.append(
            column_expression(
                col,
                cstats,
                n,
                unique=col.name in unique,
                fk_parent_rows=keys,
                fk_distinct=parent_rows,
            )
        )
    schema, name = table.split(".", 1)
    query = sql.SQL(
        "INSERT INTO {} ({}) {} SELECT {} FROM (SELECT g, random() AS r FROM generate_series(1, {}) g) s"
    ).format(
        sql.Identifier(schema, name),
        sql.SQL(", ").join(names),
        sql.SQL("OVERRIDING SYSTEM VALUE") if overriding else sql.SQL(""),
        sql.SQL(", ").join(exprs),
        sql.Literal(n),
    )
    conn.execute(query)
    # Sequences behind serial/identity columns continue after the generated keys, as in production.
    conn.execute(
        sql.SQL(
            "SELECT pg_catalog.setval(s.seq, {}) FROM (SELECT pg_catalog.pg_get_serial_sequence({}, "
            "a.attname) "
            "AS seq FROM pg_catalog.pg_attribute a WHERE a.attrelid = {}::regclass AND a.attnum > 0) s "
            "WHERE s.seq IS NOT NULL"
        ).format(sql.Literal(n), sql.Literal(f'"{schema}"."{name}"'), sql.Literal(f'"{schema}"."{name}"'))
    )


# -- the release still running: rows it inserts while a migration runs (foreshock.load.race) -------------
@dataclass(frozen=True)
class ReleaseInsert:
    """How the release still running inserts into one table: the statement takes the row number `g` (when
    numbered) and, per chosen column, a value picked from `choices` as parameter `c0`, `c1`, …"""

    table: str
    key: str  # the column RETURNING gives back ("" when the table has none usable)
    statement: sql.Composed
    choices: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    numbered: bool = True


def release_insert(
    conn: psycopg.Connection[Any], table: str, key: str, pinned: Mapping[str, tuple[Any, ...]] | None = None
) -> ReleaseInsert:
    """An INSERT the release still running would send: every column the table has now (so never one a
    migration adds later) that has no default, values shaped like the synthetic data (unique columns from the
    row number, so they never collide), foreign keys pointing at existing rows, `pinned` columns from the
    values given."""
    columns = _columns(conn, table)
    unique = _unique_columns(conn, table)
    picks = {**_foreign_key_values(conn, table), **(pinned or {})}
    names: list[sql.Composable] = []
    values: list[sql.Composable] = []
    chosen: list[tuple[str, tuple[Any, ...]]] = []
    for col in columns:
        if col.identity or col.generated or col.has_default:
            continue  # the sequence, the generation expression or the default fills it, as in production
        names.append(sql.Identifier(col.name))
        if picks.get(col.name):
            placeholder = sql.Placeholder(f"c{len(chosen)}")
            chosen.append((col.name, tuple(picks[col.name])))
            values.append(sql.SQL("{}::{}").format(placeholder, sql.SQL(col.type)))
        else:
            values.append(
                column_expression(col, None, 1_000_000, unique=col.name in unique, fk_parent_rows=None)
            )
    returning = sql.SQL(" RETURNING {}").format(sql.Identifier(key)) if key else sql.SQL("")
    schema, name = table.split(".", 1)
    head = sql.SQL("INSERT INTO {} ").format(sql.Identifier(schema, name))
    # g numbers the release's rows after the synthetic ones, r is one random draw per row: the same inputs
    # the synthetic rows were generated from.
    statement = (
        sql.SQL("{}({}) SELECT {} FROM (SELECT {}::bigint AS g, random() AS r) s{}").format(
            head, sql.SQL(", ").join(names), sql.SQL(", ").join(values), sql.Placeholder("g"), returning
        )
        if names
        else sql.SQL("{}DEFAULT VALUES{}").format(head, returning)
    )
    return ReleaseInsert(table, key, statement, tuple(chosen), bool(names))


def _foreign_key_values(conn: psycopg.Connection[Any], table: str) -> dict[str, tuple[Any, ...]]:
    """Single-column foreign keys of table -> a sample of the values they may hold (the referenced keys)."""
    out: dict[str, tuple[Any, ...]] = {}
    fks = conn.execute(
        sql.SQL(
            "SELECT a.attname, c.confrelid::regclass::text, af.attname FROM pg_catalog.pg_constraint c "
            "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
            "JOIN pg_catalog.pg_attribute af ON af.attrelid = c.confrelid AND af.attnum = c.confkey[1] "
            "WHERE c.contype = 'f' AND c.conrelid = to_regclass({}) AND cardinality(c.conkey) = 1"
        ).format(sql.Literal(table))
    ).fetchall()
    for column, referenced, referenced_column in fks:
        rows = conn.execute(
            sql.SQL("SELECT {} FROM {} LIMIT 2000").format(
                sql.Identifier(referenced_column),
                sql.SQL(referenced),  # regclass text: quoted as needed
            )
        ).fetchall()
        out[str(column)] = tuple(r[0] for r in rows)
    return out


def _unique_columns(conn: psycopg.Connection[Any], table: str) -> set[str]:
    rows = conn.execute(
        sql.SQL(
            "SELECT a.attname FROM pg_catalog.pg_index i JOIN pg_catalog.pg_attribute a "
            "ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] "
            "WHERE i.indrelid = to_regclass({}) AND i.indisunique AND i.indnatts = 1"
        ).format(sql.Literal(table))
    ).fetchall()
    return {str(r[0]) for r in rows}
