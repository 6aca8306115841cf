"""What live traffic feels at production size: the load run's measured figures, and their projection with the
predicted lock holds at production size.

A load run measures at a fraction of production (the sandbox holds synthetic rows at one rehearsal scale), so
every lock is held for a fraction of its production time. The projection does no timing of its own: how long
each traffic-blocking lock is held at production size comes from the rehearsal (or the one duration model),
with its interval (`Blocking.hold`); what traffic does while a lock is held is queueing arithmetic over the
arrival rates and the application's pool:

- a stretch that blocks traffic lasts the time the migration waits in the lock queue (traffic already queues
  behind its request) plus the hold: the **stall**;
- a query that arrives as the stall begins waits for all of it: the **longest wait**;
- every query of a blocked class that arrives during the stall waits: rate x stall **requests queued**, as
  many as the pool has sessions in the server's lock queue, the rest in the application's pool;
- a class's pool of P sessions is **exhausted** once P of its queries have arrived, P / rate after the stall
  begins (never, when the stall ends first);
- a **health check** (a read of the table, failing past `timeout`) started in the first stall - timeout
  seconds of a read stall fails; checks every `interval` seconds fail that many times in a row, and a load
  balancer pulls an instance after `failures` failures in a row (`HealthChecks`).

Nothing at production is reported smaller than the load run measured at its smaller size: waits that do not
grow with the table -- a batch's row locks, a lock timeout's wait, the machine's own noise -- are kept as
measured.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from foreshock.core.model import Estimate
from foreshock.load.workload import CLASSES, READ_CLASSES

if TYPE_CHECKING:
    from foreshock.load.run import RunReport

# Load-balancer health checks, as Kubernetes probes them by default (period 10 s, 3 failures).
DEFAULT_HEALTH_INTERVAL = 10.0
DEFAULT_HEALTH_FAILURES = 3
# Samples of the lock queue further apart than this belong to different stalls (the monitor samples every
# 50 ms; one slow sample on a busy machine does not split a stall).
STALL_GAP = 0.25


@dataclass(frozen=True)
class HealthChecks:
    """How the load balancer checks an instance: a read of the table that fails past `timeout`, every
    `interval` seconds; `failures` failures in a row mark the instance unhealthy."""

    timeout: float = 2.0
    interval: float = DEFAULT_HEALTH_INTERVAL
    failures: int = DEFAULT_HEALTH_FAILURES

    def failing_seconds(self, read_wait: float) -> float:
        """How long health checks fail when a read arriving at the worst moment waits `read_wait`: a check
        started within the first read_wait - timeout seconds of the stall times out."""
        return max(0.0, read_wait - self.timeout)

    def failed_in_a_row(self, failing: float) -> int:
        """The most checks that fail in a row within `failing` seconds (a check due just as they start
        failing, then one every interval)."""
        return math.ceil(failing / self.interval - 1e-9) if failing > 0 else 0

    def unhealthy_share(self, failing: float) -> float:
        """The share of instances marked unhealthy: those whose checks fall so that `failures` of them land
        in the failing stretch (each instance's checks run on their own phase)."""
        return min(1.0, max(0.0, (failing - (self.failures - 1) * self.interval) / self.interval))


@dataclass(frozen=True)
class Stall:
    seconds: float
    low: float
    high: float

    def to_json(self) -> dict[str, float]:
        return {"seconds": round(self.seconds, 3), "low": round(self.low, 3), "high": round(self.high, 3)}


@dataclass(frozen=True)
class Blocking:
    """One stretch in which the migration blocks traffic on a table at production size: a lock held (or the
    row locks of a whole-table UPDATE/DELETE) from the statement at `line` until its transaction ends."""

    table: str
    classes: tuple[str, ...]  # the query classes it blocks
    hold: Estimate  # at production size, with its interval and what it rests on
    line: int
    lock: str
    # Seconds the migration waits in the lock queue first, traffic already queuing behind its request (a
    # long-running transaction's remainder; at most the lock timeout the apply way).
    queue_wait: float = 0.0

    def stall(self) -> Stall:
        q = self.queue_wait
        return Stall(q + self.hold.seconds, q + self.hold.low, q + self.hold.high)


@dataclass(frozen=True)
class Figures:
    """What traffic on the migration's tables feels, measured at one size or projected to another."""

    rows: int | None  # rows of the biggest touched table these figures are for
    stall: Stall  # the longest stretch in which traffic waits behind the migration
    max_wait: float  # the longest any query waits
    read_wait: float  # the longest a read waits: what a health check reading the table would wait
    queued: int  # requests waiting at once: in the server's lock queue and in the application's pool
    pool_exhausted_after: float | None  # seconds into the stall when a class's pool has no free session
    health: HealthChecks
    table: str | None = None  # where the longest stall is
    basis: str = ""  # what the figures rest on

    @property
    def failing_seconds(self) -> float:
        return self.health.failing_seconds(self.read_wait)

    @property
    def health_check(self) -> str:
        return "fail" if self.failing_seconds > 0 else "pass"

    @property
    def failed_in_a_row(self) -> int:
        return self.health.failed_in_a_row(self.failing_seconds)

    @property
    def unhealthy_share(self) -> float:
        return self.health.unhealthy_share(self.failing_seconds)

    @property
    def unhealthy(self) -> bool:
        return self.unhealthy_share > 0

    def to_json(self) -> dict[str, Any]:
        exhausted = self.pool_exhausted_after
        return {
            "rows": self.rows,
            "stall_seconds": self.stall.to_json(),
            "max_wait_seconds": round(self.max_wait, 3),
            "queued_sessions": self.queued,
            "pool_exhausted_after_seconds": round(exhausted, 4) if exhausted is not None else None,
            "health_check": self.health_check,
            "unhealthy": self.unhealthy,
            "max_read_wait_seconds": round(self.read_wait, 3),
            "health_failing_seconds": round(self.failing_seconds, 3),
            "health_checks_failed_in_a_row": self.failed_in_a_row,
            "unhealthy_share": round(self.unhealthy_share, 3),
            "table": self.table,
            "basis": self.basis,
        }


# -- measured --------------------------------------------------------------------------------------------


def stall_windows(run: RunReport, gap: float = STALL_GAP) -> list[tuple[float, float]]:
    """The stretches in which some session waited for a lock behind the migration (the monitor's samples)."""
    out: list[tuple[float, float]] = []
    for s in run.samples:
        if s.behind_migration <= 0:
            continue
        if out and s.at - out[-1][1] <= gap:
            out[-1] = (out[-1][0], s.at)
        else:
            out.append((s.at, s.at))
    return out


def measured(
    run: RunReport, rows: int | None, health: HealthChecks, sample_interval: float = 0.05
) -> Figures:
    """The figures of one load run, from its recorded queries and lock-queue samples."""
    windows = stall_windows(run)
    start, end = max(windows, key=lambda w: w[1] - w[0]) if windows else (0.0, 0.0)
    stall = end - start + sample_interval if windows else 0.0
    queued_records = [r for r in run.records if r.outcome == "queued"]
    most = 0
    for s in run.samples:
        waiting = sum(1 for r in queued_records if r.start <= s.at < r.start + r.latency)
        most = max(most, s.behind_migration + waiting)
    exhausted = None
    if windows:
        firsts = [r.start - start for r in queued_records if start <= r.start <= end + sample_interval]
        exhausted = max(0.0, min(firsts)) if firsts else None
    slowest = max(run.records, key=lambda r: r.latency, default=None)
    return Figures(
        rows,
        Stall(stall, stall, stall),
        run.max_wait(CLASSES),
        run.max_wait(READ_CLASSES),
        most,
        exhausted,
        health,
        slowest.table if slowest is not None else None,
        "measured" + (f" at {rows:,} rows" if rows else ""),
    )


# -- projected -------------------------------------------------------------------------------------------


def project(
    at_load: Figures,
    blocking: Sequence[Blocking],
    rates: Mapping[str, Mapping[str, float]],
    pool: int,
    rows: int | None,
) -> Figures:
    """The figures at production size: each blocking stretch's stall at production (its queue wait plus its
    predicted hold), the queries that arrive meanwhile at production's rates (`rates`: per table, per class,
    per second) on `pool` sessions per class -- never less than measured at the load run's size."""
    worst: Blocking | None = max(blocking, key=lambda b: b.stall().seconds, default=None)
    stall = at_load.stall
    max_wait, read_wait, queued = at_load.max_wait, at_load.read_wait, at_load.queued
    exhausted = at_load.pool_exhausted_after
    table, basis = at_load.table, "as measured at the load run's size (no lock that blocks traffic)"
    for b in blocking:
        s = b.stall()
        max_wait = max(max_wait, s.seconds)
        if any(c in READ_CLASSES for c in b.classes):
            read_wait = max(read_wait, s.seconds)
        table_rates = rates.get(b.table, {})
        arriving = sum(table_rates.get(c, 0.0) for c in b.classes) * s.seconds
        queued = max(queued, math.floor(arriving))
        fills = [pool / r for c in b.classes if (r := table_rates.get(c, 0.0)) > 0]
        if fills and min(fills) < s.seconds:
            exhausted = min(fills) if exhausted is None else min(exhausted, min(fills))
    if worst is not None:
        s = worst.stall()
        stall = Stall(max(s.seconds, stall.seconds), max(s.low, stall.low), max(s.high, stall.high))
        table = worst.table
        wait = f"{worst.queue_wait:.3g} s in the lock queue + " if worst.queue_wait > 0 else ""
        basis = f"{wait}{worst.lock} on {worst.table} from line {worst.line}: {worst.hold.source}"
    return Figures(rows, stall, max_wait, read_wait, queued, exhausted, at_load.health, table, basis)
