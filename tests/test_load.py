"""foreshock.load: the migration under a synthetic workload, as written vs the apply way, measured on a real
PostgreSQL (the embedded one). Nothing is mocked: every wait asserted here was measured by the workload."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from foreshock.apply import ApplyOptions, apply_way
from foreshock.core.model import MigrationUnit
from foreshock.errors import ConfigError
from foreshock.load import (
    APPLY_WAY,
    AS_WRITTEN,
    LoadComparison,
    LoadConfig,
    Workload,
    WorkloadSpec,
    compare,
    setup_from_sql,
)
from foreshock.load.cli_options import LoadOptions
from foreshock.load.run import percentile, run_as_written, with_backfill_directives
from foreshock.load.workload import READ_CLASSES, WRITE, discover_targets
from foreshock.report.load_plot import render_svg
from foreshock.report.load_report import render

pytestmark = pytest.mark.db

ORDERS = """
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int NOT NULL, total int NOT NULL, note text);
INSERT INTO orders SELECT g, g % 997, g % 500, 'order ' || g FROM generate_series(1, {rows}) g;
"""
LOCK_TIMEOUT = 0.5
# Scheduling noise on a shared 2-core machine, on top of the lock timeout a read may wait.
SLACK = 1.0


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    pytest.importorskip("pgserver")
    from foreshock.sandbox import open_sandbox

    with open_sandbox("embedded") as sb:
        yield sb


@pytest.fixture(scope="module")
def alter_behind_long_txn(sandbox: Any) -> LoadComparison:
    unit = MigrationUnit("add_status.sql", "ALTER TABLE orders ADD COLUMN status text;\n")
    config = LoadConfig(
        WorkloadSpec(duration=60.0), long_transaction=30.0, health_timeout=2.0, warmup=1.0, cooldown=1.0
    )
    return compare(
        sandbox,
        unit,
        setup_from_sql(ORDERS.format(rows=10_000)),
        config,
        apply_way=apply_way(ApplyOptions(lock_timeout=LOCK_TIMEOUT)),
    )


@pytest.fixture(scope="module")
def backfill_under_load(sandbox: Any) -> LoadComparison:
    unit = MigrationUnit("backfill.sql", "UPDATE orders SET total = total + 1;\n")
    spec = WorkloadSpec(rates={"read_point": 20.0, "read_range": 5.0, "write": 40.0}, pool=4, duration=60.0)
    return compare(
        sandbox,
        unit,
        setup_from_sql(ORDERS.format(rows=200_000)),
        LoadConfig(spec, warmup=1.0, cooldown=1.0),
        apply_way=apply_way(ApplyOptions(lock_timeout=LOCK_TIMEOUT, batch_time=0.2)),
    )


def test_alter_behind_a_30s_transaction_blocks_reads_as_written_but_not_the_apply_way(
    alter_behind_long_txn: LoadComparison,
) -> None:
    written = alter_behind_long_txn.run(AS_WRITTEN)
    applied = alter_behind_long_txn.run(APPLY_WAY)
    assert written.migration.outcome == "ok" and applied.migration.outcome == "ok"
    # As written, the ALTER queues behind the 30 s reader and every later read queues behind the ALTER.
    assert written.max_wait(READ_CLASSES) >= 25.0
    assert written.max_queue >= 3
    assert written.health.fails and written.health.window is not None
    # The apply way: no read waits longer than the lock timeout, measured by the same workload.
    assert applied.max_wait(READ_CLASSES) <= LOCK_TIMEOUT + SLACK
    assert not applied.health.fails
    reads = [r for r in applied.records if r.cls in READ_CLASSES]
    assert len(reads) > 100 and all(r.outcome in ("ok", "queued") for r in reads)


def test_batched_backfill_keeps_write_latency_below_the_monolithic_update(
    backfill_under_load: LoadComparison,
) -> None:
    written = backfill_under_load.run(AS_WRITTEN)
    applied = backfill_under_load.run(APPLY_WAY)
    assert written.migration.outcome == "ok" and applied.migration.outcome == "ok"
    assert any("batched as a backfill" in w for w in backfill_under_load.warnings)
    w_p99, a_p99 = written.percentile([WRITE], 99), applied.percentile([WRITE], 99)
    assert a_p99 < w_p99, (a_p99, w_p99)
    # The monolithic UPDATE holds every row lock it took until it commits: writes wait most of its duration.
    assert written.max_wait([WRITE]) >= 0.5 * written.migration.seconds
    assert all(r.outcome in ("ok", "queued") for r in applied.records)


def test_report_and_plot_show_both_runs(backfill_under_load: LoadComparison) -> None:
    text = render(backfill_under_load)
    assert "as written p50" in text and "apply way p50" in text and "public.orders" in text
    doc = backfill_under_load.to_json(with_records=True)
    assert set(doc["runs"]) == {AS_WRITTEN, APPLY_WAY}
    for mode, run in doc["runs"].items():
        assert len(run["records"]) == len(backfill_under_load.run(mode).records)
    root = ET.fromstring(render_svg(backfill_under_load))
    circles = [e for e in root.iter() if e.tag.endswith("circle")]
    total = sum(len(r.records) for r in backfill_under_load.runs)
    assert len(circles) >= total * 0.9  # one mark per query (plus the legend)


def test_workload_stops_at_its_deadline_while_the_migration_is_still_blocked(sandbox: Any) -> None:
    with sandbox.fresh_database("load_test") as dsn:
        setup_from_sql(ORDERS.format(rows=2_000))(dsn)
        targets, _ = discover_targets(dsn, ["orders"])
        blocker = psycopg.connect(dsn, application_name="test-blocker")
        blocker.execute("SET statement_timeout = '60s'")
        blocker.execute("SELECT count(*) FROM orders")  # ACCESS SHARE, held until the transaction ends
        t0 = time.monotonic()
        migration = threading.Thread(
            target=run_as_written,
            args=(dsn, MigrationUnit("m.sql", "ALTER TABLE orders ADD COLUMN x int;"), t0, 20.0),
        )
        migration.start()
        time.sleep(0.3)
        workload = Workload(dsn, targets, WorkloadSpec(duration=3.0))
        seen: list[tuple[str, str]] = []
        try:
            started = time.monotonic()
            workload.start()
            time.sleep(1.5)
            with psycopg.connect(dsn, application_name="test-observer") as obs:
                obs.execute("SET statement_timeout = '5s'")
                seen = obs.execute(
                    "SELECT coalesce(datname, ''), application_name FROM pg_stat_activity "
                    "WHERE application_name LIKE 'foreshock-load-%'"
                ).fetchall()
            assert workload.wait(timeout=15.0), "workload still running long after its deadline"
            ended = time.monotonic() - started
            assert migration.is_alive(), "the migration should still be blocked"
        finally:
            workload.close()
            blocker.rollback()
            blocker.close()
            migration.join(30.0)
        assert 3.0 <= ended <= 3.0 + 3.0
        cancelled = [r for r in workload.records if r.outcome == "cancelled"]
        assert cancelled and all(r.start + r.latency <= 3.0 + 3.0 for r in cancelled)
        assert workload.connected_to == {dsn}
        dbname = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
        assert seen and {d for d, _ in seen} == {dbname}


def test_workload_is_bounded_in_count_and_refuses_a_database_that_is_not_a_sandbox(sandbox: Any) -> None:
    with pytest.raises(ConfigError, match="sandbox"):
        Workload(sandbox.dsn, [], WorkloadSpec(duration=1.0))
    with sandbox.fresh_database("load_test") as dsn:
        setup_from_sql(ORDERS.format(rows=500))(dsn)
        targets, warnings = discover_targets(dsn, ["orders", "no_such_table"])
        assert [t.table for t in targets] == ["public.orders"] and len(warnings) == 1
        with Workload(dsn, targets, WorkloadSpec(duration=30.0, max_queries=25)) as w:
            assert w.wait(timeout=20.0)
        assert len([r for r in w.records if r.outcome != "queued"]) == 25


def test_writes_succeed_on_a_table_keyed_by_a_generated_always_identity(sandbox: Any) -> None:
    # Regression: writes assigned the key to itself, which PostgreSQL refuses for GENERATED ALWAYS identity
    # columns, so every write of the most common modern table shape was an error.
    with sandbox.fresh_database("load_test") as dsn:
        setup_from_sql(
            "CREATE TABLE accounts (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " balance int NOT NULL);"
            "INSERT INTO accounts (balance) SELECT g FROM generate_series(1, 300) g;"
        )(dsn)
        targets, _ = discover_targets(dsn, ["accounts"])
        assert targets[0].write_column == "balance"
        spec = WorkloadSpec(rates={WRITE: 50.0}, duration=30.0, max_queries=20)
        with Workload(dsn, targets, spec) as w:
            assert w.wait(timeout=20.0)
        writes = [r for r in w.records if r.cls == WRITE and r.outcome != "queued"]
        assert len(writes) == 20 and all(r.outcome == "ok" for r in writes)


def test_backfill_directive_added_only_where_apply_can_batch() -> None:
    unit = MigrationUnit(
        "m.sql",
        "ALTER TABLE orders ADD COLUMN c int;\nUPDATE orders SET c = 1;\n"
        "-- foreshock:backfill batch_size=10\nDELETE FROM orders WHERE c = 2;\n"
        "UPDATE orders SET c = 3 RETURNING id;\n",
    )
    out, notes = with_backfill_directives(unit)
    assert out.text.count("foreshock:backfill") == 2 and len(notes) == 1
    explicit = MigrationUnit("t.sql", "BEGIN;\nUPDATE orders SET c = 1;\nCOMMIT;\n")
    same, notes = with_backfill_directives(explicit)
    assert same.text == explicit.text and notes


def test_percentile_is_nearest_rank() -> None:
    values = [float(i) for i in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0
    assert percentile(values[:10], 99) == 10.0 and percentile([], 99) == 0.0


def test_cli_options() -> None:
    assert LoadOptions.from_cli() is None
    opts = LoadOptions.from_cli(True, 70.0, "30s", "1500ms", "2min")
    assert opts is not None and (opts.long_transaction, opts.health_timeout, opts.duration) == (
        30.0,
        1.5,
        120.0,
    )
    with pytest.raises(ConfigError):
        LoadOptions.from_cli(False, rate=5.0)
    with pytest.raises(ConfigError):
        LoadOptions.from_cli(True, long_transaction="soon")


def test_rehearse_load_builds_synthetic_data_and_takes_rates_from_the_snapshot(tmp_path: Any) -> None:
    import json

    from foreshock.rehearse.under_load import rehearse_load
    from foreshock.scale.stats import load_stats

    (tmp_path / "stats.json").write_text(
        json.dumps(
            {
                "tables": {
                    "public.orders": {
                        "rows": 1_000_000,
                        "bytes": 150_000_000,
                        # 10,000 index scans/s and 2,000 row writes/s observed over an hour.
                        "activity": {"idx_scan": 36_000_000, "n_tup_upd": 7_200_000, "seconds": 3600},
                    }
                }
            }
        )
    )
    history = MigrationUnit("001.sql", ORDERS.split("\n")[1] + "\n")
    target = MigrationUnit("002.sql", "ALTER TABLE orders ADD COLUMN status text;\n")
    opts = LoadOptions.from_cli(True, None, None, "2s", "60s", 5_000)
    assert opts is not None
    result = rehearse_load(
        [history, target], load_stats(tmp_path / "stats.json"), opts, report_dir=str(tmp_path)
    )
    assert {r.migration.outcome for r in result.runs} == {"ok"}
    rates = result.config.workload.table_rates["public.orders"]
    # Observed rates scaled by 5,000 / 1,000,000 rows: reads 50/s split 4:1, writes 10/s.
    assert (
        rates["read_point"] == pytest.approx(4 * rates["read_range"]) and rates["write"] < rates["read_point"]
    )
    doc = json.loads((tmp_path / "load.json").read_text())
    assert set(doc["runs"]) == {AS_WRITTEN, APPLY_WAY} and doc["runs"][AS_WRITTEN]["records"]
    assert (tmp_path / "load.svg").read_text().startswith("<svg")


def test_rehearse_command_with_load_on_the_runaway_example(tmp_path: Any) -> None:
    """`foreshock rehearse --load` end to end from a minimal stats file that names only the big table: the
    referenced customers table still gets rows (its foreign key must hold), and both runs are reported."""
    import json
    from pathlib import Path

    from click.testing import CliRunner

    from foreshock.cli import cli

    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"tables": {"public.orders": {"rows": 1_000_000, "bytes": 160_000_000}}}))
    runaway = Path(__file__).resolve().parent.parent / "examples" / "runaway"
    result = CliRunner().invoke(
        cli,
        ["rehearse", str(runaway), "--stats", str(stats), "--max-rows", "5000", "--budget", "10",
         "--load", "--load-rows", "5000", "--load-duration", "10s", "--format", "json",
         "--report-dir", str(tmp_path / "report")],
    )
    assert result.exit_code in (0, 1), result.output
    doc = json.loads(result.stdout)
    assert set(doc["load"]["runs"]) == {"as-written", "apply"}
    assert any("public.customers" in w for w in doc["rehearsal"]["warnings"])
    assert (tmp_path / "report" / "load.svg").exists()
    # The JSON is check's document plus the rehearsal: the findings judged with the measured durations.
    assert doc["mode"] == "rehearse" and doc["summary"]["exit_code"] == result.exit_code
    assert doc["size_blind"] is False
