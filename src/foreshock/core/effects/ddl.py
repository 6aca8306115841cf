"""CREATE / DROP / RENAME / COMMENT and the other schema statements that lock existing tables."""

from __future__ import annotations

from typing import Any

import pglast
from pglast import ast, enums

from foreshock.core.effects.collect import EffectSet, has_storage, with_children
from foreshock.core.effects.reads import read_tables
from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings, unknown_index_table
from foreshock.core.nodes import cte_names, range_vars, strings

L = LockMode
C = enums.ConstrType
O = enums.ObjectType  # noqa: E741


def _index_stmt(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    table = schema.resolve(node.relation)
    t = schema.table(table)
    targets = (
        with_children(schema, table, bool(node.relation.inh))
        if t is None or t.kind == "partitioned"
        else [table]
    )
    if node.if_not_exists and node.idxname and schema.index(f"{table.split('.')[0]}.{node.idxname}"):
        # The lock is still taken, then PostgreSQL notices the index exists and builds nothing.
        lock = L.ShareUpdateExclusiveLock if node.concurrent else L.ShareLock
        for name in targets:
            eff.add(name, lock, f"CREATE INDEX IF NOT EXISTS: {node.idxname} already exists, nothing built")
        return
    lock, why = (L.ShareLock, "CREATE INDEX blocks writes while it scans every row")
    if node.concurrent:
        lock = L.ShareUpdateExclusiveLock
        why = "CREATE INDEX CONCURRENTLY scans the table twice without blocking writes"
    for name in targets:
        eff.add(name, lock, why, scan=has_storage(schema, name))


def _drop(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    rt = node.removeType
    for obj in node.objects or ():
        if rt == O.OBJECT_INDEX:
            name = schema.resolve(strings(obj))
            idx = schema.index(name)
            if idx is None and schema.gone(name):
                continue  # IF EXISTS on an index the history dropped: nothing happens
            # An index the history never mentioned is assumed to exist, on a table it cannot name.
            table, unknown = (idx.table, "") if idx is not None else (unknown_index_table(name), "index")
            if node.concurrent:
                eff.add(table, L.ShareUpdateExclusiveLock, "DROP INDEX CONCURRENTLY", unknown=unknown)
            else:
                eff.add(table, L.AccessExclusiveLock, "DROP INDEX locks its table", unknown=unknown)
        elif rt in (O.OBJECT_TABLE, O.OBJECT_MATVIEW, O.OBJECT_FOREIGN_TABLE):
            name = schema.resolve(strings(obj))
            t = schema.table(name)
            if t is None and node.missing_ok and schema.gone(name):
                continue
            eff.add(name, L.AccessExclusiveLock, "DROP TABLE")
            for child in schema.children(name):
                eff.add(child, L.AccessExclusiveLock, "DROP TABLE drops its partitions")
            if t is not None and t.partition_of:
                eff.add(t.partition_of, L.AccessExclusiveLock, "dropping a partition locks its parent")
            if t is not None:
                for c in t.constraints.values():
                    if c.kind == "fk" and c.referenced_table and c.referenced_table != name:
                        eff.add(
                            c.referenced_table,
                            L.AccessExclusiveLock,
                            f"dropping {name} removes foreign key triggers on {c.referenced_table}",
                        )
            for fk in schema.referencing_fks(name):
                if node.behavior == enums.DropBehavior.DROP_CASCADE and fk.table != name:
                    eff.add(fk.table, L.AccessExclusiveLock, f"DROP ... CASCADE drops foreign key {fk.name}")
            if node.behavior == enums.DropBehavior.DROP_CASCADE:
                for dep in schema.dependent_views(name):
                    eff.add(dep, L.AccessExclusiveLock, f"DROP ... CASCADE drops {dep}, which reads {name}")
        elif rt == O.OBJECT_SCHEMA and node.behavior == enums.DropBehavior.DROP_CASCADE:
            name = str(obj.sval) if isinstance(obj, ast.String) else ".".join(strings(obj))
            for q, t in list(schema.tables.items()):
                if q.split(".", 1)[0] == name and t.kind != "view":
                    eff.add(q, L.AccessExclusiveLock, f"DROP SCHEMA {name} CASCADE drops {q}")
        elif rt == O.OBJECT_TYPE and node.behavior == enums.DropBehavior.DROP_CASCADE:
            names = strings(obj.names) if isinstance(obj, ast.TypeName) else strings(obj)
            if not names:
                continue
            for q, t in list(schema.tables.items()):
                cols = [
                    c.name for c in t.columns.values() if c.type is not None and c.type.raw_name == names[-1]
                ]
                if cols and t.kind != "view":
                    eff.add(q, L.AccessExclusiveLock, f"DROP TYPE ... CASCADE drops column {', '.join(cols)}")
        elif rt == O.OBJECT_TRIGGER or rt == O.OBJECT_RULE or rt == O.OBJECT_POLICY:
            parts = strings(obj)
            table = schema.resolve(parts[:-1])
            if schema.table(table) is None and node.missing_ok and schema.gone(table):
                continue
            eff.add(table, L.AccessExclusiveLock, f"DROP {O(rt).name.removeprefix('OBJECT_')}")


def _create_trigger(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    table = eff.schema.resolve(node.relation)
    eff.add(table, L.ShareRowExclusiveLock, "CREATE TRIGGER blocks writes (not reads) briefly")
    t = eff.schema.table(table)
    if node.row and t is not None and t.kind == "partitioned":
        # Row-level triggers on a partitioned table are cloned onto every partition.
        for child in eff.schema.children(table):
            eff.add(child, L.ShareRowExclusiveLock, "CREATE TRIGGER is cloned onto each partition")
    if node.constrrel is not None:
        eff.add(
            eff.schema.resolve(node.constrrel), L.AccessShareLock, "constraint trigger references this table"
        )


def _rule(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    eff.add(eff.schema.resolve(node.relation), L.AccessExclusiveLock, "CREATE RULE")
    for action in node.actions or ():
        read_tables(eff, action, L.AccessShareLock, "rule action")


def _comment(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    ot = node.objtype
    if ot in (O.OBJECT_TABLE, O.OBJECT_MATVIEW, O.OBJECT_FOREIGN_TABLE):
        eff.add(schema.resolve(strings(node.object)), L.ShareUpdateExclusiveLock, "COMMENT ON")
    elif ot == O.OBJECT_COLUMN:
        eff.add(schema.resolve(strings(node.object)[:-1]), L.ShareUpdateExclusiveLock, "COMMENT ON COLUMN")
    elif ot in (O.OBJECT_TABCONSTRAINT, O.OBJECT_TRIGGER, O.OBJECT_RULE, O.OBJECT_POLICY):
        parts = strings(node.object)
        eff.add(
            schema.resolve(parts[:-1]), L.AccessShareLock, f"COMMENT ON {O(ot).name.removeprefix('OBJECT_')}"
        )


def _rename(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    rt = node.renameType
    if rt in (
        O.OBJECT_TABLE,
        O.OBJECT_MATVIEW,
        O.OBJECT_FOREIGN_TABLE,
        O.OBJECT_COLUMN,
        O.OBJECT_TABCONSTRAINT,
    ):
        table = schema.resolve(node.relation)
        if schema.table(table) is None and node.missing_ok and schema.gone(table):
            return
        t = schema.table(table)
        if t is not None and t.kind == "view":
            return
        what = {O.OBJECT_COLUMN: "RENAME COLUMN", O.OBJECT_TABCONSTRAINT: "RENAME CONSTRAINT"}.get(
            rt, "RENAME"
        )
        eff.add(
            table, L.AccessExclusiveLock, f"{what} (metadata only, but breaks queries using the old name)"
        )
        if rt == O.OBJECT_COLUMN and node.relation.inh:
            for child in schema.children(table):
                eff.add(child, L.AccessExclusiveLock, "RENAME COLUMN recurses to children")
    elif rt == O.OBJECT_TRIGGER:
        eff.add(schema.resolve(node.relation), L.AccessExclusiveLock, "RENAME TRIGGER")


def _set_schema(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    if (
        node.objectType in (O.OBJECT_TABLE, O.OBJECT_MATVIEW, O.OBJECT_FOREIGN_TABLE)
        and node.relation is not None
    ):
        eff.add(eff.schema.resolve(node.relation), L.AccessExclusiveLock, "SET SCHEMA")


def _view(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    # Parse analysis of the view query opens every referenced table with AccessShareLock; nothing is read.
    ctes = cte_names(node.query)
    for rv in range_vars(node.query):
        q = eff.schema.resolve(rv)
        if rv.relname in ctes and not rv.schemaname:
            continue
        t = eff.schema.table(q)
        if t is not None and t.kind == "view":
            continue
        eff.add(q, L.AccessShareLock, "CREATE VIEW reads the table definition")


def _create_table_as(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    if node.into is not None and node.into.skipData:
        for rv in range_vars(node.query):
            eff.add(eff.schema.resolve(rv), L.AccessShareLock, "CREATE ... AS (WITH NO DATA)")
        return
    read_tables(eff, node.query, L.AccessShareLock, "CREATE TABLE/MATERIALIZED VIEW AS")


def _create_table(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    created = schema.create_target(node.relation)
    if node.partbound is not None and node.inhRelations:
        parent = schema.resolve(node.inhRelations[0])
        eff.add(parent, L.AccessExclusiveLock, "CREATE TABLE ... PARTITION OF locks the parent")
        pt = schema.table(parent)
        if pt is not None:
            for p in pt.partitions:
                ppt = schema.table(p)
                if ppt is not None and ppt.is_default_partition:
                    eff.add(
                        p, L.AccessExclusiveLock, "a new partition scans the DEFAULT partition", scan=True
                    )
    elif node.inhRelations:
        for rv in node.inhRelations:
            eff.add(
                schema.resolve(rv), L.ShareUpdateExclusiveLock, "CREATE TABLE ... INHERITS locks the parent"
            )
    for elt in node.tableElts or ():
        cons = [elt] if isinstance(elt, ast.Constraint) else list(getattr(elt, "constraints", None) or ())
        for con in cons:
            if (
                isinstance(con, ast.Constraint)
                and con.contype == C.CONSTR_FOREIGN
                and con.pktable is not None
            ):
                ref = schema.resolve(con.pktable)
                if ref == created:
                    # A key referencing the table being created (a parent_id column): its triggers go on
                    # the new table itself, which no one else can use yet.
                    continue
                eff.add(ref, L.ShareRowExclusiveLock, f"a new foreign key adds triggers on {ref}")
        if isinstance(elt, ast.TableLikeClause):
            eff.add(
                schema.resolve(elt.relation), L.AccessShareLock, "CREATE TABLE ... LIKE reads its definition"
            )


def _policy(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    # CREATE/ALTER POLICY change how every query on the table is planned: AccessExclusiveLock (PG 15/16).
    eff.add(eff.schema.resolve(node.table), L.AccessExclusiveLock, "CREATE/ALTER POLICY")


def _statistics(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    for rv in node.relations or ():
        if isinstance(rv, ast.RangeVar):
            eff.add(eff.schema.resolve(rv), L.ShareUpdateExclusiveLock, "CREATE STATISTICS (metadata only)")


def _publication(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    for obj in node.pubobjects or ():
        pt = getattr(obj, "pubtable", None)
        if pt is not None and pt.relation is not None:
            eff.add(eff.schema.resolve(pt.relation), L.ShareUpdateExclusiveLock, "publication membership")


def _grant(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    # GRANT/REVOKE on tables take no table lock (checked on PG 16): they update pg_class.relacl in place.
    return


def _alter_enum(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    return


def _alter_domain(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    # ADD CONSTRAINT (unless NOT VALID), VALIDATE CONSTRAINT and SET NOT NULL check every stored value of the
    # domain: each table with a column of it is read under ShareLock (validateDomainConstraint /
    # validateDomainNotNullConstraint). DROP CONSTRAINT, DEFAULT and the rest touch only the catalog.
    sub = node.subtype
    if sub == "C":
        if node.def_ is None or getattr(node.def_, "skip_validation", False):
            return
    elif sub not in ("V", "O"):
        return
    parts = tuple(str(p.sval) for p in node.typeName)
    domain = eff.schema.resolve(parts)
    bare = parts[-1]
    for table in eff.schema.tables.values():
        for col in table.columns.values():
            ref = col.type
            if ref is None or ref.raw_name != bare or ref.array:
                continue
            if ref.schema is not None and f"{ref.schema}.{bare}" != domain:
                continue
            eff.add(
                table.name,
                L.ShareLock,
                f"ALTER DOMAIN {bare} checks every value of {table.name}.{col.name}",
                scan=True,
            )


def _sequence(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    # OWNED BY table.column opens the table with AccessShareLock (checked on PG 15 and 16); nothing else of
    # CREATE/ALTER SEQUENCE touches a table.
    for opt in node.options or ():
        if opt.defname == "owned_by":
            parts = strings(opt.arg)
            if len(parts) >= 2:
                eff.add(eff.schema.resolve(parts[:-1]), L.AccessShareLock, "SEQUENCE ... OWNED BY the table")


def _create_function(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    # With check_function_bodies (on by default) a LANGUAGE sql body is parsed and analysed when the function
    # is created, which opens every table it reads with AccessShareLock (checked on PG 15 and 16); PL/pgSQL
    # and other bodies are only syntax-checked.
    language = next(
        (str(o.arg.sval).lower() for o in node.options or () if o.defname == "language"), "sql"
    )
    bodies: list[Any] = [node.sql_body] if node.sql_body is not None else []
    if language == "sql" and not bodies:
        for opt in node.options or ():
            if opt.defname == "as" and opt.arg:
                bodies += _parsed(str(opt.arg[0].sval))
    for body in bodies:
        ctes = cte_names(body)
        for rv in range_vars(body):
            if rv.schemaname or rv.relname not in ctes:
                why = "CREATE FUNCTION ... LANGUAGE sql checks its body"
                eff.add(eff.schema.resolve(rv), L.AccessShareLock, why)


def _parsed(text: str) -> list[Any]:
    """The statements of a function body; none when it does not parse (the server rejects the function)."""
    try:
        return [raw.stmt for raw in pglast.parse_sql(text)]
    except pglast.parser.ParseError:
        return []


def _create_foreign_table(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    _create_table(eff, node.base, settings)


def _create_schema(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    # CREATE SCHEMA s CREATE TABLE ... / CREATE VIEW ...: each element locks what it would on its own.
    for elt in node.schemaElts or ():
        handler = HANDLERS.get(type(elt).__name__)
        if handler is not None:
            handler(eff, elt, settings)


HANDLERS: dict[str, Any] = {
    "CreateFunctionStmt": _create_function,
    "CreateSeqStmt": _sequence,
    "AlterSeqStmt": _sequence,
    "CreateForeignTableStmt": _create_foreign_table,
    "CreateSchemaStmt": _create_schema,
    "AlterDomainStmt": _alter_domain,
    "IndexStmt": _index_stmt,
    "DropStmt": _drop,
    "CreateTrigStmt": _create_trigger,
    "RuleStmt": _rule,
    "CommentStmt": _comment,
    "RenameStmt": _rename,
    "AlterObjectSchemaStmt": _set_schema,
    "ViewStmt": _view,
    "CreateTableAsStmt": _create_table_as,
    "CreateStmt": _create_table,
    "GrantStmt": _grant,
    "CreatePolicyStmt": _policy,
    "AlterPolicyStmt": _policy,
    "CreateStatsStmt": _statistics,
    "CreatePublicationStmt": _publication,
    "AlterPublicationStmt": _publication,
    "AlterEnumStmt": _alter_enum,
}
