"""The one duration model: lock-time estimates from sizes; the runaway migration passes small and fails big;
size-blind says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from foreshock.api import check
from foreshock.core.analyze import analyze
from foreshock.core.hold import transaction_hold
from foreshock.core.locks import LockMode
from foreshock.core.model import (
    AnalysisSettings,
    CheckResult,
    Cost,
    Estimate,
    FileAnalysis,
    MigrationUnit,
    TableWork,
)
from foreshock.rules.verdict import DEFAULT_BUDGETS, budget_verdict
from foreshock.scale import calibration
from foreshock.scale.estimate import (
    WALK_SECONDS_PER_BYTE,
    ModelDurations,
    estimate_work,
    index_build_seconds,
)
from foreshock.scale.sizes import load_sizes
from foreshock.scale.stats import Stats, parse_stats

RUNAWAY = Path(__file__).resolve().parents[1] / "examples" / "runaway" / "003_order_status.sql"
SCHEMA = """CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint NOT NULL, total_cents bigint NOT NULL);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
"""


def _stats(rows: int) -> Stats:
    return parse_stats(f'{{"tables": {{"public.orders": {{"rows": {rows}, "bytes": {rows * 160}}}}}}}')


def _analysis(sql: str) -> FileAnalysis:
    (fa,) = analyze([MigrationUnit("schema.sql", SCHEMA, history=True), MigrationUnit("m.sql", sql)],
                    AnalysisSettings())
    return fa


def _runaway_hold(stats: Stats | None) -> Estimate | None:
    fa = _analysis(RUNAWAY.read_text())
    estimates = {sa.statement.index: estimate_work(sa.facts.work, stats).estimate for sa in fa.statements}
    return transaction_hold(1, [sa.statement.index for sa in fa.statements], estimates)


def test_runaway_at_1000_rows_is_within_budget() -> None:
    hold = _runaway_hold(_stats(1000))
    assert hold is not None
    verdict = budget_verdict(hold, LockMode.AccessExclusiveLock)
    assert verdict.severity in ("info", "warning") and verdict.severity != "error"


def test_runaway_at_80_million_rows_holds_access_exclusive_for_over_ten_minutes() -> None:
    hold = _runaway_hold(
        parse_stats('{"tables": {"public.orders": {"rows": 80000000, "bytes": 12884901888}}}')
    )
    assert hold is not None
    assert hold.seconds >= 600, hold
    assert hold.low <= hold.seconds <= hold.high
    verdict = budget_verdict(hold, LockMode.AccessExclusiveLock)
    assert verdict.severity == "error" and "AccessExclusiveLock" in verdict.message


def test_without_sizes_there_is_no_estimate() -> None:
    assert _runaway_hold(None) is None


def test_a_table_missing_from_the_stats_makes_the_statement_size_blind() -> None:
    fa = _analysis("UPDATE customers SET email = 'x';")
    est = estimate_work(fa.statements[0].facts.work, _stats(10))
    assert est.estimate is None and est.missing == ("public.customers",)
    duration = ModelDurations(_stats(10)).statement("m.sql", fa.statements[0])
    assert duration.estimate is None and "no size for public.customers" in duration.unknown


def test_a_table_missing_from_a_complete_catalog_is_created_empty_by_the_same_run() -> None:
    """Regression: applying a whole history to a fresh database left the findings on tables its first
    migrations create size-blind, although the target's catalog says they do not exist yet."""
    fa = _analysis("UPDATE customers SET email = 'x';")
    complete = parse_stats('{"complete": true, "tables": {"public.orders": {"rows": 10}}}')
    est = estimate_work(fa.statements[0].facts.work, complete).estimate
    assert est is not None and est.rows is None and est.seconds < 0.01
    assert parse_stats(complete.dumps()).complete and not _stats(10).complete


