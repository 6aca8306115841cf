"""A denormalised column back-filled from an aggregate of another table the application keeps writing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast, enums

from foreshock.core.deparse import quote_ident
from foreshock.core.nodes import walk
from foreshock.core.schema import TRIGGER_INSERT
from foreshock.rules._race import (
    AGGREGATE,
    RELEASE,
    Race,
    alias_of,
    column_name,
    equalities,
    lock_phrase,
    range_vars,
    ref_qualifier,
    write_blocking,
)
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT
from foreshock.rules.naming import qualify, short_name, sql_table
from foreshock.rules.statements import table_of

ID = "backfilling-aggregate-column"
AGGREGATES = frozenset(
    {
        "count",
        "sum",
        "min",
        "max",
        "avg",
        "bool_and",
        "bool_or",
        "every",
        "array_agg",
        "string_agg",
        "json_agg",
        "jsonb_agg",
    }
)


def _aggregate(select: Any) -> str:
    for t in select.targetList or ():
        for n in walk(t.val):
            if isinstance(n, ast.FuncCall) and n.funcname and str(n.funcname[-1].sval).lower() in AGGREGATES:
                return str(n.funcname[-1].sval).lower()
    return ""


def _correlation(select: Any, child: Any, parent_names: set[str]) -> tuple[str, str] | None:
    """(child column, parent column) of `child.c = parent.p` in the subquery's WHERE."""
    child_names = {alias_of(child), str(child.relname)}
    for left, right in equalities(select.whereClause):
        for a, b in ((left, right), (right, left)):
            if (
                column_name(a)
                and column_name(b)
                and ref_qualifier(a) in child_names
                and ref_qualifier(b) in parent_names
            ):
                return column_name(a), column_name(b)
    return None


def _sources(node: Any, parent_names: set[str]) -> Iterator[tuple[str, Any, tuple[str, str] | None]]:
    """(target column, child RangeVar, correlation) of each SET column computed by an aggregate."""
    for target in node.targetList or ():
        for n in walk(target.val):
            if (
                isinstance(n, ast.SubLink)
                and n.subLinkType == enums.SubLinkType.EXPR_SUBLINK
                and isinstance(n.subselect, ast.SelectStmt)
                and _aggregate(n.subselect)
            ):
                rvs = range_vars(n.subselect.fromClause)
                if len(rvs) == 1:
                    yield str(target.name), rvs[0], _correlation(n.subselect, rvs[0], parent_names)
                    break
    # UPDATE parent SET c = s.n FROM (SELECT k, count(*) AS n FROM child GROUP BY k) s WHERE s.k = parent.id
    for item in node.fromClause or ():
        if not (isinstance(item, ast.RangeSubselect) and isinstance(item.subquery, ast.SelectStmt)):
            continue
        sub = item.subquery
        rvs = range_vars(sub.fromClause)
        if not (_aggregate(sub) and sub.groupClause and len(rvs) == 1):
            continue
        alias = str(item.alias.aliasname) if item.alias is not None else ""
        for target in node.targetList or ():
            if any(isinstance(n, ast.ColumnRef) and ref_qualifier(n) == alias for n in walk(target.val)):
                yield str(target.name), rvs[0], None


def races(ctx: Any) -> Iterator[Race]:
    node = ctx.statement.node
    if not isinstance(node, ast.UpdateStmt) or node.relation is None or ctx.statement.in_do_block:
        return
    parent = qualify(ctx.schema, node.relation)
    parent_names = {alias_of(node.relation), str(node.relation.relname)}
    for column, child_rv, corr in _sources(node, parent_names):
        child = qualify(ctx.schema, child_rv)
        if child == parent or ctx.schema.is_new(child) or ctx.schema.is_new(parent):
            continue
        triggers = [
            tr.name
            for tr in getattr(table_of(ctx.schema, child), "triggers", {}).values()
            if tr.row and tr.events & TRIGGER_INSERT
        ]
        held = write_blocking(ctx.analysis.held_before, child)
        guard = ""
        if triggers and held is not None:
            guard = (
                f"trigger {triggers[0]} on {short_name(child)} keeps it up to date, and the transaction "
                f"holds {lock_phrase(held)} while it recounts"
            )
        yield Race(
            ID,
            AGGREGATE,
            parent,
            ctx.statement,
            ctx.statement,
            f"{RELEASE} (it inserts and deletes {short_name(child)} rows)",
            guard,
            columns=(column,),
            other=child,
            other_columns=corr or (),
            note=triggers[0] if triggers else "",
        )


