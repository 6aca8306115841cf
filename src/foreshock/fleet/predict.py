"""Per-target prediction: the verdict of `check --stats` with each target's own sizes.

Nothing here models durations: the migrations are analysed once per PostgreSQL major version (the analysis
does not depend on sizes), and each target's sizes go through the same size verdict as `check --stats`
(api.size_verdict: the calibrated model's durations, judged by the rule engine's lock budgets) and the same
hold composition (core.hold.lock_hold over scale.estimate's statement estimates). What this module adds is
the fleet's reading of them: the riskiest lock hold of a target (the largest share of its lock budget) and
the statement that keeps it held, used to order a rollout.

A schema-per-tenant target runs with search_path = tenant, public, so an unqualified `orders` is the
tenant's `orders` when it has one: `Stats.seen_from` gives the sizes that way round.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from foreshock.config import SUPPORTED_PG_VERSIONS, Settings
from foreshock.core.hold import lock_hold
from foreshock.core.locks import LockMode
from foreshock.core.model import CheckResult, Estimate, FileAnalysis
from foreshock.core.quantities import format_duration
from foreshock.rules.verdict import budget_verdict
from foreshock.scale.estimate import estimate_work
from foreshock.scale.stats import Stats


@dataclass(frozen=True)
class Hold:
    """How long one lock is predicted to stay held on one table, and which statement keeps it held."""

    table: str
    lock: LockMode
    estimate: Estimate
    budget: float | None  # seconds this lock strength may be held (None: no budget)
    over_budget: bool
    path: str
    line: int
    column: int
    statement: str

    @property
    def share(self) -> float:
        """Fraction of its budget the hold uses (0 for locks without a budget)."""
        return self.estimate.seconds / self.budget if self.budget else 0.0

    def describe(self) -> str:
        e = self.estimate
        budget = (
            f", {'over' if self.over_budget else 'within'} the {format_duration(self.budget)} budget"
            if self.budget
            else ""
        )
        return (
            f"{self.lock.name} on {self.table} ~{format_duration(e.seconds)} "
            f"({format_duration(e.low)}-{format_duration(e.high)}){budget}, by {self.path}:{self.line}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "lock": self.lock.name,
            "seconds": round(self.estimate.seconds, 6),
            "low": round(self.estimate.low, 6),
            "high": round(self.estimate.high, 6),
            "rows": self.estimate.rows,
            "bytes": self.estimate.bytes,
            "budget": self.budget,
            "over_budget": self.over_budget,
            "statement": {
                "path": self.path,
                "line": self.line,
                "column": self.column,
                "text": self.statement,
            },
        }


@dataclass(frozen=True)
class Prediction:
    """A target's size-aware verdict. result is None when the target could not be predicted (see note)."""

    result: CheckResult | None
    worst: Hold | None = None
    over_budget: tuple[Hold, ...] = ()
    missing: tuple[str, ...] = ()  # tables the migrations work on that the target's sizes lack
    pg_version: int | None = None
    note: str = ""
    seconds: float = 0.0  # every statement's predicted duration, summed: the work the migration does here

    @property
    def predicted(self) -> bool:
        return self.result is not None and not self.missing

    @property
    def verdict(self) -> str:
        """error / warning / ok from the engine's findings at this target's size; unknown without sizes."""
        if self.result is None:
            return "unknown"
        severities = {f.severity for f in self.result.findings}
        return "error" if "error" in severities else "warning" if "warning" in severities else "ok"

    def risk_key(self) -> tuple[int, float, float]:
        """Sort key, lowest risk first: the worst hold's share of its lock budget, then the migration's whole
        predicted work here (when every target only takes brief locks, the largest still comes last);
        unknown risks last, since an unpredicted target may be the largest of all."""
        if not self.predicted:
            return (1, 0.0, 0.0)
        return (0, self.worst.share if self.worst is not None else 0.0, self.seconds)

    def to_json(self) -> dict[str, Any]:
        findings = [f.to_json() for f in self.result.findings] if self.result is not None else []
        return {
            "verdict": self.verdict,
            "pg_version": self.pg_version,
            "over_budget": bool(self.over_budget),
            "worst_hold": self.worst.to_json() if self.worst is not None else None,
            "holds_over_budget": [h.to_json() for h in self.over_budget],
            "tables_without_sizes": list(self.missing),
            "seconds": round(self.seconds, 6),
            "note": self.note,
            "findings": findings,
        }


