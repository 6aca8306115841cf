"""Regressions from real projects' migrations: what `check` got wrong there, each in a few lines.

Where a server can show the same fact, tests/statement_matrix.py holds a case too (check and trace agree on
PostgreSQL 16 and 15); these pin the findings users read and what no single server statement shows.
"""

from __future__ import annotations

from typing import Any

import pytest

from foreshock.api import check_units
from foreshock.config import Settings
from foreshock.core.analyze import analyze
from foreshock.core.model import AnalysisSettings, CheckResult, Cost, FileAnalysis, Finding, MigrationUnit
from foreshock.core.session import timezone_is_utc
from foreshock.scale.stats import parse_stats

BASE = "CREATE TABLE t (id bigint PRIMARY KEY, x int, ts timestamp);\n"


def analysed(sql: str, schema: str = BASE, **settings: Any) -> FileAnalysis:
    units = [MigrationUnit("schema.sql", schema, history=True), MigrationUnit("m.sql", sql)]
    (fa,) = analyze(units, AnalysisSettings(**settings))
    assert not fa.errors, fa.errors
    return fa


def checked(sql: str, schema: str = BASE, stats: str | None = None, **settings: Any) -> CheckResult:
    units = [MigrationUnit("m.sql", sql)]
    history = [MigrationUnit("schema.sql", schema, history=True)]
    sizes = parse_stats(stats) if stats is not None else None
    return check_units(units, Settings(**settings), history=history, sizes=sizes)


def rules(result: CheckResult, line: int | None = None) -> dict[str, Finding]:
    return {f.rule: f for f in result.findings if line is None or f.line == line}


def effects(fa: FileAnalysis, index: int) -> dict[str, tuple[str, bool, bool]]:
    return {e.table: (e.lock.name, e.rewrite, e.scan) for e in fa.statements[index].effects}


# 1. ------------------------------------------------------------------------------------------------------


def test_volatile_default_rule_reads_the_columns_own_default() -> None:
    """`ALTER TYPE ..., ADD COLUMN y int DEFAULT 0` was called a volatile default: the rule read whether the
    statement rewrites, not the column's default."""
    found = rules(checked("ALTER TABLE t ALTER COLUMN x TYPE bigint, ADD COLUMN y int DEFAULT 0;"))
    assert "adding-column-volatile-default" not in found
    assert "changing-column-type" in found
    found = rules(
        checked(
            "ALTER TABLE t ADD COLUMN a timestamptz DEFAULT now(), ADD COLUMN b float8 DEFAULT random(),"
            " ADD COLUMN c uuid DEFAULT gen_random_uuid();"
        )
    )
    f = found["adding-column-volatile-default"]
    assert "b with default random()" in f.message and "c with default gen_random_uuid()" in f.message
    assert "now()" not in f.message  # STABLE: stored once, no rewrite of its own


def test_one_rewrite_is_one_finding() -> None:
    result = checked(
        "ALTER TABLE t ADD COLUMN a int GENERATED ALWAYS AS (x + 1) STORED,"
        " ADD COLUMN b int GENERATED ALWAYS AS (x + 2) STORED;\n"
    )
    assert [f.rule for f in result.findings] == ["adding-stored-generated-column"]
    result = checked("ALTER TABLE t ALTER COLUMN x TYPE bigint, ALTER COLUMN ts TYPE date;")
    (f,) = result.findings
    assert f.rule == "changing-column-type" and "x TYPE bigint, ALTER COLUMN ts TYPE date" in f.message


def test_changing_column_type_does_not_blame_a_free_type_change() -> None:
    schema = BASE + "ALTER TABLE t ADD COLUMN note varchar(10);\n"
    found = rules(
        checked(
            "ALTER TABLE t ALTER COLUMN note TYPE varchar(20),"
            " ADD COLUMN g int GENERATED ALWAYS AS (x) STORED;",
            schema,
        )
    )
    assert "changing-column-type" not in found and "adding-stored-generated-column" in found


# 2. ------------------------------------------------------------------------------------------------------


