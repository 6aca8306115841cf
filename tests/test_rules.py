"""Every example of every rule through the real analysis: bad triggers exactly that rule, good nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foreshock.api import check_units
from foreshock.config import Settings as ConfigSettings
from foreshock.core.analyze import analyze
from foreshock.core.model import AnalysisSettings, FileAnalysis, Finding, MigrationUnit, OpaqueCode
from foreshock.errors import InputError
from foreshock.rules.base import Example, Rule
from foreshock.rules.deployment import Deployment, DeploymentSettings
from foreshock.rules.engine import RuleEngine
from foreshock.rules.registry import all_rules, get_rule
from foreshock.scale.stats import parse_stats


@dataclass
class Settings:
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    enabled_rules: frozenset[str] | None = None
    disabled_rules: frozenset[str] = frozenset()
    severities: dict[str, str] = field(default_factory=dict)


def run(
    sql: str,
    schema: str = "",
    *,
    pg_version: int | None = None,
    transactional: bool | None = None,
    settings: Settings | None = None,
    opaque: tuple[OpaqueCode, ...] = (),
) -> tuple[RuleEngine, tuple[FileAnalysis, ...]]:
    settings = settings or Settings()
    if pg_version is not None:
        settings.analysis = AnalysisSettings(pg_version=pg_version)
    units = []
    if schema:
        units.append(MigrationUnit(path="schema.sql", text=schema, history=True))
    units.append(MigrationUnit(path="migration.sql", text=sql, transactional=transactional, opaque=opaque))
    engine = RuleEngine(settings)
    files = analyze(units, settings.analysis, engine)
    return engine, files


def run_example(ex: Example) -> tuple[list[Finding], list[InputError]]:
    if ex.rows or ex.deployment is not Deployment.ONLINE:
        return _judged_example(ex)
    engine, files = run(
        ex.sql, ex.schema, pg_version=ex.pg_version, transactional=ex.transactional, opaque=ex.opaque
    )
    errors = list(engine.errors) + [e for f in files for e in f.errors]
    return engine.findings, errors


def _judged_example(ex: Example) -> tuple[list[Finding], list[InputError]]:
    """An example judged at the sizes it names, in its deployment: check's whole path (engine, then the
    verdict with the calibrated model's durations)."""
    settings = ConfigSettings(deployment=DeploymentSettings(default=ex.deployment))
    if ex.pg_version is not None:
        settings = replace(settings, analysis=AnalysisSettings(pg_version=ex.pg_version))
    tables = {name: {"rows": rows, "bytes": rows * 160} for name, rows in ex.rows}
    unit = MigrationUnit("migration.sql", ex.sql, transactional=ex.transactional, opaque=ex.opaque)
    history = [MigrationUnit(path="schema.sql", text=ex.schema, history=True)] if ex.schema else []
    sizes = parse_stats(json.dumps({"tables": tables}))
    result = check_units([unit], settings, history=history, sizes=sizes)
    return list(result.findings), list(result.errors)


CASES = [
    (r.id, kind, i) for r in all_rules() for kind in ("bad", "good") for i in range(len(getattr(r, kind)))
]


@pytest.mark.parametrize(("rule_id", "kind", "i"), CASES, ids=[f"{r}-{k}{i}" for r, k, i in CASES])
def test_rule_examples(rule_id: str, kind: str, i: int) -> None:
    rule = get_rule(rule_id)
    ex: Example = getattr(rule, kind)[i]
    findings, errors = run_example(ex)
    assert not errors, [e.one_line() for e in errors]
    fired = {f.rule for f in findings}
    detail = [f"{f.rule}: {f.message}" for f in findings]
    if kind == "good":
        assert not findings, detail
    else:
        assert rule_id in fired, detail
        assert fired - {rule_id} <= set(rule.also), detail


def test_every_rule_is_documented_and_exemplified() -> None:
    ids = [r.id for r in all_rules()]
    assert len(ids) == len(set(ids))
    for rule in all_rules():
        assert rule.id == rule.id.lower() and " " not in rule.id and "_" not in rule.id
        assert rule.summary and "\n" not in rule.summary
        assert rule.why and rule.fix
        assert rule.bad and rule.good, rule.id
        assert rule.severity in ("error", "warning", "info")
        for other in rule.also:
            get_rule(other)


def _rule_with_checks(rule: Rule) -> bool:
    return rule.check_statement is not None or rule.check_file is not None


RUNAWAY = """BEGIN;
ALTER TABLE orders ADD COLUMN region text;
UPDATE orders SET region = 'eu';
ALTER TABLE orders ALTER COLUMN region SET NOT NULL;
COMMIT;
"""


