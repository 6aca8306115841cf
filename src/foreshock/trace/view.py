"""The side-by-side view for a terminal: per statement, what check predicted and what the server did."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from foreshock.core.model import Effect, FileAnalysis, HeldLock
from foreshock.core.quantities import format_bytes, format_duration
from foreshock.trace.compare import compare_statement, pair_statements
from foreshock.trace.units import TraceResult


def _effects_text(
    effects: Sequence[Effect], bad: set[str], held: Sequence[HeldLock] = ()
) -> Text:
    """One line per table. `held`: locks the transaction already had. pg_locks cannot attribute a mode already
    held to a later statement, so the server column says so instead of looking weaker."""
    already = {h.table: h.lock for h in held}
    out = Text()
    if not effects:
        out.append("no table effect", style="dim")
    for i, e in enumerate(effects):
        if i:
            out.append("\n")
        flags = [f for f, on in (("rewrite", e.rewrite), ("scan", e.scan)) if on]
        line = f"{e.table}: {e.lock.name}" + (f" + {', '.join(flags)}" if flags else "")
        out.append(line, style="bold red" if e.table in bad else "")
        if e.table in already and already[e.table] > e.lock:
            out.append(f" (transaction already holds {already[e.table].name})", style="dim")
    return out


def _one_line(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def render(result: TraceResult, static: Sequence[FileAnalysis], console: Console | None = None) -> None:
    """Print one table per file; rows where the two sides disagree are marked in red."""
    console = console or Console()
    pairs = pair_statements(static, result.files)
    for tf in result.files:
        table = Table(title=tf.path, title_justify="left", show_lines=True, expand=True)
        table.add_column("line", justify="right", no_wrap=True)
        table.add_column("statement", ratio=3)
        table.add_column("static says", ratio=3)
        table.add_column("server did", ratio=3)
        table.add_column("measured", ratio=2)
        for pair in (p for p in pairs if p.path == tf.path):
            t = pair.traced
            if t is None:
                continue
            held = pair.static.held_before if pair.static is not None else ()
            diffs = (
                compare_statement(pair.static_effects, held, t.effects) if not (t.skipped or t.error) else []
            )
            bad = {d[0] for d in diffs}
            measured = Text()
            if t.skipped:
                measured.append("skipped", style="dim")
            elif t.error:
                measured.append(f"error: {t.error}", style="red")
            else:
                measured.append(f"{format_duration(t.duration_ms / 1000)}, WAL {format_bytes(t.wal_bytes)}")
                if t.concurrent:
                    measured.append("\nsecond session", style="dim")
            marker = Text(str(t.line), style="bold red" if diffs else "")
            table.add_row(
                marker,
                _one_line(t.text),
                _effects_text(pair.static_effects, bad),
                _effects_text(t.effects, bad, held),
                measured,
            )
        for err in tf.errors:
            table.add_row("", Text(err, style="red"), "", "", "")
        console.print(table)
    n = len(result.disagreements)
    if n:
        console.print(Text(f"{n} disagreement(s) between static analysis and the server:", style="bold red"))
        for d in result.disagreements:
            console.print(f"  {d.one_line()}")
    elif result.traced:
        console.print(
            Text(
                f"static analysis and the server agree on the {result.traced} traced statement(s)",
                style="green",
            )
        )
    console.print(Text(summary_line(result), style="bold red" if result.exit_code else ""))


def summary_line(result: TraceResult) -> str:
    """How much was traced: agreement is only claimed for the statements the server ran."""
    line = (
        f"trace: {result.traced} statement(s) traced, {result.skipped} skipped, "
        f"{result.failed} could not run"
    )
    if result.skipped or result.failed:
        line += " -- statements not traced were not compared (exit 2)"
    return line
