"""What a rehearsal says about production: each statement's duration, measured at growing scales and
extrapolated (scale.runner), as a durations source for the rule engine's one verdict (rules.verdict.judge);
and how long each lock is then held, and what traffic waits for it.

Statements the rehearsal did not time get the calibrated model's estimate from the same sizes (the fallback):
every statement has a duration, and each says what it rests on. A rewrite of the file (its safe steps) keeps
the durations of the statements it carries unchanged (CarriedDurations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from foreshock.core.hold import METADATA_SECONDS, lock_hold, transaction_hold
from foreshock.core.locks import LockMode
from foreshock.core.model import Cost, Estimate, FileAnalysis, StatementAnalysis
from foreshock.rules.durations import Duration, Durations
from foreshock.scale.runner import RehearsalResult


class RehearsalDurations:
    """Durations from a rehearsal of one migration or of a whole upgrade (`rehearsal.paths`); the fallback
    answers for the rest."""

    def __init__(self, rehearsal: RehearsalResult, fallback: Durations | None = None) -> None:
        self.paths = frozenset(rehearsal.paths or (rehearsal.path,))
        self.fallback = fallback
        self.estimates: dict[tuple[str, int], Estimate] = {}
        for s in rehearsal.statements:
            p = s.prediction
            if p is not None:
                source = f"rehearsal: {p.model}" + (f"; {p.regime}" if p.regime else "")
                key = (s.path or rehearsal.path, s.index)
                self.estimates[key] = Estimate(p.seconds, p.low, p.high, p.rows, None, source)

    def statement(self, path: str, sa: StatementAnalysis) -> Duration:
        found = self.estimates.get((path, sa.statement.index))
        if found is not None:
            return Duration(found)
        if path in self.paths and sa.statement.in_do_block:
            # Run (and timed) as part of its DO block: the block's time already holds it.
            instant = METADATA_SECONDS
            return Duration(Estimate(instant, instant, instant, source="rehearsal: timed with its DO block"))
        if self.fallback is not None:
            return self.fallback.statement(path, sa)
        return Duration(None, "not timed by the rehearsal")


def _same_text(text: str) -> str:
    return " ".join(text.split()).rstrip(";").rstrip()


class CarriedDurations:
    """Durations of a rewrite of a file (its safe steps, core.rewrite): a statement carried unchanged -- the
    same text, at the same line of the file as written, doing the same work (a SET NOT NULL after a
    validated CHECK no longer scans) -- keeps the duration `durations` gives it in the original analysis;
    the rewrite's own statements get the fallback's (the model's, from the same sizes)."""

    def __init__(self, original: FileAnalysis, durations: Durations, fallback: Durations) -> None:
        self.original = original
        self.durations = durations
        self.fallback = fallback
        self.by_line_text = {
            (sa.statement.line, _same_text(sa.statement.text)): sa for sa in original.statements
        }

    def statement(self, path: str, sa: StatementAnalysis) -> Duration:
        carried = self.by_line_text.get((sa.statement.line, _same_text(sa.statement.text)))
        if carried is not None and carried.facts.work == sa.facts.work:
            return self.durations.statement(self.original.path, carried)
        return self.fallback.statement(path, sa)


@dataclass(frozen=True)
class LockHold:
    """How long one lock of the rehearsed file stays held at production size (information: the severity of a
    long hold is the findings' verdict), and which traffic ("reads", "writes") waits for it meanwhile."""

    table: str
    lock: str
    line: int  # line of the statement that takes the lock
    estimate: Estimate
    blocks: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "lock": self.lock,
            "line": self.line,
            "seconds": self.estimate.seconds,
            "low": self.estimate.low,
            "high": self.estimate.high,
            "source": self.estimate.source,
            "blocks": list(self.blocks),
        }


def _traffic(lock: LockMode) -> tuple[str, ...]:
    return tuple(b for b in lock.blocked if b in ("reads", "writes"))


def lock_holds(fa: FileAnalysis, durations: Durations) -> list[LockHold]:
    """Every lock the file takes on an existing table, with how long it is held at production size."""
    estimates = {sa.statement.index: durations.statement(fa.path, sa).estimate for sa in fa.statements}
    lines = {sa.statement.index: sa.statement.line for sa in fa.statements}
    out: list[LockHold] = []
    in_txn: set[int] = set()
    for txn in fa.transactions:
        in_txn.update(txn.statements)
        for held in txn.locks:
            hold = lock_hold(fa, held.acquired_by, held.table, held.lock, estimates)
            if hold is not None:
                line = lines.get(held.acquired_by, 0)
                out.append(LockHold(held.table, held.lock.name, line, hold, _traffic(held.lock)))
    for sa in fa.statements:
        own = estimates.get(sa.statement.index)
        if sa.statement.index in in_txn or own is None:
            continue
        out.extend(
            LockHold(e.table, e.lock.name, sa.statement.line, own, _traffic(e.lock)) for e in sa.effects
        )
    return out


# A whole-table UPDATE or DELETE row-locks every row it changes until its transaction ends: a write to any
# of them waits (reads do not: they see the old row version).
ROW_LOCKS = "row locks of every row"


def traffic_holds(fa: FileAnalysis, durations: Durations) -> list[LockHold]:
    """What blocks application traffic while the file runs, at production size: every lock that blocks reads
    or writes, held until its transaction ends, and the row locks of every whole-table UPDATE/DELETE not
    marked `-- foreshock: backfill` (batched, a backfill holds one batch's rows at a time)."""
    out = [h for h in lock_holds(fa, durations) if h.blocks]
    estimates = {sa.statement.index: durations.statement(fa.path, sa).estimate for sa in fa.statements}
    for sa in fa.statements:
        if any(d.kind == "backfill" for d in sa.statement.directives):
            continue
        for work in sa.facts.work:
            if work.cost not in (Cost.UPDATE, Cost.DELETE):
                continue
            index = sa.statement.index
            txn = next((t for t in fa.transactions if index in t.statements), None)
            # Row locks are taken by this statement and kept until COMMIT.
            hold = transaction_hold(index, txn.statements, estimates) if txn else estimates.get(index)
            if hold is not None:
                out.append(LockHold(work.table, ROW_LOCKS, sa.statement.line, hold, ("writes",)))
    return out