def test_runaway_migration_names_lock_holder_and_safe_sequence() -> None:
    from foreshock.rules.examples import ORDERS

    engine, _ = run(RUNAWAY, ORDERS)
    txn = [f for f in engine.findings if f.rule == "holding-lock-during-slow-statement"]
    assert len(txn) == 1
    f = txn[0]
    assert f.severity == "error"
    assert f.lock is not None and f.lock.name == "AccessExclusiveLock"
    assert f.line == 3  # reported at the UPDATE that keeps the lock held
    assert "AccessExclusiveLock" in f.message and "ACCESS EXCLUSIVE" in f.message
    assert "line 2 `ALTER TABLE orders ADD COLUMN region text`" in f.message
    assert "line 3 `UPDATE orders SET region = 'eu'`" in f.message
    assert f.tables == ("public.orders",)
    assert f.fix is not None
    # one constant for every row: the column added with it as DEFAULT and NOT NULL, catalog-only
    order = [
        "SET lock_timeout",
        "ALTER TABLE orders ADD COLUMN region text DEFAULT 'eu' NOT NULL;",
        "ALTER TABLE orders ALTER COLUMN region DROP DEFAULT;",
    ]
    positions = [f.fix.index(piece) for piece in order]
    assert positions == sorted(positions) and "UPDATE" not in f.fix, f.fix
    # a value per row: the safe sequence, lock timeout, ADD COLUMN alone, batched backfill, NOT NULL through a
    # validated CHECK
    engine, _ = run(RUNAWAY.replace("'eu'", "lower(note)"), ORDERS)
    [split] = [f for f in engine.findings if f.rule == "holding-lock-during-slow-statement"]
    assert split.fix is not None
    order = [
        "SET lock_timeout",
        "ALTER TABLE orders ADD COLUMN region text;",
        "WHERE id > :last AND id <= :last + 10000",
        "CHECK (region IS NOT NULL) NOT VALID",
        "VALIDATE CONSTRAINT orders_region_not_null",
        "ALTER COLUMN region SET NOT NULL",
        "DROP CONSTRAINT orders_region_not_null",
    ]
    positions = [split.fix.index(piece) for piece in order]
    assert positions == sorted(positions), split.fix
    # the other statements get their own findings too
    assert {x.rule for x in engine.findings} >= {
        "setting-not-null",
        "unbatched-backfill",
        "missing-lock-timeout",
    }


def test_same_statements_in_separate_transactions_are_not_a_held_lock() -> None:
    from foreshock.rules.examples import ORDERS

    sql = (
        "SET lock_timeout = '2s';\nBEGIN;\nALTER TABLE orders ADD COLUMN region text;\nCOMMIT;\n"
        "-- foreshock: backfill batch_size=1000\nUPDATE orders SET region = 'eu';\n"
    )
    engine, _ = run(sql, ORDERS)
    assert engine.findings == []


def test_new_tables_are_never_a_production_risk() -> None:
    sql = (
        "CREATE TABLE t (k bigint PRIMARY KEY, v text, n int);\n"
        "ALTER TABLE t ADD COLUMN u uuid DEFAULT gen_random_uuid();\n"
        "ALTER TABLE t ALTER COLUMN v SET NOT NULL;\n"
        "ALTER TABLE t ALTER COLUMN n TYPE bigint;\n"
        "CREATE INDEX t_v_idx ON t (v);\n"
        "ALTER TABLE t ADD CONSTRAINT t_v_key UNIQUE (v);\n"
        "UPDATE t SET v = 'x';\n"
        "ALTER TABLE t RENAME COLUMN v TO w;\n"
        "ALTER TABLE t DROP COLUMN w;\n"
    )
    engine, _ = run(sql)
    assert engine.findings == [], [f.rule for f in engine.findings]


def test_version_gated_rule_is_silent_outside_its_versions() -> None:
    from foreshock.rules.examples import ORDERS

    rule = get_rule("adding-column-volatile-default")
    assert rule.min_pg == 11
    assert rule.applies_to(16) and not rule.applies_to(10)
    engine, _ = run(rule.bad[0].sql, ORDERS)
    assert [f.rule for f in engine.findings] == [rule.id]


# -- generated and corrupted SQL through parse + analyze + RuleEngine: never a traceback --------------------

SEEDS = sorted({ex.sql for r in all_rules() for ex in r.bad + r.good})
SCHEMAS = sorted({ex.schema for r in all_rules() for ex in r.bad + r.good if ex.schema})
NOISE = [
    "'",
    '"',
    "$$",
    "$a$",
    ";",
    "(",
    ")",
    "--",
    "/*",
    "*/",
    "\n",
    "BEGIN;",
    "COMMIT;",
    "\x00",
    "é",
    "表",
    "-- foreshock: ignore ",
    "-- foreshock: ignore-file x --",
    "-- foreshock: backfill batch_size=",
    "NOT VALID",
    "CONCURRENTLY",
    " DEFAULT random()",
    " NOT NULL",
    "ALTER TABLE orders ",
    "UPDATE orders SET ",
]