def test_the_files_time_zone_decides_the_timestamptz_rewrite() -> None:
    """timestamp -> timestamptz is free only under a UTC session: the file's own SET TIME ZONE counts."""
    fa = analysed(
        "SET timezone = 'America/New_York';\n"
        "ALTER TABLE t ALTER COLUMN ts TYPE timestamptz;\n"
        "SET TIME ZONE 'UTC';\n"
        "ALTER TABLE t ALTER COLUMN ts TYPE timestamp;\n"
    )
    assert effects(fa, 1)["public.t"][1] is True
    assert effects(fa, 3)["public.t"][1] is False
    assert fa.statements[1].session.timezone == "America/New_York"
    # SET LOCAL lasts until COMMIT; the run's setting (UTC) applies again after it
    fa = analysed(
        "BEGIN;\nSET LOCAL TIME ZONE 'Europe/Paris';\n"
        "ALTER TABLE t ALTER COLUMN ts TYPE timestamptz;\nCOMMIT;\n"
        "ALTER TABLE t ALTER COLUMN ts TYPE timestamp;\n",
        assume_transaction=False,
    )
    assert effects(fa, 2)["public.t"][1] is True
    assert effects(fa, 4)["public.t"][1] is False


@pytest.mark.parametrize(
    ("zone", "utc"),
    [("UTC", True), ("Etc/UTC", True), ("gmt", True), ("Zulu", True), ("0", True), ("+00:00", True),
     ("Europe/London", False), ("Africa/Abidjan", False), ("America/New_York", False), ("1", False)],
)
def test_only_fixed_zero_offset_zones_are_utc(zone: str, utc: bool) -> None:
    assert timezone_is_utc(zone) is utc


def test_lock_timeout_set_by_set_config_and_reset_by_reset_all() -> None:
    found = rules(
        checked("SELECT set_config('lock_timeout', '2s', false);\nALTER TABLE t ADD COLUMN y int;\n")
    )
    assert "missing-lock-timeout" not in found
    found = rules(checked("SET lock_timeout = '2s';\nRESET ALL;\nALTER TABLE t ADD COLUMN y int;\n"))
    assert "missing-lock-timeout" in found
    fa = analysed(
        "SET lock_timeout = '2s';\nSET statement_timeout = '1min';\nALTER TABLE t ADD COLUMN y int;\n"
    )
    assert fa.statements[2].session.lock_timeout == "2s"
    assert fa.statements[2].session.statement_timeout == "1min"


def test_search_path_reset_all_goes_back_to_public() -> None:
    schema = "CREATE SCHEMA app;\nCREATE TABLE app.t (id bigint);\nCREATE TABLE public.t (id bigint);\n"
    fa = analysed(
        "SET search_path = app;\nALTER TABLE t ADD COLUMN a int;\n"
        "DISCARD ALL;\nALTER TABLE t ADD COLUMN b int;\n",
        schema,
        assume_transaction=False,
    )
    assert list(effects(fa, 1)) == ["app.t"]
    assert list(effects(fa, 3)) == ["public.t"]


# 3. ------------------------------------------------------------------------------------------------------

KEYS = (
    "CREATE TABLE post (id bigint PRIMARY KEY);\n"
    "CREATE TABLE comment_like (id bigint PRIMARY KEY, post_id bigint REFERENCES post);\n"
)


def test_dropping_a_key_column_locks_the_referenced_table() -> None:
    """The foreign key's triggers go with the column: ACCESS EXCLUSIVE on `post` too (trace shows it)."""
    fa = analysed("ALTER TABLE comment_like DROP COLUMN post_id;", KEYS)
    assert effects(fa, 0) == {
        "public.comment_like": ("AccessExclusiveLock", False, False),
        "public.post": ("AccessExclusiveLock", False, False),
    }
    fa = analysed("ALTER TABLE post DROP COLUMN id CASCADE;", KEYS)
    assert effects(fa, 0)["public.comment_like"][0] == "AccessExclusiveLock"
    # The key is gone from the model: a later drop of the column locks only its own table.
    fa = analysed(
        "ALTER TABLE post DROP COLUMN id CASCADE;\nALTER TABLE comment_like DROP COLUMN post_id;", KEYS
    )
    assert list(effects(fa, 1)) == ["public.comment_like"]


