"""The rehearsal for a terminal: per statement the prediction at production size with its interval and model,
regime changes, how long each lock is then held, and the rehearsal's warnings. The findings judged with these
durations are rendered by the check reporters (the same report as `check`)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from foreshock.core.quantities import format_duration, format_estimate
from foreshock.scale.runner import RehearsalResult
from foreshock.scale.verdicts import LockHold


def render(rehearsal: RehearsalResult, holds: Sequence[LockHold], console: Console) -> None:
    table = Table(
        title=f"{rehearsal.path}: predicted at production size "
        f"(scales {', '.join(f'{f:.3g}' for f in rehearsal.fractions)} of production)"
    )
    for col in ("line", "statement", "rows", "predicted", "interval", "model", "plot"):
        table.add_column(col)
    for s in rehearsal.statements:
        p = s.prediction
        if p is None:
            continue
        text = " ".join(s.text.split())
        table.add_row(
            str(s.line),
            text[:60] + ("…" if len(text) > 60 else ""),
            f"{p.rows:,}",
            format_duration(p.seconds),
            f"{format_duration(p.low)}–{format_duration(p.high)}",
            p.model + (" [yellow]⚠ regime[/]" if p.regime else ""),
            f"[link=file://{s.plot}]{s.plot}[/link]" if s.plot else "",
        )
    console.print(table)
    for s in rehearsal.statements:
        if s.prediction is not None and s.prediction.regime:
            console.print(f"[yellow]line {s.line}[/]: {s.prediction.regime}")
    for h in holds:
        held = format_estimate(h.estimate.seconds, h.estimate.low, h.estimate.high)
        console.print(f"{h.table} {h.lock} held ~{held}, taken at line {h.line}")
    for w in rehearsal.warnings:
        console.print(f"[yellow]warning[/]: {w}")