@st.composite
def corrupted(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from(SEEDS), min_size=1, max_size=4))
    text = "\n".join(parts)
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.sampled_from(["cut", "insert", "flip", "delete"]))
        pos = draw(st.integers(0, len(text)))
        if op == "cut":
            text = text[:pos]
        elif op == "insert":
            text = text[:pos] + draw(st.sampled_from(NOISE) | st.text(max_size=5)) + text[pos:]
        elif op == "flip" and text:
            i = min(pos, len(text) - 1)
            text = text[:i] + chr((ord(text[i]) * 7 + 13) % 0x2FFF or 32) + text[i + 1 :]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 20)) :]
    return text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sql=corrupted(),
    schema=st.sampled_from(["", *SCHEMAS]),
    pg=st.sampled_from([12, 14, 16, 17]),
    transactional=st.sampled_from([None, True, False]),
)
def test_corrupted_sql_never_raises(sql: str, schema: str, pg: int, transactional: bool | None) -> None:
    units = []
    if schema:
        units.append(MigrationUnit(path="schema.sql", text=schema, history=True))
    units.append(MigrationUnit(path="m.sql", text=sql, transactional=transactional))
    settings_ = AnalysisSettings(pg_version=pg)
    engine = RuleEngine()
    files = analyze(units, settings_, engine)
    assert len(files) == 1
    for f in engine.findings:
        assert f.path == "m.sql" and f.line >= 1 and f.column >= 1
        assert f.message
    for e in engine.errors:
        assert e.one_line().startswith("m.sql:")


# -- PostgreSQL is the judge: the rule examples, run on a real server ------------------------------------

# Rules whose findings claim the statement rewrites / fully scans the table.
REWRITE_RULES = frozenset(
    {
        "adding-column-volatile-default",
        "adding-serial-column",
        "adding-stored-generated-column",
        "changing-column-type",
        "vacuum-full",
        "clustering-table",
        "setting-logged",
    }
)
# Rules whose findings claim the statement reads every row of an existing table.
SCAN_RULES = frozenset(
    {
        "setting-not-null",
        "adding-check-constraint",
        "adding-foreign-key",
        "adding-unique-constraint",
        "creating-index-non-concurrently",
        "attaching-partition-with-scan",
        "unbatched-backfill",
        "reindexing-non-concurrently",
        "refreshing-matview-non-concurrently",
    }
)


@pytest.mark.db
def test_rule_examples_against_postgresql(pg_dsn: str) -> None:
    """For every statement-level finding on a bad example the server takes at least the lock the finding names
    on the tables it names; rewrite and scan rules really rewrite / scan on bad examples, and rewrite
    rules never rewrite on good ones."""
    from foreshock.trace import trace_cases

    examples: dict[str, list[tuple[Rule, str, Example]]] = {}
    for rule in all_rules():
        for kind in ("bad", "good"):
            for ex in getattr(rule, kind):
                examples.setdefault(ex.schema, []).append((rule, kind, ex))
    checked_locks = checked_rewrites = checked_scans = 0
    problems: list[str] = []
    for schema, group in examples.items():
        traced = trace_cases(pg_dsn, schema, [ex.sql for _, _, ex in group])
        for (rule, kind, ex), case in zip(group, traced, strict=True):
            by_line = {s.line: s for s in case.statements}
            rewritten = {e.table for s in case.statements for e in s.effects if e.rewrite}
            if kind == "good":
                if rule.id in REWRITE_RULES and rewritten:
                    problems.append(f"{rule.id} good example rewrote {rewritten} on the server")
                continue
            if rule.id in REWRITE_RULES:
                checked_rewrites += 1
                if not rewritten:
                    problems.append(
                        f"{rule.id} bad example did not rewrite anything on the server: {case.error}"
                    )
            if rule.id in SCAN_RULES:
                checked_scans += 1
                if not any(e.scan for s in case.statements for e in s.effects):
                    problems.append(f"{rule.id} bad example scanned nothing on the server: {case.error}")
            if rule.check_statement is None:
                continue
            findings, _ = run_example(ex)
            for f in findings:
                if f.rule != rule.id or f.lock is None:
                    continue
                stmt = by_line.get(f.line)
                if stmt is None or stmt.error or stmt.skipped:
                    problems.append(f"{rule.id}: line {f.line} not traced ({stmt and stmt.error})")
                    continue
                server = {e.table: e.lock for e in stmt.effects}
                checked_locks += 1
                # Finding.lock is the lock on the first table named; every other table named is locked too.
                main = f.tables[0] if f.tables else ""
                if main not in server or server[main] < f.lock:
                    problems.append(f"{rule.id}: finding names {f.lock.name} on {main}, server: {server}")
                if any(t not in server for t in f.tables):
                    problems.append(f"{rule.id}: finding names {f.tables}, server locked {sorted(server)}")
    assert not problems, problems
    assert checked_locks >= 25
    assert checked_rewrites >= len(REWRITE_RULES) and checked_scans >= len(SCAN_RULES)


BACKFILLS = [
    # (setup, statement): each table gets 25,000 rows, more than two batches of 10,000
    (
        "CREATE TABLE bf_pk (id bigint PRIMARY KEY, b text);"
        "INSERT INTO bf_pk SELECT g, CASE WHEN g % 3 = 0 THEN 'x' END FROM generate_series(1, 25000) g;",
        "UPDATE bf_pk SET b = 'x';",
    ),
    (
        "CREATE TABLE bf_nopk (a int, b text);"
        "INSERT INTO bf_nopk SELECT g, NULL FROM generate_series(1, 25000) g;",
        "UPDATE bf_nopk SET b = 'y' WHERE a > 100;",
    ),
    (
        "CREATE TABLE bf_del (id bigint PRIMARY KEY, b text);"
        "INSERT INTO bf_del SELECT g, CASE WHEN g % 2 = 0 THEN 'keep' END FROM generate_series(1, 25000) g;",
        "DELETE FROM bf_del WHERE b IS NULL;",
    ),
    (
        "CREATE TABLE bf_keyset (id bigint PRIMARY KEY, z bigint);"
        "INSERT INTO bf_keyset SELECT g, 0 FROM generate_series(1, 25000) g;",
        "UPDATE bf_keyset SET z = id * 2 + z;",
    ),
    (
        "CREATE TABLE bf_text (code text PRIMARY KEY, b int);"
        "INSERT INTO bf_text SELECT 'k' || g, 0 FROM generate_series(1, 25000) g;",
        "UPDATE bf_text SET b = b + 1;",
    ),
]


