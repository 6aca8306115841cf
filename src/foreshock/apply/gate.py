"""The gate: `apply` judges what it is about to run at the target's real size, with check's engine.

One verdict, check's: the migrations are analysed once with the user's settings (configuration,
--pg-version) and judged by the rule engine with the target's sizes -- read from its catalog (read-only,
catalog only: the snapshot code), or given with --stats -- exactly as `check --dsn` judges them. The one
difference is a setting: `missing-lock-timeout` is off, since apply runs every step under its own short
lock_timeout. A migration still to run that has an error-level finding is refused before anything executes,
naming each finding, its predicted lock hold and its safe alternative -- unless a person takes responsibility
for that finding (`--accept RULE[:FILE:LINE] --reason TEXT`; the acceptance is recorded in the ledger row).

With `--rewrite`, every statement for which check gives a mechanical safe rewrite (core.rewrite) is replaced
by the rewrite's steps -- whatever the finding's severity at this size, so that a re-run after an
interruption finds the same steps and resumes at the right one -- and the rewritten migration is judged
again by the same engine. What is left, a finding whose fix is not mechanical, still refuses the run.
"""

from __future__ import annotations

import getpass
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from foreshock.api import check_units
from foreshock.apply.options import Acceptance
from foreshock.apply.plan import checksum, unit_name
from foreshock.config import Settings
from foreshock.core.model import CheckResult, FileAnalysis, Finding, MigrationUnit
from foreshock.core.quantities import format_estimate
from foreshock.core.rewrite import Rewrite, migration_text, rewrites_in
from foreshock.errors import ForeshockError
from foreshock.load.run import SafeRun
from foreshock.scale.stats import Stats

# apply sets lock_timeout on every step itself (ApplyOptions.lock_timeout): the rule's advice is followed.
SATISFIED_BY_APPLY = frozenset({"missing-lock-timeout"})


@dataclass(frozen=True)
class UnitVerdict:
    """The verdict on one migration still to run, and what will run for it."""

    name: str
    path: str
    unit: MigrationUnit  # what runs: the file as written, or with the rewrites in place
    checksum: str  # of the file as written (the ledger's identity of the migration)
    blocking: tuple[Finding, ...] = ()  # error level, not accepted: the run is refused
    accepted: tuple[Finding, ...] = ()  # error level, accepted by a person
    rewrites: tuple[Rewrite, ...] = ()  # the rewrites in place (--rewrite)
    # Error-level findings of the file as written that the rewrite removed (what --rewrite made safe).
    mended: tuple[Finding, ...] = ()

    @property
    def rewritten(self) -> bool:
        return bool(self.rewrites)


