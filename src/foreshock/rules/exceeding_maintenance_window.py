"""A statement or migration whose predicted time at the instance's size exceeds the maintenance window.

Only for window deployments (the service down while migrations run), and only with durations: the findings
are made by the downtime verdict (rules.window) from each statement's predicted duration, never by the
engine. This module holds the rule unit and how its findings read: what makes a statement slow, from the
core's facts (its cost class per table), and the faster form of it when there is one.
"""

from __future__ import annotations

from collections.abc import Sequence

from foreshock.core.deparse import quote_ident
from foreshock.core.facts import rewritten_together
from foreshock.core.model import Cost, FileAnalysis, Shape, StatementAnalysis, TableWork
from foreshock.rules.base import Example, Risk, Rule
from foreshock.rules.deployment import Deployment
from foreshock.rules.examples import ORDERS
from foreshock.rules.naming import short_name, sql_table, statement_label


def _indexes(w: TableWork) -> str:
    n = len(w.indexes)
    return f"its {n} index{'es' if n != 1 else ''}" if n else "its indexes"


def _shape(sa: StatementAnalysis) -> Shape:
    return sa.facts.shape or _NO_SHAPE


_NO_SHAPE = Shape()


def slow_because(sa: StatementAnalysis) -> str:
    """What the statement's time grows with, per table it works on: 'rewrites orders and rebuilds its 2
    indexes'."""
    parts: list[str] = []
    for w in sa.facts.work:
        t = short_name(w.table)
        if w.cost is Cost.REWRITE:
            parts.append(f"rewrites {t} and rebuilds {_indexes(w)}")
        elif w.cost is Cost.INDEX_BUILD:
            key = f" ({', '.join(w.index_columns)})" if w.index_columns else ""
            parts.append(f"builds an index on {t}{key}: a sort of every row's key")
        elif w.cost is Cost.UPDATE and _shape(sa).unbatched:
            parts.append(
                f"updates every row of {t} in one statement (unbatched: a new version of each row, "
                f"{_indexes(w)} maintained row by row)"
            )
        elif w.cost is Cost.UPDATE:
            parts.append(f"reads every row of {t} to update the ones it selects")
        elif w.cost is Cost.DELETE:
            parts.append(f"deletes rows of {t} one by one, reading every row")
        elif w.cost is Cost.FK_VALIDATE:
            parts.append(f"checks every row of {t} against the referenced key")
        elif w.cost is Cost.REFRESH:
            parts.append(f"re-runs the query of {t} and writes its result")
        elif w.cost is Cost.SCAN:
            parts.append(f"reads every row of {t}")
    return "; ".join(parts)


def faster(fa: FileAnalysis, sa: StatementAnalysis) -> tuple[str, str] | None:
    """(what to do, SQL) when the migration can do the statement's work in less time, else None. Read from
    the statements' facts and shapes only: a history read back from the cache has no syntax trees."""
    return (
        _default_instead_of_update(fa, sa)
        or _index_after_update(fa, sa)
        or _one_rewrite(fa, sa)
        or _plain_index_build(sa)
    )


def _default_instead_of_update(fa: FileAnalysis, sa: StatementAnalysis) -> tuple[str, str] | None:
    """ADD COLUMN c, then UPDATE t SET c = constant over every row: ADD COLUMN c ... DEFAULT constant writes
    no row (PostgreSQL 11+ keeps a constant default in the catalog), and a later SET NOT NULL
    needs no scan."""
    constant = _shape(sa).constant_set
    if sa.statement.kind != "UpdateStmt" or constant is None:
        return None
    column, value = constant
    table = next((w.table for w in sa.facts.work if w.cost is Cost.UPDATE), None)
    added = _added_column(fa, sa.statement.index, table, column)
    if table is None or added is None:
        return None
    later_not_null = any(
        _sets_not_null(other, table, column)
        for other in fa.statements
        if other.statement.index > sa.statement.index
    )
    sql = (
        f"ALTER TABLE {sql_table(table)} ADD COLUMN {quote_ident(column)} {added}"
        f"{' NOT NULL' if later_not_null else ''} DEFAULT {value};\n"
        f"-- then, if new rows should not get it: ALTER TABLE {sql_table(table)} ALTER COLUMN "
        f"{quote_ident(column)} DROP DEFAULT;"
    )
    why = (
        f"add {column} with DEFAULT {value} instead of updating every row: PostgreSQL 11+ keeps a constant "
        "default in the catalog, so no row is written"
        + (" and SET NOT NULL needs no scan" if later_not_null else "")
    )
    return why, sql


def _added_column(fa: FileAnalysis, before: int, table: str | None, column: str) -> str | None:
    """The type (SQL) of `column` as an ALTER TABLE of `table` before statement `before` adds it without a
    default, else None."""
    for other in fa.statements:
        if other.statement.index >= before or other.statement.kind != "AlterTableStmt":
            continue
        if table not in {e.table for e in other.effects}:
            continue
        for name, type_sql in _shape(other).added_columns:
            if name == column:
                return type_sql
    return None


def _sets_not_null(sa: StatementAnalysis, table: str, column: str) -> bool:
    if sa.statement.kind != "AlterTableStmt" or table not in {e.table for e in sa.effects}:
        return False
    return column in _shape(sa).not_null


