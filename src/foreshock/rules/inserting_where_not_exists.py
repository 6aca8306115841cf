"""INSERT … WHERE NOT EXISTS (…) with no unique index behind the checked columns."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from foreshock.core.deparse import deparse, quote_ident
from foreshock.core.nodes import walk
from foreshock.rules._race import (
    INSERT_IF_ABSENT,
    RELEASE,
    SECOND_RUNNER,
    SERIALISED,
    Race,
    alias_of,
    column_name,
    constant,
    equalities,
    lock_phrase,
    range_vars,
    ref_qualifier,
    self_exclusive,
    unique_covering,
)
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT
from foreshock.rules.naming import qualify, short_name, sql_table

ID = "inserting-where-not-exists"


def _not_exists(where: Any) -> Iterator[Any]:
    """The subqueries of `NOT EXISTS (…)` tests in a WHERE clause."""
    for n in walk(where):
        if not (isinstance(n, ast.BoolExpr) and n.boolop == enums.BoolExprType.NOT_EXPR):
            continue
        args: tuple[Any, ...] = tuple(n.args or ())
        test = args[0] if len(args) == 1 else None
        if (
            isinstance(test, ast.SubLink)
            and test.subLinkType == enums.SubLinkType.EXISTS_SUBLINK
            and isinstance(test.subselect, ast.SelectStmt)
        ):
            yield test.subselect


def checked_key(sub: Any, rv: Any) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(columns of the target table the subquery compares with `=`, their constant values as SQL or '')."""
    names = {alias_of(rv), str(rv.relname)}
    only = len(range_vars(sub.fromClause)) == 1
    cols: list[str] = []
    vals: list[str] = []
    for left, right in equalities(sub.whereClause):
        for mine, other in ((left, right), (right, left)):
            col = column_name(mine)
            qual = ref_qualifier(mine)
            if col and (qual in names or (not qual and only)) and col not in cols:
                if isinstance(other, ast.ColumnRef) and (
                    ref_qualifier(other) in names or not ref_qualifier(other)
                ):
                    continue  # a column compared with another column of the same row: not a key
                cols.append(col)
                const = constant(other)
                vals.append(deparse(const) if const is not None else "")
                break
    return tuple(cols), tuple(vals)


def races(ctx: Any) -> Iterator[Race]:
    node = ctx.statement.node
    if not isinstance(node, ast.InsertStmt) or node.relation is None or ctx.statement.in_do_block:
        return
    select = node.selectStmt
    if not isinstance(select, ast.SelectStmt):
        return
    table = qualify(ctx.schema, node.relation)
    if ctx.schema.is_new(table):
        return  # created by this migration: no one else writes it yet
    for sub in _not_exists(select.whereClause):
        mine = [rv for rv in range_vars(sub.fromClause) if qualify(ctx.schema, rv) == table]
        if not mine:
            continue
        cols, vals = checked_key(sub, mine[0])
        guard = ""
        unique = unique_covering(ctx.schema, table, cols)
        held = self_exclusive(ctx.analysis.held_before, table)
        if unique is not None:
            guard = f"the unique index {unique} makes a concurrent duplicate fail instead of being inserted"
        elif held is not None:
            guard = f"the transaction holds {lock_phrase(held)}: other inserts wait until it commits"
        yield Race(
            ID,
            INSERT_IF_ABSENT,
            table,
            ctx.statement,
            ctx.statement,
            f"{SECOND_RUNNER}, or {RELEASE} inserting the same key",
            guard,
            columns=cols,
            values=vals,
            runner=True,
        )
        return


def check(ctx: Any) -> Iterator[Hit]:
    for race in races(ctx):
        if race.guarded:
            continue
        t = short_name(race.table)
        key = f"({', '.join(race.columns)})"
        test = f"for a row with the same {key}" if race.columns else "that no matching row exists"
        unique = f"no unique index on {key}" if race.columns else "nothing unique to stop a second row"
        yield Hit(
            message=(
                f"INSERT INTO {t} … WHERE NOT EXISTS checks {test}, then inserts; with {unique}, "
                f"{race.breaker} passes the same check before either commits, and both insert — "
                f"duplicates. {SERIALISED} rules out the second runner, not the release"
            ),
            tables=(race.table,),
            fix=fix_for(race, ctx.statement),
        )


def fix_for(race: Race, stmt: Any) -> str:
    t = sql_table(race.table)
    if not race.columns:
        return (
            f"-- a unique index on the columns that identify a row of {short_name(race.table)}, then:\n"
            f"INSERT INTO {t} … ON CONFLICT (those columns) DO NOTHING;"
        )
    cols = ", ".join(quote_ident(c) for c in race.columns)
    name = quote_ident(f"{short_name(race.table).split('.')[-1]}_{'_'.join(race.columns)}_key"[:63])
    insert = stmt.text.rstrip().rstrip(";")
    if getattr(stmt.node, "returningList", None) or getattr(stmt.node, "onConflictClause", None):
        insert = f"INSERT INTO {t} …"
    return (
        f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {t} ({cols});  -- its own step, outside a transaction\n"
        f"{insert}\nON CONFLICT ({cols}) DO NOTHING;"
    )


SETTINGS = """CREATE TABLE settings (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, key text NOT NULL,
    value text);
"""
_INSERT = (
    "INSERT INTO settings (key, value)\nSELECT 'checkout.v2', 'off'\n"
    "WHERE NOT EXISTS (SELECT 1 FROM settings WHERE key = 'checkout.v2')"
)

RULE = Rule(
    id=ID,
    summary="INSERT … WHERE NOT EXISTS (…) on a table with no unique index on the checked columns",
    why=(
        "INSERT … SELECT … WHERE NOT EXISTS (SELECT 1 FROM t WHERE key = …) is a check-then-act: the test "
        "reads a snapshot, the insert happens after it, and nothing stops another session from doing the "
        "same in between. Under READ COMMITTED an uncommitted row is invisible to the test, so a second "
        "runner of the migration (two deploy instances migrating at once) or the application inserting the "
        "same key both pass the test and both insert: duplicate rows, silently. Only a unique index decides "
        "atomically — with it, the second insert waits for the first and then conflicts (ON CONFLICT DO "
        "NOTHING turns that into a no-op). All versions."
    ),
    fix=(
        "CREATE UNIQUE INDEX CONCURRENTLY settings_key_key ON settings (key);  -- its own step\n"
        "INSERT INTO settings (key, value) VALUES ('checkout.v2', 'off')\n"
        "ON CONFLICT (key) DO NOTHING;"
    ),
    bad=(Example(schema=SETTINGS, sql=LOCK_TIMEOUT + _INSERT + ";"),),
    good=(
        Example(
            schema=SETTINGS + "CREATE UNIQUE INDEX settings_key_key ON settings (key);\n",
            sql=LOCK_TIMEOUT + _INSERT + "\nON CONFLICT (key) DO NOTHING;",
            note="a unique index on the checked column: the second insert conflicts instead",
        ),
        Example(
            schema=SETTINGS + "CREATE INDEX settings_key_idx ON settings (key);\n",
            sql=LOCK_TIMEOUT
            + "BEGIN;\nLOCK TABLE settings IN SHARE ROW EXCLUSIVE MODE;\n"
            + _INSERT
            + ";\nCOMMIT;",
            note="a lock that conflicts with itself and with writers, held from the test to the commit",
        ),
    ),
    risk=Risk.RACE,
    severity="warning",
    check_statement=check,
    node_types=(ast.InsertStmt,),
)
