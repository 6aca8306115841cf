"""rehearse: model choice and extrapolation (pure), scaled memory, and a real multi-scale run."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

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


def test_n_log_n_growth_is_not_underestimated() -> None:
    p = fit_and_extrapolate(_points(lambda n: 1e-7 * n * math.log2(n), NS), 10_000_000)
    assert p is not None
    assert p.seconds == pytest.approx(1e-7 * 1e7 * math.log2(1e7), rel=0.1)


def test_super_linear_growth_is_flagged_and_followed() -> None:
    p = fit_and_extrapolate(
        _points(lambda n: 1e-9 * n**1.5, NS), 10_000_000, "the table outgrew shared_buffers"
    )
    assert p is not None
    assert p.seconds == pytest.approx(1e-9 * 1e7**1.5, rel=0.15)
    assert p.regime and "rows^1.5" in p.regime


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
    assert p is not None and p.seconds == pytest.approx(50) and p.high / p.low == pytest.approx(4)


def test_fraction_ladder_respects_the_cap_and_the_floor() -> None:
    fr = plan_fractions(10_000_000, 1_000_000)
    assert fr[-1] == pytest.approx(0.1) and fr == sorted(fr)
    assert all(f * 10_000_000 >= MIN_ROWS for f in fr) and len(fr) == 4
    assert plan_fractions(500, 1_000_000) == [1.0]  # a small table is rehearsed at full size
    assert plan_fractions(5_000, None)[-1] == 1.0  # never beyond production


def test_memory_settings_shrink_with_the_data() -> None:
    stats = parse_stats(
        '{"server": {"settings": {"shared_buffers": 8589934592, "maintenance_work_mem": '
        '1073741824, "work_mem": 67108864}}, "tables": {"t": {"rows": 1}}}'
    )
    s = scaled_settings(stats, 0.1)
    assert s["shared_buffers"] == f"{8589934592 // 10 // 1024}kB"
    assert s["maintenance_work_mem"] == f"{1073741824 // 10 // 1024}kB"
    tiny = scaled_settings(stats, 1e-6)
    assert tiny["maintenance_work_mem"] == "1024kB" and tiny["work_mem"] == "64kB"  # PostgreSQL's minimums
    assert tiny["shared_buffers"] == "131072kB"  # bulk-write rings stay production-sized


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
        assert set(pred) == {"seconds", "low", "high", "rows"}
        assert pred["rows"] == 300_000 and pred["low"] <= pred["seconds"] <= pred["high"]
        rows = [p["rows"] for p in s["points"]]
        assert len(rows) >= 2 and rows == sorted(rows) and rows[-1] <= 30_000
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