def _run_batches(conn: object, fix: str) -> int:
    """Run the batch statement of a fix as its comments say, until the table is walked; returns the number of
    batches. Key-range batches walk :last (and :upper) over the key; the keyless fallback repeats until it
    changes nothing."""
    import re

    run = conn.execute  # type: ignore[attr-defined]
    body = "\n".join(line for line in fix.splitlines() if not line.lstrip().startswith("--"))
    batch = body.split(";")[0]
    ranged = re.search(r"WHERE (\S+) > :last AND \1 <= :last \+ (\d+)", batch)
    upper = re.search(r"WHERE (\S+) > :last AND \1 <= :upper", batch)
    table = re.match(r"\s*(?:UPDATE|DELETE FROM) (\S+)", batch)
    assert table is not None, batch
    if ranged:
        key, size = ranged.group(1), int(ranged.group(2))
        low, high = run(f"SELECT min({key}) - 1, max({key}) FROM {table.group(1)}").fetchone()
        n = 0
        while low < high:
            run(batch.replace(":last", str(low)))
            low, n = low + size, n + 1
        return n
    if upper:
        key, t = upper.group(1), table.group(1)
        last = run(f"SELECT min({key}) FROM {t}").fetchone()[0]
        run(batch.replace(":last", "''").replace(":upper", f"'{last}'"))  # the smallest key alone
        n = 1
        while True:
            row = run(f"SELECT {key} FROM {t} WHERE {key} > %s ORDER BY {key} OFFSET 9999 LIMIT 1", [last])
            top = row.fetchone() or run(f"SELECT max({key}) FROM {t} WHERE {key} > %s", [last]).fetchone()
            if top is None or top[0] is None:
                return n
            run(batch.replace(":last", "%s").replace(":upper", "%s"), [last, top[0]])
            last, n = top[0], n + 1
    for n in range(1, 100):
        if run(batch).rowcount == 0:
            return n
    raise AssertionError("batch never finished: " + re.sub(r"\s+", " ", batch))


@pytest.mark.db
@pytest.mark.parametrize(("setup", "statement"), BACKFILLS, ids=[s.split()[1] for _, s in BACKFILLS])
def test_batched_backfill_fix_reaches_the_same_rows(pg_dsn: str, setup: str, statement: str) -> None:
    """PostgreSQL is the judge of the fix: the proposed batches end where the single statement would."""
    from psycopg import sql

    from foreshock.pg.connect import connect

    table = statement.split()[1] if statement.startswith("UPDATE") else statement.split()[2]
    t, expected = sql.Identifier(table), sql.Identifier(f"{table}_expected")
    engine, _ = run("SET lock_timeout = '2s';\n" + statement, setup)
    fix = next(f.fix for f in engine.findings if f.rule == "unbatched-backfill")
    assert fix is not None
    with connect(pg_dsn) as conn:
        try:
            conn.execute(setup)
            conn.execute(sql.SQL("CREATE TABLE {} AS TABLE {}").format(expected, t))
            conn.execute(statement.replace(table, f"{table}_expected", 1))
            batches = _run_batches(conn, fix)
            assert batches >= 3  # 25,000 rows in batches of at most 10,000
            diff = conn.execute(
                sql.SQL(
                    "SELECT count(*) FROM ((TABLE {t} EXCEPT ALL TABLE {e})"
                    " UNION ALL (TABLE {e} EXCEPT ALL TABLE {t})) d"
                ).format(t=t, e=expected)
            ).fetchone()
            assert diff == (0,)
        finally:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}, {}").format(t, expected))


@pytest.mark.parametrize(
    "expr",
    [
        "1",
        "-7",
        "'it''s'",
        "true",
        "1.5",
        "NULL",
        "random()",
        "gen_random_uuid()",
        "public.f()",
        '"Mixed"."Col"',
    ],
)
def test_fast_deparse_means_what_pglast_prints(expr: str) -> None:
    """The shortcut printer for fixes must produce SQL PostgreSQL reads exactly as pglast's own output."""
    import pglast
    from pglast.stream import RawStream

    from foreshock.core.deparse import _simple

    node = pglast.parse_sql(f"SELECT {expr}")[0].stmt.targetList[0].val
    fast = _simple(node)
    assert fast is not None
    assert pglast.parse_sql(f"SELECT {fast}") == pglast.parse_sql(f"SELECT {RawStream()(node)}")


