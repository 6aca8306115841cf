"""The load comparison as JSON and as a plain side-by-side report for a terminal: per query class what each
run measured, then the two columns -- as written and the safe rewrite -- each measured at the load run's size
and projected to production size, and the cascade stated plainly."""

from __future__ import annotations

import json
from typing import Any

from foreshock.core.quantities import format_duration, format_estimate
from foreshock.load.projection import Figures
from foreshock.load.run import AS_WRITTEN, SAFE, LoadComparison, RunReport
from foreshock.load.workload import CLASSES

TITLES = {AS_WRITTEN: "as written", SAFE: "safe rewrite"}


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


def _migration(run: RunReport) -> str:
    m = run.migration
    tail = f", {m.attempts} attempts" if m.attempts > 1 else ""
    msg = f" ({m.message.splitlines()[0][:70]})" if m.message else ""
    return f"{m.outcome} in {format_duration(m.seconds)}{tail}{msg}"


def _table(head: list[str], rows: list[list[str]], left: int) -> list[str]:
    widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in pairs).rstrip()

    return [line(head), "  ".join("-" * w for w in widths), *map(line, rows)]


def _figure_rows(f: Figures, projected: bool) -> list[str]:
    s = f.stall
    ranged = projected and s.high > s.low
    stall = format_estimate(s.seconds, s.low, s.high) if ranged else format_duration(s.seconds)
    exhausted = f.pool_exhausted_after
    failing = f"fail for {format_duration(f.failing_seconds)}" if f.health_check == "fail" else "pass"
    in_a_row = str(f.failed_in_a_row)
    if f.unhealthy:
        in_a_row += f": unhealthy ({f.unhealthy_share:.0%} of instances)"
    return [
        f"{f.rows:,}" if f.rows else "-",
        stall,
        format_duration(f.max_wait),
        f"{f.queued:,}",
        format_duration(exhausted) if exhausted is not None else "never",
        failing,
        in_a_row,
    ]


def _sides(result: LoadComparison) -> list[str]:
    h = result.config.health
    labels = [
        "rows",
        "traffic stalled",
        "longest wait",
        "requests queued",
        "pool exhausted after",
        f"health checks ({format_duration(h.timeout)})",
        f"failed in a row (every {format_duration(h.interval)}; {h.failures} = unhealthy)",
    ]
    head, columns = [""], []
    for r in result.runs:
        title = TITLES.get(r.mode, r.mode)
        head.append(f"{title}: measured")
        columns.append(_figure_rows(result.measured(r.mode), False))
        if r.mode in result.production:
            head.append("at production")
            columns.append(_figure_rows(result.production[r.mode], True))
    rows = [[label, *(col[i] for col in columns)] for i, label in enumerate(labels)]
    return _table(head, rows, 1)


def cascade(result: LoadComparison, mode: str) -> str:
    """What the figures at production size mean for the application, in one paragraph."""
    f = result.production.get(mode)
    if f is None:
        return ""
    h = f.health
    title = TITLES.get(mode, mode)
    where = f" on {f.table.removeprefix('public.')}" if f.table else ""
    size = f" ({f.rows:,} rows)" if f.rows else ""
    if f.health_check == "pass":
        out = (
            f"{title} at production size{size}: no read waits longer than the {format_duration(h.timeout)} "
            f"health timeout (longest read {format_duration(f.read_wait)})"
        )
    else:
        out = (
            f"{title} at production size{size}: reads{where} wait up to {format_duration(f.read_wait)}; "
            f"{format_duration(h.timeout)} health checks fail for {format_duration(f.failing_seconds)}, "
            f"{f.failed_in_a_row} in a row at one every {format_duration(h.interval)}"
        )
        if f.unhealthy_share >= 1:
            out += (
                f" -- {h.failures} in a row mark an instance unhealthy: every instance is pulled from the "
                "load balancer, and nothing is left to take the traffic until their checks pass again"
            )
        elif f.unhealthy:
            out += (
                f" -- {h.failures} in a row mark an instance unhealthy: about {f.unhealthy_share:.0%} of "
                "instances are pulled from the load balancer (those whose checks fall in the stall) and the "
                "rest take their traffic"
            )
        else:
            out += f" -- fewer than the {h.failures} in a row that mark an instance unhealthy"
    if f.pool_exhausted_after is not None:
        out += (
            f"; the pool ({result.config.workload.pool} sessions per query class) is exhausted "
            f"{format_duration(f.pool_exhausted_after)} into the stall, {f.queued:,} requests queue"
        )
    return out + "."


def render(result: LoadComparison) -> str:
    runs = list(result.runs)
    out: list[str] = []
    if result.rows:
        of = f" of {result.production_rows:,}" if result.production_rows else ""
        why = f" ({result.scale})" if result.scale else ""
        out.append(f"under load, measured at {result.rows:,}{of} rows{why}:")
    head = ["table", "class"]
    for r in runs:
        head += [f"{TITLES.get(r.mode, r.mode)} p50", "p99", "max wait", "err/total"]
    rows: list[list[str]] = []
    tables = list(dict.fromkeys(c.table for r in runs for c in r.classes))
    for table in tables:
        for cls in CLASSES:
            row = [table, cls]
            for r in runs:
                row += _cell(r, table, cls)
            rows.append(row)
    out += [*_table(head, rows, 2), ""]
    for r in runs:
        out.append(f"{TITLES.get(r.mode, r.mode)}: migration {_migration(r)}")
        for e in r.workload_errors:
            out.append(f"  workload error {e}")
    out += ["", *_sides(result)]
    if result.production:
        out.append("")
        out += [c for c in (cascade(result, r.mode) for r in runs) if c]
        if result.rates_from:
            out.append(f"(production's arrival rates: {result.rates_from})")
    safe = result.safe
    if safe is not None:
        if safe.steps:
            steps = f"{safe.steps} step" + ("s" if safe.steps != 1 else "")
            out.append(f"the safe rewrite ran {steps}, as `foreshock apply --rewrite` runs them")
        else:
            out.append("no statement has a safe rewrite: the safe run is the file as written, the apply way")
        for w in safe.without:
            out.append(f"no safe rewrite: {w} -- it ran as written, under apply's lock timeout and retries")
    if result.config.long_transaction:
        out.append(
            f"(a transaction held ACCESS SHARE for {format_duration(result.config.long_transaction)} "
            "during both runs)"
        )
    for w in result.warnings:
        out.append(f"note: {w}")
    return "\n".join(out)
