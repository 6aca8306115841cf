"""CONCURRENTLY (and VACUUM, ...) inside a transaction block fails at run time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from foreshock.core.model import AnalysisSettings, FileAnalysis, MigrationUnit
from foreshock.core.rewrite import Rewrite, step
from foreshock.core.txn import NOT_IN_TXN
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import ORDERS
from foreshock.rules.naming import statement_label
from foreshock.rules.statements import in_transaction


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    for sa in fa.statements:
        noted = [n for n in sa.notes if NOT_IN_TXN in n]
        concurrently = "CONCURRENTLY" in sa.facts.not_transactional
        if not (noted or (concurrently and in_transaction(unit, fa, sa))):
            continue
        why = noted[0] if noted else "cannot run inside a transaction block"
        yield Hit(
            message=(
                f"{statement_label(sa.statement, unit)} runs inside a transaction block and will fail "
                f"({why}); the whole migration rolls back"
            ),
            tables=tuple(e.table for e in sa.effects),
            statement=sa.statement,
            # The transaction is cut around the statement: what came before commits first, what follows
            # runs in a transaction of its own after it.
            rewrite=Rewrite(
                (step(sa.statement.text.rstrip().rstrip(";").rstrip(), mode="outside"),),
                replaces=(sa.statement.index,),
                head="-- Run it on its own, outside BEGIN ... COMMIT: a separate SQL file, Alembic `with "
                "op.get_context().autocommit_block():`, or a Django migration with `atomic = False`:",
            ),
        )


RULE = Rule(
    id="concurrently-in-transaction",
    summary="CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY or DETACH ... CONCURRENTLY inside a "
    "transaction",
    why=(
        "The CONCURRENTLY forms work in several transactions of their own, so PostgreSQL refuses to run "
        'them inside a transaction block ("cannot run inside a transaction block"): the migration fails '
        "at that statement and everything before it rolls back. Migration frameworks wrap each migration in "
        "a transaction unless told otherwise. REINDEX CONCURRENTLY is PostgreSQL 12+, DETACH PARTITION "
        "CONCURRENTLY 14+."
    ),
    fix="-- outside any transaction block:\nCREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);",
    bad=(
        Example(
            schema=ORDERS,
            sql="BEGIN;\nCREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);\nCOMMIT;",
        ),
        Example(
            schema=ORDERS,
            sql="CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);",
            transactional=True,
            note="an Alembic or atomic Django migration",
        ),
    ),
    good=(
        Example(
            schema=ORDERS,
            sql="CREATE INDEX CONCURRENTLY orders_status_idx ON orders (status);",
            transactional=False,
        ),
    ),
    severity="error",
    risk=Risk.FAILURE,
    check_file=check,
    see_also=("squawk: ban-concurrent-index-creation-in-transaction",),
)