@pytest.mark.parametrize(
    "typ",
    [
        "int",
        "bigint",
        "smallint",
        "varchar(10)",
        "numeric(12, 2)",
        "text",
        "uuid",
        "char(2)",
        "boolean",
        "double precision",
        "real",
        "jsonb",
        "public.mood",
        '"MyType"',
        "timestamptz",
    ],
)
def test_fast_type_deparse_means_what_pglast_prints(typ: str) -> None:
    import pglast
    from pglast.stream import RawStream

    from foreshock.core.deparse import _simple

    node = pglast.parse_sql(f"CREATE TABLE t (c {typ})")[0].stmt.tableElts[0].typeName
    fast = _simple(node)
    assert fast is not None
    assert pglast.parse_sql(f"CREATE TABLE t (c {fast})") == pglast.parse_sql(
        f"CREATE TABLE t (c {RawStream()(node)})"
    )


@pytest.mark.parametrize(
    "column",
    [
        "c integer", '"Menge_ä" numeric(10,2)', "region varchar(50)", "created_at timestamptz",
        '"select" text',
        "id public.mood", "flag bool", "note json", "code char(1)", "code character(3)", "kind \"char\"",
        "at timestamp(3) with time zone", "t time", "tags text[]", "grid int[3][]", "b bit varying(8)",
        'x "Mixed".mood', "x double precision", "m money", "d interval", "d interval day", "n numeric",
        "u \"User\"", "s setof_type",
    ],
)
def test_fast_column_deparse_prints_what_pglast_prints(column: str) -> None:
    """A split's ADD COLUMN is printed into the fix text: the shortcut must give pglast's exact text."""
    import pglast
    from pglast.stream import RawStream

    from foreshock.core.deparse import _simple

    node = pglast.parse_sql(f"ALTER TABLE t ADD COLUMN {column}")[0].stmt.cmds[0].def_
    fast = _simple(node)
    # None hands the column to pglast's printer (json and interval are printed there).
    assert fast == RawStream()(node) or (fast is None and ("interval" in column or "json" in column))


def test_messages_point_at_the_lines_the_user_wrote() -> None:
    """For generated SQL (Alembic, Django) the statements a message names carry the source file's lines."""
    from foreshock.rules.examples import ORDERS

    engine = RuleEngine()
    units = [
        MigrationUnit(path="schema.sql", text=ORDERS, history=True),
        MigrationUnit(path="versions/0003.py", text=RUNAWAY, line_map={1: 9, 2: 14, 3: 15, 4: 16, 5: 9}),
    ]
    analyze(units, AnalysisSettings(), engine)
    f = next(f for f in engine.findings if f.rule == "holding-lock-during-slow-statement")
    assert (f.path, f.line) == ("versions/0003.py", 15)
    assert "taken at line 14 `ALTER TABLE orders ADD COLUMN region text`" in f.message
    assert "line 15 `UPDATE orders SET region = 'eu'`" in f.message


REALISTIC = """CREATE TYPE mood AS ENUM ('a', 'b');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE);
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES customers (id),
    qty posint,
    m mood,
    total numeric(12, 2) CHECK (total >= 0),
    note varchar(40)
);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE MATERIALIZED VIEW mv AS SELECT customer_id, count(*) FROM orders GROUP BY 1;
CREATE UNIQUE INDEX mv_customer ON mv (customer_id);
"""

SAFE_MIGRATIONS = [
    "ALTER TABLE orders ADD COLUMN flag boolean NOT NULL DEFAULT false;",
    "ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT now();",
    "ALTER TABLE orders ALTER COLUMN note SET DEFAULT 'n/a';",
    "ALTER TABLE orders ADD CONSTRAINT qty_max CHECK (qty < 1000) NOT VALID;",
    "ALTER TABLE orders ADD CONSTRAINT o_c FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;",
    "ALTER TABLE orders ALTER COLUMN note TYPE varchar(80);",
    "ALTER TABLE orders ALTER COLUMN note TYPE text;",
    "ALTER TABLE orders ALTER COLUMN total TYPE numeric(14, 2);",
    "COMMENT ON COLUMN orders.note IS 'free text';",
    "CREATE VIEW recent_orders AS SELECT id FROM orders;",
    "INSERT INTO customers (email) VALUES ('a@example.com');",
    "UPDATE orders SET note = 'x' WHERE id = 1;",
    "DELETE FROM orders WHERE id = 2;",
    "ALTER TYPE mood ADD VALUE 'c';",
    "ANALYZE orders;",
    "GRANT SELECT ON orders TO PUBLIC;",
    "ALTER TABLE orders ALTER COLUMN note SET STATISTICS 500;",
    "CREATE TABLE audit (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text, at timestamptz);\n"
    "CREATE INDEX audit_at ON audit (at);\n"
    "ALTER TABLE audit ADD CONSTRAINT audit_body CHECK (body <> '');",
    "ALTER TABLE orders ADD COLUMN customer_ref bigint REFERENCES customers (id);",
]

SAFE_OUTSIDE_TRANSACTION = [
    "CREATE INDEX CONCURRENTLY orders_note_idx ON orders (note);",
    "DROP INDEX CONCURRENTLY orders_customer_idx;",
    "REFRESH MATERIALIZED VIEW CONCURRENTLY mv;",
    "VACUUM (ANALYZE) orders;",
    "REINDEX INDEX CONCURRENTLY orders_customer_idx;",
]