@dataclass(frozen=True)
class Verdict:
    units: tuple[UnitVerdict, ...]  # the migrations still to run, in order
    result: CheckResult  # the judged analysis of what runs
    sizes_from: str  # where the sizes came from ("" when size-blind)
    reason: str = ""
    accepted_by: str = ""
    unused: tuple[Acceptance, ...] = ()

    @property
    def refused(self) -> bool:
        return any(u.blocking for u in self.units)

    def unit(self, name: str) -> UnitVerdict | None:
        return next((u for u in self.units if u.name == name), None)

    def ledger_acceptances(self, name: str) -> list[dict[str, Any]]:
        """What the ledger row of a migration records about the findings a person accepted."""
        u = self.unit(name)
        if u is None:
            return []
        return [
            {
                "rule": f.rule,
                "path": f.path,
                "line": f.line,
                "severity": f.severity,
                "message": f.message,
                "hold_seconds": round(f.estimate.seconds, 3) if f.estimate is not None else None,
                "reason": self.reason,
                "accepted_by": self.accepted_by,
            }
            for f in u.accepted
        ]

    def render(self) -> str:
        size = f"sizes from {self.sizes_from}" if self.sizes_from else "table sizes unknown: size-blind"
        plain = [u for u in self.units if not (u.blocking or u.accepted or u.rewritten)]
        n = len(self.units)
        paths = {u.path for u in self.units}
        warnings = sum(1 for f in self.result.findings if f.path in paths and f.severity == "warning")
        out = [
            f"verdict at this target's size ({size}; check's rules and lock budgets): {n} migration"
            f"{'s' if n != 1 else ''} to run"
            + (f", {len(plain)} without error-level findings" if plain else "")
            + (f"; {warnings} warning{'s' if warnings != 1 else ''} (`foreshock check` shows them)"
               if warnings else "")
        ]
        for u in self.units:
            if u in plain:
                continue
            head = f"  {u.name} [{u.path}]: "
            if u.blocking:
                count = len(u.blocking)
                out.append(head + f"refused: {count} error-level finding{'s' if count != 1 else ''}")
                for f in u.blocking:
                    out.extend(_finding_lines(f, rewrite_offered=not u.rewritten))
            else:
                out.append(head + "ok" + (f", {len(u.accepted)} accepted" if u.accepted else ""))
            if u.rewritten:
                steps = sum(len(r.all_steps()) for r in u.rewrites)
                mended = ", ".join(f"{f.rule} at {f.line}:{f.column}" for f in u.mended)
                plural = "s" if steps != 1 else ""
                out.append(
                    f"    runs the safe rewrite ({steps} step{plural}) instead of the file as written"
                    + (f", for {mended}" if mended else "")
                )
            for f in u.accepted:
                out.append(
                    f"    accepted by {self.accepted_by} ({self.reason}): {f.rule} at {f.line}:{f.column} "
                    f"{_hold_text(f)}; recorded in the ledger"
                )
        for a in self.unused:
            out.append(f"  warning: --accept {a} matches no error-level finding of a migration to run")
        if self.refused:
            blocking = [f for u in self.units for f in u.blocking]
            rewritable = any(f.rewrite is not None and f.rewrite.mechanical for f in blocking)
            out.append(
                "nothing was run. To go ahead: "
                + ("--rewrite runs the safe alternatives above instead of the statements as written; "
                   if rewritable else "change the migration as the safe alternatives above say; ")
                + "--accept RULE[:FILE:LINE] --reason TEXT takes responsibility for a finding (recorded in "
                "the ledger)"
            )
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "refused": self.refused,
            "sizes_from": self.sizes_from or None,
            "units": [
                {
                    "name": u.name,
                    "path": u.path,
                    "refused": bool(u.blocking),
                    "blocking": [f.to_json() for f in u.blocking],
                    "accepted": self.ledger_acceptances(u.name),
                    "rewritten": u.rewritten,
                    "rewrites": [r.to_json() for r in u.rewrites],
                }
                for u in self.units
            ],
            "unused_acceptances": [str(a) for a in self.unused],
        }


def _hold_text(f: Finding) -> str:
    e = f.estimate
    if e is None or f.lock is None:
        return "(hold time unknown)"
    return f"({f.lock.name} held ~{format_estimate(e.seconds, e.low, e.high)})"


def _finding_lines(f: Finding, rewrite_offered: bool) -> list[str]:
    lines = [f"    {f.line}:{f.column} error [{f.rule}] {f.message}"]
    if f.lock is not None:
        e = f.estimate
        on = ", ".join(t.removeprefix("public.") for t in f.tables)
        if e is not None:
            held = f"~{format_estimate(e.seconds, e.low, e.high)}"
        else:
            held = "unknown (no sizes for the tables it works on)"
        lines.append(f"      predicted lock hold: {f.lock.name} on {on} {held}")
    if f.fix:
        if f.rewrite is not None and f.rewrite.mechanical:
            label = "safe alternative (--rewrite runs it):" if rewrite_offered else "safe alternative:"
        elif f.rewrite is not None:
            label = f"safe alternative (by hand: {f.rewrite.not_mechanical}):"
        else:
            label = "safe alternative (by hand):"
        lines.append(f"      {label}")
        lines.extend(f"        {line}" for line in f.fix.splitlines())
    return lines


def gate_settings(settings: Settings) -> Settings:
    return replace(settings, disabled_rules=frozenset(settings.disabled_rules) | SATISFIED_BY_APPLY)


def _judged(units: Sequence[MigrationUnit], settings: Settings, sizes: Stats | None) -> CheckResult:
    result = check_units(units, settings, sizes=sizes)
    if result.errors:
        raise result.errors[0]
    return result


