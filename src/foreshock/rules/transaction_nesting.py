"""BEGIN inside a transaction, or BEGIN/COMMIT inside a migration the framework already wraps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import ONE_WRITTEN_TRANSACTION, ORDERS
from foreshock.rules.naming import statement_label

TK = enums.TransactionStmtKind
BEGINS = (TK.TRANS_STMT_BEGIN, TK.TRANS_STMT_START)
ENDS = (TK.TRANS_STMT_COMMIT, TK.TRANS_STMT_ROLLBACK, TK.TRANS_STMT_PREPARE)


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    open_at = None
    ended = False  # a COMMIT/ROLLBACK seen: the tool's own transaction around the file is over
    for sa in fa.statements:
        node = sa.statement.node
        if not isinstance(node, ast.TransactionStmt):
            continue
        if unit.transactional is True and node.kind in BEGINS + ENDS:
            yield Hit(
                message=(
                    f"{statement_label(sa.statement, unit)}: the framework already runs this migration in "
                    f"one "
                    "transaction; a COMMIT here ends it early, the rest runs without it and a failure "
                    "leaves the migration half applied"
                ),
                fix="Remove BEGIN/COMMIT from the migration, or mark it non-atomic in the framework.",
                statement=sa.statement,
            )
            return
        if node.kind in BEGINS:
            if open_at is not None:
                yield Hit(
                    message=(
                        f"{statement_label(sa.statement, unit)} is inside the transaction opened at "
                        f"{statement_label(open_at, unit)}: PostgreSQL only warns, and the first COMMIT ends "
                        f"both"
                    ),
                    fix="Remove the inner BEGIN (use SAVEPOINT for a nested unit of work).",
                    statement=sa.statement,
                )
            else:
                open_at = sa.statement
        elif node.kind in ENDS:
            if open_at is None and not sa.statement.in_do_block:
                # Nothing this file wrote is open: with the tool's own transaction around the file
                # (assume-transaction) this ends it early; without one PostgreSQL only warns.
                word = "COMMIT" if node.kind == TK.TRANS_STMT_COMMIT else "ROLLBACK"
                implied = not ended and unit.transactional is None and settings.assume_transaction
                yield Hit(
                    message=(
                        f"{statement_label(sa.statement, unit)} ends no transaction this file began: "
                        + (
                            "it ends the transaction the migration tool runs the file in, so what follows "
                            "runs without it and a failure leaves the migration half applied"
                            if implied
                            else "PostgreSQL only warns that there is no transaction in progress, which "
                            "usually means a hand-edited transaction structure"
                        )
                    ),
                    fix=f"Remove the {word}, or open the transaction it ends with BEGIN.",
                    statement=sa.statement,
                )
            open_at = None
            ended = True


RULE = Rule(
    id="transaction-nesting",
    summary="BEGIN inside an open transaction, COMMIT with none begun, or BEGIN/COMMIT in a migration the "
    "framework already wraps",
    why=(
        "PostgreSQL has no nested transactions: a second BEGIN only raises a WARNING and the first COMMIT "
        "ends the whole transaction, so statements meant to be atomic are not. In Alembic and atomic Django "
        "migrations the framework already opened a transaction; a COMMIT in the SQL ends it early. A COMMIT "
        "that ends nothing the file began either ends the transaction the tool runs the file in or, with "
        "none, only warns -- a hand-edited transaction structure either way. All versions."
    ),
    fix="BEGIN;\nALTER TABLE orders ADD COLUMN region text;\nSAVEPOINT step;\n-- ...\nCOMMIT;",
    bad=(
        Example(
            schema=ORDERS,
            sql="SET lock_timeout = '2s';\nBEGIN;\nALTER TABLE orders ADD COLUMN region "
            "text;\n"
            "BEGIN;\nALTER TABLE orders ADD COLUMN country text;\nCOMMIT;",
        ),
        Example(
            schema=ORDERS,
            sql="SET lock_timeout = '2s';\nBEGIN;\nALTER TABLE orders ADD COLUMN region text;\nCOMMIT;",
            transactional=True,
        ),
        Example(
            schema=ORDERS,
            sql="SET lock_timeout = '2s';\nBEGIN;\nALTER TABLE orders ADD COLUMN region text;\n"
            "COMMIT;\nCOMMIT;",
            note="the second COMMIT ends nothing: a hand-edited transaction structure",
        ),
    ),
    good=(Example(schema=ORDERS, sql=ONE_WRITTEN_TRANSACTION),),
    severity="warning",
    risk=Risk.FAILURE,
    check_file=check,
    file_node_types=(ast.TransactionStmt,),
    see_also=("squawk: transaction-nesting",),
)
