"""Hand-built CheckResult records for reporter tests (independent of the analysis core)."""

from __future__ import annotations

from foreshock.core.locks import LockMode
from foreshock.core.model import (
    CheckResult,
    Effect,
    Estimate,
    FileAnalysis,
    Finding,
    HeldLock,
    Statement,
    StatementAnalysis,
    Transaction,
)
from foreshock.errors import InputError

RUNAWAY = "migrations/003_order_status.sql"


def _st(path: str, index: int, line: int, text: str, kind: str) -> Statement:
    return Statement(
        path=path, index=index, line=line, column=1, end_line=line, end_column=len(text), text=text, kind=kind
    )


def runaway_result() -> CheckResult:
    """The runaway migration as the core would describe it, plus one safe file and two bad inputs."""
    s0 = _st(RUNAWAY, 0, 1, "BEGIN;", "TransactionStmt")
    s1 = _st(RUNAWAY, 1, 3, "ALTER TABLE orders ADD COLUMN status text;", "AlterTableStmt")
    s2 = _st(RUNAWAY, 2, 4, "UPDATE orders SET status = 'paid';", "UpdateStmt")
    s3 = _st(RUNAWAY, 3, 5, "ALTER TABLE orders ALTER COLUMN status SET NOT NULL;", "AlterTableStmt")
    s4 = _st(RUNAWAY, 4, 6, "COMMIT;", "TransactionStmt")
    ae = LockMode.AccessExclusiveLock
    held = HeldLock("public.orders", ae, acquired_by=1, longest_holder=2, reason="full-table UPDATE")
    fa = FileAnalysis(
        path=RUNAWAY,
        statements=(
            StatementAnalysis(s0, (), 0),
            StatementAnalysis(s1, (Effect("public.orders", ae, reason="ADD COLUMN without default"),), 0),
            StatementAnalysis(
                s2,
                (
                    Effect(
                        "public.orders", LockMode.RowExclusiveLock, scan=True, reason="UPDATE without WHERE"
                    ),
                ),
                0,
                held_before=(held,),
            ),
            StatementAnalysis(
                s3,
                (Effect("public.orders", ae, scan=True, reason="SET NOT NULL scans"),),
                0,
                held_before=(held,),
            ),
            StatementAnalysis(s4, (), 0),
        ),
        transactions=(Transaction(0, RUNAWAY, 1, 1, (0, 1, 2, 3, 4), True, (held,)),),
    )
    safe_path = "migrations/004 ünïcode, safe.sql"
    s5 = _st(safe_path, 0, 1, "CREATE TABLE notes (id bigint, body text);", "CreateStmt")
    safe = FileAnalysis(path=safe_path, statements=(StatementAnalysis(s5, (), None),), transactions=())
    findings = (
        Finding(
            rule="runaway-transaction",
            severity="error",
            message="AccessExclusiveLock on public.orders is held from line 3 through the full-table "
            "UPDATE at line 4: reads, writes, ddl wait until COMMIT",
            path=RUNAWAY,
            line=4,
            column=1,
            statement=2,
            tables=("public.orders",),
            lock=ae,
            fix="-- 1\nALTER TABLE orders ADD COLUMN status text;\n-- 2 (batched)\n"
            "UPDATE orders SET status = 'paid' WHERE id BETWEEN $1 AND $2;",
        ),
        Finding(
            rule="set-not-null",
            severity="warning",
            message="SET NOT NULL scans public.orders under AccessExclusiveLock",
            path=RUNAWAY,
            line=5,
            column=1,
            statement=3,
            tables=("public.orders",),
            lock=ae,
            estimate=Estimate(seconds=5400.0, low=1800.0, high=14400.0, rows=80_000_000, source="stats.json"),
        ),
        Finding(
            rule="no-lock-timeout",
            severity="info",
            message="no lock_timeout: 50%, a,b: c\r\nnext",
            path=RUNAWAY,
            line=1,
            column=1,
            statement=-1,
        ),
    )
    errors = (
        InputError(
            'syntax error at or near "TABL" (fix the SQL; PostgreSQL\'s parser rejects it)',
            "migrations/005_bad.sql",
            2,
            8,
        ),
        InputError("no such file or directory", "migrations/missing.sql"),
    )
    return CheckResult(files=(fa, safe), findings=findings, errors=errors, pg_version=16, size_blind=False)


def clean_result() -> CheckResult:
    return CheckResult(files=(), findings=(), errors=(), pg_version=16)