def _index_after_update(fa: FileAnalysis, sa: StatementAnalysis) -> tuple[str, str] | None:
    """An index built before an UPDATE of every row of its table is maintained row by row by that UPDATE;
    built after it, it is one sort."""
    if not _shape(sa).unbatched:
        return None
    updated = {w.table for w in sa.facts.work if w.cost is Cost.UPDATE}
    built = [
        other
        for other in fa.statements
        if other.statement.index < sa.statement.index
        and any(w.cost is Cost.INDEX_BUILD and w.table in updated for w in other.facts.work)
    ]
    if not built:
        return None
    labels = ", ".join(statement_label(b.statement) for b in built)
    return (
        f"build the index{'es' if len(built) > 1 else ''} of {labels} after this UPDATE: the UPDATE "
        "maintains every index row by row, a build afterwards sorts once",
        "\n".join(f"{b.statement.text};" for b in built) + "  -- moved after the UPDATE",
    )


def _one_rewrite(fa: FileAnalysis, sa: StatementAnalysis) -> tuple[str, str] | None:
    """Several ALTER TABLE statements that each rewrite one table: one statement rewrites it once."""
    if sa.statement.kind != "AlterTableStmt":
        return None
    for w in sa.facts.work:
        if w.cost is not Cost.REWRITE:
            continue
        same = rewritten_together(fa.statements, w.table)
        if len(same) > 1:
            return _combined(w.table, same)
    return None


def _combined(table: str, statements: Sequence[StatementAnalysis]) -> tuple[str, str]:
    lines = ", ".join(str(o.statement.line) for o in statements)
    parts = [_shape(o).alter_parts() or ("", None) for o in statements]
    # As pglast prints one ALTER TABLE of the first statement's table with every statement's subcommands.
    merged = (
        f"{parts[0][0]} {', '.join(c for _, p in parts for c in p or ())}"
        if all(p is not None for _, p in parts)
        else "..."
    )
    return (
        f"rewrite {short_name(table)} once: the statements at lines {lines} each copy it and rebuild its "
        "indexes; one ALTER TABLE with all their subcommands does it in one pass",
        _or_described(merged, lines),
    )


def _or_described(text: str, lines: str) -> str:
    # "..." for a shape pglast cannot print: then say what to write instead.
    return text + ";" if text != "..." else f"-- one ALTER TABLE with the subcommands of lines {lines}"


def _plain_index_build(sa: StatementAnalysis) -> tuple[str, str] | None:
    """CREATE INDEX CONCURRENTLY scans the table twice and waits for running transactions; with the service
    down a plain build does the same work once."""
    if sa.statement.kind != "IndexStmt" or sa.facts.not_transactional != "CREATE INDEX CONCURRENTLY":
        return None
    text = " ".join(sa.statement.text.split())
    plain = text.replace(" CONCURRENTLY", "", 1).replace(" concurrently", "", 1)
    return (
        "build it without CONCURRENTLY: with the service down nothing needs the weaker lock, and a plain "
        "build reads the table once instead of twice",
        plain + ";",
    )


BAD_ROWS = (("public.orders", 80_000_000),)

RULE = Rule(
    id="exceeding-maintenance-window",
    summary="A statement or migration that takes longer than the maintenance window at the instance's size",
    why=(
        "For an application upgraded with the service down (self-hosted software that migrates at start-up, "
        "a maintenance window), locks harm no one: what matters is how long the upgrade takes on a large "
        "instance. With sizes (`--stats`, `--dsn` or a rehearsal) every statement gets its predicted "
        "duration and interval from the same model as the lock-hold estimates; a statement or a migration "
        "predicted to take longer than the window (`--window`, default 10 min) is an error, one that takes "
        "half of it or may exceed it is a warning. The finding says what makes it slow (a rewrite, an index "
        "build, an unbatched UPDATE) and the faster form when there is one. Window deployments only "
        "(`--deployment window`)."
    ),
    fix=(
        "ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';\n"
        "-- instead of ADD COLUMN, an UPDATE of every row and SET NOT NULL (two passes over the table).\n"
        "-- One ALTER TABLE per table that rewrites it; indexes built after a bulk UPDATE, not before;\n"
        "-- plain CREATE INDEX rather than CONCURRENTLY. When nothing is faster, publish the time to expect\n"
        "-- (`foreshock rehearse --deployment window`) or plan a longer window."
    ),
    bad=(
        Example(
            schema=ORDERS,
            sql="ALTER TABLE orders ADD COLUMN region text;\nUPDATE orders SET region = 'eu';\n"
            "ALTER TABLE orders ALTER COLUMN region SET NOT NULL;",
            deployment=Deployment.WINDOW,
            rows=BAD_ROWS,
            note="the UPDATE writes every one of 80,000,000 rows",
        ),
    ),
    good=(
        Example(
            schema=ORDERS,
            sql="ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu';",
            deployment=Deployment.WINDOW,
            rows=BAD_ROWS,
            note="a constant default is kept in the catalog: no row is written",
        ),
        Example(
            schema=ORDERS,
            sql="ALTER TABLE orders ADD COLUMN region text;\nUPDATE orders SET region = 'eu';\n"
            "ALTER TABLE orders ALTER COLUMN region SET NOT NULL;",
            deployment=Deployment.WINDOW,
            rows=(("public.orders", 1_000),),
            note="the same migration on an instance with 1,000 orders",
        ),
    ),
    severity="error",
    risk=Risk.DOWNTIME,
)
