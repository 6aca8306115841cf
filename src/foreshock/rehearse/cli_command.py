"""`foreshock rehearse PATHS --stats FILE`: run the migration at growing synthetic scales, predict
production."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from foreshock.core.model import MigrationUnit
from foreshock.load.cli_options import LoadOptions, load_options


@click.command("rehearse")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--stats",
    "stats_path",
    required=True,
    type=click.Path(),
    help="Production sizes: a snapshot (foreshock snapshot) or the minimal hand-written file.",
)
@click.option(
    "--max-rows",
    type=int,
    default=1_000_000,
    show_default=True,
    help="Largest rehearsal: rows in the biggest table the migration touches.",
)
@click.option("--budget", type=float, default=60.0, show_default=True, help="Time budget in seconds.")
@click.option("--format", "fmt", type=click.Choice(("tty", "json")), default="tty", show_default=True)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False),
    help="Write one SVG per statement (measured points + extrapolation) here.",
)
@load_options
def command(
    paths: tuple[str, ...],
    stats_path: str,
    max_rows: int,
    budget: float,
    fmt: str,
    report_dir: str | None,
    **load_kw: Any,
) -> int:
    """How long will each statement take, and each lock be held, at production size?

    With --load, also runs it under a synthetic workload, as written and the `foreshock apply` way, and
    reports what live traffic feels (waits, p50/p99, queued sessions, health checks)."""
    load = LoadOptions.from_cli(**load_kw)
    from rich.console import Console

    from foreshock.scale.runner import rehearse
    from foreshock.scale.stats import load_stats
    from foreshock.scale.verdicts import assess_locks

    stats = load_stats(stats_path)
    units = load_units(paths)
    err = Console(stderr=True)
    with err.status("rehearsing…") as status:
        result = rehearse(
            units,
            stats,
            max_rows=max_rows,
            budget=budget,
            report_dir=report_dir,
            progress=lambda m: status.update(m),
        )
    verdicts = assess_locks(result, units)
    code = 1 if any(v.severity == "error" for v in verdicts) else 0
    comparison = None
    if load is not None:
        from foreshock.rehearse.under_load import rehearse_load

        with err.status("rehearsing under load…") as status:
            comparison = rehearse_load(
                units, stats, load, report_dir=report_dir, progress=lambda m: status.update(m)
            )
    if fmt == "json":
        doc = result.to_json()
        doc["locks"] = [v.to_json() for v in verdicts]
        if comparison is not None:
            doc["load"] = comparison.to_json()
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return code
    console = Console()
    _render(result, verdicts, console)
    if comparison is not None:
        from foreshock.load.report import render as render_load

        console.print(render_load(comparison))
    return code


def _render(result: Any, verdicts: Any, console: Any) -> None:
    from rich.table import Table

    from foreshock.core.quantities import format_duration

    table = Table(
        title=f"{result.path}: predicted at production size "
        f"(scales {', '.join(f'{f:.3g}' for f in result.fractions)} of production)"
    )
    for col in ("line", "statement", "rows", "predicted", "interval", "model", "plot"):
        table.add_column(col)
    for s in result.statements:
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
    for s in result.statements:
        if s.prediction is not None and s.prediction.regime:
            console.print(f"[yellow]line {s.line}[/]: {s.prediction.regime}")
    for v in verdicts:
        style = {"error": "red", "warning": "yellow"}.get(v.severity or "", "green")
        console.print(f"[{style}]{v.severity or 'ok'}[/]: {v.table} {v.message} (taken at line {v.line})")
    for w in result.warnings:
        console.print(f"[yellow]warning[/]: {w}")


def load_units(paths: Sequence[str]) -> list[MigrationUnit]:
    """Migration units from command-line paths (SQL files/dirs, Alembic, Django) via foreshock.sources."""
    from foreshock.sources import discover

    loaded = discover(list(paths))
    if loaded.errors:
        raise loaded.errors[0]
    return list(loaded.units)