# 4. ------------------------------------------------------------------------------------------------------


def test_self_referencing_key_of_a_new_table_is_not_a_held_lock() -> None:
    """A false missing-lock-timeout and holding-lock error "on c", a table created in this transaction."""
    result = checked(
        "CREATE TABLE c (id bigint PRIMARY KEY, parent_id bigint REFERENCES c);\n"
        "CREATE TABLE d (id bigint PRIMARY KEY, up bigint, FOREIGN KEY (up) REFERENCES d);\n"
        "SET lock_timeout = '2s';\n"
        "UPDATE t SET x = 1;\n"
    )
    assert not [f for f in result.findings if f.line < 4]
    assert set(rules(result)) == {"unbatched-backfill"}
    assert not result.files[0].statements[0].effects


# 5. ------------------------------------------------------------------------------------------------------


def test_like_without_wildcards_is_an_index_lookup() -> None:
    schema = "CREATE TABLE u (id bigint PRIMARY KEY, name varchar UNIQUE);\n"
    fa = analysed(
        "DELETE FROM u WHERE name LIKE 'admin';\n"
        "DELETE FROM u WHERE name LIKE 'a\\_b';\n"
        "DELETE FROM u WHERE name LIKE 'ad%';\n"
        "DELETE FROM u WHERE name ILIKE 'admin';\n",
        schema,
    )
    assert [effects(fa, i)["public.u"][2] for i in range(4)] == [False, False, True, True]
    assert "unbatched-backfill" not in rules(checked("DELETE FROM u WHERE name LIKE 'admin';", schema))


# 6. ------------------------------------------------------------------------------------------------------


def test_add_column_with_check_is_flagged() -> None:
    """The model knew ADD COLUMN ... CHECK scans under ACCESS EXCLUSIVE; only missing-lock-timeout fired."""
    f = rules(checked("ALTER TABLE t ADD COLUMN z text CHECK (z <> '');"))["adding-check-constraint"]
    assert f.severity == "error"
    assert f.fix is not None
    assert "ADD CONSTRAINT t_z_check CHECK (z <> '') NOT VALID" in f.fix
    assert "VALIDATE CONSTRAINT t_z_check" in f.fix


# 7. ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "rule", "lock"),
    [
        ('DROP INDEX "field_name_idx";', "dropping-index-non-concurrently", "AccessExclusiveLock"),
        ("DROP INDEX IF EXISTS field_name_idx;", "dropping-index-non-concurrently", "AccessExclusiveLock"),
        ("REINDEX INDEX field_name_idx;", "reindexing-non-concurrently", "ShareLock"),
    ],
)
def test_an_index_the_history_does_not_know_is_assumed_to_exist(sql: str, rule: str, lock: str) -> None:
    """It was "no effect on existing tables": an unknown object is a pre-existing one, on an unknown table."""
    fa = analysed(sql)
    (e,) = fa.statements[0].effects
    assert (e.lock.name, e.unknown) == (lock, "index")
    assert not fa.statements[0].facts.tables  # nothing to look up in a catalog
    f = rules(checked(sql))[rule]
    assert "index field_name_idx: not in the schema history, nor its table" in f.message


def test_if_exists_on_something_the_history_dropped_does_nothing() -> None:
    fa = analysed(
        "DROP INDEX IF EXISTS t_x_idx;\nDROP TABLE IF EXISTS gone;\n"
        "ALTER TABLE IF EXISTS gone ADD COLUMN a int;\n",
        BASE + "CREATE INDEX t_x_idx ON t (x);\nCREATE TABLE gone (id int);\n"
        "DROP INDEX t_x_idx;\nDROP TABLE gone;\n",
    )
    assert [sa.effects for sa in fa.statements] == [(), (), ()]


