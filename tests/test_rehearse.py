"""rehearse: model choice and extrapolation (pure), scaled memory, and a real multi-scale run."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from foreshock.core.model import StatementAnalysis
from foreshock.rehearse.api import rehearse as rehearse_command
from foreshock.report.rehearsal_plots import statement_svg
from foreshock.scale.fit import fit_and_extrapolate
from foreshock.scale.rehearsal_db import scaled_settings
from foreshock.scale.runner import MIN_ROWS, Point, StatementRehearsal, plan_fractions
from foreshock.scale.stats import Stats, parse_stats

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "runaway"


def _points(f: object, ns: list[int]) -> list[tuple[int, float]]:
    return [(n, f(n)) for n in ns]  # type: ignore[operator]


NS = [10_000, 30_000, 90_000, 270_000]


def test_linear_growth_extrapolates_linearly() -> None:
    p = fit_and_extrapolate(_points(lambda n: 0.01 + 2e-6 * n, NS), 10_000_000)
    assert p is not None
    assert p.seconds == pytest.approx(0.01 + 2e-6 * 10_000_000, rel=0.05)
    assert p.low <= p.seconds <= p.high and p.regime == ""


def test_n_log_n_growth_of_a_sort_stays_inside_the_interval() -> None:
    # The point follows the cost per row (a sort's log factor did not show at 10x); the high end covers it.
    true = 1e-7 * 10_000_000 * math.log2(10_000_000)
    p = fit_and_extrapolate(_points(lambda n: 1e-7 * n * math.log2(n), NS), 10_000_000, sorts=True)
    assert p is not None and p.low <= p.seconds <= true <= p.high
    assert p.seconds == pytest.approx(true, rel=0.25)


def test_a_fixed_cost_is_not_multiplied_by_the_rows() -> None:
    # A foreign key's validation hashes the referenced table once (0.15 s), then probes per row.
    p = fit_and_extrapolate(_points(lambda n: 0.15 + 1.5e-7 * n, NS), 2_700_000)
    assert p is not None
    assert p.seconds == pytest.approx(0.15 + 1.5e-7 * 2_700_000, rel=0.05)


def test_noisy_small_scales_do_not_drag_the_cost_per_row() -> None:
    # The largest scales are measured with the least relative noise: a 3 ms run twice as slow as it should
    # be, or half as slow, barely moves the prediction.
    for bump in (2.0, 0.5):
        pts = [(10_000, 0.003 * bump), (30_000, 0.009), (90_000, 0.027), (270_000, 0.081)]
        p = fit_and_extrapolate(pts, 2_700_000)
        assert p is not None and p.seconds == pytest.approx(0.81, rel=0.05)


def test_a_repeated_largest_scale_widens_the_interval_to_its_spread() -> None:
    pts = [(30_000, 0.3), (90_000, 0.9), (270_000, 2.0), (270_000, 3.6)]
    p = fit_and_extrapolate(pts, 2_700_000)
    assert p is not None
    assert p.high / p.seconds >= 1.8 - 1e-9 and p.seconds / p.low >= 1.8 - 1e-9
    assert 20 <= p.seconds <= 36  # between the two runs' own extrapolations


def test_super_linear_growth_is_flagged_and_covered_by_the_high_end() -> None:
    true = 1e-8 * 1e7**1.5
    p = fit_and_extrapolate(_points(lambda n: 1e-8 * n**1.5, NS), 10_000_000)
    assert p is not None
    assert p.seconds < true <= p.high * 1.0001
    assert p.regime and "rows^1.50" in p.regime


def test_regime_change_between_the_largest_scales_is_extrapolated_locally() -> None:
    # Linear until 90k rows, then 4x slower per row (a sort spilling to disk): production follows the new
    # slope.
    def t(n: int) -> float:
        return 1e-5 * n if n <= 90_000 else 1e-5 * 90_000 + 4e-5 * (n - 90_000)

    p = fit_and_extrapolate(_points(t, NS), 2_700_000, "the sort started spilling to disk")
    assert p is not None
    assert "spilling" in p.regime
    assert p.seconds > 1e-5 * 2_700_000 * 2  # far above what the early linear part says
    assert p.low <= t(2_700_000) <= p.high


def test_a_jump_without_evidence_is_not_extrapolated_as_a_regime() -> None:
    # One slow measurement at the largest scale (a busy machine) must not turn into a 10x prediction.
    pts = [(37_000, 0.06), (111_000, 0.36), (333_000, 0.50), (1_000_000, 3.48)]
    p = fit_and_extrapolate(pts, 10_000_000)
    assert p is not None and p.regime == "" and "power" not in p.model
    assert p.seconds < 3.48 * 10 * 1.5


def test_parallel_workers_follow_postgresql_rule() -> None:
    from foreshock.scale.rehearsal_db import production_index_workers

    stats = parse_stats(
        '{"server": {"settings": {"maintenance_work_mem": 67108864, '
        '"max_parallel_maintenance_workers": 2}}, "tables": {"big": {"rows": 1, "bytes": '
        '1600000000}, "small": {"rows": 1, "bytes": 4000000}}}'
    )
    big, small = stats.table("big"), stats.table("small")
    assert big is not None and small is not None
    assert production_index_workers(small, stats) == 0  # under min_parallel_table_scan_size
    assert production_index_workers(big, stats) == 1  # 64MB / 3 < 32MB: one worker is dropped


def test_one_scale_is_linear_with_a_wide_interval() -> None:
    p = fit_and_extrapolate([(1000, 0.5)], 100_000)
    assert p is not None and p.seconds == pytest.approx(50) and p.high / p.low >= 3


def test_fraction_ladder_respects_the_cap_and_the_floor() -> None:
    fr = plan_fractions(10_000_000, 1_000_000)
    assert fr[-1] == pytest.approx(0.1) and fr == sorted(fr)
    assert all(f * 10_000_000 >= MIN_ROWS for f in fr) and len(fr) == 4
    assert plan_fractions(500, 1_000_000) == [1.0]  # a small table is rehearsed at full size
    assert plan_fractions(5_000, None)[-1] == 1.0  # never beyond production


def test_memory_settings_shrink_with_the_data() -> None:
    stats = parse_stats(
        '{"server": {"settings": {"shared_buffers": 8589934592, "maintenance_work_mem": '
        '1073741824, "work_mem": 67108864, "max_wal_size": 17179869184, "checkpoint_timeout": 900, '
        '"checkpoint_completion_target": 0.5}}, "tables": {"t": {"rows": 1}}}'
    )
    s = scaled_settings(stats, 0.1)
    assert s["shared_buffers"] == f"{8589934592 // 10 // 1024}kB"
    assert s["maintenance_work_mem"] == f"{1073741824 // 10 // 1024}kB"
    # Checkpoints come as often per row as in production: WAL between them and their interval shrink too.
    assert s["max_wal_size"] == f"{17179869184 // 10 // 1024**2}MB" and s["checkpoint_timeout"] == "90s"
    assert s["checkpoint_completion_target"] == "0.5"
    assert s["wal_buffers"] == "16384kB"  # production's (automatic: 1/32 of shared_buffers, at most 16MB)
    tiny = scaled_settings(stats, 1e-6)
    assert tiny["maintenance_work_mem"] == "1024kB" and tiny["work_mem"] == "64kB"  # PostgreSQL's minimums
    assert tiny["max_wal_size"] == "32MB" and tiny["checkpoint_timeout"] == "30s"
    assert tiny["shared_buffers"] == "2048kB" and tiny["wal_buffers"] == "16384kB"


def test_shared_buffers_shrink_below_production_default() -> None:
    # Regression: shared_buffers never went below 128MB, so a 500,000-row rehearsal of a 5M-row table fitted
    # its cache while production's did not, and a full UPDATE through random-key indexes came out 2x short.
    stats = parse_stats('{"tables": {"t": {"rows": 1}}}')
    s = scaled_settings(stats, 0.1)
    assert s["shared_buffers"] == f"{128 * 1024**2 // 10 // 1024}kB"
    assert s["wal_buffers"] == "4096kB" and s["max_wal_size"] == "102MB"


def test_foreign_key_validation_against_a_full_size_parent_keeps_production_memory() -> None:
    from foreshock.core.analyze import analyze
    from foreshock.core.model import AnalysisSettings, MigrationUnit
    from foreshock.scale.runner import _full_size_probes

    stats = parse_stats(
        '{"server": {"settings": {"maintenance_work_mem": 67108864}}, "tables": {"public.orders": '
        '{"rows": 5000000}, "public.customers": {"rows": 250000}}}'
    )
    schema = MigrationUnit(
        "schema.sql",
        "CREATE TABLE customers (id bigint PRIMARY KEY);\n"
        "CREATE TABLE orders (id bigint PRIMARY KEY, a int, customer_id bigint);\n",
        history=True,
    )
    migration = MigrationUnit(
        "m.sql",
        "CREATE INDEX i ON orders (a);\n"
        "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (customer_id) REFERENCES customers (id);\n",
    )
    (fa,) = analyze([schema, migration], AnalysisSettings())
    analysed = fa.statements
    full = _full_size_probes(analysed, stats, {"public.orders": 500_000, "public.customers": 250_000})
    fk = analysed[1].statement
    assert full == {(fk.path, fk.index): {"maintenance_work_mem": "65536kB"}}
    scaled = _full_size_probes(analysed, stats, {"public.orders": 500_000, "public.customers": 25_000})
    assert scaled == {}


def test_svg_is_well_formed() -> None:
    pts = (Point(1000, 0.01, 0.02), Point(3000, 0.03, 0.07), Point(9000, 0.09, 0.2))
    pred = fit_and_extrapolate([(p.rows, p.seconds) for p in pts], 100_000)
    svg = statement_svg(StatementRehearsal(0, 3, "UPDATE t SET a = 1 -- <&>", "public.t", pts, pred))
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and len(root.findall(".//{http://www.w3.org/2000/svg}circle")) == 4


@pytest.mark.db
def test_rehearse_runaway_from_minimal_sizes(tmp_path: Path) -> None:
    stats = parse_stats(
        '{"tables": {"public.orders": {"rows": 300000, "bytes": 48000000}, '
        '"public.customers": {"rows": 2000}, "public.products": {"rows": 100}}}'
    )
    result = rehearse_command(str(EXAMPLES), stats, max_rows=30_000, budget=60, report_dir=str(tmp_path))
    doc = json.loads(json.dumps(result.rehearsal.to_json()))
    timed = [s for s in doc["statements"] if s["prediction"] is not None]
    assert len(timed) == 3  # ADD COLUMN, UPDATE, SET NOT NULL (BEGIN/COMMIT are not predicted)
    for s in timed:
        pred = s["prediction"]
        assert set(pred) == {"seconds", "low", "high", "rows", "bound"}
        assert pred["rows"] == 300_000 and pred["low"] <= pred["seconds"] <= pred["high"]
        rows = [p["rows"] for p in s["points"]]
        assert len(rows) >= 3 and rows == sorted(rows) and rows[-1] <= 30_000
        # The largest scale ran twice (well within the budget): its spread is the measured noise.
        assert rows[-1] == rows[-2] and s["points"][-1]["fraction"] == s["points"][-2]["fraction"]
        assert s["plot"] and Path(s["plot"]).read_text().startswith("<svg")
    update = next(s for s in timed if s["statement"].startswith("UPDATE"))
    add = next(s for s in timed if "ADD COLUMN" in s["statement"])
    assert update["prediction"]["seconds"] > 10 * add["prediction"]["seconds"]  # the backfill dominates
    assert add["model"].startswith("constant")  # catalog-only: its time does not grow with the table
    assert all(p["wal_bytes"] and p["wal_bytes"] > 0 for p in update["points"])
    held = [h for h in result.holds if h.lock == "AccessExclusiveLock" and h.table == "public.orders"]
    assert held and held[0].estimate.seconds >= update["prediction"]["seconds"]
    # The findings are check's, judged with the measured durations: the exit code follows that one verdict.
    duration = [f for f in result.check.findings if f.risk == "duration" and f.lock is not None]
    assert duration and all(f.estimate is not None and "rehearsal" in f.estimate.source for f in duration)
    assert result.exit_code == (1 if any(f.severity == "error" for f in result.check.findings) else 0)


def _stats_with_locale(**settings: str) -> Stats:
    return parse_stats(json.dumps({"tables": {"public.t": {"rows": 10}}, "server": {"settings": settings}}))


@pytest.mark.db
def test_rehearsal_database_collates_text_like_production(pg_dsn: str) -> None:
    import psycopg
    from psycopg import sql

    from foreshock.scale.rehearsal_db import create_database

    def collation(db: str) -> tuple[str, str]:
        with psycopg.connect(pg_dsn) as conn:
            query = "SELECT datcollate, datctype FROM pg_database WHERE datname = %s"
            row = conn.execute(query, [db]).fetchone()
            assert row is not None
            return row[0], row[1]

    try:
        # A locale this machine has (glibc's C.UTF-8 is always there): the database gets it.
        stats = _stats_with_locale(lc_collate="C.utf8", lc_ctype="C.utf8", locale_provider="libc")
        assert create_database(pg_dsn, "rehearse_locale_a", stats) is None
        assert collation("rehearse_locale_a") == ("C.utf8", "C.utf8")
        # One it lacks: the database is still created, and the warning says what that means for timing.
        stats = _stats_with_locale(lc_collate="xx_XX.UTF-8", lc_ctype="xx_XX.UTF-8")
        warning = create_database(pg_dsn, "rehearse_locale_b", stats)
        assert warning is not None and "'xx_XX.UTF-8'" in warning and "C collation" in warning
        assert collation("rehearse_locale_b")[0] != "xx_XX.UTF-8"
        # A minimal stats file says nothing about collation: a plain database, no warning.
        assert create_database(pg_dsn, "rehearse_locale_c", parse_stats('{"tables": {}}')) is None
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            for db in ("rehearse_locale_a", "rehearse_locale_b", "rehearse_locale_c"):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(db)))


@pytest.mark.db
def test_pg_version_changes_rehearse_the_way_it_changes_check(tmp_path: Path) -> None:
    """Regression: rehearse analysed with default settings, whatever the configuration and --pg-version."""
    from foreshock.api import check
    from foreshock.config import Settings, with_overrides

    (tmp_path / "001_events.sql").write_text(
        "CREATE TABLE events (id bigint, at date NOT NULL) PARTITION BY RANGE (at);\n"
        "CREATE TABLE events_2023 PARTITION OF events FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');\n"
    )
    (tmp_path / "002_detach.sql").write_text(
        "SET lock_timeout = '2s';\nALTER TABLE events DETACH PARTITION events_2023;\n"
    )
    stats = parse_stats('{"tables": {"public.events": {"rows": 0}, "public.events_2023": {"rows": 0}}}')

    def rules(findings: object) -> set[str]:
        return {f.rule for f in findings if f.path.endswith("002_detach.sql")}  # type: ignore[attr-defined]

    seen = {}
    for version in ("12", "16"):
        settings = with_overrides(Settings(), pg_version=version)
        checked = rules(check([str(tmp_path)], settings).findings)
        rehearsed = rehearse_command(str(tmp_path), stats, settings, max_rows=1000, budget=30)
        assert rules(rehearsed.check.findings) == checked
        assert rehearsed.check.pg_version == int(version)
        seen[version] = checked
    # DETACH PARTITION ... CONCURRENTLY exists from PostgreSQL 14: the advice to use it only applies there.
    assert "detaching-partition-non-concurrently" in seen["16"]
    assert "detaching-partition-non-concurrently" not in seen["12"]


@pytest.mark.db
def test_time_spent_waiting_for_a_cpu_is_measured_and_left_out(pg_dsn: str) -> None:
    import os

    import psycopg

    from foreshock.core.sql import parse
    from foreshock.scale.contention import cpu_wait
    from foreshock.scale.runner import _run_migration

    assert cpu_wait(os.getpid()) is None  # not a PostgreSQL backend
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        waited = cpu_wait(row[0])
    if waited is None:
        pytest.skip("no scheduler statistics on this machine (/proc/<pid>/schedstat)")
    assert waited >= 0
    statements = parse("SELECT count(*) FROM generate_series(1, 300000);\n", "m.sql").statements
    timings, cut = _run_migration(pg_dsn, statements, {})
    seconds, _, _, _, cpu = timings[(statements[0].path, statements[0].index)]
    assert not cut and cpu is not None and cpu >= 0 and seconds >= 0


@pytest.mark.db
def test_rehearsal_ends_within_its_budget_even_mid_statement() -> None:
    # Regression: the budget was only checked between scales, so a scale started on an optimistic
    # projection ran to its end, however long that took.
    import time

    from foreshock.core.model import MigrationUnit
    from foreshock.scale.runner import rehearse

    stats = parse_stats(
        '{"tables": {"public.t": {"rows": 4000000, "bytes": 800000000}}, "schema": '
        '"CREATE TABLE t (id bigint PRIMARY KEY, a integer NOT NULL, b text);"}'
    )
    migration = MigrationUnit(
        path="m.sql",
        text="ALTER TABLE t ADD CONSTRAINT a_positive CHECK (a >= 0);\n"
        "UPDATE t SET b = b || 'x';\nUPDATE t SET b = b || 'y';\nUPDATE t SET b = b || 'z';\n",
    )
    started = time.perf_counter()
    result = rehearse([migration], stats, fractions=[0.2], budget=8)
    elapsed = time.perf_counter() - started
    assert elapsed < 8 + 5  # stopping the server and the analysis come after the deadline
    assert any("budget ran out" in w for w in result.warnings)
    timed = [s for s in result.statements if s.points]
    assert len(timed) < 4  # the last statements were cut, not waited for


def _orders_fk() -> tuple[Stats, StatementAnalysis]:
    """A 5,000,000-row table gaining a foreign key to 250,000 referenced rows: the sizes and the statement's
    analysis."""
    from foreshock.core.analyze import analyze
    from foreshock.core.model import AnalysisSettings, MigrationUnit

    stats = parse_stats(
        '{"tables": {"public.orders": {"rows": 5000000, "bytes": 800000000}, '
        '"public.customers": {"rows": 250000, "bytes": 20000000}}}'
    )
    schema = MigrationUnit(
        "schema.sql",
        "CREATE TABLE customers (id bigint PRIMARY KEY);\n"
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint);\n",
        history=True,
    )
    fk = MigrationUnit(
        "m.sql", "ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (customer_id) REFERENCES customers (id);\n"
    )
    (fa,) = analyze([schema, fk], AnalysisSettings())
    sa = fa.statements[0]
    return stats, sa


def test_fk_validation_hidden_by_the_referenced_hash_takes_the_rows_beyond_from_the_model() -> None:
    # Regression: with the referenced table kept at production size (250,000 keys) the part of the largest
    # scale's time growing with the referencing rows was within the noise, and extrapolating it 30x
    # predicted 0.18 s where production took 0.47 s.
    from dataclasses import replace

    from foreshock.core.model import Cost
    from foreshock.scale.estimate import operation_work
    from foreshock.scale.runner import _with_model_rows

    stats, sa = _orders_fk()
    points = [(18_500, 0.080), (55_500, 0.085), (166_700, 0.090), (166_700, 0.094)]
    fitted = fit_and_extrapolate(points, 5_000_000)
    assert fitted is not None and fitted.unresolved
    orders, customers = stats.table("public.orders"), stats.table("public.customers")
    assert orders is not None
    at_top = replace(orders, rows=166_700, bytes=round(800_000_000 * 166_700 / 5_000_000))
    rest = (
        operation_work(Cost.FK_VALIDATE, orders, stats, parent=customers).seconds
        - operation_work(Cost.FK_VALIDATE, at_top, stats, parent=customers).seconds
    )
    pts = [Point(n, n / 5_000_000, t) for n, t in points]
    p = _with_model_rows(fitted, sa, orders, stats, pts)
    assert p.seconds == pytest.approx(0.092 + rest)
    assert p.low <= fitted.seconds <= p.seconds <= p.high
    assert "size model" in p.model and "within the timing noise" in p.regime
    # A cost per row the largest scale resolved is extrapolated as measured.
    clear = fit_and_extrapolate([(18_500, 0.02), (55_500, 0.06), (166_700, 0.18)], 5_000_000)
    assert clear is not None and not clear.unresolved
    # A small growth the repeated largest scale confirms (runs 1.3 ms apart) is resolved, not model.
    small = [(7_407, 0.0045), (22_222, 0.0059), (66_667, 0.0104), (200_000, 0.0229), (200_000, 0.0216)]
    confirmed = fit_and_extrapolate(small, 2_000_000)
    assert confirmed is not None and not confirmed.unresolved
    assert 0.15 < confirmed.seconds < 0.22  # production took 0.18 s
    # One run of the same: within the timer's noise, unresolved.
    once = fit_and_extrapolate(small[:-1], 2_000_000)
    assert once is not None and once.unresolved


def test_fk_validation_against_a_kept_parent_bounds_its_high_end_by_the_model() -> None:
    # Regression: 500,000 referencing rows against the 250,000 referenced keys kept at production size
    # validated at half production's cost per row (another join at another size ratio); the actual was x1.49
    # above the interval's high end.
    from foreshock.scale.estimate import estimate_work
    from foreshock.scale.runner import _join_bound

    stats, sa = _orders_fk()
    orders = stats.table("public.orders")
    assert orders is not None
    points = [(55_500, 0.0043), (166_700, 0.0119), (500_000, 0.0217), (500_000, 0.0263)]
    fitted = fit_and_extrapolate(points, 5_000_000)
    assert fitted is not None and not fitted.unresolved
    pts = [Point(n, n / 5_000_000, t) for n, t in points]
    model = estimate_work(sa.facts.work, stats).estimate
    assert model is not None and model.seconds > fitted.high
    bounded = _join_bound(fitted, sa, orders, stats, pts)
    assert bounded.high == pytest.approx(model.seconds) and bounded.seconds == fitted.seconds
    assert "250,000 referenced keys" in bounded.regime
    # Rehearsed at production size: the join is production's, nothing to bound.
    full = [Point(5_000_000, 1.0, 0.45)]
    assert _join_bound(fitted, sa, orders, stats, full) is fitted


@pytest.mark.db
def test_scaled_sort_memory_keeps_production_parallel_workers_and_spills(fresh_db: str) -> None:
    # Regression: maintenance_work_mem was held at 32MB per participant so that PostgreSQL would keep
    # production's parallel workers; the rehearsal then sorted in memory what production spills. A table's
    # parallel_workers (match_parallelism) already fixes the count, without PostgreSQL's memory rule, and
    # max_parallel_maintenance_workers caps it: scaled memory keeps the workers and spills.
    import psycopg

    messages: list[str] = []
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.add_notice_handler(lambda d: messages.append(d.message_primary or ""))
        conn.execute(
            "CREATE TABLE t AS SELECT g AS id, 'kind_' || (g % 40) AS kind FROM generate_series(1, 100000) g"
        )
        conn.execute("ALTER TABLE t SET (parallel_workers = 3)")
        conn.execute("SET maintenance_work_mem = '1MB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")  # production's count for its memory
        conn.execute("SET client_min_messages = log")
        conn.execute("SET trace_sort = on")
        conn.execute("CREATE INDEX t_kind ON t (kind)")
    # Participants are numbered from 0: the leader and one worker (-1 is the leader's final merge).
    ended = {m.split(" ended")[0] for m in messages if "sort of worker" in m and "ended" in m}
    assert ended == {
        "parallel external sort of worker 0",
        "parallel external sort of worker 1",
        "parallel external sort of worker -1",
    }, ended
    messages.clear()
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.add_notice_handler(lambda d: messages.append(d.message_primary or ""))
        conn.execute("ALTER TABLE t RESET (parallel_workers)")
        conn.execute("SET maintenance_work_mem = '1MB'")
        conn.execute("SET client_min_messages = log")
        conn.execute("SET trace_sort = on")
        conn.execute("CREATE INDEX t_kind2 ON t (kind)")
    # Without it, PostgreSQL's rule (32MB per participant) leaves the build serial.
    assert not any(m.startswith("parallel") for m in messages), messages
