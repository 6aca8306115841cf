"""`foreshock.apply.plan`: pure planning of steps, transactions, timeouts and batches (no server needed)."""

from __future__ import annotations

import pytest

from foreshock.apply import ApplyOptions, plan
from foreshock.apply.plan import checksum
from foreshock.core.model import AnalysisSettings, MigrationUnit
from foreshock.core.quantities import parse_duration
from foreshock.errors import ConfigError, InputError
from foreshock.pg.connect import pg_duration
from foreshock.scale.estimate import ModelDurations
from foreshock.scale.stats import parse_stats


def _unit(text: str, path: str = "m/001_x.sql", **kw: object) -> MigrationUnit:
    return MigrationUnit(path=path, text=text, **kw)  # type: ignore[arg-type]


MIXED = """\
ALTER TABLE items ADD COLUMN flag boolean;
CREATE TABLE other (id int PRIMARY KEY);
CREATE INDEX CONCURRENTLY items_flag_idx ON items (flag);
-- foreshock:backfill batch_size=250 batch_time=200ms
UPDATE items SET flag = true WHERE id > 10;
ALTER TABLE other ADD COLUMN x int;
"""


def test_steps_split_at_concurrently_and_backfills() -> None:
    p = plan([_unit(MIXED)])
    steps = p.units[0].steps
    assert [s.kind for s in steps] == ["transaction", "concurrent", "backfill", "transaction"]
    assert [len(s.statements) for s in steps] == [2, 1, 1, 1]
    assert [s.statements[0].line for s in steps] == [1, 3, 5, 6]
    o = ApplyOptions()
    assert steps[0].lock_timeout == o.lock_timeout
    # CONCURRENTLY blocks no traffic, so it gets the long lock wait and the long statement timeout.
    assert steps[1].lock_timeout == o.lock_timeout_concurrent
    assert steps[1].statements[0].statement_timeout == o.statement_timeout_concurrent
    assert not steps[1].blocks_traffic
    b = steps[2].statements[0].backfill
    assert b is not None
    assert (b.table, b.batch_size, b.batch_time) == ("items", 250, 0.2)
    assert b.set_sql == "flag = TRUE"
    assert b.where_sql == "id > 10"


def test_backfill_delete_and_schema_qualified_table() -> None:
    text = "-- foreshock:backfill\nDELETE FROM app.events WHERE created < now() - interval '1 year';"
    p = plan([_unit(text)])
    b = p.units[0].steps[0].statements[0].backfill
    assert b is not None
    assert (b.schema, b.relname, b.set_sql) == ("app", "events", None)
    assert b.where_sql is not None and "created" in b.where_sql


def test_no_transaction_option_runs_each_statement_alone() -> None:
    p = plan([_unit("ALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN y int;")],
             settings=AnalysisSettings(assume_transaction=False))
    assert [len(s.statements) for s in p.units[0].steps] == [1, 1]
    two = "ALTER TABLE a ADD COLUMN x int;\nALTER TABLE b ADD COLUMN y int;"
    p2 = plan([_unit(two, transactional=False)])
    assert len(p2.units[0].steps) == 2


def test_explicit_begin_commit_groups() -> None:
    text = "BEGIN;\nALTER TABLE a ADD COLUMN x int;\nALTER TABLE a ADD COLUMN y int;\nCOMMIT;\nVACUUM a;\n"
    steps = plan([_unit(text)]).units[0].steps
    assert [(s.kind, s.explicit, len(s.statements)) for s in steps] == [
        ("transaction", True, 2), ("autocommit", False, 1)]


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("BEGIN;\nCREATE INDEX CONCURRENTLY i ON t (a);\nCOMMIT;", 2, "cannot run inside a transaction"),
        ("-- foreshock:backfill\nSELECT 1;", 1, "directly before an UPDATE or DELETE"),
        ("-- foreshock:backfill\nUPDATE t SET a = b.x FROM b WHERE b.id = t.id;", 2, "FROM/USING"),
        ("-- foreshock:backfill batch_size=zero\nUPDATE t SET a = 1;", 1, "batch_size"),
        ("-- foreshock:backfill color=red\nUPDATE t SET a = 1;", 1, "unknown backfill option"),
        ("BEGIN;\n-- foreshock:backfill\nUPDATE t SET a = 1;\nCOMMIT;", 3, "inside BEGIN"),
        ("ALTER TABLE t ADD COLUMN a int;\nROLLBACK;", 2, "not supported by apply"),
    ],
)
def test_bad_input_is_one_positioned_error(text: str, line: int, needle: str) -> None:
    errors = plan([_unit(text)]).units[0].errors
    assert errors, "expected an InputError"
    assert errors[0].line == line
    assert needle in errors[0].message
    assert errors[0].one_line().startswith(f"m/001_x.sql:{line}:")