@pytest.mark.parametrize("sql", SAFE_MIGRATIONS + SAFE_OUTSIDE_TRANSACTION)
def test_safe_statements_raise_no_finding(sql: str) -> None:
    """No false alarms: what PostgreSQL runs without blocking traffic for long is not flagged."""
    transactional = False if sql in SAFE_OUTSIDE_TRANSACTION else None
    engine, files = run("SET lock_timeout = '2s';\n" + sql, REALISTIC, transactional=transactional)
    assert not files[0].errors
    assert [(f.rule, f.message) for f in engine.findings] == []


DANGEROUS = [
    ("ALTER TABLE orders ADD COLUMN u uuid DEFAULT gen_random_uuid();", "adding-column-volatile-default"),
    (
        "ALTER TABLE orders ADD COLUMN c timestamptz DEFAULT clock_timestamp();",
        "adding-column-volatile-default",
    ),
    ("ALTER TABLE orders ADD COLUMN s bigserial;", "adding-serial-column"),
    (
        "ALTER TABLE orders ADD COLUMN g bigint GENERATED ALWAYS AS (qty * 2) STORED;",
        "adding-stored-generated-column",
    ),
    ("ALTER TABLE orders ALTER COLUMN qty TYPE bigint;", "changing-column-type"),
    ("ALTER TABLE orders ALTER COLUMN note TYPE varchar(10);", "changing-column-type"),
    ("ALTER TABLE orders ALTER COLUMN m TYPE text;", "changing-column-type"),
    ("ALTER TABLE orders ALTER COLUMN note SET NOT NULL;", "setting-not-null"),
    ("ALTER TABLE orders ADD CONSTRAINT c1 CHECK (qty > 1);", "adding-check-constraint"),
    (
        "ALTER TABLE orders ADD CONSTRAINT c2 FOREIGN KEY (customer_id) REFERENCES customers (id);",
        "adding-foreign-key",
    ),
    ("ALTER TABLE orders ADD CONSTRAINT c3 UNIQUE (note);", "adding-unique-constraint"),
    ("ALTER TABLE orders ADD CONSTRAINT c4 EXCLUDE (note WITH =);", "adding-exclusion-constraint"),
    ("CREATE INDEX i1 ON orders (note);", "creating-index-non-concurrently"),
    ("CREATE UNIQUE INDEX i2 ON orders (note);", "creating-index-non-concurrently"),
    ("DROP INDEX orders_customer_idx;", "dropping-index-non-concurrently"),
    ("REFRESH MATERIALIZED VIEW mv;", "refreshing-matview-non-concurrently"),
    ("VACUUM FULL orders;", "vacuum-full"),
    ("CLUSTER orders USING orders_customer_idx;", "clustering-table"),
    ("ALTER TABLE orders SET LOGGED;", "setting-logged"),
    ("ALTER TABLE orders RENAME TO purchases;", "renaming-table"),
    ("ALTER TABLE orders RENAME COLUMN note TO remark;", "renaming-column"),
    ("ALTER TABLE orders DROP COLUMN note;", "dropping-column"),
    ("DROP TABLE orders;", "dropping-table"),
    ("TRUNCATE orders;", "truncating-table"),
    ("UPDATE orders SET note = 'x';", "unbatched-backfill"),
    ("UPDATE orders SET note = 'x' WHERE note IS NULL;", "unbatched-backfill"),
    ("DELETE FROM orders;", "unbatched-backfill"),
    ("ALTER TYPE mood RENAME VALUE 'a' TO 'z';", "renaming-enum-value"),
    ("ALTER TABLE orders ADD COLUMN j json;", "json-column"),
    ("ALTER DOMAIN posint ADD CONSTRAINT pc CHECK (VALUE < 100);", "adding-domain-constraint"),
    ("REINDEX TABLE orders;", "reindexing-non-concurrently"),
    ("ALTER TABLE orders ADD COLUMN r int NOT NULL;", "adding-required-column"),
    ("ALTER TABLE orders ALTER COLUMN total TYPE numeric(10, 2);", "changing-column-type"),
    ("DELETE FROM pg_catalog.pg_enum WHERE enumlabel = 'a';", "modifying-system-catalog"),
]


@pytest.mark.parametrize(("sql", "rule_id"), DANGEROUS, ids=[r for _, r in DANGEROUS])
def test_dangerous_statements_are_flagged(sql: str, rule_id: str) -> None:
    """No silence: each blocks traffic for a scan or rewrite of an existing table, or breaks a release."""
    engine, _ = run("SET lock_timeout = '2s';\n" + sql, REALISTIC)
    assert rule_id in {f.rule for f in engine.findings}, [f.rule for f in engine.findings]
    finding = next(f for f in engine.findings if f.rule == rule_id)
    assert finding.severity in ("error", "warning")
    assert finding.fix


