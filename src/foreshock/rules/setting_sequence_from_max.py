"""setval(seq, max(id)) while the application keeps taking ids from the sequence."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from foreshock.core.deparse import deparse
from foreshock.core.nodes import walk
from foreshock.core.rewrite import Rewrite, step
from foreshock.rules._race import (
    RELEASE,
    SETVAL,
    Race,
    column_name,
    func_name,
    lock_phrase,
    range_vars,
    write_blocking,
)
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.naming import qualify, short_name, sql_table

ID = "setting-sequence-from-max"


def _max_of(expr: Any, outer_from: Any) -> tuple[Any, str] | None:
    """(RangeVar, column) of the max(col) the value is computed from: in a scalar subquery, or an aggregate
    over the SELECT's own FROM (`SELECT setval(..., max(id)) FROM t`)."""
    for n in walk(expr):
        if isinstance(n, ast.SubLink) and n.subLinkType == enums.SubLinkType.EXPR_SUBLINK:
            sub = n.subselect
            if isinstance(sub, ast.SelectStmt):
                for t in sub.targetList or ():
                    found = _max_of(t.val, sub.fromClause)
                    if found is not None:
                        return found
        elif isinstance(n, ast.FuncCall) and func_name(n) == "max" and n.args:
            rvs = range_vars(outer_from)
            if len(rvs) == 1:
                return rvs[0], column_name(n.args[0])
    return None


def races(ctx: Any) -> Iterator[Race]:
    node = ctx.statement.node
    if not isinstance(node, ast.SelectStmt) or ctx.statement.in_do_block:
        return
    for target in node.targetList or ():
        call = target.val
        args: tuple[Any, ...] = tuple(getattr(call, "args", None) or ())
        if not (isinstance(call, ast.FuncCall) and func_name(call) == "setval" and len(args) >= 2):
            continue
        found = _max_of(args[1], node.fromClause)
        if found is None:
            continue
        rv, column = found
        table = qualify(ctx.schema, rv)
        if ctx.schema.is_new(table):
            continue  # created by this migration: nothing else inserts into it yet
        held = write_blocking(ctx.analysis.held_before, table)
        guard = (
            f"the transaction holds {lock_phrase(held)}: no insert can run between max() and setval"
            if (held is not None)
            else ""
        )
        yield Race(
            ID,
            SETVAL,
            table,
            ctx.statement,
            ctx.statement,
            f"{RELEASE} (its INSERTs take ids with nextval())",
            guard,
            columns=(column,) if column else (),
            other=deparse(args[0]),
        )


def check(ctx: Any) -> Iterator[Hit]:
    for race in races(ctx):
        if race.guarded:
            continue
        t = short_name(race.table)
        col = race.columns[0] if race.columns else "id"
        yield Hit(
            message=(
                f"setval({race.other}, …max({col}) FROM {t}…) reads max({col}), then moves the sequence: "
                f"ids {RELEASE} has already taken with nextval() in transactions not yet committed are not "
                f"in max(), so the sequence is set behind them and its next inserts fail with duplicate keys"
            ),
            tables=(race.table,),
            rewrite=rewrite_for(race.table, ctx.statement.text),
        )


def rewrite_for(table: str, text: str) -> Rewrite:
    """The setval in a transaction of its own that first takes a lock blocking the table's writers."""
    return Rewrite(
        (
            step(
                f"LOCK TABLE {sql_table(table)} IN SHARE ROW EXCLUSIVE MODE",
                text.rstrip().rstrip(";").rstrip(),
                note="one transaction: the lock waits for open inserts to commit and holds new ones until "
                "COMMIT (a few milliseconds)",
            ),
        ),
        head="BEGIN;",
        tail="COMMIT;",
    )


_SETVAL = "SELECT setval('orders_id_seq', (SELECT max(id) FROM orders));"

RULE = Rule(
    id=ID,
    summary="setval() of a sequence to max(id) of a table the application keeps inserting into",
    why=(
        "`SELECT setval('t_id_seq', (SELECT max(id) FROM t))` is a check-then-act: it reads max(id), then "
        "moves the sequence. The release still running keeps inserting: nextval() hands out ids at once, but "
        "a row becomes visible only when its transaction commits, so max() never sees the ids of inserts "
        "still in flight, and setval() sets the sequence behind them. The next inserts get ids that already "
        "exist and fail with duplicate-key errors. Holding a lock that blocks writers (SHARE ROW EXCLUSIVE) "
        "from before max() until the setval() commits closes the gap: the lock waits for the open inserts "
        "and holds new ones for a few milliseconds. Alternatively never move the sequence backwards: "
        "setval(seq, greatest(max(id), (SELECT last_value FROM seq))). All versions."
    ),
    fix=(
        "BEGIN;\n"
        "LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE;  -- waits for open inserts, blocks new ones until "
        "COMMIT\n"
        "SELECT setval('orders_id_seq', (SELECT max(id) FROM orders));\n"
        "COMMIT;"
    ),
    bad=(
        Example(schema=ORDERS, sql=LOCK_TIMEOUT + _SETVAL),
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT
            + "SELECT setval(pg_get_serial_sequence('\"orders\"', 'id'), coalesce(max(\"id\"), 1), "
            'max("id") IS NOT NULL) FROM "orders";',
            note="the form Django's sqlsequencereset prints",
        ),
    ),
    good=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT
            + "BEGIN;\nLOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE;\n"
            + _SETVAL
            + "\nCOMMIT;",
        ),
        Example(
            sql="CREATE TABLE tags (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text);\n"
            "INSERT INTO tags (id, name) VALUES (1, 'a'), (2, 'b');\n"
            "SELECT setval(pg_get_serial_sequence('tags', 'id'), (SELECT max(id) FROM tags));",
            note="a table this migration creates: nothing else inserts into it yet",
        ),
    ),
    risk=Risk.RACE,
    severity="warning",
    check_statement=check,
    node_types=(ast.SelectStmt,),
)