@pytest.mark.parametrize(
    ("sql", "cost"),
    [
        ("CREATE INDEX i ON orders (customer_id);", Cost.INDEX_BUILD),
        ("ALTER TABLE orders ALTER COLUMN total_cents TYPE numeric;", Cost.REWRITE),
        ("ALTER TABLE orders ADD CONSTRAINT c CHECK (total_cents > 0);", Cost.SCAN),
        ("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (customer_id) REFERENCES customers (id);",
         Cost.FK_VALIDATE),
        ("UPDATE orders SET total_cents = 0;", Cost.UPDATE),
        ("DELETE FROM orders;", Cost.DELETE),
    ],
)
def test_time_grows_with_rows_for_every_cost_class(sql: str, cost: Cost) -> None:
    facts = _analysis(sql).statements[0].facts
    assert cost in {w.cost for w in facts.work}, facts.work
    work = [w for w in facts.work if w.table == "public.orders"]
    small = estimate_work(work, _stats(10_000)).estimate
    big = estimate_work(work, _stats(10_000_000)).estimate
    assert small is not None and big is not None
    assert big.seconds > 100 * small.seconds, sql
    assert cost.value in big.source


def test_fk_cost_is_charged_once_to_the_referencing_table() -> None:
    fa = _analysis("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (customer_id) REFERENCES customers (id);")
    facts = fa.statements[0].facts
    assert {e.table for e in facts.effects} == {"public.orders", "public.customers"}
    stats = parse_stats('{"tables": {"orders": {"rows": 1000000}, "customers": {"rows": 10}}}')
    est = estimate_work(facts.work, stats)
    assert [w.table for w in est.work] == ["public.orders"]


def test_an_update_maintains_the_indexes_the_schema_had_then() -> None:
    facts = _analysis("UPDATE orders SET total_cents = 0;").statements[0].facts
    (work,) = facts.work
    assert set(work.indexes) == {("id",), ("customer_id",)}
    assert work.depends_on == ("rows", "bytes", "indexes")


def test_fk_validation_cost_follows_the_referenced_table_size() -> None:
    # PostgreSQL hashes the referenced keys once and probes them per referencing row: a 250,000-row parent
    # costs a fraction of a 5,000,000-row one (the old model charged every referencing row the price of a
    # parent as large as the child, and said 3.6 s where production took 0.5-1.3 s).
    fa = _analysis("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (customer_id) REFERENCES customers (id);")
    (work,) = fa.statements[0].facts.work
    assert work.cost is Cost.FK_VALIDATE and work.references == "public.customers"

    def seconds(parent_rows: int) -> float:
        stats = parse_stats(
            f'{{"tables": {{"orders": {{"rows": 5000000}}, "customers": {{"rows": {parent_rows}}}}}}}'
        )
        est = estimate_work(fa.statements[0].facts.work, stats).estimate
        assert est is not None
        return est.seconds

    small, big = seconds(250_000), seconds(5_000_000)
    assert small < big
    _, b = calibration.COEFFICIENTS["fk_validate"]
    assert big - small == pytest.approx(b * 4_750_000, rel=1e-6)


def test_index_build_spills_past_maintenance_work_mem() -> None:
    fits, why_fits = index_build_seconds(100_000, 8, 64 * 1024**2)
    spills, why_spills = index_build_seconds(100_000, 8, 1024**2)
    assert why_fits == "" and "maintenance_work_mem" in why_spills
    assert spills > fits


def test_metadata_only_statement_is_instant_but_known() -> None:
    facts = _analysis("ALTER TABLE orders ADD COLUMN note text;").statements[0].facts
    assert facts.cost is Cost.CATALOG and not facts.work
    est = estimate_work(facts.work, _stats(80_000_000))
    assert est.estimate is not None and est.estimate.seconds < 0.01


@pytest.mark.parametrize("lock", list(LockMode))
def test_budget_verdict_follows_the_budget(lock: LockMode) -> None:
    budget = DEFAULT_BUDGETS[lock]
    if budget is None:
        assert budget_verdict(Estimate(1e6, 1e6, 1e6), lock).severity is None
        return
    assert budget_verdict(Estimate(budget * 2, budget * 1.5, budget * 3), lock).severity == "error"
    assert budget_verdict(Estimate(budget / 2, budget / 4, budget * 2), lock).severity == "warning"
    assert budget_verdict(Estimate(budget / 4, budget / 8, budget / 2), lock).severity == "info"
    custom = {lock: budget * 10}
    assert budget_verdict(Estimate(budget * 2, budget, budget * 3), lock, custom).severity == "info"


