"""The one duration model: lock-time estimates from sizes; the runaway migration passes small and fails big;
size-blind says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from foreshock.api import check
from foreshock.core.analyze import analyze
from foreshock.core.hold import transaction_hold
from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings, CheckResult, Cost, Estimate, FileAnalysis, MigrationUnit
from foreshock.rules.verdict import DEFAULT_BUDGETS, budget_verdict
from foreshock.scale import calibration
from foreshock.scale.estimate import ModelDurations, estimate_work, index_build_seconds
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
