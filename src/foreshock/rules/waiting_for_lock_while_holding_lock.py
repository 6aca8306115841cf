"""Queuing for a lock on one table while already holding a traffic-blocking lock on another."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import describe_lock, short_name, statement_label


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    by_index = {sa.statement.index: sa for sa in fa.statements}
    for txn in fa.transactions:
        for i in txn.statements:
            sa = by_index.get(i)
            if sa is None:
                continue
            held = [h for h in sa.held_before if h.lock.blocks_traffic]
            if not held:
                continue
            held_tables = {h.table for h in sa.held_before}
            # A lock that conflicts with writes must wait for every open write transaction on that table.
            waits = [
                e
                for e in sa.effects
                if e.table not in held_tables and e.lock.conflicts_with(LockMode.RowExclusiveLock)
            ]
            if not waits:
                continue
            h = max(held, key=lambda x: x.lock)
            e = max(waits, key=lambda x: x.lock)
            taker = by_index.get(h.acquired_by)
            yield Hit(
                message=(
                    f"{statement_label(sa.statement, unit)} must queue for {e.lock.name} on "
                    f"{short_name(e.table)} "
                    f"while "
                    f"the transaction holds {describe_lock(h.lock)} on {short_name(h.table)}"
                    + (f" (taken at {statement_label(taker.statement, unit)})" if taker is not None else "")
                    + f": while it waits for open transactions on {short_name(e.table)}, "
                    f"{short_name(h.table)} "
                    "stays blocked"
                ),
                tables=(h.table, e.table),
                lock=h.lock,
                fix=(
                    f"Change {short_name(h.table)} and {short_name(e.table)} in separate transactions "
                    f"(commit "
                    f"after each ALTER), and keep `SET lock_timeout` low so a wait fails fast and can be "
                    f"retried."
                ),
                statement=sa.statement,
            )
            break


RULE = Rule(
    id="waiting-for-lock-while-holding-lock",
    summary="A transaction queues for a lock on a second table while holding a lock that blocks traffic on "
    "the first",
    why=(
        "A lock that conflicts with writes (SHARE or stronger) must wait until every open transaction "
        "writing that table finishes. If the migration already holds, say, AccessExclusiveLock on another "
        "table, that table is unusable for the whole wait — a long-running report on the second table "
        "becomes an outage of the first. lock_timeout bounds the wait but the first table is still blocked "
        "for up to that long. All versions."
    ),
    fix=(
        "SET lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN region text;     -- commit\nALTER TABLE "
        "customers ADD COLUMN region text;  -- commit"
    ),
    bad=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "BEGIN;\nALTER TABLE orders ADD COLUMN region text;\n"
            "ALTER TABLE customers ADD COLUMN region text;\nCOMMIT;",
        ),
    ),
    good=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "BEGIN;\nALTER TABLE orders ADD COLUMN region "
            "text;\nCOMMIT;\n"
            "BEGIN;\nALTER TABLE customers ADD COLUMN region text;\nCOMMIT;",
        ),
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "BEGIN;\nALTER TABLE orders ADD COLUMN region text;\n"
            "ALTER TABLE orders ADD COLUMN country text;\nCOMMIT;",
        ),
    ),
    severity="warning",
    risk=Risk.LOCK_QUEUE,
    check_file=check,
    see_also=("eugene: E4",),
)