def test_calibration_module_is_generated_data() -> None:
    for op in (
        "scan",
        "rewrite",
        "index_build",
        "update",
        "update_index_row",
        "fk_validate",
        "refresh",
        "delete",
    ):
        assert op in calibration.COEFFICIENTS
        a, b = calibration.COEFFICIENTS[op]
        assert a >= 0 and b >= 0 and a + b > 0
    assert calibration.DISK_WRITE_BYTES_PER_SECOND > 0


def _runaway_check(rows: int | None) -> CheckResult:
    stats = None if rows is None else parse_stats(
        f'{{"tables": {{"public.orders": {{"rows": {rows}, "bytes": {rows * 161}}}}}}}')
    return check([str(RUNAWAY.parent)], sizes=stats)


def test_check_with_sizes_passes_small_and_fails_big_on_the_real_analysis() -> None:
    small = _runaway_check(1000)
    assert small.exit_code == 0 and not small.size_blind
    assert all(f.estimate is not None for f in small.findings if f.lock is not None)
    big = _runaway_check(80_000_000)
    assert big.exit_code == 1
    worst = [f for f in big.findings if f.severity == "error" and f.lock is LockMode.AccessExclusiveLock]
    assert worst and all(f.estimate is not None and f.estimate.seconds >= 600 for f in worst)
    assert any("over the 2 s budget" in f.message for f in worst)


def test_check_without_sizes_is_size_blind() -> None:
    blind = _runaway_check(None)
    assert blind.size_blind and blind.exit_code == 1  # the rules alone still flag the runaway migration
    assert all(f.estimate is None for f in blind.findings)


def test_check_takes_sizes_from_a_stats_file(tmp_path: Path) -> None:
    small, big = tmp_path / "small.json", tmp_path / "big.json"
    small.write_text('{"tables": {"public.orders": {"rows": 1000, "bytes": 131072}}}')
    big.write_text('{"tables": {"public.orders": {"rows": 80000000, "bytes": 12884901888}}}')
    assert check([str(RUNAWAY.parent)], sizes=load_sizes(small)).exit_code == 0
    result = check([str(RUNAWAY.parent)], sizes=load_sizes(big))
    assert result.exit_code == 1 and not result.size_blind
    held = [f for f in result.findings if f.severity == "error" and f.lock is LockMode.AccessExclusiveLock]
    assert held and min(f.estimate.seconds for f in held if f.estimate) >= 600
    assert check([str(RUNAWAY.parent)]).size_blind


MATVIEW_SCHEMA = """CREATE TABLE items (id bigint PRIMARY KEY, customer_id bigint NOT NULL, amount integer);
CREATE TABLE regions (id bigint PRIMARY KEY, name text);
CREATE VIEW live_items AS SELECT * FROM items WHERE amount > 0;
CREATE MATERIALIZED VIEW item_totals AS
    SELECT customer_id, count(*) AS n, sum(amount) AS total FROM live_items GROUP BY customer_id;
"""


def _matview_work(sql: str, schema: str = MATVIEW_SCHEMA) -> tuple[TableWork, ...]:
    (fa,) = analyze(
        [MigrationUnit("schema.sql", schema, history=True), MigrationUnit("m.sql", sql)], AnalysisSettings()
    )
    return fa.statements[0].facts.work


def _refresh_stats(item_rows: int, view_rows: int = 50_000) -> Stats:
    return parse_stats(
        f'{{"tables": {{"items": {{"rows": {item_rows}, "bytes": {item_rows * 180}}}, '
        f'"item_totals": {{"rows": {view_rows}, "bytes": {view_rows * 60}}}}}}}'
    )


def test_refresh_of_a_small_view_over_a_big_table_is_priced_by_reading_the_table() -> None:
    # A 50,000-row view over 5,000,000 rows was priced as writing 50,000 rows: x21 under what production took.
    (work,) = _matview_work("REFRESH MATERIALIZED VIEW item_totals;")
    assert work.cost is Cost.REFRESH and work.reads == ("public.items",)  # through the plain view
    at_size = estimate_work((work,), _refresh_stats(5_000_000))
    big, small = at_size.estimate, estimate_work((work,), _refresh_stats(500_000)).estimate
    assert big is not None and small is not None
    assert "scan public.items" in big.source and "refresh public.item_totals" in big.source
    assert not big.source.startswith("at least")
    (written,) = [w for w in at_size.work if w.table == "public.item_totals"]
    assert big.seconds > 20 * written.seconds  # what the view's own size alone said
    assert big.seconds > 5 * small.seconds  # the view's own size did not change, its source's did
    a, b = calibration.COEFFICIENTS["scan"]
    assert big.seconds >= a * 5_000_000 + b * 5_000_000 * 180


