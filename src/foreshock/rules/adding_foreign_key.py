"""A foreign key added without NOT VALID scans the table and locks BOTH tables against writes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pglast import ast

from foreshock.core.deparse import deparse, quote_ident
from foreshock.core.rewrite import Rewrite, RewriteStep, step
from foreshock.rules.base import Example, Hit, Risk, Rule
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.fixes import other_commands
from foreshock.rules.naming import (
    blocked_phrase,
    constraint_label,
    qualify,
    short_name,
    sql_table,
)
from foreshock.rules.statements import AT, CT, column_constraints, existing_alters, table_of


def check(ctx: Any) -> Iterator[Hit]:
    for table, effect, cmd in existing_alters(ctx):
        cons: list[Any] = []
        if cmd.subtype == AT.AT_AddConstraint and cmd.def_ is not None:
            cons = [cmd.def_]
        elif cmd.subtype == AT.AT_AddColumn and cmd.def_ is not None:
            col_cons = column_constraints(cmd.def_)
            # A new column without a default is all NULL: PostgreSQL skips the validation and marks the key
            # valid at once (transformFKConstraints), so only a column with a DEFAULT is checked row by row.
            if not any(c.contype == CT.CONSTR_DEFAULT for c in col_cons):
                continue
            cons = [c for c in col_cons if c.contype == CT.CONSTR_FOREIGN]
        for con in cons:
            if con.contype != CT.CONSTR_FOREIGN or con.skip_validation:
                continue
            ref = qualify(ctx.schema, con.pktable) if con.pktable is not None else "?"
            # The altered table first: Finding.lock is the lock on it; the referenced table's lock is named in
            # the message (ADD COLUMN ... REFERENCES: ACCESS EXCLUSIVE here, SHARE ROW EXCLUSIVE there).
            locks = {e.table: e.lock for e in ctx.analysis.effects}
            tables = tuple(dict.fromkeys([table, *locks]))
            lock = locks.get(table, effect.lock)
            name = constraint_label(con, table, "fkey")
            if cmd.subtype == AT.AT_AddColumn and not con.conname:
                # PostgreSQL's own name for an inline key: <table>_<column>_fkey
                name = f"{short_name(table).split('.')[-1]}_{cmd.def_.colname}_fkey"[:63]
            t, n = sql_table(table), quote_ident(name)
            pre: tuple[RewriteStep, ...] = ()
            why_not = other_commands(ctx.statement.node)
            if cmd.subtype == AT.AT_AddColumn:
                col = str(cmd.def_.colname)
                body = f"FOREIGN KEY ({quote_ident(col)}) REFERENCES {sql_table(ref)}" + (
                    f" ({', '.join(quote_ident(a.sval) for a in con.pk_attrs)})" if con.pk_attrs else ""
                )
                default = next(c for c in column_constraints(cmd.def_) if c.contype == CT.CONSTR_DEFAULT)
                pre = (
                    step(
                        f"ALTER TABLE {t} ADD COLUMN {quote_ident(col)} {deparse(cmd.def_.typeName)} "
                        f"DEFAULT {deparse(default.raw_expr)}",
                        comment="no key yet: instant for a constant default",
                    ),
                )
                why_not = why_not or _inline_key_kept(cmd.def_, con)
            else:
                body = deparse(con).split(" ", 2)[2] if con.conname else deparse(con)
                if not con.conname and len(name) >= 63:
                    # PostgreSQL shortens long names its own way: the rewrite could name the key differently.
                    why_not = why_not or "the key has no name: name it, so the rewrite creates the same one"
            held = [locks.get(x, lock) for x in tables]
            shown = [
                f"{m.name} ({m.sql_name}) on {short_name(x)}" for x, m in zip(tables[:3], held, strict=False)
            ]
            if len(tables) > 3:
                shown.append(f"{len(tables) - 3} more tables (partitions)")
            waits = blocked_phrase(min(held))
            note = ""
            if (
                getattr(table_of(ctx.schema, table), "kind", "") == "partitioned"
                and ctx.settings.pg_version < 18
            ):
                # Before PostgreSQL 18 a partitioned table refuses NOT VALID foreign keys; adding the key to
                # the parent reuses a matching validated key on each partition instead of checking again.
                note = (
                    "-- PostgreSQL < 18 refuses NOT VALID foreign keys on a partitioned table: run "
                    "these\n-- two statements on each partition, then add the key to the parent, which "
                    "reuses them\n"
                )
            yield Hit(
                message=(
                    f"foreign key {name} on {short_name(table)} referencing {short_name(ref)} is validated "
                    f"at once: {short_name(table)} is scanned while the statement holds "
                    + " and ".join(shown)
                    + f": {waits} on all of them wait"
                ),
                tables=tables,
                lock=lock,
                rewrite=Rewrite(
                    (
                        *pre,
                        step(f"ALTER TABLE {t} ADD CONSTRAINT {n} {body} NOT VALID"),
                        step(
                            f"ALTER TABLE {t} VALIDATE CONSTRAINT {n}",
                            note="commit, then (SHARE UPDATE EXCLUSIVE here, ROW SHARE on "
                            f"{short_name(ref)}):",
                        ),
                    ),
                    not_mechanical=(
                        "PostgreSQL < 18 refuses NOT VALID foreign keys on a partitioned table"
                        if note
                        else why_not
                    ),
                    head=note.rstrip("\n"),
                ),
            )


def _inline_key_kept(col: Any, con: Any) -> str:
    """Why ADD COLUMN ... DEFAULT ... REFERENCES cannot be rewritten as written ("" when it can): the rewrite
    re-creates the column with its type and default only, and the key with its columns only."""
    others = [c for c in column_constraints(col) if c.contype not in (CT.CONSTR_DEFAULT, CT.CONSTR_FOREIGN)]
    if others or getattr(col, "collClause", None) is not None:
        return "the column has other constraints or a collation: add them in statements of their own first"
    actions = (con.fk_upd_action, con.fk_del_action, con.fk_matchtype)
    if any(a not in (None, "a", "s", "") for a in actions):
        return "the key has ON DELETE/UPDATE or MATCH: write it as ADD CONSTRAINT first"
    return ""


RULE = Rule(
    id="adding-foreign-key",
    summary="ADD FOREIGN KEY (or ADD COLUMN ... DEFAULT ... REFERENCES) on an existing table without NOT "
    "VALID",
    why=(
        "Adding a foreign key takes ShareRowExclusiveLock (SHARE ROW EXCLUSIVE) on the table AND on the "
        "referenced table — writes to both wait — and then checks every existing row against the referenced "
        "table before releasing them. NOT VALID skips the check (new rows are still checked) and VALIDATE "
        "CONSTRAINT later takes only ShareUpdateExclusiveLock on the table and RowShareLock on the "
        "referenced one, which block no reads or writes. All supported versions."
    ),
    fix=(
        "ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id)\n  REFERENCES "
        "customers (id) NOT VALID;\nALTER TABLE orders VALIDATE CONSTRAINT orders_customer_id_fkey;  -- in "
        "a later transaction"
    ),
    bad=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey "
            "FOREIGN KEY (customer_id) REFERENCES customers (id);",
        ),
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT
            + "ALTER TABLE orders ADD COLUMN referrer_id bigint DEFAULT 1 REFERENCES customers (id);",
        ),
    ),
    good=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD COLUMN referrer_id bigint REFERENCES customers (id);",
            note="a new column without a default is all NULL: PostgreSQL marks the key valid without a scan",
        ),
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "ALTER TABLE orders ADD CONSTRAINT orders_customer_id_fkey "
            "FOREIGN KEY (customer_id) REFERENCES customers (id) NOT VALID;",
        ),
        Example(
            sql="CREATE TABLE a (id bigint PRIMARY KEY);\nCREATE TABLE b (a_id bigint);\nALTER TABLE b ADD "
            "CONSTRAINT b_a_fkey FOREIGN KEY (a_id) REFERENCES a (id);"
        ),
    ),
    risk=Risk.DURATION,
    severity="error",
    check_statement=check,
    node_types=(ast.AlterTableStmt,),
    alter_subtypes=(AT.AT_AddColumn, AT.AT_AddConstraint),
    see_also=("squawk: adding-foreign-key-constraint", "strong_migrations: add foreign key / add reference"),
)
