"""`--format tty`: the human report (rich).

Per file, per transaction: the statements that touch pre-existing tables with their line:col, the lock each
takes and what traffic it blocks, findings with the safe SQL to use instead, then the locks the transaction
holds until COMMIT and the statement that keeps each held longest. Statements with no effect on existing
tables and no finding are only counted, so a long history stays readable.

Output time is linear in the input: each file is built as one rich Text by appending (no re-joining of
growing strings) and printed without re-wrapping (soft_wrap).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TextIO

from rich.console import Console
from rich.text import Text

from foreshock.core.locks import LockMode
from foreshock.core.model import (
    CheckResult,
    Downtime,
    Estimate,
    FileAnalysis,
    Finding,
    HeldLock,
    MigrationDowntime,
    Statement,
    Transaction,
)
from foreshock.core.quantities import format_duration, format_estimate
from foreshock.report.common import (
    error_line,
    findings_by_statement,
    not_analysed_line,
    severity_counts,
    summary_lines,
)

_SEV_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
_SNIPPET = 100


def _snippet(text: str) -> str:
    first = " ".join(text.split())
    return first if len(first) <= _SNIPPET else first[: _SNIPPET - 1] + "…"


def _blocks(lock: LockMode) -> str:
    blocked = lock.blocked
    return "blocks " + ", ".join(blocked) if blocked else "blocks no reads, writes or ddl"


def _where(st: Statement) -> str:
    return f"{st.line}:{st.column}"


# C0 controls (but tab and newline) and DEL from migration text must not reach a terminal as escapes.
# (A regex, not str.translate: translating a 15 MB report char by char took over a second.)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class _Buf:
    """Styled pieces: into a rich Text for a colour terminal, else into plain strings.

    Plain output skips rich entirely: its per-append work (control-code stripping, spans) was most of
    the reporter's time on large histories, and without colours it adds nothing.
    """

    def __init__(self, styled: bool) -> None:
        self.text: Text | None = Text() if styled else None
        self.parts: list[str] = []

    def append(self, piece: str, style: str = "") -> None:
        if self.text is not None:
            # rich strips only a few control codes itself (not ESC).
            self.text.append(_CONTROLS.sub("", piece), style=style or None)
        else:
            self.parts.append(piece)

    def plain(self) -> str:
        return _CONTROLS.sub("", "".join(self.parts))


def _finding(t: _Buf, f: Finding, indent: str) -> None:
    t.append(indent)
    t.append(f"{f.severity}", style=_SEV_STYLE.get(f.severity, ""))
    t.append(f" [{f.rule}] ", style="bold")
    first, *rest = f.message.splitlines() or [""]
    t.append(first)
    t.append("\n")
    for line in rest:
        t.append(f"{indent}  {line}\n")
    if f.estimate is not None:
        e = f.estimate
        span = f"{format_duration(e.low)}–{format_duration(e.high)}"
        # A finding about a lock carries how long it is held; a finding about time (a maintenance window),
        # how long the statement or migration runs.
        what = "hold" if f.lock is not None else "time"
        t.append(f"{indent}  estimated {what}: ~{format_duration(e.seconds)} ({span})", style="magenta")
        t.append(f", from {e.source}\n" if e.source else "\n")
    if f.fix:
        t.append(f"{indent}  {'faster' if f.risk == 'downtime' else 'safer'}:\n", style="green")
        for line in f.fix.splitlines():
            t.append(f"{indent}    {line}\n", style="green")


def _held(t: _Buf, h: HeldLock, stmts: dict[int, Statement], indent: str) -> None:
    took = stmts.get(h.acquired_by)
    keeps = stmts.get(h.longest_holder)
    t.append(f"{indent}{h.table} ", style="bold")
    t.append(f"{h.lock.name}", style="magenta")
    t.append(f" ({h.lock.sql_name}) {_blocks(h.lock)}")
    if took is not None:
        t.append(f"; taken at {_where(took)}")
    if keeps is not None and h.longest_holder != h.acquired_by:
        t.append(f", held longest by {_where(keeps)} ")
        t.append(_snippet(keeps.text), style="italic")
    if h.reason:
        t.append(f" — {h.reason}")
    t.append("\n")


def _time(e: Estimate | None) -> str:
    return format_estimate(e.seconds, e.low, e.high) if e is not None else "unknown"


def _file_text(
    fa: FileAnalysis,
    by_stmt: dict[tuple[str, int], list[Finding]],
    by_path: dict[str, list[Finding]],
    styled: bool,
    window: MigrationDowntime | None = None,
) -> _Buf:
    """One file's report; `window`: its predicted time when it is deployed in a maintenance window (then
    each statement's time is shown instead of what its locks block: nothing is running to be blocked)."""
    t = _Buf(styled)
    t.append(fa.path, style="bold underline")
    t.append("\n")
    if window is not None and window.estimate is not None:
        t.append(f"  migration time at production size: ~{_time(window.estimate)}", style="magenta")
        t.append(f" (not included: {'; '.join(window.unknown)})\n" if window.unknown else "\n")
    stmts = {sa.statement.index: sa.statement for sa in fa.statements}
    txns: dict[int, Transaction] = {tx.index: tx for tx in fa.transactions}
    last_in_txn: dict[int, int] = {}
    for sa in fa.statements:
        if sa.transaction is not None:
            last_in_txn[sa.transaction] = sa.statement.index
    current: int | None = None
    header_shown = False
    shown_in_txn = 0
    quiet = 0
    for sa in fa.statements:
        st = sa.statement
        if sa.transaction != current:
            current, header_shown, shown_in_txn = sa.transaction, False, 0
        found = by_stmt.get((fa.path, st.index), ())
        indent = "    " if sa.transaction is not None else "  "
        tx = txns.get(sa.transaction) if sa.transaction is not None else None
        closes = sa.transaction is not None and last_in_txn.get(sa.transaction) == st.index
        visible = bool(sa.effects or found or sa.notes)
        # A transaction's header is shown only when something in it is: quiet history stays one line.
        if sa.transaction is not None and not header_shown and visible:
            kind = "BEGIN … COMMIT" if tx is not None and tx.explicit else "one transaction (assumed)"
            where = f" at {tx.line}:{tx.column}" if tx is not None else ""
            t.append(f"  transaction {sa.transaction + 1}: {kind}{where}\n", style="blue")
            header_shown = True
        if visible:
            shown_in_txn += 1
            t.append(f"{indent}{_where(st)}  ", style="dim")
            t.append(_snippet(st.text))
            t.append("\n")
            took = window.duration_of(st.index) if window is not None and sa.facts.work else None
            if took is not None:
                t.append(f"{indent}    predicted: ~{_time(took)}\n", style="magenta")
            for e in sa.effects:
                t.append(f"{indent}    {e.table} ", style="bold")
                t.append(e.lock.name, style="magenta")
                if window is None:
                    t.append(f" {_blocks(e.lock)}")
                if e.rewrite:
                    t.append(" · rewrites the table", style="red")
                elif e.scan:
                    t.append(" · scans the whole table", style="yellow")
                if e.reason:
                    t.append(f" — {e.reason}", style="dim")
                t.append("\n")
            for note in sa.notes:
                t.append(f"{indent}    note: {note}\n", style="dim")
            for f in found:
                _finding(t, f, indent + "    ")
        else:
            quiet += 1
        # The held-locks summary matters when locks outlive the statement that took them: several
        # statements in the transaction, or a later one keeping a lock held.
        if (
            closes
            and window is None
            and tx is not None
            and tx.locks
            and (shown_in_txn > 1 or any(h.longest_holder != h.acquired_by for h in tx.locks))
        ):
            t.append(f"{indent}locks held until the transaction ends:\n", style="blue")
            for h in tx.locks:
                _held(t, h, stmts, indent + "  ")
    # File-level findings (statement -1), and any naming a statement this file does not list: never drop one.
    for f in by_path.get(fa.path, ()):
        if f.statement not in stmts:
            _finding(t, f, "  ")
    if quiet:
        t.append(f"  ({quiet} statement{'s' if quiet != 1 else ''} with no effect on existing tables)\n",
                 style="dim")
    return t


