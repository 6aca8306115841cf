"""How long a lock stays held, from how long each statement takes: the transaction part of the duration model.

PostgreSQL keeps every lock until the transaction ends, so a lock taken by one statement is held through
every later statement of its transaction: its hold time is the sum of their durations, from the acquiring
statement to COMMIT (with the sum of their lows and highs as the interval). In autocommit a statement holds
its locks for its own duration only. Where the statement durations come from (the calibrated model over
production sizes, or a rehearsal's measurements) is the caller's; this module only composes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from foreshock.core.locks import LockMode
from foreshock.core.model import Estimate, FileAnalysis
from foreshock.core.quantities import format_duration

# Instant operations (catalog updates) still take a moment; the floor of every estimate.
METADATA_SECONDS = 0.001


def transaction_hold(
    acquired_by: int, statements: Iterable[int], durations: Mapping[int, Estimate | None]
) -> Estimate | None:
    """A lock taken by statement `acquired_by` is held until COMMIT: the sum of the statements from it to the
    end of the transaction (`statements`, in order). None when any of them has no duration."""
    seconds = low = high = 0.0
    rows = size = 0
    parts = []
    origins: dict[str, None] = {}
    for index in statements:
        if index < acquired_by:
            continue
        e = durations.get(index)
        if e is None:
            return None
        seconds += e.seconds
        low += e.low
        high += e.high
        rows += e.rows or 0
        size += e.bytes or 0
        if e.seconds > METADATA_SECONDS:
            parts.append(f"statement {index + 1}: {format_duration(e.seconds)}")
        if e.source:
            origins.setdefault(e.source.split(":", 1)[0], None)
    source = "held until COMMIT: " + (", ".join(parts) or "catalog-only statements")
    if origins:
        # What the durations rest on: "model" (calibrated, from sizes), "rehearsal" (measured).
        source += f" (from {', '.join(origins)})"
    return Estimate(
        max(seconds, METADATA_SECONDS),
        max(low, METADATA_SECONDS),
        max(high, METADATA_SECONDS),
        rows or None,
        size or None,
        source,
    )


def lock_hold(
    analysis: FileAnalysis,
    statement: int,
    table: str | None,
    lock: LockMode | None,
    durations: Mapping[int, Estimate | None],
) -> Estimate | None:
    """How long `lock` on `table`, taken by (or held during) `statement`, stays held: until COMMIT in a
    transaction (from the statement that acquired it), or for the statement alone in autocommit."""
    for txn in analysis.transactions:
        if statement not in txn.statements:
            continue
        acquired = statement
        for held in txn.locks:
            if (table is None or held.table == table) and (lock is None or held.lock >= lock):
                acquired = min(acquired, held.acquired_by)
        return transaction_hold(acquired, txn.statements, durations)
    return durations.get(statement)
