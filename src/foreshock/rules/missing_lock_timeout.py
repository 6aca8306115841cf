"""A lock that blocks traffic is requested with no lock_timeout: the lock queue can become an outage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.core.session import timeout_on
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import ORDERS
from foreshock.rules.naming import describe_lock, short_name, statement_label
from foreshock.rules.refreshing_matview_non_concurrently import MATVIEW
from foreshock.rules.statements import table_of

# A lock that conflicts with writes (SHARE and stronger) or with reads queues application traffic.
_WRITE_LOCK = LockMode.RowExclusiveLock


def _queues_traffic(schema: Any, table: str, lock: LockMode) -> bool:
    # Nobody writes to a materialized view, so there only a lock that blocks reads queues traffic
    # (REFRESH ... CONCURRENTLY's ExclusiveLock does not).
    if getattr(table_of(schema, table), "kind", "") == "matview":
        return lock.blocks_reads
    return lock.conflicts_with(_WRITE_LOCK)


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    for sa in fa.statements:
        # The lock_timeout the file's own SETs put in force (SET, SET LOCAL in this transaction, set_config).
        if timeout_on(sa.session.lock_timeout):
            continue
        blocking = [e for e in sa.effects if _queues_traffic(schema, e.table, e.lock)]
        if not blocking:
            continue
        e = max(blocking, key=lambda x: x.lock)
        yield Hit(
            message=(
                f"{statement_label(sa.statement, unit)} requests {describe_lock(e.lock)} on "
                f"{short_name(e.table)} "
                f"with no "
                f"lock_timeout set earlier: if any transaction holds a lock on {short_name(e.table)}, this "
                f"statement "
                f"waits behind it and all traffic on {short_name(e.table)} queues behind this statement"
            ),
            tables=(e.table,),
            lock=e.lock,
            fix="SET lock_timeout = '2s';  -- first line of the migration; retry the migration when it "
            "times out",
            statement=sa.statement,
        )
        return  # one per file: the first statement that needs it


RULE = Rule(
    id="missing-lock-timeout",
    summary="A lock that blocks reads or writes is requested without a lock_timeout set first",
    why=(
        "A statement waiting for a lock sits in the table's lock queue, and every later request that "
        "conflicts with it waits behind it. An ALTER TABLE that needs AccessExclusiveLock for a "
        "millisecond, stuck behind a long-running SELECT, blocks every read and write of the table until "
        "that SELECT ends. `SET lock_timeout` makes the migration give up (and be retried) instead. All "
        "versions. One finding per statement: where another rule fires on the same statement, this advice "
        "becomes the first line of that finding's fix (JSON `carries`), and that finding is never less "
        "severe than this advice; it stands alone only when nothing else fires there. When every migration "
        "runs through something that sets it (`foreshock apply` does; so "
        "does `ALTER ROLE migrator SET lock_timeout = '2s'`), add `ignore = [\"missing-lock-timeout\"]` to "
        "[tool.foreshock]."
    ),
    fix="SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN region text;",
    bad=(
        Example(schema=ORDERS, sql="ALTER TABLE orders ADD COLUMN region text;"),
        Example(schema=ORDERS, sql="SET lock_timeout = 0;\nALTER TABLE orders ADD COLUMN region text;"),
    ),
    good=(
        Example(schema=ORDERS, sql="SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN region text;"),
        Example(
            schema=ORDERS,
            sql="BEGIN;\nSET LOCAL lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN region text;\nCOMMIT;",
        ),
        Example(sql="CREATE TABLE tags (id bigint);\nALTER TABLE tags ADD COLUMN name text;"),
        Example(
            schema=MATVIEW,
            sql="REFRESH MATERIALIZED VIEW CONCURRENTLY order_totals;",
            note="EXCLUSIVE on a materialized view blocks no reads, and nobody writes to it",
        ),
    ),
    severity="warning",
    risk=Risk.LOCK_QUEUE,
    check_file=check,
    see_also=("squawk: require-timeout-settings", "eugene: E9"),
)
