"""`--format json`: the versioned machine-readable report (documented in docs/json-format.md).

Version 1 contract: top level "version", "files", "transactions" (inside files), "errors", "summary";
each file has "path" and "statements"; each statement "line", "column", "effects" (one entry per
pre-existing table: table, lock, rewrite, scan, blocks, reason) and "findings" (rule, severity, message,
line, column, ...). Fields are only ever added within a version.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from foreshock import __version__
from foreshock.core.model import (
    CheckResult,
    Downtime,
    Estimate,
    FileAnalysis,
    Finding,
    HeldLock,
    MigrationDowntime,
    Transaction,
)
from foreshock.report.common import error_location, findings_by_statement, severity_counts

JSON_FORMAT_VERSION = 1


def _finding(f: Finding) -> dict[str, Any]:
    data = f.to_json()
    data.pop("path", None)
    return data


def _held(h: HeldLock) -> dict[str, Any]:
    return {
        "table": h.table,
        "lock": h.lock.name,
        "sql_lock": h.lock.sql_name,
        "blocks": list(h.lock.blocked),
        "acquired_by": h.acquired_by,
        "longest_holder": h.longest_holder,
        "reason": h.reason,
    }


def _transaction(t: Transaction) -> dict[str, Any]:
    return {
        "index": t.index,
        "line": t.line,
        "column": t.column,
        "explicit": t.explicit,
        "statements": list(t.statements),
        "locks": [_held(h) for h in t.locks],
    }


def _seconds(e: Estimate | None, *, source: bool = False) -> dict[str, Any] | None:
    if e is None:
        return None
    return {"seconds": e.seconds, "low": e.low, "high": e.high, **({"source": e.source} if source else {})}


def file_json(
    fa: FileAnalysis,
    by_stmt: dict[tuple[str, int], list[Finding]],
    by_path: dict[str, list[Finding]],
    window: MigrationDowntime | None = None,
) -> dict[str, Any]:
    """One file; `window`: its predicted time when it is deployed in a maintenance window (then the file
    and each statement carry their duration)."""
    indices = {sa.statement.index for sa in fa.statements}
    statements = []
    for sa in fa.statements:
        st = sa.statement
        timed: dict[str, Any] = {}
        if window is not None:
            timed = {"duration": _seconds(window.duration_of(st.index), source=True)}
        statements.append(
            {
                "index": st.index,
                "line": st.line,
                "column": st.column,
                "end_line": st.end_line,
                "end_column": st.end_column,
                "kind": st.kind,
                "text": st.text,
                "in_do_block": st.in_do_block,
                "transaction": sa.transaction,
                "effects": [e.to_json() for e in sa.effects],
                "facts": sa.facts.to_json(),
                "session": sa.session.to_json(),
                "held_before": [_held(h) for h in sa.held_before],
                "notes": list(sa.notes),
                "findings": [_finding(f) for f in by_stmt.get((fa.path, st.index), ())],
                **timed,
            }
        )
    timed_file: dict[str, Any] = {}
    if window is not None:
        timed_file = {"downtime": _seconds(window.estimate), "downtime_unknown": list(window.unknown)}
    return {
        "path": fa.path,
        **timed_file,
        "statements": statements,
        "transactions": [_transaction(t) for t in fa.transactions],
        # Findings about the file or a transaction as a whole rather than one statement.
        "findings": [_finding(f) for f in by_path.get(fa.path, ()) if f.statement not in indices],
    }


def to_json(result: CheckResult) -> dict[str, Any]:
    data = _report(result)
    if result.down is not None:
        # --include-down: the down/undo/rollback sections as a report of the same shape.
        data["down"] = _report(result.down)
    return data


def _report(result: CheckResult) -> dict[str, Any]:
    by_stmt = findings_by_statement(result)
    by_path: dict[str, list[Finding]] = {}
    for f in result.findings:
        by_path.setdefault(f.path, []).append(f)
    paths = {fa.path for fa in result.files}
    counts = severity_counts(result)
    errors = []
    for err in result.errors:
        path, line, column, message = error_location(err)
        errors.append({"path": path, "line": line, "column": column, "message": message})
    return {
        "version": JSON_FORMAT_VERSION,
        "tool": {"name": "foreshock", "version": __version__},
        "pg_version": result.pg_version,
        "size_blind": result.size_blind,
        "files": [file_json(fa, by_stmt, by_path, _window(result.downtime, fa.path)) for fa in result.files],
        # Findings about a path that is not one of the analysed files (with their "path").
        "findings": [f.to_json() for f in result.findings if f.path not in paths],
        # Every transaction of every file in one list (the same records as files[].transactions, with path).
        "transactions": [
            {"path": fa.path, **_transaction(t)} for fa in result.files for t in fa.transactions
        ],
        "errors": errors,
        # Every migration found is analysed or listed here with its reason.
        "not_analysed": [n.to_json() for n in result.not_analysed],
        "layouts": [lay.to_json() for lay in result.layouts],
        "notes": [n.to_json() for n in result.notes],
        "summary": {
            "files": len(result.files),
            "statements": sum(len(fa.statements) for fa in result.files),
            "findings": len(result.findings),
            "error": counts.get("error", 0),
            "warning": counts.get("warning", 0),
            "info": counts.get("info", 0),
            "input_errors": len(result.errors),
            "migrations": result.migration_counts,
            "exit_code": result.exit_code,
            **_downtime(result.downtime),
            # Info findings the tty, gcc and github formats leave out by default (all are listed here).
            "hidden_info": result.hidden_info,
            # With sizes: duration findings kept at info because their lock is held within its budget.
            "within_budget": result.within_budget,
        },
    }


def _window(downtime: Downtime | None, path: str) -> MigrationDowntime | None:
    return downtime.of(path) if downtime is not None else None


def _downtime(downtime: Downtime | None) -> dict[str, Any]:
    """Window deployments: the run's predicted downtime ({"seconds", "low", "high"}, null when unknown), the
    window, and what the total leaves out."""
    if downtime is None:
        return {}
    return {
        "deployment": "window",
        "window": downtime.window,
        "downtime": _seconds(downtime.total),
        "downtime_unknown": list(downtime.unknown),
    }


def render(result: CheckResult, out: TextIO) -> None:
    json.dump(to_json(result), out, indent=2, ensure_ascii=False)
    out.write("\n")
