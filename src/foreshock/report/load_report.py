"""The load comparison as JSON and as a plain side-by-side table for a terminal."""

from __future__ import annotations

import json
from typing import Any

from foreshock.core.quantities import format_duration
from foreshock.load.run import LoadComparison, RunReport
from foreshock.load.workload import CLASSES, READ_CLASSES

TITLES = {"as-written": "as written", "apply": "apply way"}


def to_json(result: LoadComparison, with_records: bool = False) -> dict[str, Any]:
    return result.to_json(with_records)


def dumps(result: LoadComparison, with_records: bool = False) -> str:
    return json.dumps(to_json(result, with_records), indent=2)


def _cell(run: RunReport, table: str, cls: str) -> list[str]:
    c = next((c for c in run.classes if c.table == table and c.cls == cls), None)
    if c is None:
        return ["-", "-", "-", "-"]
    bad = c.errors + c.timeouts + c.cancelled
    return [format_duration(c.p50), format_duration(c.p99), format_duration(c.max_wait), f"{bad}/{c.count}"]


def _health(run: RunReport) -> str:
    h = run.health
    if not h.fails or h.window is None:
        return f"pass (no read over {format_duration(h.timeout)})"
    a, b = h.window
    return f"FAIL: {h.slow_reads} reads over {format_duration(h.timeout)} between {a:.1f}s and {b:.1f}s"


def _migration(run: RunReport) -> str:
    m = run.migration
    tail = f", {m.attempts} attempts" if m.attempts > 1 else ""
    msg = f" ({m.message.splitlines()[0][:70]})" if m.message else ""
    return f"{m.outcome} in {format_duration(m.seconds)}{tail}{msg}"


def render(result: LoadComparison) -> str:
    runs = list(result.runs)
    head = ["table", "class"]
    for r in runs:
        t = TITLES.get(r.mode, r.mode)
        head += [f"{t} p50", "p99", "max wait", "err/total"]
    rows: list[list[str]] = []
    tables = list(dict.fromkeys(c.table for r in runs for c in r.classes))
    for table in tables:
        for cls in CLASSES:
            row = [table, cls]
            for r in runs:
                row += _cell(r, table, cls)
            rows.append(row)
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in pairs)

    out = [line(head), "  ".join("-" * w for w in widths), *map(line, rows), ""]
    for r in runs:
        t = TITLES.get(r.mode, r.mode)
        out.append(f"{t}:")
        out.append(f"  migration      {_migration(r)}")
        out.append(
            f"  reads          max wait {format_duration(r.max_wait(READ_CLASSES))}, "
            f"p99 {format_duration(r.percentile(READ_CLASSES, 99))}"
        )
        out.append(f"  lock queue     up to {r.max_queue} sessions waiting behind the migration")
        out.append(f"  health check   {_health(r)}")
        if r.skipped:
            out.append(
                f"  pool           {r.skipped} queries queued in the application's pool (every session busy)"
            )
        for e in r.workload_errors:
            out.append(f"  workload error {e}")
    if result.config.long_transaction:
        out.append(
            f"(a transaction held ACCESS SHARE for {format_duration(result.config.long_transaction)} "
            "during both runs)"
        )
    for w in result.warnings:
        out.append(f"note: {w}")
    return "\n".join(out)
