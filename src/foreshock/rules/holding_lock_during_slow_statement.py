"""A slow statement while the transaction holds a traffic-blocking lock taken earlier (runaway migration)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pglast import ast, enums

from foreshock.core.ast_build import make
from foreshock.core.deparse import deparse, quote_ident, sql_text
from foreshock.core.effects.alter_table import column_rewrite
from foreshock.core.model import (
    AnalysisSettings,
    FileAnalysis,
    HeldLock,
    MigrationUnit,
    Statement,
    StatementAnalysis,
)
from foreshock.core.nodes import walk
from foreshock.core.records import evolve
from foreshock.core.rewrite import Rewrite, RewriteStep, StepMode, manual
from foreshock.rules.base import Example, Hit, Risk, Rule, StatementKind, statement_kind
from foreshock.rules.examples import LOCK_TIMEOUT, ORDERS
from foreshock.rules.fixes import batched_update
from foreshock.rules.naming import blocked_phrase, qualify, short_name, sql_table, statement_label
from foreshock.rules.statements import AT, has_backfill_marker, is_slow, slow_reason


def _covered(sa: StatementAnalysis, held: HeldLock) -> bool:
    """The statement takes that lock (or a stronger one) itself, so holding it earlier changes nothing."""
    return any(e.table == held.table and e.lock >= held.lock for e in sa.effects)


def check(unit: MigrationUnit, fa: FileAnalysis, schema: Any, settings: AnalysisSettings) -> Iterator[Hit]:
    by_index = {sa.statement.index: sa for sa in fa.statements}
    for txn in fa.transactions:
        members = [by_index[i] for i in txn.statements if i in by_index]
        for sa in members:
            if not is_slow(sa):
                continue
            held = [
                h
                for h in sa.held_before
                if h.lock.blocks_traffic and h.acquired_by < sa.statement.index and not _covered(sa, h)
            ]
            if not held:
                continue
            yield _hit(unit, sa, held, members, by_index, schema, settings)
            break  # one finding per transaction: the first statement that keeps the lock held


def _hit(
    unit: MigrationUnit,
    sa: StatementAnalysis,
    held: list[HeldLock],
    members: list[StatementAnalysis],
    by_index: dict[int, StatementAnalysis],
    schema: Any,
    settings: AnalysisSettings,
) -> Hit:
    strongest = max(held, key=lambda h: h.lock)
    lock = strongest.lock
    parts = []
    for h in sorted(held, key=lambda h: (-h.lock, h.table)):
        taker = by_index.get(h.acquired_by)
        where = f"taken at {statement_label(taker.statement, unit)}" if taker is not None else "taken earlier"
        parts.append(f"{h.lock.name} ({h.lock.sql_name}) on {short_name(h.table)}, {where}")
    later = [m for m in members if m.statement.index > sa.statement.index and is_slow(m)]
    end = members[-1].statement if members else sa.statement
    tail = f", then {len(later)} more slow statement(s)," if later else ""
    message = (
        f"{'; '.join(parts)} stays held while {statement_label(sa.statement, unit)} runs "
        f"({slow_reason(sa)}){tail} "
        f"until the transaction ends at line {unit.source_line(end.line)}: {blocked_phrase(lock)} on "
        f"{', '.join(sorted({short_name(h.table) for h in held}))} wait for all of it"
    )
    tables = {h.table for h in held}
    # The split of the whole transaction is most of this rule's time, and only a report that prints fixes
    # reads it.
    return Hit.later(
        lambda: safe_sequence(members, schema, tables, settings),
        schema,
        message=message,
        tables=tuple(sorted(tables)),
        lock=lock,
        statement=sa.statement,
    )


@dataclass(frozen=True)
class _Ctx:
    """The part of a StatementContext the statement rules read, rebuilt from the file analysis."""

    statement: Statement
    analysis: StatementAnalysis
    schema: Any
    settings: AnalysisSettings


_SQL_START = re.compile(r"^\s*(--|(ALTER|CREATE|DROP|UPDATE|DELETE|SET|REFRESH|REINDEX)\b)")


# (statement kind, PostgreSQL version) -> the rules _statement_fix asks, in registry order. A rule's check
# only looks at its declared node_types and ALTER TABLE subcommands (the engine relies on the same contract),
# so asking the others is wasted.
_FIX_RULES: dict[tuple[StatementKind, int], tuple[Rule, ...]] = {}


def _fix_rules(kind: StatementKind, pg_version: int) -> tuple[Rule, ...]:
    key = (kind, pg_version)
    rules = _FIX_RULES.get(key)
    if rules is None:
        from foreshock.rules.registry import indexed_rules  # the registry imports this module

        # Picked by the rule index: only the modules of the rules asked are imported.
        rules = _FIX_RULES[key] = tuple(
            entry.rule
            for entry in indexed_rules()
            if entry.checks_statements
            and entry.severity != "info"
            and entry.applies_to(pg_version)
            and entry.looks_at(kind)
        )
    return rules


def _statement_rewrite(sa: StatementAnalysis, schema: Any, settings: AnalysisSettings) -> Rewrite | None:
    """The safe form of one statement, as the statement rules give it (the first rule whose fix is SQL)."""
    ctx = _Ctx(sa.statement, sa, schema, settings)
    index = sa.statement.index
    for rule in _fix_rules(statement_kind(sa.statement.node), settings.pg_version):
        if rule.check_statement is None:
            continue
        for hit in rule.check_statement(ctx):
            text = hit.fix_text
            if not text or not _SQL_START.match(text):
                continue
            if hit.rewrite is not None and hit.fix is None:
                return evolve(hit.rewrite, replaces=(index,))
            return manual(text, f"{rule.id} at line {sa.statement.line} has no mechanical rewrite", (index,))
    return None


# Session settings apply runs every step under its own values of: dropping them from a split changes nothing.
_TIMEOUTS = frozenset({"lock_timeout", "statement_timeout", "idle_in_transaction_session_timeout"})


def safe_sequence(
    members: list[StatementAnalysis],
    schema: Any,
    tables: set[str] | None = None,
    settings: AnalysisSettings | None = None,
) -> Rewrite:
    """The transaction split into short steps, each statement in its safe form: schema changes alone and
    NOT VALID where possible, backfills batched, NOT NULL through a validated CHECK, indexes CONCURRENTLY.

    Every statement of the transaction is a part of the split (those on other tables than `tables` are
    carried as written and left out of the printed fix); SET statements are printed first."""
    settings = settings or AnalysisSettings()
    parts: list[Rewrite] = []
    prelude: list[str] = []
    replaces: list[int] = []
    why_not = ""
    fast = _fast_defaults(members, schema, settings)
    folded = {i for rw in fast.values() for i in rw.replaces}
    for sa in members:
        stmt = sa.statement
        node = stmt.node
        if isinstance(node, ast.TransactionStmt) or stmt.in_do_block:
            continue
        replaces.append(stmt.index)
        if stmt.index in fast:
            parts.append(fast[stmt.index])
            continue
        if stmt.index in folded:
            continue  # a back-fill or NOT NULL the column's fast default stands for
        text = stmt.text.rstrip().rstrip(";").rstrip()
        if isinstance(node, ast.VariableSetStmt):
            prelude.append(text + ";")
            if (node.name or "").lower() not in _TIMEOUTS:
                why_not = why_not or (
                    f"line {stmt.line} `{text}` sets the session for the statements after it, and the "
                    "steps run in separate transactions"
                )
            continue
        # Only the statements on the locked tables matter to the printed fix; the rest is carried as is.
        elsewhere = tables is not None and bool(sa.effects) and not any(e.table in tables for e in sa.effects)
        rewrite = None if elsewhere else _statement_rewrite(sa, schema, settings)
        if rewrite is None and has_backfill_marker(stmt):
            rewrite = _marked_backfill(sa, schema)
        if rewrite is None:
            mode: StepMode = "transaction" if sa.facts.transactional else "outside"
            keep = tuple(d for d in stmt.directives if d.kind == "ignore")
            rewrite = Rewrite(
                (RewriteStep((text,), mode, directives=keep),), (stmt.index,), shown=not elsewhere
            )
        why_not = why_not or rewrite.not_mechanical
        parts.append(rewrite)
    return Rewrite(
        parts=tuple(parts),
        replaces=tuple(replaces),
        not_mechanical=why_not,
        head="\n".join(prelude) if prelude else "SET lock_timeout = '2s';",
    )


def _fast_defaults(
    members: list[StatementAnalysis], schema: Any, settings: AnalysisSettings
) -> dict[int, Rewrite]:
    """ADD COLUMN without a default, then an UPDATE of every row to one value (then SET NOT NULL): from
    PostgreSQL 11 on, the column added with that value as its DEFAULT (and NOT NULL) is the same table in
    one catalog-only step, with no back-fill to batch and no window in which a row is NULL. Keyed by the
    ADD COLUMN's index; each rewrite replaces the statements it stands for."""
    body = [
        sa for sa in members
        if not isinstance(sa.statement.node, ast.TransactionStmt | ast.VariableSetStmt)
        and not sa.statement.in_do_block
    ]
    out: dict[int, Rewrite] = {}
    for n, sa in enumerate(body):
        added = _added_column(sa, schema)
        if added is None:
            continue
        table, cd = added
        column = str(cd.colname)
        on_table = [m for m in body[n + 1:] if any(e.table == table for e in m.effects)]
        value = _constant_backfill(on_table[0], schema, table, column) if on_table else None
        if value is None:
            continue
        folded = [sa, on_table[0]]
        if len(on_table) > 1 and _alter(on_table[1], schema, table, column, AT.AT_SetNotNull):
            folded.append(on_table[1])
        rest = on_table[len(folded) - 1:]
        # A later ALTER of the table may constrain or change the column in a step of its own: the
        # back-fill race (or whatever it does) stays visible in the split.
        if any(_alter(m, schema, table, column, None) for m in rest):
            continue
        not_null = len(folded) == 3
        fast = make(
            ast.ColumnDef, colname=cd.colname, typeName=cd.typeName, collClause=cd.collClause, is_local=True,
            constraints=(make(ast.Constraint, contype=enums.ConstrType.CONSTR_DEFAULT, raw_expr=value),)
            + ((make(ast.Constraint, contype=enums.ConstrType.CONSTR_NOTNULL),) if not_null else ()),
        )
        # The core's fact: whether that DEFAULT is catalog-only here (volatility, version, domains).
        if column_rewrite(fast, schema, settings) is not None:
            continue
        bare = make(ast.ColumnDef, colname=cd.colname, typeName=cd.typeName, collClause=cd.collClause,
                    is_local=True)
        expr = deparse(value)
        if not isinstance(value, ast.A_Const):
            expr = f"({expr})"
        t, c = sql_table(table), quote_ident(column)
        note = (
            "no back-fill: PostgreSQL 11+ keeps a non-volatile DEFAULT in the catalog, the existing rows "
            f"read {expr}{' (NOT NULL needs no scan)' if not_null else ''}, and no row is ever NULL for the "
            "release still running to race with"
        )
        out[sa.statement.index] = Rewrite(
            (RewriteStep(
                (f"ALTER TABLE {t} ADD COLUMN {sql_text(bare)} DEFAULT {expr}"
                 + (" NOT NULL" if not_null else ""),
                 f"ALTER TABLE {t} ALTER COLUMN {c} DROP DEFAULT"),
                note=note,
                comment="the column as the migration leaves it; ACCESS EXCLUSIVE for milliseconds",
            ),),
            tuple(m.statement.index for m in folded),
        )
    return out