def test_if_exists_on_a_table_the_history_never_named_locks_it() -> None:
    fa = analysed("ALTER TABLE IF EXISTS legacy ADD COLUMN a int;\nDROP TABLE IF EXISTS legacy;\n")
    assert [(e.table, e.lock.name, e.unknown) for sa in fa.statements for e in sa.effects] == [
        ("public.legacy", "AccessExclusiveLock", "table"),
        ("public.legacy", "AccessExclusiveLock", "table"),
    ]


def test_reindex_schema_reads_the_tables_it_knows() -> None:
    """REINDEX SCHEMA / DATABASE had no effect at all (trace: ShareLock and a scan on each table)."""
    fa = analysed("REINDEX SCHEMA public;", BASE + "CREATE SCHEMA other;\nCREATE TABLE other.o (id int);\n")
    assert effects(fa, 0) == {"public.t": ("ShareLock", False, True)}
    # A schema the history knows no table of: its tables are assumed to exist, unnamed.
    fa = analysed("REINDEX SCHEMA foo;\nREINDEX (CONCURRENTLY false) INDEX idx;\n", assume_transaction=False)
    assert [(e.table, e.lock.name, e.unknown) for sa in fa.statements for e in sa.effects] == [
        ("tables of schema foo", "ShareLock", "schema"),
        ("table of index public.idx", "ShareLock", "index"),
    ]
    assert fa.statements[1].facts.transactional  # CONCURRENTLY false: an ordinary REINDEX


# 8. ------------------------------------------------------------------------------------------------------

BIG = (
    "CREATE TABLE big (id bigint PRIMARY KEY, x int, note text);\n"
    "CREATE TABLE small (id bigint PRIMARY KEY);\n"
)
BIG_STATS = (
    '{"tables": {"public.big": {"rows": 80000000, "bytes": 8000000000},'
    ' "public.small": {"rows": 100, "bytes": 8192}}}'
)


def test_create_table_as_copies_the_rows_and_the_copy_is_as_large() -> None:
    """CREATE TABLE big_copy AS SELECT ... FROM big was an empty new table: it copies big, and an index on the
    copy sorts as many rows."""
    fa = analysed(
        "CREATE TABLE big_copy AS SELECT * FROM big;\n"
        "CREATE INDEX big_copy_x ON big_copy (x);\n"
        "SELECT * INTO other_copy FROM big WHERE x > 0;\n"
        "CREATE TABLE empty_copy AS SELECT * FROM big WITH NO DATA;\n"
        "CREATE INDEX empty_copy_x ON empty_copy (x);\n",
        BIG,
    )
    work = [[(w.table, w.cost, w.sized_by) for w in sa.facts.work] for sa in fa.statements]
    assert work == [
        [("public.big", Cost.COPY, ())],
        [("public.big_copy", Cost.INDEX_BUILD, ("public.big",))],
        [("public.big", Cost.COPY, ())],
        [],
        [],
    ]
    # No traffic can wait on a table no one else knows yet.
    assert not fa.statements[1].effects


def test_a_lock_held_across_a_copy_follows_the_size_of_the_table_copied() -> None:
    sql = (
        "BEGIN;\nALTER TABLE small ADD COLUMN y int;\nCREATE TABLE big_copy AS SELECT * FROM big;\n"
        "CREATE INDEX big_copy_x ON big_copy (x);\nCOMMIT;\n"
    )
    f = rules(checked(sql, BIG, BIG_STATS))["holding-lock-during-slow-statement"]
    assert f.line == 3 and "copies big into another table" in f.message
    # held through the copy and the index build on the copy: both sized by big's 80 million rows
    assert f.estimate is not None and f.estimate.seconds > 10
    assert f.estimate.rows == 160_000_000


# Findings worth reading -----------------------------------------------------------------------------------