def test_dropping_a_child_table_names_only_it_and_states_the_lock_on_its_parent_apart() -> None:
    """Regression: `DROP TABLE child` (child references parent) said "DROP TABLE child, parent ... the data
    cannot be brought back": only child is dropped; parent's ACCESS EXCLUSIVE (its FK triggers go) is real and
    is said as such."""
    schema = (
        "CREATE TABLE parent (id bigint PRIMARY KEY);\n"
        "CREATE TABLE child (id bigint, parent_id bigint REFERENCES parent (id));\n"
    )
    engine, _ = run("SET lock_timeout = '2s';\nDROP TABLE child;", schema)
    (finding,) = [f for f in engine.findings if f.rule == "dropping-table"]
    assert finding.tables == ("public.child",)
    dropped, parent = finding.message.split(". On ", 1)
    assert dropped.startswith("DROP TABLE child takes AccessExclusiveLock") and "parent" not in dropped
    assert parent.startswith("parent, which it does not drop, it also takes AccessExclusiveLock")
    assert "restore" not in parent


def test_dropping_only_new_tables_is_silent_even_when_they_reference_existing_ones() -> None:
    schema = "CREATE TABLE parent (id bigint PRIMARY KEY);\n"
    sql = "CREATE TABLE scratch (parent_id bigint REFERENCES parent (id));\nDROP TABLE scratch;"
    engine, _ = run(sql, schema)
    assert "dropping-table" not in {f.rule for f in engine.findings}


def test_a_table_whose_create_fails_to_parse_is_new_in_its_file() -> None:
    """Regression: a CREATE TABLE the parser rejects (SQLite AUTOINCREMENT in an old file) left the table
    unknown, so an index built on it two lines later was judged as on a pre-existing table
    (creating-index-non-concurrently)."""
    created = "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);\n"
    engine, (fa,) = run(created + "CREATE INDEX users_name ON users (name);")
    assert not engine.findings
    assert [len(e.message) > 0 for e in fa.errors] == [True]
    create, index = fa.statements
    assert not index.effects
    assert create.notes == (
        'the definition of table users was not understood (syntax error at or near "AUTOINCREMENT"): it '
        "counts as created here, so statements on it in this file are judged as on a new table; its columns "
        "are unknown",
    )
    # In a later migration the table exists: statements on it are judged as on a pre-existing one.
    engine, (fa,) = run("SET lock_timeout = '2s';\nCREATE INDEX users_name ON users (name);", created)
    assert {f.rule for f in engine.findings} == {"creating-index-non-concurrently"}


# Every kind of ALTER TABLE subcommand the rules look at, and some they do not, against the examples' schema.
_ALTERS = """
ALTER TABLE orders ADD COLUMN a integer, ADD COLUMN b json DEFAULT '{}', ADD COLUMN c serial;
ALTER TABLE orders ADD COLUMN d text NOT NULL, ADD COLUMN e int GENERATED ALWAYS AS (total * 2) STORED;
ALTER TABLE orders ADD COLUMN f timestamp DEFAULT clock_timestamp(), ADD COLUMN g varchar(20) UNIQUE;
ALTER TABLE orders ADD COLUMN h bigint REFERENCES customers (id) DEFAULT 1, ADD COLUMN i int CHECK (i > 0);
ALTER TABLE orders ADD COLUMN j char(3) PRIMARY KEY;
ALTER TABLE orders ADD CONSTRAINT k CHECK (total > 0), ADD CONSTRAINT l UNIQUE (total);
ALTER TABLE orders ADD CONSTRAINT m FOREIGN KEY (customer_id) REFERENCES customers (id);
ALTER TABLE orders ADD CONSTRAINT n EXCLUDE USING gist (total WITH =);
ALTER TABLE orders ALTER COLUMN total TYPE bigint, ALTER COLUMN total SET NOT NULL;
ALTER TABLE orders ALTER COLUMN total DROP NOT NULL, DROP COLUMN a, SET LOGGED;
ALTER TABLE orders SET UNLOGGED, SET TABLESPACE fast;
ALTER TABLE orders ATTACH PARTITION orders_2024 FOR VALUES FROM (1) TO (2);
ALTER TABLE orders DETACH PARTITION orders_2024;
ALTER TABLE orders ALTER COLUMN total SET DEFAULT 0, SET (fillfactor = 70), OWNER TO someone;
ALTER TABLE orders RENAME COLUMN total TO amount;
ALTER TABLE orders ENABLE TRIGGER ALL, ALTER COLUMN customer_id SET STATISTICS 500, VALIDATE CONSTRAINT k;
"""


def _without_subtype_dispatch() -> list[Rule]:
    return [replace(r, alter_subtypes=()) for r in all_rules()]


def test_alter_subtype_dispatch_skips_only_checks_that_would_find_nothing() -> None:
    """A rule's alter_subtypes lets the engine skip it on other ALTER TABLEs: every rule example, every case
    of the statement matrix and a mix of subcommands give the same findings with it as when every check runs
    on every ALTER TABLE."""
    from foreshock.rules.examples import ORDERS
    from statement_matrix import CASES, SETUP

    inputs = [(ex.sql, ex.schema, ex.pg_version) for r in all_rules() for ex in r.bad + r.good]
    inputs += [(case.sql, SETUP, None) for case in CASES]
    inputs += [(stmt + ";", ORDERS, None) for stmt in _ALTERS.strip().split(";\n")]
    assert any(r.alter_subtypes for r in all_rules())
    for sql, schema, pg in inputs:
        settings = Settings()
        if pg is not None:
            settings.analysis = AnalysisSettings(pg_version=pg)
        units = [MigrationUnit(path="schema.sql", text=schema, history=True)] if schema else []
        units.append(MigrationUnit(path="migration.sql", text=sql))
        fast, every = RuleEngine(settings), RuleEngine(settings, rules=_without_subtype_dispatch())
        analyze(units, settings.analysis, fast)
        analyze(units, settings.analysis, every)
        assert fast.findings == every.findings, sql