def _added_column(sa: StatementAnalysis, schema: Any) -> tuple[str, Any] | None:
    """(table, column definition) of `ALTER TABLE t ADD COLUMN c type` alone: no DEFAULT, no constraint."""
    node = sa.statement.node
    if not isinstance(node, ast.AlterTableStmt) or node.relation is None:
        return None
    cmds = node.cmds or ()
    if len(cmds) != 1:
        return None
    cmd = cmds[0]
    cd = cmd.def_
    if cmd.subtype != AT.AT_AddColumn or cmd.missing_ok or not isinstance(cd, ast.ColumnDef):
        return None
    if cd.constraints or (cd.identity or "\0") != "\0" or (cd.generated or "\0") != "\0":
        return None
    table = qualify(schema, node.relation)
    return None if schema.is_new(table) else (table, cd)


def _constant_backfill(sa: StatementAnalysis, schema: Any, table: str, column: str) -> Any:
    """The value of `UPDATE t SET column = value` over every row, when it is one value for all of them (no
    WHERE, FROM, RETURNING or WITH, no column, parameter or subquery in it, not NULL); else None. Whether it
    is volatile is the core's to say (column_rewrite)."""
    node = sa.statement.node
    if not isinstance(node, ast.UpdateStmt) or node.relation is None or not node.relation.inh:
        return None
    if node.whereClause is not None or node.fromClause or node.returningClause or node.withClause:
        return None
    targets = node.targetList or ()
    if qualify(schema, node.relation) != table or len(targets) != 1:
        return None
    target = targets[0]
    value = target.val
    if str(target.name) != column or target.indirection or isinstance(value, ast.MultiAssignRef):
        return None
    if isinstance(value, ast.A_Const) and value.isnull:
        return None
    kinds = (ast.ColumnRef, ast.ParamRef, ast.SetToDefault, ast.SubLink)
    return None if any(isinstance(n, kinds) for n in walk(value)) else value


