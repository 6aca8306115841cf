"""The one place the core decides what a statement is: its StatementFacts, with the user's settings.

`facts_of(stmt, schema, settings)` runs once per statement (core.analyze) against the schema as it stands
BEFORE the statement, and every consumer reads the result: the rules, check's size verdict, apply's plan,
rehearse, datagen's choice of tables and trace's choice of tables to watch.

Decided here:
- effects per pre-existing table (core.effects), or what the model did not understand (`not_analysed`): a
  statement kind outside the model, an internal error of the model, dynamic SQL in a DO block;
- whether the statement can run inside a transaction block, and why not;
- the PostgreSQL version it needs when the target is older;
- the work per table that grows with production size (its cost class) and what that rests on (the key an
  index build sorts, the indexes a rewrite rebuilds or an UPDATE maintains);
- its shape: what the downtime verdict, made after the analysis over statements that may come from the
  history cache (without trees), says of it (an UPDATE of every row, the columns an ALTER TABLE adds).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pglast import ast, enums
from pglast.parser import ParseError

from foreshock.core.deparse import deparse
from foreshock.core.effects import effects_of
from foreshock.core.locks import LockMode
from foreshock.core.model import (
    AnalysisSettings,
    Cost,
    Effect,
    Shape,
    Statement,
    StatementAnalysis,
    StatementFacts,
    TableWork,
)
from foreshock.core.nodes import option_on, walk
from foreshock.core.schema import Schema, Table
from foreshock.core.sql import parse_statements

_AT = enums.AlterTableType


def facts_of(stmt: Statement, schema: Schema, settings: AnalysisSettings) -> StatementFacts:
    """The facts of one statement, against the schema as it stands before it runs."""
    node = stmt.node
    kind = type(node).__name__
    effects, not_analysed, filled = effects_of(stmt, schema, settings)
    if not not_analysed and kind == "DoStmt":
        not_analysed = _do_block_gap(node)
    why_not = non_transactional_reason(stmt, settings) if kind in _MAYBE_NOT_TRANSACTIONAL else None
    needs, note = version_need(stmt, settings) if kind in _MAYBE_NEWER else (0, "")
    work = _work(node, effects, schema) + _filled_work(node, filled, schema)
    return StatementFacts(
        effects=effects,
        work=work,
        transactional=why_not is None,
        not_transactional=why_not or "",
        needs_version=needs,
        version_note=note,
        not_analysed=not_analysed,
        shape=_shape(node, work) if kind in _SHAPED else None,
    )


def rewritten_together(statements: Sequence[StatementAnalysis], table: str) -> list[StatementAnalysis]:
    """The ALTER TABLE statements of one file that rewrite `table`: when there are several, the downtime
    verdict offers their subcommands as one statement (Shape.alter_parts prints them)."""
    return [
        sa
        for sa in statements
        if sa.statement.kind == "AlterTableStmt"
        and any(w.cost is Cost.REWRITE and w.table == table for w in sa.facts.work)
    ]


def forget_lone_rewrites(statements: Sequence[StatementAnalysis]) -> None:
    """Drop the tree of each rewriting ALTER TABLE that no other ALTER TABLE of its file rewrites a table
    with: only rewrites offered together are ever printed, and a shape kept in the history cache is kept
    printed (pglast's printer would otherwise run for every rewrite a cache-writing run keeps)."""
    rewrites: dict[str, int] = {}  # table -> how many of the file's ALTER TABLE statements rewrite it
    for sa in statements:
        if sa.statement.kind == "AlterTableStmt":
            for table in {w.table for w in sa.facts.work if w.cost is Cost.REWRITE}:
                rewrites[table] = rewrites.get(table, 0) + 1
    for sa in statements:
        shape = sa.facts.shape
        if shape is None or shape.alter is None or isinstance(shape.alter, tuple):
            continue
        if not any(rewrites.get(w.table, 0) > 1 for w in sa.facts.work if w.cost is Cost.REWRITE):
            object.__setattr__(shape, "alter", None)  # the record's own cache, as alter_parts keeps its print


def whole_table_dml(node: Any) -> bool:
    """UPDATE/DELETE with no WHERE clause: every row of the table in one transaction."""
    if isinstance(node, ast.UpdateStmt | ast.DeleteStmt):
        return (
            node.whereClause is None
            and not getattr(node, "fromClause", None)
            and not getattr(node, "usingClause", None)
        )
    return False


_SHAPED = frozenset({"UpdateStmt", "DeleteStmt", "AlterTableStmt"})
_NO_ROW_WRITTEN = frozenset({enums.ConstrType.CONSTR_DEFAULT, enums.ConstrType.CONSTR_GENERATED})


def _shape(node: Any, work: tuple[TableWork, ...]) -> Shape | None:
    if isinstance(node, ast.AlterTableStmt):
        return _alter_shape(node, work)
    if not whole_table_dml(node):
        return None
    constant = None
    if isinstance(node, ast.UpdateStmt):
        targets = [t for t in node.targetList or () if isinstance(t, ast.ResTarget) and t.name]
        if len(targets) == 1 and _constant(targets[0].val):
            constant = (str(targets[0].name), deparse(targets[0].val))
    return Shape(unbatched=True, constant_set=constant)


def _constant(node: Any) -> bool:
    if isinstance(node, ast.TypeCast):
        return _constant(node.arg)
    return isinstance(node, ast.A_Const) and not node.isnull


def _alter_shape(node: Any, work: tuple[TableWork, ...]) -> Shape | None:
    added: list[tuple[str, str]] = []
    not_null: list[str] = []
    for cmd in node.cmds or ():
        coldef = cmd.def_
        if cmd.subtype == _AT.AT_AddColumn and isinstance(coldef, ast.ColumnDef):
            kinds = {c.contype for c in coldef.constraints or ()}
            if not kinds & _NO_ROW_WRITTEN:
                added.append((str(coldef.colname), deparse(coldef.typeName)))
        elif cmd.subtype == _AT.AT_SetNotNull:
            not_null.append(str(cmd.name))
    # Only a rewrite's subcommands are ever offered as one statement (printed when asked: Shape.alter_parts).
    alter = node if any(w.cost is Cost.REWRITE for w in work) else None
    if not (added or not_null or alter is not None):
        return None
    return Shape(added_columns=tuple(added), not_null=tuple(not_null), alter=alter)



# The statement kinds non_transactional_reason / version_need can say something about (the others are
# skipped: the checks run for every statement of a long history).
_MAYBE_NOT_TRANSACTIONAL = frozenset(
    {
        "IndexStmt",
        "DropStmt",
        "ReindexStmt",
        "AlterTableStmt",
        "VacuumStmt",
        "ClusterStmt",
        "CreatedbStmt",
        "DropdbStmt",
        "AlterSystemStmt",
        "CreateTableSpaceStmt",
        "DropTableSpaceStmt",
        "AlterEnumStmt",
    }
)
_MAYBE_NEWER = frozenset({"MergeStmt", "AlterTableStmt", "IndexStmt"})


def non_transactional_reason(stmt: Statement, settings: AnalysisSettings) -> str | None:
    """Why the statement cannot run in a transaction block, or None when it can."""
    node = stmt.node
    if isinstance(node, ast.IndexStmt) and node.concurrent:
        return "CREATE INDEX CONCURRENTLY"
    if isinstance(node, ast.DropStmt) and node.concurrent:
        return "DROP INDEX CONCURRENTLY"
    if isinstance(node, ast.ReindexStmt) and option_on(node.params, "concurrently"):
        return "REINDEX CONCURRENTLY"
    if isinstance(node, ast.ReindexStmt) and node.kind in (
        enums.ReindexObjectType.REINDEX_OBJECT_SYSTEM,
        enums.ReindexObjectType.REINDEX_OBJECT_DATABASE,
        enums.ReindexObjectType.REINDEX_OBJECT_SCHEMA,
    ):
        return "REINDEX SCHEMA/DATABASE/SYSTEM"
    if isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            detach = cmd.subtype == _AT.AT_DetachPartition
            if detach and getattr(cmd.def_, "concurrent", False):
                return "DETACH PARTITION CONCURRENTLY"
    if isinstance(node, ast.VacuumStmt) and node.is_vacuumcmd:
        return "VACUUM"
    if isinstance(node, ast.ClusterStmt) and node.relation is None:
        return "CLUSTER without a table"
    if isinstance(
        node,
        (
            ast.CreatedbStmt,
            ast.DropdbStmt,
            ast.AlterSystemStmt,
            ast.CreateTableSpaceStmt,
            ast.DropTableSpaceStmt,
        ),
    ):
        return type(node).__name__.removesuffix("Stmt")
    if isinstance(node, ast.AlterEnumStmt) and not node.oldVal and settings.pg_version < 12:
        # PG 12 allowed ADD VALUE inside a transaction block (the new value is unusable until commit).
        return "ALTER TYPE ... ADD VALUE before PG 12"
    return None


def version_need(stmt: Statement, settings: AnalysisSettings) -> tuple[int, str]:
    """(major version, note) when the statement needs a newer PostgreSQL than the target (the server rejects
    it there); (0, "") otherwise."""
    node = stmt.node
    need: tuple[int, str] | None = None
    if isinstance(node, ast.MergeStmt):
        need = (15, "MERGE")
    elif isinstance(node, ast.AlterTableStmt):
        for cmd in node.cmds or ():
            st = cmd.subtype
            if st == _AT.AT_DetachPartition and getattr(cmd.def_, "concurrent", False):
                need = (14, "DETACH PARTITION CONCURRENTLY")
            elif st == _AT.AT_SetCompression:
                need = (14, "SET COMPRESSION")
            elif st == _AT.AT_SetAccessMethod:
                need = (15, "SET ACCESS METHOD")
            elif st == _AT.AT_SetExpression:
                need = (17, "SET EXPRESSION")
    elif isinstance(node, ast.IndexStmt) and node.nulls_not_distinct:
        need = (15, "NULLS NOT DISTINCT")
    if need is not None and settings.pg_version < need[0]:
        return need[0], f"{need[1]} needs PostgreSQL {need[0]}+ (target is {settings.pg_version})"
    return 0, ""


# EXECUTE in PL/pgSQL runs SQL built at run time, which no static model can see.
_DYNAMIC_SQL = re.compile(r"\bEXECUTE\b", re.IGNORECASE)


def _do_block_gap(node: Any) -> str:
    """What a DO block runs that is not analysed: its static statements are analysed one by one (core.sql);
    dynamic SQL and other languages are not."""
    body, language = "", "plpgsql"
    for arg in node.args or ():
        if arg.defname == "as":
            body = str(arg.arg.sval)
        elif arg.defname == "language":
            language = str(arg.arg.sval)
    if language.lower() != "plpgsql":
        return f"a DO block in {language}: the statements it runs are not analysed"
    if _DYNAMIC_SQL.search(body):
        return "dynamic SQL (EXECUTE) in a DO block: the statements it builds at run time are not analysed"
    return ""


def _classify(node: Any, effect: Effect, fk_parent: str | None) -> Cost | None:
    """The cost class of one effect; None when its work is charged elsewhere (the referenced side of a new
    foreign key is probed through its index: the validation is charged to the referencing table)."""
    if isinstance(node, ast.IndexStmt):
        return Cost.INDEX_BUILD if effect.scan else Cost.CATALOG
    if isinstance(node, ast.RefreshMatViewStmt):
        # Re-running the view's query is part of the refresh: charged to the view, not again to its sources.
        return Cost.REFRESH if effect.rewrite or effect.lock >= LockMode.ExclusiveLock else None
    if effect.rewrite:
        return Cost.REWRITE
    if not effect.scan:
        return Cost.CATALOG
    if _copies(node):
        return Cost.COPY
    if effect.lock == LockMode.RowExclusiveLock and isinstance(node, ast.UpdateStmt | ast.MergeStmt):
        return Cost.UPDATE
    if effect.lock == LockMode.RowExclusiveLock and isinstance(node, ast.DeleteStmt):
        return Cost.DELETE
    if fk_parent is not None:
        return None if effect.table == fk_parent else Cost.FK_VALIDATE
    return Cost.SCAN


def _work(node: Any, effects: tuple[Effect, ...], schema: Schema) -> tuple[TableWork, ...]:
    if not any(e.scan or e.rewrite for e in effects):
        return ()  # catalog only: nothing grows with the table
    fk_parent = _added_foreign_key_target(node, schema)
    keys = _index_key(node) if isinstance(node, ast.IndexStmt) else ()
    out: list[TableWork] = []
    for effect in effects:
        cost = _classify(node, effect, fk_parent)
        if cost is None or cost is Cost.CATALOG:
            continue
        table = schema.table(effect.table)
        indexes = tuple([i.columns for i in table.indexes.values()]) if table is not None else ()
        references = fk_parent if cost is Cost.FK_VALIDATE else None
        reads = _refresh_reads(node, effect.table, effects, schema) if cost is Cost.REFRESH else None
        walked = _walked_columns(node, table) if cost is Cost.SCAN else ()
        out.append(
            TableWork(
                effect.table, cost, keys, indexes, references=references, reads=reads, walked_columns=walked
            )
        )
    return tuple(out)


def _refresh_reads(
    node: Any, view: str, effects: tuple[Effect, ...], schema: Schema
) -> tuple[str, ...] | None:
    """The tables a refreshed view's query reads in full, or None when the view's query is unknown (WITH NO
    DATA reads nothing). The effects name what the query reads itself (partitions expanded, a table an
    index pins left out); the schema's filled_by adds what it reads through plain views."""
    mv = schema.table(view)
    if node.skipData:
        return ()
    if mv is None or mv.query is None:
        return None
    seen = {e.table for e in effects}
    scanned = [e.table for e in effects if e.table != view and e.scan and e.unknown in ("", "table")]
    through_views = [t for t in schema.filled_by(mv.query) if t not in seen and t != view]
    return tuple(dict.fromkeys([*scanned, *through_views]))


# Types whose values have a fixed width: a function reading one costs the same whatever the row's width.
_FIXED_WIDTH = frozenset(
    {"int2", "int4", "int8", "float4", "float8", "bool", "date", "time", "timetz", "timestamp", "timestamptz",
     "interval", "uuid", "oid", "money", "char"}
)  # fmt: skip
# Functions that read a value's header, not its bytes.
_HEADER_ONLY = frozenset({"octet_length", "pg_column_size", "num_nulls", "num_nonnulls"})
_PATTERN_KINDS = frozenset(
    {enums.A_Expr_Kind.AEXPR_LIKE, enums.A_Expr_Kind.AEXPR_ILIKE, enums.A_Expr_Kind.AEXPR_SIMILAR}
)
_PATTERN_OPS = frozenset({"~", "~*", "!~", "!~*", "~~", "~~*", "!~~", "!~~*"})


def _walked_columns(node: Any, table: Table | None) -> tuple[str, ...]:
    """The variable-width columns the CHECK constraints an ALTER TABLE adds pass whole to a function or a
    pattern match: PostgreSQL evaluates the expression for every row, and length(body) counts the characters
    of each value (a multi-byte encoding walks every byte; a compressed value is decompressed first), so
    the validation costs per byte of those values, not only per row (benchmarks/check_expression_cost.py).
    A column the schema does not type counts as variable-width."""
    if not isinstance(node, ast.AlterTableStmt):
        return ()
    out: dict[str, None] = {}
    for cmd in node.cmds or ():
        expr = _validated_check(cmd, table)
        if expr is None:
            continue
        for sub in walk(expr):
            for arg in _walking_arguments(sub):
                name = _column_name(arg)
                col = table.columns.get(name) if table is not None and name is not None else None
                fixed = (
                    col is not None
                    and col.type is not None
                    and not col.type.array
                    and (col.type.raw_name in _FIXED_WIDTH)
                )
                if name is not None and not fixed:
                    out[name] = None
    return tuple(out)


def _validated_check(cmd: Any, table: Table | None) -> Any:
    """The expression of the CHECK constraint an ALTER TABLE command validates now: one it adds (not NOT
    VALID), or one added NOT VALID earlier that VALIDATE CONSTRAINT checks (its text, from the schema)."""
    con = cmd.def_
    if isinstance(con, ast.Constraint) and con.contype == enums.ConstrType.CONSTR_CHECK:
        return None if con.skip_validation else con.raw_expr
    if cmd.subtype != _AT.AT_ValidateConstraint or table is None:
        return None
    known = table.constraints.get(cmd.name)
    if known is None or known.kind != "check" or known.validated or not known.expression:
        return None
    try:
        # Built by the core's own builder: pglast's validating constructors cost more than the walk.
        (select,) = parse_statements(f"SELECT {known.expression}")
    except ParseError:
        return None  # a text the schema model deparsed and the parser refuses: no walk is charged
    return select.targetList[0].val if isinstance(select, ast.SelectStmt) and select.targetList else None


def _walking_arguments(node: Any) -> tuple[Any, ...]:
    """The arguments a function call or a pattern match reads whole (none for other nodes)."""
    if isinstance(node, ast.FuncCall) and _last_name(node.funcname) not in _HEADER_ONLY:
        return tuple(node.args or ())
    if isinstance(node, ast.A_Expr) and (
        node.kind in _PATTERN_KINDS
        or (node.kind == enums.A_Expr_Kind.AEXPR_OP and _last_name(node.name) in _PATTERN_OPS)
    ):
        return (node.lexpr,)
    return ()


def _last_name(names: Any) -> str:
    last = names[-1] if names else None
    return str(last.sval) if isinstance(last, ast.String) else ""


def _column_name(arg: Any) -> str | None:
    """The column an argument is, through casts (body::text), else None."""
    while isinstance(arg, ast.TypeCast):
        arg = arg.arg
    if isinstance(arg, ast.ColumnRef):
        name = _last_name(arg.fields)
        return name or None
    return None


def _copies(node: Any) -> bool:
    """The statement writes the rows it reads into a table: CREATE TABLE AS (with data), SELECT INTO,
    INSERT ... SELECT."""
    if isinstance(node, ast.CreateTableAsStmt):
        return node.into is None or not node.into.skipData
    if isinstance(node, ast.SelectStmt):
        return node.intoClause is not None
    return isinstance(node, ast.InsertStmt) and node.selectStmt is not None


def _filled_work(node: Any, filled: tuple[Effect, ...], schema: Schema) -> tuple[TableWork, ...]:
    """Work on tables this migration created and filled from existing ones, sized by those."""
    out: list[TableWork] = []
    keys = _index_key(node) if isinstance(node, ast.IndexStmt) else ()
    for effect in filled:
        table = schema.table(effect.table)
        cost = _classify(node, effect, None)
        if table is None or cost is None or cost is Cost.CATALOG:
            continue
        indexes = tuple([i.columns for i in table.indexes.values()])
        out.append(TableWork(effect.table, cost, keys, indexes, table.filled_from))
    return tuple(out)


def _added_foreign_key_target(node: Any, schema: Schema) -> str | None:
    """The referenced table of the first validated foreign key an ALTER TABLE adds, else None."""
    if not isinstance(node, ast.AlterTableStmt):
        return None
    for cmd in node.cmds or ():
        con = cmd.def_
        if isinstance(con, ast.Constraint) and con.contype == enums.ConstrType.CONSTR_FOREIGN:
            return schema.resolve(con.pktable)
        if isinstance(con, ast.ColumnDef):
            for c in con.constraints or ():
                if isinstance(c, ast.Constraint) and c.contype == enums.ConstrType.CONSTR_FOREIGN:
                    return schema.resolve(c.pktable)
    return None


def _index_key(node: Any) -> tuple[str, ...]:
    return tuple(e.name for e in node.indexParams or () if isinstance(e, ast.IndexElem) and e.name)