def test_fix_rendered_when_first_read_equals_the_fix_written_out() -> None:
    """The engine leaves a rewrite's printed fix to be rendered when a report reads it: the finding must
    read, compare, hash and pickle as the Finding with that text written out."""
    import pickle

    from foreshock.core.rewrite import render

    engine, _ = run(
        "SET lock_timeout = '2s';\nUPDATE orders SET status = 'new';",
        "CREATE TABLE orders (id bigint PRIMARY KEY, status text);",
    )
    (found,) = [f for f in engine.findings if f.rule == "unbatched-backfill"]
    assert found.rewrite is not None
    assert "fix" not in vars(found)  # not rendered while nothing read it
    written = Finding(**{name: getattr(found, name) for name in Finding.__dataclass_fields__})
    assert found.fix == render(found.rewrite) and "UPDATE orders SET status = 'new'" in found.fix
    assert found == written and written == found and hash(found) == hash(written)
    assert replace(found, fix="other") != written
    copied = pickle.loads(pickle.dumps(found))
    assert copied == written and copied.fix == written.fix
    assert json.dumps(found.to_json()) == json.dumps(written.to_json())


_RUNAWAY = (
    "SET lock_timeout = '2s';\nBEGIN;\nALTER TABLE orders ADD COLUMN region text;\n"
    "UPDATE orders SET region = lower(status);\nCOMMIT;\n"
)
_KEYLESS_ORDERS = "CREATE TABLE orders (id bigint NOT NULL, status text);"


def _runaway_fix(units: list[MigrationUnit]) -> str:
    result = check_units(units, ConfigSettings())
    (found,) = [
        f for f in result.findings
        if f.rule == "holding-lock-during-slow-statement" and f.path == "V1__runaway.sql"
    ]
    assert found.fix is not None
    return found.fix


def test_runaway_split_is_made_from_the_schema_of_its_own_file_when_a_later_file_changes_it() -> None:
    """The transaction split is made when a report first reads it: a later file that gives the table a key
    must not change the split of the file before it (batches without a key there)."""
    schema = MigrationUnit(path="schema.sql", text=_KEYLESS_ORDERS, history=True)
    runaway = MigrationUnit(path="V1__runaway.sql", text=_RUNAWAY)
    keyed = MigrationUnit(path="V2__key.sql", text="ALTER TABLE orders ADD PRIMARY KEY (id);")
    alone = _runaway_fix([schema, runaway])
    assert "orders has no key" in alone and "ctid" in alone
    assert _runaway_fix([schema, runaway, keyed]) == alone
    # ...and with the key known before it, the split walks key ranges: the schema really decides it.
    assert "ctid" not in _runaway_fix([schema, keyed, runaway])


def test_a_rewrite_read_after_its_schema_changed_is_an_internal_error_not_another_rewrite() -> None:
    from foreshock.core.schema import Schema
    from foreshock.core.sql import parse

    model = Schema()
    engine = RuleEngine(Settings())
    analyze(
        [MigrationUnit(path="schema.sql", text=_KEYLESS_ORDERS, history=True),
         MigrationUnit(path="V1__runaway.sql", text=_RUNAWAY)],
        AnalysisSettings(),
        engine,
        model,
    )
    (found,) = [f for f in engine.findings if f.rule == "holding-lock-during-slow-statement"]
    model.apply(parse("ALTER TABLE orders ADD PRIMARY KEY (id);").statements[0].node)
    with pytest.raises(RuntimeError, match="schema it is made from changed"):
        _ = found.fix
    with pytest.raises(RuntimeError, match="schema it is made from changed"):
        engine.settle()


def test_backfill_batches_written_when_read_follow_the_key_known_at_the_statement() -> None:
    """unbatched-backfill writes its batches when a report reads them, from what the schema said of the
    table's key at the statement: a later file that adds a key changes nothing (ctid batches stay)."""
    schema = MigrationUnit(path="schema.sql", text=_KEYLESS_ORDERS, history=True)
    backfill = MigrationUnit(
        path="V1__backfill.sql", text="SET lock_timeout = '2s';\nUPDATE orders SET status = 'new';\n"
    )
    keyed = MigrationUnit(path="V2__key.sql", text="ALTER TABLE orders ADD PRIMARY KEY (id);")

    def fix(units: list[MigrationUnit]) -> str:
        result = check_units(units, ConfigSettings())
        (found,) = [f for f in result.findings if f.rule == "unbatched-backfill" and f.path == backfill.path]
        assert found.fix is not None
        return found.fix

    alone = fix([schema, backfill])
    assert "ctid" in alone
    assert fix([schema, backfill, keyed]) == alone
    assert "ctid" not in fix([schema, keyed, backfill])
