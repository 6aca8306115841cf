"""foreshock.load: the migration under a synthetic workload, as written vs its safe rewrite run the apply way,
measured on a real PostgreSQL (the embedded one), and projected to production size. Nothing is mocked: every
wait asserted here was measured by the workload."""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from foreshock.apply import ApplyOptions, apply_way, safe_rewrite
from foreshock.core.model import MigrationUnit
from foreshock.errors import ConfigError
from foreshock.load import (
    AS_WRITTEN,
    SAFE,
    LoadComparison,
    LoadConfig,
    Workload,
    WorkloadSpec,
    compare,
    setup_from_sql,
)
from foreshock.load.cli_options import LoadOptions
from foreshock.load.run import percentile, run_as_written
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
    schema = MigrationUnit("schema.sql", ORDERS.split("\n")[1] + "\n", history=True)
    spec = WorkloadSpec(rates={"read_point": 20.0, "read_range": 5.0, "write": 40.0}, pool=4, duration=60.0)
    return compare(
        sandbox,
        unit,
        setup_from_sql(ORDERS.format(rows=200_000)),
        LoadConfig(spec, warmup=1.0, cooldown=1.0),
        apply_way=apply_way(ApplyOptions(lock_timeout=LOCK_TIMEOUT, batch_time=0.2)),
        safe=safe_rewrite([schema, unit]).run,
    )


def test_alter_behind_a_30s_transaction_blocks_reads_as_written_but_not_the_apply_way(
    alter_behind_long_txn: LoadComparison,
) -> None:
    written = alter_behind_long_txn.run(AS_WRITTEN)
    applied = alter_behind_long_txn.run(SAFE)
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
    applied = backfill_under_load.run(SAFE)
    assert written.migration.outcome == "ok" and applied.migration.outcome == "ok"
    # The safe run is check's safe rewrite: the UPDATE in key-range batches.
    safe = backfill_under_load.safe
    assert safe is not None and safe.steps == 1 and "foreshock: backfill" in safe.unit.text
    w_p99, a_p99 = written.percentile([WRITE], 99), applied.percentile([WRITE], 99)
    assert a_p99 < w_p99, (a_p99, w_p99)
    # The monolithic UPDATE holds every row lock it took until it commits: writes wait most of its duration.
    assert written.max_wait([WRITE]) >= 0.5 * written.migration.seconds
    assert all(r.outcome in ("ok", "queued") for r in applied.records)


def test_report_and_plot_show_both_runs(backfill_under_load: LoadComparison) -> None:
    text = render(backfill_under_load)
    assert "as written p50" in text and "safe rewrite p50" in text and "public.orders" in text
    assert "as written: measured" in text and "at production" not in text  # nothing to project to here
    doc = backfill_under_load.to_json(with_records=True)
    for mode in (AS_WRITTEN, SAFE):
        assert len(doc[mode]["run"]["records"]) == len(backfill_under_load.run(mode).records)
        assert doc[mode]["production"] is None and doc[mode]["measured"]["health_check"] == "pass"
    # The monolithic UPDATE's row locks stall writes; the batches' hardly do.
    assert doc[AS_WRITTEN]["measured"]["stall_seconds"]["seconds"] > doc[SAFE]["measured"]["stall_seconds"][
        "seconds"
    ]
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
    # The load balancer's checks and the pool: defaults as Kubernetes probes and a small instance's pool.
    assert opts.rows is None and (opts.health_interval, opts.health_failures, opts.pool) == (10.0, 3, 3)
    custom = LoadOptions.from_cli(True, health_interval="5s", health_failures=2, pool=10, load_rows=1000)
    assert custom is not None and custom.rows == 1000
    assert (custom.health_interval, custom.health_failures, custom.pool) == (5.0, 2, 10)
    for bad in ({"pool": 0}, {"health_failures": 0}, {"health_interval": "0s"}, {"load_rows": 0}):
        with pytest.raises(ConfigError):
            LoadOptions.from_cli(True, **bad)
    with pytest.raises(ConfigError, match="--load-rows"):
        LoadOptions.from_cli(False, load_rows=1000)


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
    # At production, the observed rates themselves: 10,000 reads/s split 4:1, 2,000 writes/s.
    assert result.rates_from == "the snapshot's observed traffic"
    assert result.production_rates["public.orders"] == {"read_point": 8000.0, "read_range": 2000.0,
                                                        "write": 2000.0}
    assert result.rows == 5_000 and result.scale == "--load-rows" and result.production_rows == 1_000_000
    doc = json.loads((tmp_path / "load.json").read_text())
    assert doc[AS_WRITTEN]["run"]["records"] and doc[SAFE]["run"]["records"]
    written = result.production[AS_WRITTEN]
    # ADD COLUMN holds ACCESS EXCLUSIVE for a moment only, yet at 10,000 reads/s a pool of 3 sessions per
    # class fills in 3/8,000 s of it.
    assert written.health_check == "pass"
    seen = result.measured(AS_WRITTEN).pool_exhausted_after
    assert written.pool_exhausted_after == pytest.approx(min(3 / 8000, seen if seen is not None else 1.0))
    assert (tmp_path / "load.svg").read_text().startswith("<svg")


RUNAWAY = Path(__file__).resolve().parent.parent / "examples" / "runaway"


