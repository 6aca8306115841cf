"""What one statement does to each table that existed before the current migration file.

One module per statement family (alter_table, dml, ddl, maintenance), the planner imitation that decides
whether a WHERE clause reaches its rows through an index (index_reach), type changes (types), reads of
queries (reads), function volatility (volatility), and the accumulator (collect).

`effects_of(stmt, schema, settings)` returns one `Effect` per pre-existing table: the strongest table lock
PostgreSQL takes on it (pg_locks names), whether the table gets new storage (rewrite: relfilenode changes)
and whether every row is read (scan: a seq scan, a validation scan, an index build, a rewrite). `schema` is
the state BEFORE the statement. Every case here was checked against PostgreSQL 16 (tests/statement_matrix.py
and tests/test_matrix_server.py keep it honest).

Deliberate conservatism (PostgreSQL's answer depends on data or catalog facts not in the SQL):
- functions not in pg_catalog (user or extension functions) are treated as VOLATILE: a DEFAULT calling one
  is reported as a rewrite;
- ALTER COLUMN TYPE on a column whose current type is unknown (table never seen in history) is a rewrite;
- UPDATE/DELETE/SELECT are scans unless an index reaches the rows: the WHERE clause pins the leading
  column of a known valid, non-partial index with `=` / `IN (list)` / `= ANY(array)` / `IN (selective
  subquery)` / `LIKE` a pattern without wildcards (planned as `=`), bounds it on both sides (BETWEEN,
  `>= x AND < y`: how batched backfills walk a key), ORs such equalities, or an `=` join links it to a
  table reached that way (index nested loop). One-sided ranges, LIKE with a wildcard (its index use
  depends on the collation), other ORs and expressions are reported as scans (the planner may still use
  an index on them; on a small table it may scan anyway);
- DML on a partitioned table locks every known partition (the planner prunes some);
- SET TABLESPACE is reported as a rewrite (it copies every block unless the tablespace does not change);
- SET NOT NULL scans unless the model knows a validated `CHECK (col IS NOT NULL)` or the column is already
  NOT NULL;
- a user-defined (non-enum) column type could be a domain with constraints, which forces a rewrite for
  ADD COLUMN with a default: not assumed, the reason says so.
- TRUNCATE gets a new relfilenode but reads and copies nothing: reported as neither rewrite nor scan
  (no table_rewrite event fires either); its AccessExclusiveLock is the risk.

A statement kind in neither the handlers nor NO_TABLE_EFFECT, or a shape a handler cannot read (an internal
error of the model), is named as not analysed (the second value of effects_of) -- never a quietly smaller
effect set.
"""

from __future__ import annotations

from typing import Any

from pglast import ast

from foreshock.core.effects import alter_table, ddl, dml, maintenance
from foreshock.core.effects.collect import EffectSet
from foreshock.core.model import AnalysisSettings, Effect, Statement
from foreshock.core.nodes import walk
from foreshock.core.schema import Schema

# Node type name -> handler(effects, node, settings), over every statement family.
_STATEMENTS: dict[str, Any] = {**alter_table.HANDLERS, **ddl.HANDLERS, **maintenance.HANDLERS, **dml.HANDLERS}


