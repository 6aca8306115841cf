"""Lock-time estimates from sizes: the runaway migration passes small and fails big; size-blind says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from foreshock.api import check
from foreshock.core.analyze import analyze
from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings, CheckResult, Effect, Estimate
from foreshock.core.schema import Schema
from foreshock.core.sql import parse
from foreshock.scale import calibration
from foreshock.scale.estimate import (
    DEFAULT_BUDGETS,
    Operation,
    apply_sizes,
    budget_verdict,
    classify,
    estimate_statement,
    index_build_seconds,
    indexes_from_schema,
    transaction_hold,
)
from foreshock.scale.stats import Stats, parse_stats
from foreshock.sources import discover

RUNAWAY = Path(__file__).resolve().parents[1] / "examples" / "runaway" / "003_order_status.sql"
# The runaway migration's effects as PostgreSQL takes them (checked with pg_locks): ADD COLUMN without a
# default is catalog-only under AccessExclusiveLock, the UPDATE scans under RowExclusiveLock, SET NOT NULL
# scans
# under AccessExclusiveLock.
RUNAWAY_EFFECTS = {
    1: (Effect("public.orders", LockMode.AccessExclusiveLock),),
    2: (Effect("public.orders", LockMode.RowExclusiveLock, scan=True),),
    3: (Effect("public.orders", LockMode.AccessExclusiveLock, scan=True),),
}
ORDERS_INDEXES = {"public.orders": [("id",), ("customer_id",)]}


def _stats(rows: int) -> Stats:
    return parse_stats(f'{{"tables": {{"public.orders": {{"rows": {rows}, "bytes": {rows * 160}}}}}}}')


def _runaway_hold(stats: Stats | None) -> Estimate | None:
    parsed = parse(RUNAWAY.read_text(), str(RUNAWAY))
    estimates = {
        s.index: estimate_statement(s, RUNAWAY_EFFECTS.get(s.index, ()), stats, ORDERS_INDEXES)
        for s in parsed.statements
    }
    return transaction_hold(1, [s.index for s in parsed.statements], estimates)


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


def test_without_sizes_the_verdict_is_size_blind() -> None:
    assert _runaway_hold(None) is None
    verdict = budget_verdict(None, LockMode.AccessExclusiveLock)
    assert verdict.size_blind and verdict.severity is None and "--stats" in verdict.message


def test_a_table_missing_from_the_stats_makes_the_statement_size_blind() -> None:
    stmt = parse("UPDATE customers SET x = 1;").statements[0]
    est = estimate_statement(
        stmt, (Effect("public.customers", LockMode.RowExclusiveLock, scan=True),), _stats(10)
    )
    assert est.estimate is None and est.missing == ("public.customers",)


def test_time_grows_with_rows_for_every_operation() -> None:
    cases = {
        "CREATE INDEX i ON orders (customer_id);": Operation.INDEX_BUILD,
        "ALTER TABLE orders ALTER COLUMN total_cents TYPE numeric;": Operation.REWRITE,
        "ALTER TABLE orders ADD CONSTRAINT c CHECK (total_cents > 0);": Operation.SCAN,
        "ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (customer_id) REFERENCES customers (id);":
        Operation.FK_VALIDATE,
        "UPDATE orders SET total_cents = 0;": Operation.UPDATE,
        "DELETE FROM orders;": Operation.DELETE,
    }
    for text, op in cases.items():
        stmt = parse(text).statements[0]
        effect = Effect(
            "public.orders", LockMode.AccessExclusiveLock, rewrite=op is Operation.REWRITE, scan=True
        )
        assert classify(stmt, effect) is op, text
        small = estimate_statement(stmt, (effect,), _stats(10_000)).estimate
        big = estimate_statement(stmt, (effect,), _stats(10_000_000)).estimate
        assert small is not None and big is not None
        assert big.seconds > 100 * small.seconds, text
        assert op.value in big.source


def test_fk_cost_is_charged_once_to_the_referencing_table() -> None:
    stmt = parse("ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (customer_id) REFERENCES customers (id);")
    effects = (
        Effect("public.orders", LockMode.ShareRowExclusiveLock, scan=True),
        Effect("public.customers", LockMode.ShareRowExclusiveLock, scan=True),
    )
    stats = parse_stats('{"tables": {"orders": {"rows": 1000000}, "customers": {"rows": 10}}}')
    est = estimate_statement(stmt.statements[0], effects, stats)
    assert [w.table for w in est.work] == ["public.orders"]


def test_index_build_spills_past_maintenance_work_mem() -> None:
    fits, why_fits = index_build_seconds(100_000, 8, 64 * 1024**2)
    spills, why_spills = index_build_seconds(100_000, 8, 1024**2)
    assert why_fits == "" and "maintenance_work_mem" in why_spills
    assert spills > fits


def test_metadata_only_statement_is_instant_but_known() -> None:
    stmt = parse("ALTER TABLE orders ADD COLUMN note text;").statements[0]
    est = estimate_statement(
        stmt, (Effect("public.orders", LockMode.AccessExclusiveLock),), _stats(80_000_000)
    )
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
    units = discover([str(RUNAWAY.parent)]).units
    schema = Schema()
    analyze(units, AnalysisSettings(), schema=schema)
    result = check([str(RUNAWAY.parent)])
    stats = None if rows is None else parse_stats(
        f'{{"tables": {{"public.orders": {{"rows": {rows}, "bytes": {rows * 161}}}}}}}')
    return apply_sizes(result, stats, schema_indexes=indexes_from_schema(schema))


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


def test_sized_check_is_the_one_call_for_check_with_stats(tmp_path: Path) -> None:
    from foreshock.api import sized_check

    small, big = tmp_path / "small.json", tmp_path / "big.json"
    small.write_text('{"tables": {"public.orders": {"rows": 1000, "bytes": 131072}}}')
    big.write_text('{"tables": {"public.orders": {"rows": 80000000, "bytes": 12884901888}}}')
    assert sized_check([str(RUNAWAY.parent)], stats_path=str(small)).exit_code == 0
    result = sized_check([str(RUNAWAY.parent)], stats_path=str(big))
    assert result.exit_code == 1 and not result.size_blind
    held = [f for f in result.findings if f.severity == "error" and f.lock is LockMode.AccessExclusiveLock]
    assert held and min(f.estimate.seconds for f in held if f.estimate) >= 600
    assert sized_check([str(RUNAWAY.parent)]).size_blind