def test_duplicate_names_are_refused() -> None:
    p = plan([_unit("SELECT 1;", "a/001.sql"), _unit("SELECT 2;", "b/001.sql")])
    assert p.errors and "share the name" in p.errors[0].message


def test_render_and_estimates_from_sizes() -> None:
    sizes = parse_stats('{"tables": {"items": {"rows": 1000000}}}')
    p = plan([_unit(MIXED)], durations=ModelDurations(sizes))
    text = p.render()
    assert "lock_timeout 500 ms" in text
    assert "batched backfill" in text and "outside a transaction (CONCURRENTLY)" in text
    backfill_step = p.units[0].steps[2]
    # 1M rows in batches of 250 at 200ms each, the pessimistic bound (sizes adapt upwards).
    assert backfill_step.estimate_seconds == pytest.approx(4000 * 0.2)
    assert "1,000,000 rows" in backfill_step.estimate_note
    assert p.units[0].checksum == checksum(MIXED)
    assert "est." in text
    assert plan([_unit(MIXED)]).units[0].steps[2].estimate_seconds is None


def test_metadata_only_ddl_gets_short_statement_timeout() -> None:
    o = ApplyOptions()
    steps = plan([_unit("ALTER TABLE a ADD COLUMN x int;\n", "1.sql"),
                  _unit("ALTER TABLE a ALTER COLUMN x TYPE bigint;\n", "2.sql"),
                  _unit("ALTER TABLE a ADD COLUMN y timestamptz DEFAULT clock_timestamp();\n", "3.sql")],
                 o).units
    timeouts = [u.steps[0].statements[0].statement_timeout for u in steps]
    assert timeouts[0] == o.statement_timeout_ddl
    assert timeouts[1] == o.statement_timeout_default
    assert timeouts[2] == o.statement_timeout_default


def test_durations() -> None:
    assert parse_duration("500ms") == 0.5
    assert parse_duration("2min") == 120
    assert parse_duration("1.5") == 1.5
    assert pg_duration(0.0001) == "1ms"  # never 0, which PostgreSQL reads as "no timeout"
    with pytest.raises(ConfigError):
        parse_duration("soon")
    with pytest.raises(ConfigError):
        ApplyOptions(lock_timeout=0)


def test_input_error_type() -> None:
    assert isinstance(plan([_unit("-- foreshock:backfill\nSELECT 1;")]).units[0].errors[0], InputError)


def test_effect_model_decides_traffic_blocking_and_timeout_class() -> None:
    pytest.importorskip("foreshock.core.analyze")
    o = ApplyOptions()
    p = plan([_unit("INSERT INTO items VALUES (1);\n", "1.sql"),
              _unit("ALTER TABLE items ADD COLUMN f boolean;\n", "2.sql"),
              _unit("ALTER TABLE items ADD CONSTRAINT c CHECK (x > 0) NOT VALID;\n"
                    "ALTER TABLE items VALIDATE CONSTRAINT c;\n", "3.sql")], o)
    assert p.effects_known
    insert, add, validate = (u.steps[0] for u in p.units)
    # ROW EXCLUSIVE blocks no reads or writes: no pre-flight wait needed (the lock_timeout still applies).
    assert not insert.blocks_traffic
    assert add.blocks_traffic and add.statements[0].statement_timeout == o.statement_timeout_ddl
    # VALIDATE scans the table: the long class, not the 30 s metadata one.
    assert validate.statements[1].statement_timeout == o.statement_timeout_default
    assert "blocks no traffic" in p.render()


def test_framework_code_is_refused() -> None:
    from foreshock.core.model import OpaqueCode

    unit = MigrationUnit(path="app/migrations/0002_fill.py", text="ALTER TABLE t ADD COLUMN x int;\n",
                         opaque=(OpaqueCode("RunPython", "fill", 12, 1),))
    errors = plan([unit]).units[0].errors
    assert errors and errors[0].line == 12 and "framework code" in errors[0].message
