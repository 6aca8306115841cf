"""foreshock.load.projection: the load run's figures carried to production size -- the queueing arithmetic
and the health-check cascade, on figures given by hand (the measured side is tests/test_load.py's, on a
server); and the safe run's migration, check's rewrite, which needs no server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from foreshock.apply import safe_rewrite
from foreshock.core.model import Estimate, MigrationUnit
from foreshock.errors import ForeshockError
from foreshock.load.projection import Blocking, Figures, HealthChecks, Stall, measured, project
from foreshock.load.run import HealthPrediction, MigrationRun, RunReport
from foreshock.load.workload import READ_CLASSES, WRITE, QueryRecord, QueueSample
from foreshock.scale.stats import Stats, load_stats

RATES = {"public.orders": {"read_point": 20.0, "read_range": 5.0, "write": 10.0}}
BOTH = (*READ_CLASSES, WRITE)


def small(max_wait: float = 0.2, read_wait: float = 0.2, exhausted: float | None = None) -> Figures:
    """Figures measured at 20,000 rows: a quarter-second stall, 4 requests queued."""
    stall = Stall(0.25, 0.25, 0.25)
    return Figures(20_000, stall, max_wait, read_wait, 4, exhausted, HealthChecks(), "public.orders")


def test_health_checks_with_the_load_balancer_defaults() -> None:
    h = HealthChecks()  # 2 s timeout, every 10 s, 3 failures in a row
    assert (h.timeout, h.interval, h.failures) == (2.0, 10.0, 3)
    assert h.failing_seconds(1.5) == 0.0 and h.failed_in_a_row(0.0) == 0
    # An 11 s stall: checks started in its first 9 s fail -- one, at most, at one every 10 s.
    assert h.failing_seconds(11.0) == pytest.approx(9.0)
    assert h.failed_in_a_row(9.0) == 1 and h.unhealthy_share(9.0) == 0.0
    # Exactly 20 s failing: a third check would be due just as they pass again.
    assert h.failed_in_a_row(20.0) == 2 and h.unhealthy_share(20.0) == 0.0
    # 25 s failing: instances whose check falls in the first 5 s of it see 3 failures in a row.
    assert h.failed_in_a_row(25.0) == 3 and h.unhealthy_share(25.0) == pytest.approx(0.5)
    assert h.unhealthy_share(31.0) == 1.0
    assert HealthChecks(2.0, 5.0, 2).failed_in_a_row(9.0) == 2


def test_a_long_exclusive_hold_at_production_fails_health_checks_and_marks_instances_unhealthy() -> None:
    hold = Estimate(40.0, 25.0, 60.0, source="rehearsal")
    exclusive = Blocking("public.orders", BOTH, hold, 6, "AccessExclusiveLock")
    f = project(small(), [exclusive], RATES, 3, 2_000_000)
    assert f.rows == 2_000_000 and f.table == "public.orders"
    assert (f.stall.seconds, f.stall.low, f.stall.high) == (40.0, 25.0, 60.0)
    assert f.max_wait == f.read_wait == 40.0
    assert f.queued == 35 * 40  # every query of the three classes arriving during the stall
    assert f.pool_exhausted_after == pytest.approx(3 / 20.0)  # the point reads' pool fills first
    assert f.health_check == "fail" and f.failing_seconds == pytest.approx(38.0)
    assert f.failed_in_a_row == 4 and f.unhealthy and f.unhealthy_share == 1.0
    assert "AccessExclusiveLock on public.orders from line 6: rehearsal" in f.basis
    doc = f.to_json()
    assert doc["stall_seconds"] == {"seconds": 40.0, "low": 25.0, "high": 60.0}
    assert doc["health_check"] == "fail" and doc["unhealthy"] is True and doc["queued_sessions"] == 1400


def test_the_lock_queue_wait_comes_before_the_hold() -> None:
    hold = Estimate(1.0, 0.5, 2.0)
    b = Blocking("public.orders", BOTH, hold, 1, "AccessExclusiveLock", queue_wait=28.0)
    f = project(small(), [b], RATES, 3, 10_000)
    assert (f.stall.seconds, f.stall.low, f.stall.high) == (29.0, 28.5, 30.0)
    assert f.unhealthy and "28 s in the lock queue" in f.basis


def test_row_locks_stall_writes_but_not_health_checks() -> None:
    hold = Estimate(30.0, 20.0, 45.0)
    f = project(small(), [Blocking("public.orders", (WRITE,), hold, 3, "row locks")], RATES, 3, 2_000_000)
    assert f.max_wait == 30.0 and f.read_wait == 0.2 and f.health_check == "pass" and not f.unhealthy
    assert f.queued == 300 and f.pool_exhausted_after == pytest.approx(0.3)


def test_nothing_at_production_is_smaller_than_measured() -> None:
    at_load = small(max_wait=0.6, read_wait=0.5, exhausted=0.1)
    brief = Estimate(0.01, 0.005, 0.02)
    f = project(at_load, [Blocking("public.orders", BOTH, brief, 2, "ShareLock")], RATES, 3, 2_000_000)
    assert f.max_wait == 0.6 and f.read_wait == 0.5 and f.queued == 4
    assert f.stall.seconds == 0.25  # the measured stall is longer than the predicted hold
    # The pool outlasts a 10 ms stall: it is exhausted only as measured.
    assert f.pool_exhausted_after == 0.1
    # A pool measured exhausted sooner than production's rates fill it stays as measured.
    five = Blocking("public.orders", BOTH, Estimate(5.0, 4.0, 6.0), 2, "AccessExclusiveLock")
    long = project(at_load, [five], RATES, 3, None)
    assert long.pool_exhausted_after == 0.1
    none = project(at_load, [], RATES, 3, 2_000_000)
    assert none.max_wait == 0.6 and "no lock that blocks traffic" in none.basis


def test_measured_figures_come_from_the_queue_samples_and_the_queries() -> None:
    samples = (
        QueueSample(1.0, 0, 0, False),
        QueueSample(1.05, 2, 2, False),
        QueueSample(1.1, 3, 3, False),
        QueueSample(1.3, 3, 3, False),  # within the gap: the same stall
        QueueSample(2.0, 1, 1, False),  # a separate, shorter one
        QueueSample(2.1, 0, 0, False),
    )
    records = (
        QueryRecord("public.orders", "read_point", 1.0, 0.3, "ok"),
        QueryRecord("public.orders", "read_point", 1.2, 0.15, "queued"),
        QueryRecord("public.orders", "write", 1.1, 0.1, "ok"),
    )
    run = RunReport(
        "as_written",
        MigrationRun(1.0, 1.3, "ok"),
        (),
        3,
        HealthPrediction(2.0, False, 0, None),
        records,
        samples,
    )
    f = measured(run, 20_000, HealthChecks())
    assert f.stall.seconds == pytest.approx(1.3 - 1.05 + 0.05)
    assert f.max_wait == 0.3 and f.read_wait == 0.3 and f.queued == 4  # 3 behind + 1 in the pool at 1.3 s
    assert f.pool_exhausted_after == pytest.approx(1.2 - 1.05) and f.health_check == "pass"
    assert "measured at 20,000 rows" in f.basis


ORDERS = "CREATE TABLE orders (id bigint PRIMARY KEY, total int NOT NULL, note text);\n"


def _sizes(tmp_path: Path, rows: int) -> Stats:
    stats = tmp_path / "stats.json"
    stats.write_text(json.dumps({"tables": {"public.orders": {"rows": rows, "bytes": 80 * rows}}}))
    return load_stats(stats)


@pytest.mark.parametrize("where", ["", " WHERE total > 0"])
def test_the_safe_run_is_checks_rewrite_of_the_last_migration(tmp_path: Path, where: str) -> None:
    schema = MigrationUnit("001.sql", ORDERS, history=True)
    migration = MigrationUnit(
        "002.sql",
        f"BEGIN;\nALTER TABLE orders ADD COLUMN region text;\nUPDATE orders SET region = 'eu'{where};\n"
        "ALTER TABLE orders ALTER COLUMN region SET NOT NULL;\nCOMMIT;\n",
    )
    safe = safe_rewrite([schema, migration], None, _sizes(tmp_path, 2_000_000))
    text = safe.run.unit.text
    assert safe.analysis.path == "002.sql" and safe.run.to_json()["without_safe_rewrite"] == []
    if not where:  # one value for every row: the column added with it as DEFAULT, one step
        assert safe.run.steps == 1 and safe.run.without == () and "UPDATE" not in text
        assert "ADD COLUMN region text DEFAULT 'eu' NOT NULL;" in text and "DROP DEFAULT" in text
        return
    assert safe.run.steps == 5 and safe.run.without == ()
    assert f"-- foreshock: backfill\nUPDATE orders SET region = 'eu'{where};" in text
    assert text.index("NOT VALID") < text.index("VALIDATE CONSTRAINT") < text.index("SET NOT NULL")


def test_a_statement_without_a_safe_rewrite_is_named_and_runs_as_written(tmp_path: Path) -> None:
    schema = MigrationUnit("001.sql", ORDERS, history=True)
    migration = MigrationUnit(
        "002.sql",
        "CREATE INDEX orders_total ON orders (total);\nALTER TABLE orders ALTER COLUMN total TYPE bigint;\n",
    )
    safe = safe_rewrite([schema, migration], None, _sizes(tmp_path, 2_000_000))
    assert safe.run.steps == 1 and "CREATE INDEX CONCURRENTLY orders_total" in safe.run.unit.text
    assert "ALTER COLUMN total TYPE bigint" in safe.run.unit.text
    assert len(safe.run.without) == 1 and safe.run.without[0].startswith("line 2 [changing-column-type]: ")
    with pytest.raises(ForeshockError, match="nothing to rewrite"):
        safe_rewrite([schema])
