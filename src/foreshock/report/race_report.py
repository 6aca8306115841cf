"""The race rehearsal for a terminal: each race with its verdict, the invariant, and the interleaving seen."""

from __future__ import annotations

from foreshock.load.race import HELD, NOT_RUN, VIOLATED, RaceOutcome, RaceReport

MARKS = {VIOLATED: "✗", HELD: "✓", NOT_RUN: "–"}
_ACTOR_WIDTH = 34


def _head(o: RaceOutcome) -> str:
    where = f"{o.path}:{o.line} [{o.rule}]"
    if o.verdict == VIOLATED:
        return f"{MARKS[o.verdict]} {where} VIOLATED in round {o.round}"
    if o.verdict == HELD:
        guard = f" — guarded: {o.guard}" if o.guard else " — not shown, yet reported by the static rule"
        return f"{MARKS[o.verdict]} {where} held in {o.rounds} round(s){guard}"
    return f"{MARKS[o.verdict]} {where} not run: {o.found}"


def render(report: RaceReport, interleavings: bool = True) -> str:
    c = report.config
    total = len([o for o in report.outcomes if o.verdict != NOT_RUN])
    lines = [
        f"Race rehearsal: {len(report.violations)} of {total} check-then-act race(s) broke "
        f"({len(report.rounds)} round(s); the release inserting {c.rate:g}/s per table, each transaction "
        f"open {c.think[0]:g}–{c.think[1]:g} s)",
        "",
    ]
    if not report.outcomes:
        lines.append("no check-then-act found in the migration: nothing to race")
    for o in report.outcomes:
        lines.append(_head(o))
        lines.append(f"    `{o.statement}`")
        if o.verdict == NOT_RUN:
            continue
        lines.append(f"    raced by: {o.breaker}")
        lines.append(f"    invariant: {o.invariant}")
        if o.verdict == VIOLATED:
            lines.append(f"    found: {o.found}")
            if interleavings and o.interleaving:
                lines.append("    interleaving:")
                for e in o.interleaving:
                    lines.append(f"      {e.at:7.3f} s  {e.actor:<{_ACTOR_WIDTH}} {e.what}")
        lines.append("")
    if report.rounds:
        lines.append("rounds:")
        for r in report.rounds:
            errors = f"; release errors: {', '.join(r.insert_errors)}" if r.insert_errors else ""
            lines.append(
                f"  {r.index}: {r.schedule}, {r.seconds:.2f} s — {'; '.join(r.runners)}; "
                f"release: {r.inserts} insert(s){errors}"
            )
    for w in report.warnings:
        lines.append(f"warning: {w}")
    return "\n".join(lines).rstrip() + "\n"
