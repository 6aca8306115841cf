"""DROP TABLE of an existing table breaks code that still uses it, and takes ACCESS EXCLUSIVE."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import describe_lock, qualify, tables_text


def check(ctx: Any) -> Iterator[Hit]:
    node = ctx.statement.node
    if not isinstance(node, ast.DropStmt) or node.removeType != enums.ObjectType.OBJECT_TABLE:
        return
    dropped = {qualify(ctx.schema, names) for names in node.objects or ()}
    # DROP TABLE also locks the tables the dropped ones reference (their foreign-key triggers go): those stay,
    # with their data, and are named apart.
    gone = [e for e in ctx.analysis.effects if e.table in dropped]
    kept = [e for e in ctx.analysis.effects if e.table not in dropped]
    if not gone:
        return
    lock = max(x.lock for x in gone)
    message = (
        f"DROP TABLE {tables_text(gone)} takes {describe_lock(lock)}; the release still running fails on "
        "every query of it, and the data cannot be brought back without a restore"
    )
    if kept:
        also = describe_lock(max(x.lock for x in kept))
        message += (
            f". On {tables_text(kept)}, which it does not drop, it also takes {also} while it runs: the "
            "foreign keys of the dropped table remove their triggers there"
        )
    yield Hit.on(
        gone,
        message=message,
        fix="Deploy code that no longer uses the table first; rename it aside (ALTER TABLE ... RENAME TO "
        "..._deprecated) for a release, then drop it.",
    )


RULE = Rule(
    id="dropping-table",
    summary="DROP TABLE of an existing table",
    why=(
        "DROP TABLE takes AccessExclusiveLock (ACCESS EXCLUSIVE) on the table and deletes the data for good. "
        "The release still running fails on every query that touches it. The tables its foreign keys "
        "reference are locked too (ACCESS EXCLUSIVE, while it runs: their foreign-key triggers are removed), "
        "but keep their data; the finding names them apart. All versions."
    ),
    fix="-- after the code stopped using it for a full release:\nDROP TABLE legacy_orders;",
    bad=(
        Example(schema=ORDERS, sql=LOCK_TIMEOUT + "DROP TABLE orders;"),
        Example(
            schema=ORDERS
            + "CREATE TABLE refunds (id bigint PRIMARY KEY, order_id bigint REFERENCES orders);\n",
            sql=LOCK_TIMEOUT + "DROP TABLE refunds;",
            note="orders is locked while refunds goes, but keeps its rows",
        ),
    ),
    good=(Example(sql="CREATE TABLE scratch (v int);\nDROP TABLE scratch;"),),
    severity="warning",
    risk=Risk.DATA_LOSS,
    check_statement=check,
    node_types=(ast.DropStmt,),
    see_also=("squawk: ban-drop-table", "strong_migrations: create table with force"),
)