def _alter(sa: StatementAnalysis, schema: Any, table: str, column: str, subtype: Any) -> bool:
    """`ALTER TABLE table ALTER COLUMN column SET NOT NULL` alone (subtype AT_SetNotNull); with subtype None,
    any ALTER TABLE of the table that names the column."""
    node = sa.statement.node
    if not isinstance(node, ast.AlterTableStmt) or node.relation is None:
        return False
    if qualify(schema, node.relation) != table:
        return False
    cmds = node.cmds or ()
    if subtype is not None:
        return len(cmds) == 1 and cmds[0].subtype == subtype and str(cmds[0].name) == column
    return any(
        str(getattr(cmd, "name", "") or "") == column
        or any(isinstance(n, ast.String) and n.sval == column for n in walk(cmd))
        for cmd in cmds
    )


def _marked_backfill(sa: StatementAnalysis, schema: Any) -> Rewrite | None:
    """A `-- foreshock: backfill` statement keeps running in batches once its transaction is split."""
    node = sa.statement.node
    if not isinstance(node, ast.UpdateStmt | ast.DeleteStmt) or node.relation is None:
        return None
    rewrite = batched_update(schema, qualify(schema, node.relation), sa.statement)
    return evolve(rewrite, replaces=(sa.statement.index,))


RULE = Rule(
    id="holding-lock-during-slow-statement",
    summary="A slow statement (rewrite, full scan, unbatched UPDATE) runs while an earlier lock that blocks "
    "traffic is held",
    why=(
        "Locks are held until the transaction ends. A cheap ADD COLUMN takes AccessExclusiveLock (ACCESS "
        "EXCLUSIVE) for a millisecond — but if the same transaction then runs a full-table UPDATE, a "
        "validation scan or a rewrite, the lock stays held for all of it and every read and write of the "
        "table waits: the 200 ms migration that becomes a four-hour outage on production data. True on "
        "every PostgreSQL version."
    ),
    fix=(
        "Split the transaction: take the strong lock only in short statements that commit at once, and run "
        "the slow work without it (backfills in batches, NOT NULL through a validated CHECK):\n\nSET "
        "lock_timeout = '2s';\nALTER TABLE orders ADD COLUMN region text;                       -- "
        "commit\nUPDATE orders SET region = 'eu'\n  WHERE id > :last AND id <= :last + 10000;     -- key "
        "ranges: repeat up to max(id), commit each batch\nALTER TABLE orders ADD "
        "CONSTRAINT orders_region_not_null CHECK (region IS NOT NULL) NOT VALID;\nALTER TABLE orders "
        "VALIDATE CONSTRAINT orders_region_not_null;   -- commit\nALTER TABLE orders ALTER COLUMN region "
        "SET NOT NULL;\nALTER TABLE orders DROP CONSTRAINT orders_region_not_null;\n\n"
        "When the back-fill gives every row one non-volatile value (no WHERE, no column in it), on "
        "PostgreSQL 11+ there is nothing to back-fill: add the column with that value as its DEFAULT "
        "(NOT NULL too, if the migration sets it) and drop the DEFAULT, in one short transaction. The "
        "existing rows read the value from the catalog, and no row is ever NULL, so the release still "
        "running cannot insert one between steps (constraining-backfilled-column):\n\nALTER TABLE orders "
        "ADD COLUMN region text DEFAULT 'eu' NOT NULL;\nALTER TABLE orders ALTER COLUMN region DROP DEFAULT;"
    ),
    bad=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "BEGIN;\n"
            "ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0) NOT VALID;\n"
            "ALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive;\nCOMMIT;",
            note="VALIDATE is harmless alone, but here ACCESS EXCLUSIVE from the ADD is held through "
            "its scan",
        ),
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "BEGIN;\nALTER TABLE orders ADD COLUMN region text;\n"
            "UPDATE orders SET region = 'eu';\nCOMMIT;",
            note="the runaway migration without its SET NOT NULL",
        ),
    ),
    good=(
        Example(
            schema=ORDERS,
            sql=LOCK_TIMEOUT + "BEGIN;\n"
            "ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total > 0) NOT "
            "VALID;\nCOMMIT;\n"
            "BEGIN;\nALTER TABLE orders VALIDATE CONSTRAINT orders_total_positive;\nCOMMIT;",
        ),
    ),
    risk=Risk.DURATION,
    severity="error",
    check_file=check,
    also=("unbatched-backfill",),
    see_also=("eugene: E4, E10", "strong_migrations: backfilling in the same transaction"),
)