def summary_line(result: CheckResult) -> str:
    counts = severity_counts(result)
    n_stmts = sum(len(fa.statements) for fa in result.files)
    parts = [
        f"{len(result.files)} file{'s' if len(result.files) != 1 else ''}",
        f"{n_stmts} statement{'s' if n_stmts != 1 else ''}",
        f"{counts.get('error', 0)} error{'s' if counts.get('error', 0) != 1 else ''}",
        f"{counts.get('warning', 0)} warning{'s' if counts.get('warning', 0) != 1 else ''}",
        f"{counts.get('info', 0)} info",
    ]
    if result.errors:
        n = len(result.errors)
        parts.append(f"{n} input{'s' if n != 1 else ''} could not be analysed")
    if result.not_analysed:
        n = result.migration_counts["not_analysed"]
        parts.append(f"{n} migration{'s' if n != 1 else ''} not analysed")
    line = f"foreshock (PostgreSQL {result.pg_version}): " + ", ".join(parts)
    if result.size_blind and result.findings:
        # Principle: say when verdicts do not rest on production size.
        line += " (table sizes unknown: verdicts do not depend on production size)"
    elif result.within_budget:
        n = result.within_budget
        many = n != 1
        line += (
            f" ({n} duration finding{'s' if many else ''} within {'their' if many else 'its'} lock budget at "
            "production size: info)"
        )
    if result.hidden_info:
        line += f"; {result.hidden_info} info not listed (--show-info lists them)"
    return line


