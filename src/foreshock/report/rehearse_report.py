"""The rehearsal for a terminal: per statement the prediction at production size with its interval and model,
regime changes, how long each lock is then held, and the rehearsal's warnings. The findings judged with these
durations are rendered by the check reporters (the same report as `check`).

A whole upgrade rehearsed for a maintenance window (several migrations) adds the time to expect per migration
and in total: the figure a maintainer publishes with the release."""

from __future__ import annotations

import os
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from foreshock.core.model import Downtime, Estimate
from foreshock.core.quantities import format_duration, format_estimate
from foreshock.scale.runner import RehearsalResult
from foreshock.scale.verdicts import LockHold


def render(
    rehearsal: RehearsalResult,
    holds: Sequence[LockHold],
    console: Console,
    downtime: Downtime | None = None,
) -> None:
    upgrade = len(rehearsal.paths) > 1
    subject = f"upgrade of {len(rehearsal.paths)} migrations" if upgrade else rehearsal.path
    table = Table(
        title=f"{subject}: predicted at production size "
        f"(scales {', '.join(f'{f:.3g}' for f in rehearsal.fractions)} of production)"
    )
    columns = ("line", "statement", "rows", "predicted", "interval", "model", "plot")
    for col in ("migration", *columns) if upgrade else columns:
        table.add_column(col)
    for s in rehearsal.statements:
        p = s.prediction
        if p is None:
            continue
        text = " ".join(s.text.split())
        row = [
            str(s.line),
            text[:60] + ("…" if len(text) > 60 else ""),
            f"{p.rows:,}",
            format_duration(p.seconds),
            f"{format_duration(p.low)}–{format_duration(p.high)}",
            p.model + (" [yellow]⚠ regime[/]" if p.regime else ""),
            f"[link=file://{s.plot}]{s.plot}[/link]" if s.plot else "",
        ]
        table.add_row(*([_short(s.path)] if upgrade else []), *row)
    console.print(table)
    for s in rehearsal.statements:
        if s.prediction is not None and s.prediction.regime:
            console.print(f"[yellow]line {s.line}[/]: {s.prediction.regime}")
    for h in holds:
        held = format_estimate(h.estimate.seconds, h.estimate.low, h.estimate.high)
        console.print(f"{h.table} {h.lock} held ~{held}, taken at line {h.line}")
    if downtime is not None:
        _downtime(downtime, console)
    for w in rehearsal.warnings:
        console.print(f"[yellow]warning[/]: {w}")


def _interval(e: Estimate) -> str:
    return f"{format_duration(e.low)}–{format_duration(e.high)}"


def _short(path: str) -> str:
    """The migration's file and its directory: enough to tell migrations apart in a narrow column
    (diesel's `<version>/up.sql`)."""
    return os.path.join(os.path.basename(os.path.dirname(path)), os.path.basename(path))


def _downtime(downtime: Downtime, console: Console) -> None:
    """Time per migration and in total, with the service down."""
    table = Table(title=f"time to expect with the service down ({format_duration(downtime.window)} window)")
    for col in ("migration", "predicted", "interval"):
        table.add_column(col)
    for m in downtime.migrations:
        e = m.estimate
        if e is None:
            table.add_row(m.path, "unknown", "; ".join(m.unknown))
            continue
        table.add_row(m.path, format_duration(e.seconds), _interval(e))
    total = downtime.total
    if total is not None:
        table.add_row(
            "[bold]total[/]",
            f"[bold]{format_duration(total.seconds)}[/]",
            _interval(total),
        )
    console.print(table)