def check(ctx: Any) -> Iterator[Hit]:
    for race in races(ctx):
        if race.guarded:
            continue
        p, c, col = short_name(race.table), short_name(race.other), race.columns[0]
        if race.note:
            why = (
                f"trigger {race.note} keeps {col} up to date afterwards, but {c} rows written while the "
                f"UPDATE runs are counted from its snapshot: the trigger's increments on rows it has not "
                f"reached yet are overwritten"
            )
        else:
            why = (
                f"{race.breaker} keeps writing {c} while the UPDATE counts and afterwards, and nothing "
                f"maintains {col}: rows written after each parent's snapshot are missing from it, for good"
            )
        yield Hit(
            message=f"UPDATE {p} SET {col} = an aggregate of {c}: {why}",
            tables=(race.table, race.other),
            fix=fix_for(race),
        )


def fix_for(race: Race) -> str:
    p, c, col = sql_table(race.table), sql_table(race.other), quote_ident(race.columns[0])
    child_col, parent_col = race.other_columns or ("parent_id", "id")
    fn = quote_ident(f"{short_name(race.table).split('.')[-1]}_{race.columns[0]}_maintain"[:63])
    cc, pc = quote_ident(child_col), quote_ident(parent_col)
    return (
        f"-- 1. before the backfill: keep {col} right from now on (a count shown; adapt to the aggregate)\n"
        f"CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  IF TG_OP = 'INSERT' THEN\n"
        f"    UPDATE {p} SET {col} = coalesce({col}, 0) + 1 WHERE {pc} = NEW.{cc};\n"
        "  ELSE\n"
        f"    UPDATE {p} SET {col} = coalesce({col}, 0) - 1 WHERE {pc} = OLD.{cc};\n"
        "  END IF;\n"
        "  RETURN NULL;\n"
        "END $$;\n"
        f"CREATE TRIGGER {fn} AFTER INSERT OR DELETE ON {c} FOR EACH ROW EXECUTE FUNCTION {fn}();\n"
        f"-- 2. recount while writers of {short_name(race.other)} wait (batch the parents on a large table)\n"
        "BEGIN;\n"
        f"LOCK TABLE {c} IN SHARE MODE;\n"
        "-- the UPDATE as written\n"
        "COMMIT;"
    )


SCHEMA = """CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL,
    order_count integer);
CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id bigint NOT NULL,
    total numeric(12, 2));
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
"""
_UPDATE = (
    "UPDATE customers SET order_count =\n"
    "  (SELECT count(*) FROM orders WHERE orders.customer_id = customers.id)\n"
    "WHERE id BETWEEN 1 AND 1000;"
)
TRIGGER = """CREATE FUNCTION customers_order_count_maintain() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE customers SET order_count = coalesce(order_count, 0) + 1 WHERE id = NEW.customer_id;
  ELSE
    UPDATE customers SET order_count = coalesce(order_count, 0) - 1 WHERE id = OLD.customer_id;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER customers_order_count_maintain AFTER INSERT OR DELETE ON orders
  FOR EACH ROW EXECUTE FUNCTION customers_order_count_maintain();
"""

RULE = Rule(
    id=ID,
    summary="A denormalised column back-filled from an aggregate of a table the application keeps writing",
    why=(
        "`UPDATE parent SET child_count = (SELECT count(*) FROM child WHERE …)` counts what it sees in its "
        "snapshot and writes the result: children the release still running inserts or deletes while it "
        "runs, or afterwards, are not in the count, and nothing corrects it — the column is wrong for good "
        "unless something maintains it from BEFORE the backfill: a trigger on the child table (or "
        "application code already deployed). Even with the trigger, a child written while the UPDATE runs "
        "can be lost (the trigger's increment is overwritten by the count from the older snapshot), so the "
        "recount holds a lock that makes the child's writers wait (SHARE), in batches on a large table. All "
        "versions."
    ),
    fix=(
        "-- 1. a trigger on orders that maintains customers.order_count (created before the backfill)\n"
        "CREATE TRIGGER customers_order_count_maintain AFTER INSERT OR DELETE ON orders\n"
        "  FOR EACH ROW EXECUTE FUNCTION customers_order_count_maintain();\n"
        "-- 2. the recount, while writers of orders wait\n"
        "BEGIN;\n"
        "LOCK TABLE orders IN SHARE MODE;\n"
        "UPDATE customers SET order_count = (SELECT count(*) FROM orders WHERE orders.customer_id = "
        "customers.id)\n"
        "WHERE id BETWEEN 1 AND 1000;\n"
        "COMMIT;"
    ),
    bad=(
        Example(schema=SCHEMA, sql=LOCK_TIMEOUT + _UPDATE),
        Example(
            schema=SCHEMA + TRIGGER,
            sql=LOCK_TIMEOUT + _UPDATE,
            note="the trigger exists, but increments made while the UPDATE runs are overwritten",
        ),
    ),
    good=(
        Example(
            schema=SCHEMA + TRIGGER,
            sql=LOCK_TIMEOUT + "BEGIN;\nLOCK TABLE orders IN SHARE MODE;\n" + _UPDATE + "\nCOMMIT;",
        ),
    ),
    risk=Risk.RACE,
    severity="warning",
    check_statement=check,
    node_types=(ast.UpdateStmt,),
)