def _left_out(reasons: tuple[str, ...], shown: int = 3) -> str:
    """What a downtime leaves out, the first few by name: a history whose later tables the stats file does not
    size can name dozens, and the summary stays one readable line (json lists them all)."""
    if len(reasons) <= shown:
        return "; ".join(reasons)
    return "; ".join(reasons[:shown]) + f"; and {len(reasons) - shown} more (--format json lists them)"


def downtime_line(downtime: Downtime) -> str:
    """The run's predicted downtime, against the window, saying what it leaves out."""
    n = len(downtime.migrations)
    head = f"predicted downtime of {n} migration{'s' if n != 1 else ''}"
    if downtime.total is None:
        return f"{head}: unknown, {_left_out(downtime.unknown)}"
    total = downtime.total
    at_least = "at least " if downtime.unknown else ""
    window = format_duration(downtime.window)
    if total.seconds > downtime.window:
        fits = f"over the {window} maintenance window"
    elif total.high > downtime.window:
        fits = f"may exceed the {window} maintenance window"
    else:
        fits = f"within the {window} maintenance window"
    line = f"{head}: {at_least}~{_time(total)}, {fits}"
    if downtime.unknown:
        line += f" (not included: {_left_out(downtime.unknown)})"
    return line


def _render_body(result: CheckResult, emit: Callable[[_Buf], None], styled: bool) -> None:
    """Every file with its statements and findings, then findings about paths that are not files (info
    findings only when the result shows them)."""
    shown = result.shown()
    by_stmt = findings_by_statement(result, shown)
    by_path: dict[str, list[Finding]] = {}
    for f in shown:
        by_path.setdefault(f.path, []).append(f)
    downtime = result.downtime
    for fa in result.files:
        emit(_file_text(fa, by_stmt, by_path, styled, downtime.of(fa.path) if downtime is not None else None))
    paths = {fa.path for fa in result.files}
    orphans = [f for f in shown if f.path not in paths]
    if orphans:
        t = _Buf(styled)
        for f in orphans:
            t.append(f"{f.path}:{f.line}:{f.column}\n", style="bold")
            _finding(t, f, "  ")
        emit(t)


def render(result: CheckResult, out: TextIO) -> None:
    console = Console(file=out, highlight=False, soft_wrap=True, emoji=False, markup=False)
    styled = console.color_system is not None and not console.no_color

    def emit(buf: _Buf) -> None:
        if buf.text is not None:
            console.print(buf.text)
        else:
            out.write(buf.plain())
            out.write("\n")

    _render_body(result, emit, styled)
    for err in result.errors:
        line = _Buf(styled)
        line.append("could not analyse: ", style="bold red")
        line.append(error_line(err))
        emit(line)
    errors = {error_line(e) for e in result.errors}
    for n in result.not_analysed:
        if n.input_error and any(n.path in e for e in errors):
            continue  # already said above, as input that could not be analysed
        line = _Buf(styled)
        line.append("not analysed: ", style="bold yellow" if result.accept_not_analysed else "bold red")
        line.append(not_analysed_line(n))
        emit(line)
    for note in result.notes:
        line = _Buf(styled)
        line.append("note: ", style="dim")
        where = f"{note.path}:{note.line}" if note.line else note.path
        line.append(" ".join(f"{where}: {note.message}".split()))
        emit(line)
    if result.down is not None:
        heading = _Buf(styled)
        heading.append("down migrations (rollback), checked on request, never read as history:",
                       style="bold")
        emit(heading)
        _render_body(result.down, emit, styled)
        down = _Buf(styled)
        down.append("down: " + summary_line(result.down), style="bold")
        emit(down)
    for text in summary_lines(result):
        line = _Buf(styled)
        line.append(text, style="bold" if text.startswith("migrations:") else "")
        emit(line)
    summary = _Buf(styled)
    summary.append(summary_line(result), style="bold")
    if result.downtime is not None:
        summary.append("\n" + downtime_line(result.downtime), style="bold")
    emit(summary)
