"""ALTER TABLE: the lock each subcommand takes (AlterTableGetLockLevel) and whether it rewrites or scans."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pglast import ast, enums

from foreshock.core.effects.collect import EffectSet, has_storage, with_children
from foreshock.core.effects.types import known_builtin, type_change_rewrites, type_mods, using_is_plain
from foreshock.core.effects.volatility import volatile_calls
from foreshock.core.locks import LockMode
from foreshock.core.model import AnalysisSettings
from foreshock.core.nodes import flag, strings
from foreshock.core.schema import Column, Schema, Table, type_ref

L = LockMode
A = enums.AlterTableType
C = enums.ConstrType
O = enums.ObjectType  # noqa: E741


def _alter_table(eff: EffectSet, node: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    objtype = node.objtype
    if objtype == O.OBJECT_INDEX:
        _alter_index(eff, node)
        return
    table = schema.resolve(node.relation)
    t = schema.table(table)
    if t is None and node.missing_ok and schema.gone(table):
        # IF EXISTS on a table the history dropped: nothing happens. One it never mentioned is assumed to
        # exist (a partial history), and locked like any other.
        return
    inh = bool(node.relation.inh)
    for cmd in node.cmds or ():
        _alter_cmd(eff, table, t, cmd, inh, settings)


def _alter_index(eff: EffectSet, node: Any) -> None:
    # ALTER INDEX ... RENAME / SET (...) / SET TABLESPACE lock only the index, not its table (checked on
    # PG 15 and 16): no table effect. Moving an index to another tablespace still copies it under that lock.
    return


def column_of(t: Table | None, name: str | None) -> Column | None:
    if t is None or name is None:
        return None
    return t.columns.get(name)


_RELOPT_SUE = {
    "fillfactor",
    "parallel_workers",
    "toast_tuple_target",
    "vacuum_index_cleanup",
    "vacuum_truncate",
    "log_autovacuum_min_duration",
    "autovacuum_enabled",
}


def _reloption_lock(options: Any) -> LockMode:
    # AlterTableGetRelOptionsLockLevel: planner/vacuum parameters need only ShareUpdateExclusiveLock;
    # anything else (user_catalog_table, view options, unknown names) takes AccessExclusiveLock.
    lock = L.ShareUpdateExclusiveLock
    for d in options or ():
        name = (d.defname or "").lower()
        ns = (d.defnamespace or "").lower()
        if ns == "toast" or name in _RELOPT_SUE or name.startswith("autovacuum_"):
            continue
        lock = L.AccessExclusiveLock
    return lock


def _alter_cmd(
    eff: EffectSet, table: str, t: Table | None, cmd: Any, inh: bool, settings: AnalysisSettings
) -> None:
    schema = eff.schema
    st = cmd.subtype
    targets = with_children(schema, table, inh)
    unknown_note = "" if t is not None and t.known_columns else " (table not in the schema history)"

    def all_(lock: LockMode, reason: str, *, rewrite: bool = False, scan: bool = False) -> None:
        for name in targets:
            storage = has_storage(schema, name)
            eff.add(name, lock, reason, rewrite=rewrite and storage, scan=scan and storage)

    if st == A.AT_AddColumn:
        _add_column(eff, table, t, cmd.def_, targets, settings)
    elif st == A.AT_DropColumn:
        all_(L.AccessExclusiveLock, f"DROP COLUMN {cmd.name} (metadata only, space is reclaimed later)")
        _drop_column_keys(eff, table, t, cmd)
    elif st in (A.AT_ColumnDefault, A.AT_CookedColumnDefault):
        all_(
            L.AccessExclusiveLock,
            f"ALTER COLUMN {cmd.name} {'SET' if cmd.def_ is not None else 'DROP'} DEFAULT (metadata only)",
        )
    elif st == A.AT_DropNotNull:
        all_(L.AccessExclusiveLock, f"DROP NOT NULL on {cmd.name} (metadata only)")
    elif st == A.AT_SetNotNull:
        for name in targets:
            tt = schema.table(name)
            col = column_of(tt, cmd.name)
            storage = has_storage(schema, name)
            if col is not None and col.not_null:
                eff.add(name, L.AccessExclusiveLock, f"SET NOT NULL on {cmd.name}: already NOT NULL, no scan")
            elif (
                tt is not None
                and settings.pg_version >= 12
                and any(
                    c.kind == "check" and c.validated and c.check_not_null_column == cmd.name
                    for c in tt.constraints.values()
                )
            ):
                eff.add(
                    name,
                    L.AccessExclusiveLock,
                    f"SET NOT NULL on {cmd.name}: a validated CHECK ({cmd.name} IS NOT NULL) skips the scan"
                    " (PG 12+)",
                )
            else:
                eff.add(
                    name,
                    L.AccessExclusiveLock,
                    f"SET NOT NULL on {cmd.name} scans every row to check for NULLs{unknown_note}",
                    scan=storage,
                )
    elif st == A.AT_AlterColumnType:
        _alter_type(eff, targets, cmd, settings)
    elif st in (A.AT_AddConstraint, A.AT_AddIndexConstraint):
        _add_constraint(eff, table, t, cmd.def_, targets)
    elif st == A.AT_ValidateConstraint:
        con = t.constraints.get(cmd.name) if t is not None else None
        if con is not None and con.validated:
            all_(L.ShareUpdateExclusiveLock, f"VALIDATE CONSTRAINT {cmd.name}: already valid, no scan")
            return
        all_(
            L.ShareUpdateExclusiveLock,
            f"VALIDATE CONSTRAINT {cmd.name} scans every row without blocking writes",
            scan=True,
        )
        if con is not None and con.kind == "fk" and con.referenced_table:
            eff.add(
                con.referenced_table,
                L.RowShareLock,
                f"VALIDATE CONSTRAINT {cmd.name} reads the referenced table",
                scan=True,
            )
        elif con is None:
            pass
    elif st == A.AT_DropConstraint:
        con = t.constraints.get(cmd.name) if t is not None else None
        all_(L.AccessExclusiveLock, f"DROP CONSTRAINT {cmd.name}")
        if con is not None and con.kind == "fk" and con.referenced_table:
            # The FK's triggers on the referenced table are dropped too.
            eff.add(
                con.referenced_table,
                L.AccessExclusiveLock,
                f"DROP CONSTRAINT {cmd.name} removes its triggers on the referenced table",
            )
    elif st in (A.AT_SetStatistics, A.AT_SetOptions, A.AT_ResetOptions, A.AT_ClusterOn, A.AT_DropCluster):
        all_(L.ShareUpdateExclusiveLock, "column statistics/options or CLUSTER ON (metadata only)")
    elif st in (A.AT_SetRelOptions, A.AT_ResetRelOptions, A.AT_ReplaceRelOptions):
        all_(_reloption_lock(cmd.def_), "storage parameters (metadata only; existing rows keep their layout)")
    elif st in (
        A.AT_EnableTrig,
        A.AT_EnableAlwaysTrig,
        A.AT_EnableReplicaTrig,
        A.AT_DisableTrig,
        A.AT_EnableTrigAll,
        A.AT_DisableTrigAll,
        A.AT_EnableTrigUser,
        A.AT_DisableTrigUser,
    ):
        # Recursion to partitions happens only for triggers cloned onto them, which the model does not track;
        # with none (checked on PG 15/16) only the named table is locked.
        eff.add(table, L.ShareRowExclusiveLock, "ENABLE/DISABLE TRIGGER")
    elif st == A.AT_SetUnLogged:
        if t is not None and t.persistence == "u":
            all_(L.AccessExclusiveLock, "SET UNLOGGED: already unlogged")
        else:
            all_(L.AccessExclusiveLock, "SET UNLOGGED rewrites the table", rewrite=True)
    elif st == A.AT_SetLogged:
        if t is not None and t.persistence == "p":
            all_(L.AccessExclusiveLock, "SET LOGGED: already logged, nothing to do")
        else:
            all_(L.AccessExclusiveLock, "SET LOGGED rewrites the table and WAL-logs every row", rewrite=True)
    elif st == A.AT_SetTableSpace:
        all_(
            L.AccessExclusiveLock,
            "SET TABLESPACE copies every block to the new tablespace (assumed to differ)",
            rewrite=True,
        )
    elif st == A.AT_SetAccessMethod:
        method = str(cmd.name or "")
        if method == "heap":
            # heap is the only built-in table access method: setting it again is a no-op (PG 15+).
            all_(L.AccessExclusiveLock, "SET ACCESS METHOD heap: already heap (assumed), nothing to rewrite")
        else:
            all_(L.AccessExclusiveLock, f"SET ACCESS METHOD {method} rewrites the table", rewrite=True)
    elif st == A.AT_AttachPartition:
        _attach(eff, table, t, cmd.def_, settings)
    elif st == A.AT_DetachPartition:
        child = schema.resolve(cmd.def_.name)
        if cmd.def_.concurrent:
            eff.add(table, L.ShareUpdateExclusiveLock, "DETACH PARTITION CONCURRENTLY (PG 14+)")
            eff.add(
                child,
                L.AccessExclusiveLock,
                "DETACH PARTITION CONCURRENTLY: AccessExclusiveLock on the partition in its 2nd transaction",
            )
        else:
            eff.add(table, L.AccessExclusiveLock, "DETACH PARTITION locks the parent")
            eff.add(child, L.AccessExclusiveLock, "DETACH PARTITION")
    elif st == A.AT_DetachPartitionFinalize:
        eff.add(table, L.ShareUpdateExclusiveLock, "DETACH PARTITION FINALIZE")
        eff.add(schema.resolve(cmd.def_.name), L.AccessExclusiveLock, "DETACH PARTITION FINALIZE")
    elif st in (A.AT_AddIdentity, A.AT_SetIdentity, A.AT_DropIdentity, A.AT_DropExpression):
        all_(L.AccessExclusiveLock, "identity/generation change (metadata only)")
    elif st == A.AT_SetExpression:
        all_(L.AccessExclusiveLock, "SET EXPRESSION recomputes the stored generated column", rewrite=True)
    elif st in (A.AT_AddInherit, A.AT_DropInherit):
        eff.add(table, L.AccessExclusiveLock, "INHERIT/NO INHERIT")
        eff.add(schema.resolve(cmd.def_), L.ShareUpdateExclusiveLock, "INHERIT/NO INHERIT locks the parent")
    elif st == A.AT_ChangeOwner:
        all_(L.AccessExclusiveLock, "OWNER TO")
    else:
        # Everything else ALTER TABLE does (SET STORAGE, REPLICA IDENTITY, ROW LEVEL SECURITY, rules ...)
        # takes AccessExclusiveLock (AlterTableGetLockLevel's default).
        all_(L.AccessExclusiveLock, f"ALTER TABLE {st.name.removeprefix('AT_')}")


def _drop_column_keys(eff: EffectSet, table: str, t: Table | None, cmd: Any) -> None:
    """DROP COLUMN also drops the foreign keys through the column, and with them their triggers on the other
    table, under AccessExclusiveLock there too (checked on PG 15 and 16). Keys of other tables referencing the
    column go only with CASCADE (without it PostgreSQL refuses)."""
    if t is None:
        return
    for c in t.constraints.values():
        if c.kind == "fk" and cmd.name in c.columns and c.referenced_table and c.referenced_table != table:
            eff.add(
                c.referenced_table,
                L.AccessExclusiveLock,
                f"DROP COLUMN {cmd.name} drops foreign key {c.name} and its triggers on {c.referenced_table}",
            )
    if cmd.behavior != enums.DropBehavior.DROP_CASCADE:
        return
    for fk in eff.schema.referencing_fks(table):
        if fk.table != table and cmd.name in t.referenced_key(fk):
            why = f"DROP COLUMN {cmd.name} CASCADE drops foreign key {fk.name}"
            eff.add(fk.table, L.AccessExclusiveLock, why)


@dataclass(frozen=True)
class ColumnRewrite:
    """Why adding one column rewrites the table: kind is "identity", "generated", "serial", "domain" or
    "default" (a volatile default, or one calling a function of unknown volatility, or any default before
    PostgreSQL 11); why is the sentence effects give."""

    kind: str
    why: str


def column_rewrite(cd: Any, schema: Schema, settings: AnalysisSettings) -> ColumnRewrite | None:
    """Whether ADD COLUMN of this column definition rewrites the table, and why: decided for each column, so a
    rule about one column's default is not misled by another subcommand's rewrite in the same statement."""
    ref = type_ref(cd.typeName)
    cons = cd.constraints or ()
    if flag(cd.identity) or any(c.contype == C.CONSTR_IDENTITY for c in cons):
        why = "ADD COLUMN ... GENERATED AS IDENTITY fills every row from a sequence: rewrites the table"
        return ColumnRewrite("identity", why)
    if any(c.contype == C.CONSTR_GENERATED for c in cons):
        why = "ADD COLUMN with a STORED generated column computes every row: rewrites the table"
        return ColumnRewrite("generated", why)
    if ref.serial:
        why = f"ADD COLUMN {cd.colname} {ref.raw_name} fills every row from nextval(): rewrites the table"
        return ColumnRewrite("serial", why)
    if not ref.array and schema.domain(((ref.schema,) if ref.schema else ()) + (ref.raw_name,)):
        # Every row's value (the default, or NULL) must be checked against the domain's constraints.
        why = f"ADD COLUMN of domain {ref.display} with constraints checks every row: rewrites the table"
        return ColumnRewrite("domain", why)
    default = _default_of(cd)
    if default is None:
        return None
    vol, unknown = volatile_calls(default, schema)
    if vol:
        why = f"ADD COLUMN with volatile default {', '.join(dict.fromkeys(vol))} rewrites the table"
        return ColumnRewrite("default", why)
    if unknown:
        why = (
            f"ADD COLUMN with default calling {', '.join(dict.fromkeys(unknown))} (volatility unknown,"
            " assumed volatile) rewrites the table"
        )
        return ColumnRewrite("default", why)
    if settings.pg_version < 11:
        return ColumnRewrite("default", "ADD COLUMN with a default rewrites the table before PG 11")
    return None


def _default_of(cd: Any) -> Any:
    return next((c.raw_expr for c in cd.constraints or () if c.contype == C.CONSTR_DEFAULT), None)


def _add_column(
    eff: EffectSet, table: str, t: Table | None, cd: Any, targets: list[str], settings: AnalysisSettings
) -> None:
    schema = eff.schema
    ref = type_ref(cd.typeName)
    rewrite = column_rewrite(cd, schema, settings)
    rewrite_why = rewrite.why if rewrite is not None else ""
    scan_why = ""
    default = _default_of(cd)
    fk_ref: str | None = None
    note = ""
    for con in cd.constraints or ():
        ct = con.contype
        if ct == C.CONSTR_CHECK and not con.skip_validation:
            scan_why = f"ADD COLUMN {cd.colname} with a CHECK constraint validates every row"
        elif ct in (C.CONSTR_PRIMARY, C.CONSTR_UNIQUE):
            scan_why = (
                f"ADD COLUMN {cd.colname} with {'PRIMARY KEY' if ct == C.CONSTR_PRIMARY else 'UNIQUE'}"
                " builds an index over every row"
            )
        elif ct == C.CONSTR_FOREIGN:
            fk_ref = schema.resolve(con.pktable)
            if default is not None:
                scan_why = f"ADD COLUMN {cd.colname} REFERENCES with a default validates every row"
    domain = schema.domain(((ref.schema,) if ref.schema else ()) + (ref.raw_name,))
    if (
        default is not None
        and rewrite is None
        and domain is None
        and (ref.schema is not None or (ref.name not in known_builtin() and schema.enum(ref.name) is None))
    ):
        note = f" (if {ref.display} is a domain with constraints PostgreSQL rewrites instead)"
    not_null = bool(cd.is_not_null) or any(c.contype == C.CONSTR_NOTNULL for c in cd.constraints or ())
    null_default = default is None or (isinstance(default, ast.A_Const) and bool(default.isnull))
    if not_null and null_default and not rewrite_why and not scan_why:
        # Every existing row gets NULL, so PostgreSQL verifies the new NOT NULL over the whole table (and the
        # statement fails on the first row); with a non-null default there is nothing to verify.
        scan_why = (
            f"ADD COLUMN {cd.colname} NOT NULL without a default checks every row (and fails if there is one)"
        )
    if rewrite_why:
        reason = rewrite_why
    elif default is not None:
        reason = f"ADD COLUMN {cd.colname} with a non-volatile default: metadata only (PG 11+){note}"
    else:
        reason = f"ADD COLUMN {cd.colname} without a default: metadata only"
    for name in targets:
        storage = has_storage(schema, name)
        eff.add(
            name,
            L.AccessExclusiveLock,
            scan_why or reason,
            rewrite=bool(rewrite_why) and storage,
            scan=bool(scan_why) and storage,
        )
    if fk_ref is not None:
        eff.add(
            fk_ref,
            L.ShareRowExclusiveLock,
            f"ADD COLUMN {cd.colname} REFERENCES adds triggers on {fk_ref}",
            scan=bool(scan_why),
        )


def type_change(t: Table | None, cmd: Any, settings: AnalysisSettings) -> tuple[bool, str]:
    """(rewrite?, why) for one ALTER COLUMN ... TYPE subcommand on table t (None: not in the schema history):
    decided per column, so a rule about one column is not misled by another subcommand's rewrite."""
    if not using_is_plain(cmd.def_.raw_default, cmd.name or ""):
        return True, "a USING expression converts every row"
    col = column_of(t, cmd.name)
    return type_change_rewrites(col.type if col is not None else None, type_ref(cmd.def_.typeName), settings)