def test_refresh_whose_source_has_no_size_is_size_blind() -> None:
    work = _matview_work("REFRESH MATERIALIZED VIEW item_totals;")
    stats = parse_stats('{"tables": {"item_totals": {"rows": 50000, "bytes": 3000000}}}')
    est = estimate_work(work, stats)
    assert est.estimate is None and est.missing == ("public.items",)


def test_refresh_of_a_view_the_history_does_not_define_is_an_at_least() -> None:
    (work,) = _matview_work("REFRESH MATERIALIZED VIEW other_totals;")
    assert work.cost is Cost.REFRESH and work.reads is None
    stats = parse_stats('{"tables": {"other_totals": {"rows": 50000, "bytes": 3000000}}}')
    est = estimate_work((work,), stats).estimate
    assert est is not None and est.source.startswith("at least: ")
    assert "public.other_totals is not in the schema history" in est.source


def test_refresh_with_no_data_reads_nothing() -> None:
    (work,) = _matview_work("REFRESH MATERIALIZED VIEW item_totals WITH NO DATA;")
    assert work.reads == ()
    est = estimate_work((work,), _refresh_stats(5_000_000)).estimate
    assert est is not None and "scan" not in est.source


def test_refresh_reads_every_table_its_query_joins_but_not_one_an_index_pins() -> None:
    work = _matview_work(
        "REFRESH MATERIALIZED VIEW t;",
        MATVIEW_SCHEMA
        + "CREATE MATERIALIZED VIEW t AS SELECT i.id, r.name FROM items i "
        + "JOIN regions r ON r.id = i.customer_id;"
        + "CREATE MATERIALIZED VIEW one AS SELECT * FROM items WHERE id = 1;",
    )
    assert set(work[0].reads or ()) == {"public.items", "public.regions"}
    (pinned,) = _matview_work(
        "REFRESH MATERIALIZED VIEW one;",
        MATVIEW_SCHEMA + "CREATE MATERIALIZED VIEW one AS SELECT * FROM items WHERE id = 1;",
    )
    assert pinned.reads == ()


EVENTS_SCHEMA = """CREATE TABLE events (id bigint PRIMARY KEY, account_id integer NOT NULL,
    body text NOT NULL, attrs jsonb NOT NULL, label varchar(40));
"""


def _events_work(sql: str) -> tuple[TableWork, ...]:
    return _matview_work(sql, EVENTS_SCHEMA)


@pytest.mark.parametrize(
    ("check", "walked"),
    [
        ("length(body) > 0", ("body",)),
        ("lower(label::text) <> ''", ("label",)),
        ("body LIKE 'x%' AND attrs::text ~ 'n'", ("body", "attrs")),
        ("account_id > 0", ()),
        ("abs(account_id) > 0", ()),  # a fixed-width value: the same cost whatever the row's width
        ("octet_length(body) > 0", ()),  # reads the value's header only
        ("body <> ''", ()),
    ],
)
def test_a_check_records_the_wide_columns_its_expression_walks(check: str, walked: tuple[str, ...]) -> None:
    (work,) = _events_work(f"ALTER TABLE events ADD CONSTRAINT k CHECK ({check});")
    assert work.cost is Cost.SCAN
    assert sorted(work.walked_columns) == sorted(walked)


def test_a_not_valid_check_walks_nothing() -> None:
    assert _events_work("ALTER TABLE events ADD CONSTRAINT k CHECK (length(body) > 0) NOT VALID;") == ()


def _events_stats(body_width: int | None) -> Stats:
    column = f', "columns": {{"body": {{"avg_width": {body_width}}}}}' if body_width else ""
    return parse_stats(f'{{"tables": {{"events": {{"rows": 2000000, "bytes": {2_000_000 * 740}{column}}}}}}}')