# Statement kinds that take no lock on an existing table: they change other catalog objects (types,
# functions, roles, extensions, sequences without OWNED BY ...), session state or transaction state.
# Checked on PostgreSQL 15 and 16 by the `no_table_effect` cases of tests/statement_matrix.py.
NO_TABLE_EFFECT = frozenset(
    {
        "TransactionStmt",
        "VariableSetStmt",
        "VariableShowStmt",
        "DiscardStmt",
        "CheckPointStmt",
        "NotifyStmt",
        "ListenStmt",
        "UnlistenStmt",
        "ConstraintsSetStmt",
        "DeallocateStmt",
        "LoadStmt",
        "AlterFunctionStmt",
        "CreateEnumStmt",
        "CreateDomainStmt",
        "CompositeTypeStmt",
        "CreateRangeStmt",
        "DefineStmt",
        "AlterTypeStmt",
        "CreateExtensionStmt",
        "AlterExtensionStmt",
        "AlterExtensionContentsStmt",
        "CreateRoleStmt",
        "AlterRoleStmt",
        "AlterRoleSetStmt",
        "DropRoleStmt",
        "GrantRoleStmt",
        "AlterDefaultPrivilegesStmt",
        "CreateCastStmt",
        "CreateConversionStmt",
        "CreateOpClassStmt",
        "CreateOpFamilyStmt",
        "AlterOpFamilyStmt",
        "CreateTransformStmt",
        "CreatePLangStmt",
        "CreateEventTrigStmt",
        "AlterEventTrigStmt",
        "CreateFdwStmt",
        "AlterFdwStmt",
        "CreateForeignServerStmt",
        "AlterForeignServerStmt",
        "CreateUserMappingStmt",
        "AlterUserMappingStmt",
        "DropUserMappingStmt",
        "ImportForeignSchemaStmt",
        "CreateSubscriptionStmt",
        "AlterSubscriptionStmt",
        "DropSubscriptionStmt",
        "CreateTableSpaceStmt",
        "DropTableSpaceStmt",
        "AlterTableSpaceOptionsStmt",
        "CreatedbStmt",
        "DropdbStmt",
        "AlterDatabaseStmt",
        "AlterDatabaseSetStmt",
        "AlterDatabaseRefreshCollStmt",
        "AlterSystemStmt",
        "AlterCollationStmt",
        "AlterTSDictionaryStmt",
        "AlterTSConfigurationStmt",
        "CreateAmStmt",
        "AlterOperatorStmt",
        "AlterOwnerStmt",
        "AlterStatsStmt",
        "DoStmt",  # its static statements are analysed one by one (core.sql); dynamic SQL is named in facts
    }
)

# Errors a handler raises on a statement shape it does not expect (a None where a node was assumed, a missing
# key): the statement is then not analysed, and says so.
_MODEL_ERRORS = (AttributeError, TypeError, ValueError, IndexError, KeyError)


def effects_of(
    stmt: Statement, schema: Schema, settings: AnalysisSettings
) -> tuple[tuple[Effect, ...], str, tuple[Effect, ...]]:
    """(one Effect per pre-existing table the statement touches, what the model did not understand, what it
    scans or rewrites of tables this migration created and filled from existing ones).

    The second value is "" when the statement is fully analysed; otherwise the effects are a lower bound."""
    node = stmt.node
    if node is None:
        return (), "", ()
    name = type(node).__name__
    handler = _STATEMENTS.get(name)
    if handler is None:
        if name in NO_TABLE_EFFECT:
            return (), "", ()
        words = " ".join(stmt.text.split()[:3]).upper() or name
        why = f"{words} ({name}) is not in foreshock's effect model: the locks it takes are not analysed"
        return (), why, ()
    eff = EffectSet(schema, node)
    try:
        handler(eff, node, settings)
        # Data-modifying statements inside WITH run as part of this statement (most statements have none:
        # no walk then).
        with_clause = getattr(node, "withClause", None)
        for n in walk(with_clause) if with_clause is not None else ():
            if isinstance(n, ast.CommonTableExpr) and isinstance(
                n.ctequery, (ast.InsertStmt, ast.UpdateStmt, ast.DeleteStmt, ast.MergeStmt)
            ):
                _STATEMENTS[type(n.ctequery).__name__](eff, n.ctequery, settings)
    except _MODEL_ERRORS as err:
        return (
            eff.result(),
            f"the effect model failed on this {name} ({type(err).__name__}: {err}); the locks listed may be "
            "incomplete (please report it)",
            eff.filled_work(),
        )
    return eff.result(), "", eff.filled_work()