def test_missing_lock_timeout_rides_on_the_statements_main_finding() -> None:
    result = checked("ALTER TABLE t ALTER COLUMN x TYPE bigint;\n")
    (f,) = result.findings
    assert f.rule == "changing-column-type" and f.carries == (("missing-lock-timeout", "warning"),)
    assert f.fix is not None and f.fix.startswith("SET lock_timeout = '2s';")
    # Alone when nothing else fires on the statement.
    (f,) = checked("ALTER TABLE t ADD COLUMN y int;\n").findings
    assert f.rule == "missing-lock-timeout" and not f.carries
    # Carried by an info note, the advice keeps its severity: the note becomes a warning, never hidden.
    (f,) = checked("ALTER TABLE t ADD COLUMN n varchar(20);\n").findings
    assert (f.rule, f.severity) == ("prefer-text", "warning")
    assert f.carries == (("missing-lock-timeout", "warning"),)
    assert "no lock_timeout is set" in f.message


def test_within_budget_duration_findings_stay_info_and_are_counted() -> None:
    small = '{"tables": {"public.t": {"rows": 1000, "bytes": 81920}}}'
    add = "ALTER TABLE t ADD CONSTRAINT x_pos CHECK (x > 0);\n"
    result = checked("SET lock_timeout = '2s';\n" + add, stats=small)
    (f,) = result.findings
    assert f.rule == "adding-check-constraint"
    assert f.severity == "info" and "within the 2 s budget" in f.message
    assert result.within_budget == 1 and result.hidden_info == 1
    # Without a lock_timeout the statement's one finding carries that advice, and is at least a warning.
    (f,) = checked(add, stats=small).findings
    assert (f.rule, f.severity) == ("adding-check-constraint", "warning")
    big = '{"tables": {"public.t": {"rows": 80000000, "bytes": 8000000000}}}'
    (f,) = checked(add, stats=big).findings
    assert f.severity == "error"


RUNS = "CREATE TABLE runs (id bigint PRIMARY KEY, job_id {} REFERENCES jobs);"


@pytest.mark.parametrize(
    ("create", "flagged"),
    [
        ("CREATE TABLE jobs (id bigserial PRIMARY KEY, shard_id integer, queue_type smallint);", set()),
        ("CREATE TABLE jobs (id serial PRIMARY KEY);", {"id"}),
        ("CREATE TABLE jobs (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY);", {"id"}),
        ("CREATE TABLE jobs (id integer PRIMARY KEY DEFAULT nextval('jobs_seq'));", {"id"}),
        ("CREATE TABLE jobs (id integer PRIMARY KEY);", set()),
        ("CREATE TABLE jobs (id integer PRIMARY KEY);\n" + RUNS.format("integer"), {"id"}),
        ("CREATE TABLE jobs (id serial PRIMARY KEY);\n" + RUNS.format("integer"), {"id"}),
        ("CREATE TABLE jobs (id bigserial PRIMARY KEY);\n" + RUNS.format("integer"), {"job_id"}),
        ("CREATE TABLE jobs (id bigserial PRIMARY KEY);\n" + RUNS.format("bigint"), set()),
    ],
)
def test_key_columns_are_judged_by_what_they_are_not_their_name(create: str, flagged: set[str]) -> None:
    found = checked(create, "", show_info=True).findings
    assert {f.message.split()[2] for f in found if f.rule == "prefer-bigint"} == flagged


def test_info_notes_are_absent_from_default_cli_output(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from foreshock.cli import cli

    (tmp_path / "001.sql").write_text(
        "CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body varchar(200));\n"
    )
    out = CliRunner().invoke(cli, ["check", "--format", "gcc", str(tmp_path)])
    assert out.exit_code == 0 and out.stdout == ""
    assert "1 info-level finding(s) not listed (--show-info lists them)" in out.stderr
    shown = CliRunner().invoke(cli, ["check", "--format", "gcc", "--show-info", str(tmp_path)])
    assert ": note: [prefer-text]" in shown.stdout
    tty = CliRunner().invoke(cli, ["check", str(tmp_path)])
    assert "prefer-text" not in tty.stdout and "1 info not listed (--show-info lists them)" in tty.stdout
