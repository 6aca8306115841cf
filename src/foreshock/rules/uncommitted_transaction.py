"""BEGIN without COMMIT: the migration's changes (and locks) hang on an open transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import ONE_WRITTEN_TRANSACTION, ORDERS
from foreshock.rules.naming import statement_label
from foreshock.rules.transaction_nesting import BEGINS, ENDS


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    open_at = None
    for sa in fa.statements:
        node = sa.statement.node
        if isinstance(node, ast.TransactionStmt):
            if node.kind in BEGINS and open_at is None:
                open_at = sa.statement
            elif node.kind in ENDS:
                open_at = None
    if open_at is not None:
        yield Hit(
            message=(
                f"the transaction opened at {statement_label(open_at, unit)} is never committed: psql rolls "
                f"it back "
                "at the end of the file, other runners leave it open with its locks held"
            ),
            fix="End the file with COMMIT;",
            statement=open_at,
        )


RULE = Rule(
    id="uncommitted-transaction",
    summary="BEGIN without a matching COMMIT or ROLLBACK in the same file",
    why=(
        "A transaction left open at the end of a migration either rolls back silently (psql at disconnect) "
        "or stays open in a pooled connection, holding every lock it took — an ACCESS EXCLUSIVE lock from "
        "an ALTER TABLE blocks the table until someone kills the session. All versions."
    ),
    fix="BEGIN;\nALTER TABLE orders ADD COLUMN region text;\nCOMMIT;",
    bad=(
        Example(
            schema=ORDERS, sql="SET lock_timeout = '2s';\nBEGIN;\nALTER TABLE orders ADD COLUMN region text;"
        ),
    ),
    good=(Example(schema=ORDERS, sql=ONE_WRITTEN_TRANSACTION),),
    severity="warning",
    risk=Risk.FAILURE,
    check_file=check,
    file_node_types=(ast.TransactionStmt,),
    see_also=("squawk: ban-uncommitted-transaction",),
)