def judge(
    units: Sequence[MigrationUnit],
    settings: Settings,
    sizes: Stats | None,
    *,
    applied: Mapping[str, str] | None = None,
    accept: Sequence[Acceptance] = (),
    reason: str = "",
    rewrite: bool = False,
    sizes_from: str = "",
) -> Verdict:
    """The verdict on the migrations of `units` not yet in the ledger (`applied`: name -> checksum), and
    what runs for each: the file as written, or, with `rewrite`, the file with its rewrites in place."""
    settings = gate_settings(settings)
    sizes_from = sizes_from or (sizes.source if sizes is not None else "")
    applied = applied or {}
    written = {u.path: checksum(u.text) for u in units}
    pending = {u.path for u in units if not u.history and unit_name(u) not in applied}
    result = _judged(units, settings, sizes)
    first = result
    rewrites: dict[str, tuple[Rewrite, ...]] = {}
    if rewrite:
        files = {fa.path: fa for fa in result.files}
        runs: list[MigrationUnit] = []
        for u in units:
            found = rewrites_in(result.findings, u.path) if u.path in pending else []
            if not found:
                runs.append(u)
                continue
            text = migration_text(files[u.path], found)
            rewrites[u.path] = text.used
            # Each step is a transaction of its own (written BEGIN ... COMMIT where it holds several
            # statements); lines point back at the statements of the file as written.
            runs.append(replace(u, text=text.text, transactional=False, line_map=text.line_map))
        if rewrites:
            try:
                result = _judged(runs, settings, sizes)
            except ForeshockError as err:
                raise ForeshockError(
                    f"internal error: the rewritten migration could not be analysed: {err}"
                ) from None
            units = runs
    verdicts = []
    for u in units:
        if u.path not in pending:
            continue
        errors = [f for f in result.findings if f.path == u.path and f.severity == "error"]
        taken = [f for f in errors if any(a.matches(f) for a in accept)]
        before = [f for f in first.findings if f.path == u.path and f.severity == "error"]
        verdicts.append(
            UnitVerdict(
                unit_name(u),
                u.path,
                u,
                written[u.path],
                tuple(f for f in errors if f not in taken),
                tuple(taken),
                rewrites.get(u.path, ()),
                tuple(f for f in before if not any((g.rule, g.line) == (f.rule, f.line) for g in errors)),
            )
        )
    matched = {a for a in accept for v in verdicts for f in v.accepted if a.matches(f)}
    who = getpass.getuser() if accept else ""
    return Verdict(
        tuple(verdicts), result, sizes_from, reason, who, tuple(a for a in accept if a not in matched)
    )


# Findings about what a statement does to traffic: those a safe rewrite exists to take away.
_TRAFFIC_RISKS = frozenset({"duration", "lock-queue"})


@dataclass(frozen=True)
class SafeRewrite:
    """The last migration with its safe rewrites in place -- what `apply --rewrite` runs for it -- as the
    safe run of a load rehearsal runs it, with the analysis of what runs (its lock holds at production
    size are read from it)."""

    run: SafeRun
    analysis: FileAnalysis


def safe_rewrite(
    units: Sequence[MigrationUnit], settings: Settings | None = None, sizes: Stats | None = None
) -> SafeRewrite:
    """The gate's rewrite (judge(..., rewrite=True)) of the last of `units` that is not history; the others
    are its schema history. Statements whose traffic findings have no mechanical rewrite run as written, and
    the result names each."""
    candidates = [u for u in units if not u.history]
    if not candidates:
        raise ForeshockError("nothing to rewrite: give the migration file(s)")
    target = candidates[-1]
    history = [u if u is target or u.history else replace(u, history=True) for u in units]
    verdict = judge(history, settings or Settings(), sizes, rewrite=True)
    v = next(u for u in verdict.units if u.path == target.path)
    analysis = next(fa for fa in verdict.result.files if fa.path == target.path)
    without: dict[str, None] = {}
    for f in verdict.result.findings:
        if f.path != target.path or f.severity not in ("error", "warning") or f.risk not in _TRAFFIC_RISKS:
            continue
        if f.rewrite is not None and f.rewrite.mechanical:
            continue
        why = f.rewrite.not_mechanical if f.rewrite is not None else "no safe rewrite"
        without.setdefault(f"line {f.line} [{f.rule}]: {why}", None)
    steps = sum(len(r.all_steps()) for r in v.rewrites)
    return SafeRewrite(SafeRun(v.unit, steps, tuple(without)), analysis)