def _alter_type(eff: EffectSet, targets: list[str], cmd: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    new = type_ref(cmd.def_.typeName)
    for name in targets:
        tt = schema.table(name)
        storage = has_storage(schema, name)
        rewrite, why = type_change(tt, cmd, settings)
        scan = False
        extra = ""
        if not rewrite and tt is not None:
            checks = [
                c.name
                for c in tt.constraints.values()
                if c.kind == "check" and cmd.name in c.columns and c.validated
            ]
            if checks:
                scan = True
                extra = f"; CHECK constraint {', '.join(checks)} is re-validated (scans every row)"
            indexed = [i.name for i in tt.indexes.values() if cmd.name in i.columns]
            if cmd.def_.collClause is not None and indexed:
                # A new collation makes the old index order unusable; the model does not know the old
                # collation, so it assumes it changes and the indexes are rebuilt.
                scan = True
                extra += f"; COLLATE rebuilds index {', '.join(indexed)} (scans every row)"
        reason = f"ALTER COLUMN {cmd.name} TYPE {new.display}{type_mods(new)}: " + (
            f"rewrites the table and its indexes ({why})" if rewrite else f"no rewrite ({why}){extra}"
        )
        eff.add(name, L.AccessExclusiveLock, reason, rewrite=rewrite and storage, scan=scan and storage)
        if tt is None:
            continue
        # Foreign keys through the column are dropped and re-created with the new type, which re-creates
        # their triggers on the other table under AccessExclusiveLock; after a rewrite they are validated
        # again (checked on PG 16: the referenced table is read).
        recreated = [
            (c.referenced_table, c.name, "referencing this table")
            for c in tt.constraints.values()
            if c.kind == "fk" and cmd.name in c.columns and c.referenced_table and c.referenced_table != name
        ] + [
            (fk.table, fk.name, "on this table")
            for fk in schema.referencing_fks(name)
            if cmd.name in fk.referenced_columns and fk.table != name
        ]
        for other, fk_name, side in recreated:
            eff.add(
                other,
                L.AccessExclusiveLock,
                f"ALTER COLUMN {cmd.name} TYPE re-creates foreign key {fk_name} {side}"
                + (" and re-validates it (reads every row)" if rewrite else ""),
                scan=rewrite,
            )


def _add_constraint(eff: EffectSet, table: str, t: Table | None, con: Any, targets: list[str]) -> None:
    schema = eff.schema
    ct = con.contype
    label = con.conname or ""
    if ct == C.CONSTR_FOREIGN:
        ref = schema.resolve(con.pktable)
        validate = not con.skip_validation
        why = "validates every row against the referenced table" if validate else "NOT VALID: no scan"
        eff.add(
            table,
            L.ShareRowExclusiveLock,
            f"ADD FOREIGN KEY {label}: {why}".replace("  ", " "),
            scan=validate,
        )
        eff.add(
            ref,
            L.ShareRowExclusiveLock,
            f"ADD FOREIGN KEY {label} adds triggers on {ref}".replace("  ", " "),
            scan=validate,
        )
        return
    if ct in (C.CONSTR_PRIMARY, C.CONSTR_UNIQUE, C.CONSTR_EXCLUSION):
        kind = {C.CONSTR_PRIMARY: "PRIMARY KEY", C.CONSTR_UNIQUE: "UNIQUE", C.CONSTR_EXCLUSION: "EXCLUDE"}[ct]
        if con.indexname:
            idx = schema.index(f"{t.schema_name if t is not None else table.split('.')[0]}.{con.indexname}")
            cols_nullable = []
            if ct == C.CONSTR_PRIMARY and t is not None and idx is not None:
                cols_nullable = [c for c in idx.columns if c in t.columns and not t.columns[c].not_null]
            if cols_nullable:
                eff.add(
                    table,
                    L.AccessExclusiveLock,
                    f"ADD PRIMARY KEY USING INDEX sets NOT NULL on {', '.join(cols_nullable)}: full scan",
                    scan=True,
                )
            else:
                eff.add(
                    table,
                    L.AccessExclusiveLock,
                    f"ADD {kind} USING INDEX {con.indexname}: no index build, brief AccessExclusiveLock",
                )
            return
        if t is not None and t.kind == "partitioned":
            # The constraint goes on the parent; its index is built on each partition like CREATE INDEX
            # (ShareLock), unless a key column must first become NOT NULL there.
            eff.add(table, L.AccessExclusiveLock, f"ADD {kind} on a partitioned table")
            cols = strings(con.keys)
            for child in schema.children(table):
                ct_ = schema.table(child)
                nullable = ct == C.CONSTR_PRIMARY and (
                    ct_ is None or any(c not in ct_.columns or not ct_.columns[c].not_null for c in cols)
                )
                eff.add(
                    child,
                    L.AccessExclusiveLock if nullable else L.ShareLock,
                    f"ADD {kind} builds its index on partition {child}, scanning every row",
                    scan=has_storage(schema, child),
                )
            return
        eff.add(
            table,
            L.AccessExclusiveLock,
            f"ADD {kind} builds an index over every row under AccessExclusiveLock",
            scan=has_storage(schema, table),
        )
        return
    if ct == C.CONSTR_CHECK:
        validate = not con.skip_validation
        for name in targets:
            eff.add(
                name,
                L.AccessExclusiveLock,
                "ADD CHECK validates every row under AccessExclusiveLock"
                if validate
                else "ADD CHECK ... NOT VALID: no scan",
                scan=validate and has_storage(schema, name),
            )
        return
    for name in targets:
        eff.add(name, L.AccessExclusiveLock, "ADD CONSTRAINT")


def _attach(eff: EffectSet, table: str, t: Table | None, cmd: Any, settings: AnalysisSettings) -> None:
    schema = eff.schema
    child = schema.resolve(cmd.name)
    parent_lock = L.ShareUpdateExclusiveLock if settings.pg_version >= 12 else L.AccessExclusiveLock
    eff.add(table, parent_lock, f"ATTACH PARTITION takes {parent_lock.name} on the parent (PG 12+)")
    ct = schema.table(child)
    bound = cmd.bound
    has_check = False
    if ct is not None and bound is not None and not bound.is_default:
        # PostgreSQL skips the scan when existing validated constraints imply the partition bound; the model
        # recognises a validated CHECK on the partition key column with both bounds.
        key_cols = (t.partition_key if t is not None else ())
        for c in ct.constraints.values():
            if c.kind == "check" and c.validated and (not key_cols or set(key_cols) & set(c.columns)):  # noqa: SIM102
                if ">=" in c.expression or "<" in c.expression or " IN " in c.expression.upper():
                    has_check = True
    if has_check:
        eff.add(
            child, L.AccessExclusiveLock, "ATTACH PARTITION: a validated CHECK implies the bound, no scan"
        )
    else:
        eff.add(
            child, L.AccessExclusiveLock, "ATTACH PARTITION scans the partition to check the bound", scan=True
        )
    if t is not None:
        for p in t.partitions:
            pt = schema.table(p)
            if pt is not None and p != child and pt.is_default_partition:
                eff.add(p, L.AccessExclusiveLock, "ATTACH PARTITION scans the DEFAULT partition", scan=True)


HANDLERS: dict[str, Any] = {
    "AlterTableStmt": _alter_table,
}