def test_a_check_calling_a_function_on_a_wide_column_is_charged_per_byte_of_its_values() -> None:
    # ADD CHECK (length(body) > 0) on 2,000,000 rows of ~516-byte text: the model charged the row's bytes as
    # stored and was x4.43 under production, which counted the characters of every value.
    (walking,) = _events_work("ALTER TABLE events ADD CONSTRAINT k CHECK (length(body) > 0);")
    (plain,) = _events_work("ALTER TABLE events ADD CONSTRAINT k CHECK (account_id > 0);")
    stats = _events_stats(516)
    walks, reads = estimate_work((walking,), stats).estimate, estimate_work((plain,), stats).estimate
    assert walks is not None and reads is not None
    assert walks.seconds - reads.seconds == pytest.approx(WALK_SECONDS_PER_BYTE * 2_000_000 * 516)
    assert walks.seconds > 3 * reads.seconds
    # Without the column's width, the whole row's is charged: never less than the column would have cost.
    blind = estimate_work((walking,), _events_stats(None)).estimate
    assert blind is not None and blind.seconds > walks.seconds


@pytest.mark.db
def test_a_snapshot_gives_the_refresh_its_sources_and_the_check_its_column_width(fresh_db: str) -> None:
    # What check --dsn/--stats sees: the view's definition and the column widths come from the catalog.
    import psycopg

    from foreshock.scale.snapshot import snapshot

    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE items (id bigint PRIMARY KEY, customer_id bigint NOT NULL, body text NOT NULL)"
        )
        conn.execute(
            "INSERT INTO items SELECT g, g % 100, repeat(md5(g::text), 8) FROM generate_series(1, 20000) g"
        )
        conn.execute(
            "CREATE MATERIALIZED VIEW item_totals AS "
            "SELECT customer_id, count(*) AS n FROM items GROUP BY customer_id"
        )
        conn.execute("ANALYZE")
    stats = snapshot(fresh_db).stats
    (fa,) = analyze(
        [
            MigrationUnit("schema.sql", stats.schema, history=True),
            MigrationUnit(
                "m.sql",
                "REFRESH MATERIALIZED VIEW item_totals;\n"
                "ALTER TABLE items ADD CONSTRAINT k CHECK (length(body) > 0);\n"
                "ALTER TABLE items ADD CONSTRAINT j CHECK (customer_id >= 0);\n",
            ),
        ],
        AnalysisSettings(),
    )
    refresh, walking, plain = (sa.facts.work for sa in fa.statements)
    assert [w.reads for w in refresh] == [("public.items",)]
    est = estimate_work(refresh, stats).estimate
    assert est is not None and "scan public.items" in est.source
    assert est.rows == 20_000 + 100  # the source's rows read, the view's written
    items = stats.table("public.items")
    assert items is not None and items.columns["body"].avg_width
    width = items.columns["body"].avg_width
    assert 250 <= width <= 260  # 256 characters, as the server measured them
    walks, reads = estimate_work(walking, stats).estimate, estimate_work(plain, stats).estimate
    assert walks is not None and reads is not None
    assert walks.seconds - reads.seconds == pytest.approx(WALK_SECONDS_PER_BYTE * 20_000 * width)


def test_validating_a_not_valid_check_walks_what_its_expression_walks() -> None:
    work = _events_work(
        "ALTER TABLE events ADD CONSTRAINT k CHECK (length(body) > 0) NOT VALID;\n"
        "ALTER TABLE events VALIDATE CONSTRAINT k;"
    )
    assert work == ()  # the first statement's: NOT VALID scans nothing
    (fa,) = analyze(
        [
            MigrationUnit("schema.sql", EVENTS_SCHEMA, history=True),
            MigrationUnit(
                "m.sql",
                "ALTER TABLE events ADD CONSTRAINT k CHECK (length(body) > 0) NOT VALID;\n"
                "ALTER TABLE events ADD CONSTRAINT j CHECK (account_id > 0) NOT VALID;\n"
                "ALTER TABLE events VALIDATE CONSTRAINT k;\n"
                "ALTER TABLE events VALIDATE CONSTRAINT j;\n",
            ),
        ],
        AnalysisSettings(),
    )
    walked = [[w.walked_columns for w in sa.facts.work] for sa in fa.statements]
    assert walked == [[], [], [("body",)], [()]]