def unpredicted(note: str) -> Prediction:
    return Prediction(None, note=note)


def holds(fa: FileAnalysis, stats: Stats) -> tuple[list[Hold], set[str], float]:
    """Every lock the file's statements hold with its predicted hold time; the tables without sizes; and the
    predicted duration of all its statements."""
    by_index = {sa.statement.index: sa for sa in fa.statements}
    estimated = {i: estimate_work(sa.facts.work, stats) for i, sa in by_index.items()}
    estimates = {i: e.estimate for i, e in estimated.items()}
    missing = {t for e in estimated.values() for t in e.missing}
    out: list[Hold] = []

    def seconds(i: int) -> float:
        e = estimates.get(i)
        return e.seconds if e is not None else 0.0

    def hold(table: str, lock: LockMode, statement: int, keeper: int) -> None:
        est = lock_hold(fa, statement, table, lock, estimates)
        if est is None:
            return
        verdict = budget_verdict(est, lock)
        st = by_index[keeper].statement
        out.append(
            Hold(
                table,
                lock,
                est,
                verdict.budget,
                verdict.severity == "error",
                st.path,
                st.line,
                st.column,
                " ".join(st.text.split()),
            )
        )

    for txn in fa.transactions:
        for held in txn.locks:
            after = [i for i in txn.statements if i >= held.acquired_by and i in by_index]
            if after:
                # The statement that keeps the lock held longest at this size (not the one that took it).
                hold(held.table, held.lock, held.acquired_by, max(after, key=seconds))
    for sa in fa.statements:
        if sa.transaction is None:
            for effect in sa.effects:
                hold(effect.table, effect.lock, sa.statement.index, sa.statement.index)
    return out, missing, sum(seconds(i) for i in estimates)


class Predictor:
    """Analyses the migrations once per PostgreSQL major version; predicts any number of targets."""

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        settings: Settings,
        *,
        schema: Sequence[str | os.PathLike[str]] = (),
        since: str | None = None,
    ) -> None:
        self.paths = [os.fspath(p) for p in paths]
        self.settings = settings
        self.schema = list(schema)
        self.since = since
        self._checks: dict[int, CheckResult] = {}

    def analysis(self, pg_version: int | None = None) -> CheckResult:
        """The size-blind check of the migrations for one major version (cached)."""
        from foreshock.api import check
        from foreshock.config import with_overrides

        version = pg_version if pg_version in SUPPORTED_PG_VERSIONS else self.settings.pg_version
        assert version is not None
        if version not in self._checks:
            settings = with_overrides(self.settings, pg_version=version)
            self._checks[version] = check(self.paths, settings, schema=self.schema, since=self.since)
        return self._checks[version]

    def input_errors(self) -> tuple[Any, ...]:
        return self.analysis().errors

    def predict(self, stats: Stats, tenant: str | None = None) -> Prediction:
        from foreshock.api import size_verdict

        major = stats.server.major
        base = self.analysis(major)
        view = stats.seen_from(tenant)
        sized = size_verdict(base, view, self.settings)
        found: list[Hold] = []
        missing: set[str] = set()
        total = 0.0
        for fa in sized.files:
            h, m, seconds = holds(fa, view)
            found.extend(h)
            missing |= m
            total += seconds
        worst = max(found, key=lambda h: (h.share, h.estimate.seconds), default=None)
        note = ""
        if major is not None and major not in SUPPORTED_PG_VERSIONS:
            note = (
                f"server version {major} is not modelled; analysed as PostgreSQL {self.settings.pg_version}"
            )
        if missing:
            note = (note + "; " if note else "") + f"no sizes for {', '.join(sorted(missing))}"
        return Prediction(
            sized,
            worst,
            tuple(sorted((h for h in found if h.over_budget), key=lambda h: -h.share)),
            tuple(sorted(missing)),
            base.pg_version,
            note,
            total,
        )


def order_by_risk(items: Iterable[tuple[str, Prediction]]) -> list[str]:
    """Names, lowest predicted risk first (ties by name, so the order is stable between runs)."""
    return [name for name, p in sorted(items, key=lambda np: (np[1].risk_key(), np[0]))]
