"""UPDATE/DELETE of a whole existing table in one statement (the unbatched backfill)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

from pglast import ast

from foreshock.core.records import evolve
from foreshock.core.rewrite import Rewrite
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.fixes import KeyFacts, batched_update_by, key_facts
from foreshock.rules.modifying_system_catalog import catalog_name
from foreshock.rules.naming import qualify, short_name
from foreshock.rules.statements import effect_on, has_backfill_marker, unbatched_dml


def check(ctx: Any) -> Iterator[Hit]:
    stmt = ctx.statement
    node = stmt.node
    if not isinstance(node, ast.UpdateStmt | ast.DeleteStmt) or node.relation is None:
        return
    if has_backfill_marker(stmt):
        return  # `foreshock apply` runs it in batches
    table = qualify(ctx.schema, node.relation)
    effect = effect_on(ctx.analysis, table)
    if effect is None or not (unbatched_dml(stmt) or effect.scan):
        return
    if catalog_name(node.relation) is not None:
        return  # modifying-system-catalog is the problem there
    verb = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
    scope = "every row" if node.whereClause is None else "rows found by a full scan"
    yield Hit.on(
        effect,
        message=(
            f"{verb} of {scope} of {short_name(table)} in one statement: it row-locks all of them until "
            f"commit "
            f"(concurrent UPDATE/DELETE/SELECT FOR UPDATE of those rows wait), writes the whole table's "
            f"worth of "
            f"WAL and dead tuples at once, and cannot be resumed if it fails"
        ),
        # What the schema says of the table's key is read now; the batches are written when a report reads
        # them (a gcc report never does).
        later=partial(_batches, key_facts(ctx.schema, table), table, stmt),
    )


def _batches(key: KeyFacts, table: str, stmt: Any) -> Rewrite:
    return _with_marker_hint(batched_update_by(key, table, stmt))


def _with_marker_hint(rewrite: Rewrite) -> Rewrite:
    if not rewrite.mechanical:
        return rewrite
    return evolve(
        rewrite,
        tail="-- or keep the statement and mark it `-- foreshock: backfill` so `foreshock apply` batches it",
    )


RULE = Rule(
    id="unbatched-backfill",
    summary="UPDATE or DELETE of a whole existing table in one statement",
    why=(
        "A single UPDATE or DELETE over every row takes only RowExclusiveLock (ROW EXCLUSIVE) on the table, "
        "but a row lock on every row it touches until the transaction commits: any application write to "
        "those rows waits, for the whole statement. It also writes one burst of WAL (replicas lag), leaves "
        "a table's worth of dead tuples, and, inside a migration transaction, keeps every earlier schema "
        "lock held. All versions."
    ),
    fix=(
        "Batch it by ranges of the table's key, each batch its own short transaction: a batch then reads "
        "only its own rows through the key's index (a `WHERE id IN (SELECT id ... LIMIT n)` batch re-reads "
        "the table every time). `foreshock apply --rewrite` runs these batches, or mark the statement "
        "`-- foreshock: backfill`:\n\n"
        "UPDATE orders SET status = 'new'\n  WHERE id > :last AND id <= :last + 10000;\n"
        "-- repeat from :last = (SELECT min(id) - 1 FROM orders), adding 10000 each time, until :last >= "
        "(SELECT max(id) FROM orders)"
    ),
    bad=(
        Example(schema=ORDERS, sql=LOCK_TIMEOUT + "UPDATE orders SET status = 'new';"),
        Example(schema=ORDERS, sql=LOCK_TIMEOUT + "DELETE FROM orders;"),
    ),
    good=(
        Example(schema=ORDERS, sql=LOCK_TIMEOUT + "UPDATE orders SET status = 'new' WHERE id = 42;"),
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "-- foreshock: backfill batch_size=5000\nUPDATE orders SET status = 'new';",
        ),
        Example(sql="CREATE TABLE tmp (v int);\nINSERT INTO tmp VALUES (1);\nUPDATE tmp SET v = 2;"),
    ),
    risk=Risk.DURATION,
    severity="warning",
    check_statement=check,
    node_types=(ast.UpdateStmt, ast.DeleteStmt),
    see_also=("strong_migrations: backfilling data",),
)