def test_runaway_at_production_size_fails_health_checks_as_written_and_passes_rewritten(
    tmp_path: Any,
) -> None:
    """Regression: the load verdict was made at the load run's size (the lock held one second there) while
    production, 2,000,000 rows, holds it for tens of seconds; and the second run ran the same transaction.
    Now both runs are projected to production size, and the second is check's safe rewrite."""
    import json
    import math

    from foreshock.rehearse.api import rehearse
    from foreshock.report.load_report import render as render_load
    from foreshock.scale.stats import load_stats

    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"tables": {"public.orders": {"rows": 2_000_000, "bytes": 160_000_000}}}))
    opts = LoadOptions.from_cli(True, load_duration="40s")
    result = rehearse(RUNAWAY, load_stats(stats), max_rows=20_000, budget=20.0, load=opts)
    assert result.load is not None
    doc = json.loads(json.dumps(result.to_json()))["load"]
    written, safe = doc["as_written"], doc["safe"]
    at_prod, measured = written["production"], written["measured"]
    # The load ran at the rehearsal's largest scale; the projection is at production's rows.
    largest = round(2_000_000 * max(result.rehearsal.fractions))
    assert measured["rows"] == largest and at_prod["rows"] == 2_000_000
    assert doc["rows"] == {"load": largest, "production": 2_000_000, "scale": "the rehearsal's largest scale"}
    # The stall at production is the rehearsal's hold of ACCESS EXCLUSIVE on orders, with its interval.
    hold = next(h for h in result.holds if h.lock == "AccessExclusiveLock").estimate
    stall = at_prod["stall_seconds"]
    assert stall["seconds"] >= round(hold.seconds, 3) and stall["low"] >= round(hold.low, 3)
    assert stall["high"] >= round(hold.high, 3)
    assert stall["seconds"] > 10 * measured["stall_seconds"]["seconds"]
    assert at_prod["health_check"] == "fail" and at_prod["max_wait_seconds"] >= stall["seconds"]
    # The cascade per the defaults: a check every 10 s, 3 failures in a row mark an instance unhealthy.
    failing = at_prod["max_read_wait_seconds"] - 2.0
    assert at_prod["health_checks_failed_in_a_row"] == math.ceil(failing / 10.0)
    assert at_prod["unhealthy"] == (failing > 20.0) and at_prod["unhealthy"] == (
        at_prod["health_checks_failed_in_a_row"] >= 3
    )
    # Default workload: 20 point reads/s on a pool of 3 sessions fill it in 150 ms (or as soon as the load
    # run saw it full); all 35 queries/s queue.
    seen = measured["pool_exhausted_after_seconds"]
    assert at_prod["pool_exhausted_after_seconds"] == pytest.approx(min(3 / 20.0, seen if seen else 1.0))
    assert at_prod["queued_sessions"] >= math.floor(35.0 * hold.seconds)
    # The safe rewrite, run as apply --rewrite runs it, projected the same way: the column added with its
    # back-filled value as DEFAULT, one step.
    assert safe["rewrite"]["steps"] == 1 and safe["rewrite"]["without_safe_rewrite"] == []
    assert safe["run"]["migration"]["outcome"] == "ok"
    assert safe["production"]["health_check"] == "pass" and safe["production"]["unhealthy"] is False
    assert safe["production"]["max_wait_seconds"] < 2.0
    assert safe["measured"]["health_check"] == "pass"
    text = render_load(result.load)
    assert "as written: measured" in text and "safe rewrite: measured" in text and "at production" in text
    assert "as written at production size (2,000,000 rows): reads on orders wait up to" in text
    assert "safe rewrite at production size (2,000,000 rows): no read waits longer than the 2 s" in text


def test_rehearse_command_with_load_when_production_is_small(tmp_path: Any) -> None:
    """`foreshock rehearse --load` end to end from a minimal stats file that names only orders, 1,000 rows:
    the load runs at production size, and both ways pass there. The referenced customers table still gets
    rows (its foreign key must hold)."""
    import json

    from click.testing import CliRunner

    from foreshock.cli import cli

    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"tables": {"public.orders": {"rows": 1_000, "bytes": 80_000}}}))
    result = CliRunner().invoke(
        cli,
        ["rehearse", str(RUNAWAY), "--stats", str(stats), "--load", "--load-duration", "30s",
         "--format", "json", "--report-dir", str(tmp_path / "report")],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    load = doc["load"]
    assert load["rows"]["load"] == load["rows"]["production"] == 1_000
    for mode in ("as_written", "safe"):
        for figures in (load[mode]["measured"], load[mode]["production"]):
            assert figures["health_check"] == "pass" and figures["unhealthy"] is False, (mode, figures)
            assert figures["rows"] == 1_000 and figures["max_wait_seconds"] < 2.0
        assert load[mode]["run"]["migration"]["outcome"] == "ok"
    assert any("public.customers" in w for w in doc["rehearsal"]["warnings"])
    assert (tmp_path / "report" / "load.svg").exists()
    # The JSON is check's document plus the rehearsal: the findings judged with the measured durations.
    assert doc["mode"] == "rehearse" and doc["summary"]["exit_code"] == result.exit_code
    assert doc["size_blind"] is False
