"""The catalog model: what tables, columns, indexes and constraints exist, built from the DDL seen so far.

`Schema.apply(statement_node)` applies one parsed statement (a pglast AST node from `core.sql.parse`) in
order; a `pg_dump --schema-only` file, earlier migrations and the current file are all just history applied
the same way. Statements the model does not understand are ignored (the model only grows more precise).

Read API (used by effects and by rules):

- ``Schema.resolve(name)`` -> qualified name ("public.orders"). ``name`` is a pglast RangeVar, a sequence of
  name parts (``("orders",)``, ``("app", "orders")``) or a dotted string. Unqualified names resolve against
  the current search_path (``SET search_path`` / ``set_config('search_path', ...)`` with plain schema names);
  the first schema holding the object wins, else the first schema of the path (default ``public``).
- ``Schema.table(qualified) -> Table | None`` (tables, partitioned tables, views, materialized views, foreign
  tables). ``Schema.index(qualified) -> Index | None`` (``Index.table`` is the qualified table name).
  ``Schema.enum(qualified) -> Enum | None``; ``Schema.sequence(qualified) -> Sequence | None``.
- ``Schema.function_volatility(name_parts)`` ('i'/'s'/'v' of a CREATE FUNCTION seen, else None);
  ``Schema.domain(name_parts)`` (None unknown, else whether the domain has constraints);
  ``Schema.children(qualified)`` (partitions and inheritance children, recursively);
  ``Schema.referencing_fks(qualified)`` (foreign keys on other tables pointing at it).
- ``Schema.is_new(qualified) -> bool``: created in the current (non-history) file; such objects are not a
  production risk. ``Schema.begin_file(history)`` starts a file; ``begin_transaction``/``end_transaction``
  track objects created in the current transaction (``Schema.is_new_in_transaction``).
- ``Table.kind`` in table/partitioned/matview/view/foreign; ``Table.columns: dict[str, Column]`` in column
  order; ``Table.indexes: dict[str, Index]`` (qualified index name -> Index); ``Table.constraints:
  dict[str, Constraint]``; ``Table.triggers: dict[str, Trigger]`` (name -> events bit mask, row level,
  function); ``Table.partition_of`` (qualified parent or None), ``Table.partitions``,
  ``Table.inherits``, ``Table.persistence`` ("p" permanent, "u" unlogged, "t" temporary).
- ``Column.type_name`` normalised as format_type spells it ("integer", "character varying",
  "timestamp with time zone", "numeric", arrays end in "[]", user types keep their written name);
  ``Column.typmods`` (ints), ``not_null``, ``default`` (SQL text or None), ``default_node`` (AST),
  ``identity`` ("a" ALWAYS, "d" BY DEFAULT or None), ``generated`` ("s" stored or None).
- ``Constraint.kind`` in pk/unique/check/fk/exclude/not_null, ``.columns``, ``.validated``,
  ``.referenced_table`` (qualified, fk only), ``.check_not_null_column`` (for ``CHECK (col IS NOT NULL)``),
  ``.index`` (qualified index backing a pk/unique/exclude constraint).
- ``Index.columns`` (plain column names; expressions appear as ""), ``unique``, ``primary``, ``valid``,
  ``partial``, ``method``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pglast import ast, enums

from foreshock.core.deparse import deparse
from foreshock.core.model import Statement
from foreshock.core.nodes import column_refs, cte_names, flag, int_value, range_vars, strings
from foreshock.core.session import UNREADABLE, setting_changes

DEFAULT_SCHEMA = "public"
_C = enums.ConstrType
_A = enums.AlterTableType
_O = enums.ObjectType

# pg_catalog internal type names -> the name format_type() prints.
_TYPE_ALIASES = {
    "int2": "smallint",
    "int4": "integer",
    "int": "integer",
    "int8": "bigint",
    "float4": "real",
    "float8": "double precision",
    "bool": "boolean",
    "varchar": "character varying",
    "bpchar": "character",
    "char": "character",
    "decimal": "numeric",
    "timestamptz": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "timetz": "time with time zone",
    "time": "time without time zone",
    "varbit": "bit varying",
    "smallserial": "smallint",
    "serial2": "smallint",
    "serial": "integer",
    "serial4": "integer",
    "bigserial": "bigint",
    "serial8": "bigint",
}
SERIAL_TYPES = frozenset({"smallserial", "serial2", "serial", "serial4", "bigserial", "serial8"})


@dataclass(frozen=True)
class TypeRef:
    """A column type as written, normalised."""

    name: str  # format_type spelling without [] ("character varying", "public.mood" stays "mood")
    typmods: tuple[int, ...] = ()
    array: bool = False
    schema: str | None = None  # written schema for user types
    serial: bool = False
    raw_name: str = ""  # the last name part as written ("varchar", "bigserial", "mood")

    @property
    def display(self) -> str:
        return self.name + ("[]" if self.array else "")


def type_ref(tn: Any) -> TypeRef:
    global _last_type_ref
    # The effect model and then the schema model read the same column's type: the last answer is kept with
    # its node (one tuple, swapped in one assignment, so concurrent analyses never read a mixed entry).
    last = _last_type_ref
    if last[0] is tn:
        return last[1]
    ref = _type_ref(tn)
    _last_type_ref = (tn, ref)
    return ref


def _type_ref(tn: Any) -> TypeRef:
    parts = strings(tn.names)
    raw = parts[-1] if parts else "?"
    schema = parts[0] if len(parts) > 1 else None
    builtin = schema in (None, "pg_catalog")
    name = _TYPE_ALIASES.get(raw, raw) if builtin else raw
    if raw in ("timestamptz", "timestamp", "time", "timetz") and tn.typmods:
        name = _TYPE_ALIASES[raw]
    mods: list[int] = []
    for m in tn.typmods or ():
        v = int_value(m)
        if v is not None:
            mods.append(v)
    if builtin and raw in ("bpchar", "char") and not mods and schema == "pg_catalog":
        # `character` without a length means character(1).
        mods = [1]
    ref = TypeRef(
        name=name,
        typmods=tuple(mods),
        array=bool(tn.arrayBounds),
        schema=None if builtin else schema,
        serial=builtin and raw in SERIAL_TYPES,
        raw_name=raw,
    )
    # One instance per distinct type (a history's thousands of columns use a few dozen): a schema snapshot
    # then keeps each once, and reads back that much faster.
    return _TYPE_REFS.setdefault(ref, ref)


_TYPE_REFS: dict[TypeRef, TypeRef] = {}
_last_type_ref: tuple[Any, TypeRef] = (object(), TypeRef("?"))  # no node is that object


@dataclass(eq=False, repr=False)
class Column:
    """A column of a table: type, nullability, default, identity or generation."""

    name: str
    type_name: str
    typmods: tuple[int, ...] = ()
    not_null: bool = False
    default: str | None = None
    identity: str | None = None
    generated: str | None = None
    default_node: Any = field(default=None, repr=False, compare=False)
    type: TypeRef | None = field(default=None, repr=False, compare=False)


@dataclass(eq=False, repr=False)
class Index:
    """An index: its key columns and kind, and whether it is valid yet."""

    name: str  # qualified
    table: str  # qualified
    columns: tuple[str, ...] = ()
    unique: bool = False
    primary: bool = False
    valid: bool = True
    partial: bool = False
    method: str = "btree"


@dataclass(eq=False, repr=False)
class Constraint:
    """A table constraint, validated or NOT VALID, with what a foreign key references."""

    name: str
    table: str
    kind: str  # pk / unique / check / fk / exclude / not_null
    columns: tuple[str, ...] = ()
    validated: bool = True
    referenced_table: str | None = None
    referenced_columns: tuple[str, ...] = ()
    # fk only: pg_constraint.confdeltype ('a' no action, 'r' restrict, 'c' cascade, 'n' set null, 'd' default)
    on_delete: str = "a"
    check_not_null_column: str | None = None
    index: str | None = None
    expression: str = ""


# pg_trigger.tgtype event bits, as CreateTrigStmt.events carries them.
TRIGGER_INSERT = 1 << 2
TRIGGER_DELETE = 1 << 3
TRIGGER_UPDATE = 1 << 4


@dataclass(eq=False, repr=False)
class Trigger:
    """A trigger: the events it fires on, per row or per statement."""

    name: str
    events: int  # TRIGGER_INSERT | TRIGGER_DELETE | TRIGGER_UPDATE | TRUNCATE (1 << 5)
    row: bool  # FOR EACH ROW
    function: str = ""


@dataclass(eq=False, repr=False)
class Table:
    """A table (or view, materialized view, partition) as the history so far leaves it."""

    name: str  # qualified
    kind: str = "table"  # table / partitioned / matview / view / foreign
    columns: dict[str, Column] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)
    constraints: dict[str, Constraint] = field(default_factory=dict)
    partition_of: str | None = None
    partitions: list[str] = field(default_factory=list)
    inherits: list[str] = field(default_factory=list)
    persistence: str = "p"
    known_columns: bool = True  # False when created by a form whose columns are not modelled (AS SELECT)
    # Never created in the history: a statement named it, so it is assumed to exist before the migration.
    assumed: bool = False
    # A table this migration created and filled from existing ones (CREATE TABLE AS, SELECT INTO,
    # INSERT ... SELECT): new, but not empty -- as large as those tables at most, which is what work on it
    # is sized by.
    filled_from: tuple[str, ...] = ()
    partition_key: tuple[str, ...] = ()  # plain key columns of a partitioned table
    is_default_partition: bool = False
    query: Any = field(default=None, repr=False, compare=False)  # defining query of a view / matview
    triggers: dict[str, Trigger] = field(default_factory=dict)

    @property
    def schema_name(self) -> str:
        return self.name.split(".", 1)[0]

    def referenced_key(self, fk: Constraint) -> tuple[str, ...]:
        """The columns of this table a foreign key references: the ones it names, else the primary key."""
        if fk.referenced_columns:
            return fk.referenced_columns
        pk = next((c for c in self.constraints.values() if c.kind == "pk"), None)
        return pk.columns if pk is not None else ()

    def constraint_on(self, kind: str, columns: Sequence[str]) -> Constraint | None:
        cols = tuple(columns)
        for c in self.constraints.values():
            if c.kind == kind and c.columns == cols:
                return c
        return None


@dataclass(eq=False, repr=False)
class Enum:
    """An enum type and its labels in order."""

    name: str
    values: list[str] = field(default_factory=list)


@dataclass(eq=False, repr=False)
class Sequence_:
    """A sequence, and the column that owns it."""

    name: str
    owned_by: tuple[str, str] | None = None


# Errors a handler raises on a statement shape it does not expect (a None where a node was assumed).
_MODEL_ERRORS = (AttributeError, TypeError, ValueError, IndexError, KeyError)


def split_qualified(qualified: str) -> tuple[str, str]:
    schema, _, name = qualified.partition(".")
    return schema, name


class Schema:
    """The catalog as known from history and the statements applied so far (mutable, applied in order)."""

    def __init__(self) -> None:
        self.tables: dict[str, Table] = {}
        self.indexes: dict[str, Index] = {}
        self.enums: dict[str, Enum] = {}
        self.sequences: dict[str, Sequence_] = {}
        # qualified function name -> provolatile ('i', 's', 'v') of user functions created in history
        self.functions: dict[str, str] = {}
        # qualified domain name -> True when it has constraints (NOT NULL / CHECK)
        self.domains: dict[str, bool] = {}
        self.search_path: tuple[str, ...] = (DEFAULT_SCHEMA,)
        self._new: set[str] = set()
        self._new_in_txn: set[str] = set()
        # Tables and indexes the history dropped (or renamed away) and did not create again: known not to
        # exist, unlike a name the history never mentioned, which is assumed to exist (a partial history).
        self._gone: set[str] = set()
        self._history = True
        self._inheritance = False  # any INHERITS seen: children() must also look for inheritance children
        # Bumped whenever the model may change (apply, ensure_table, begin_file): readers can cache answers
        # about one state of the model.
        self.changes = 0
        # referenced table -> (table, fk) for every foreign key ever pointed at it (a superset of the live
        # ones): referencing_fks looks only there instead of at every constraint of every table, which was
        # quadratic on long files. Kept in step wherever a foreign key is created or its target renamed.
        self._fk_by_target: dict[str, list[tuple[Table, Constraint]]] = {}
        self._resolved: dict[tuple[str | None, str | None], str] = {}
        self._resolved_at = -1

    # ---- file / transaction tracking -------------------------------------------------------------
    def begin_file(self, history: bool) -> None:
        self.changes += 1
        self._history = history
        self._new = set()
        self._new_in_txn = set()
        self.search_path = (DEFAULT_SCHEMA,)

    def begin_transaction(self) -> None:
        self._new_in_txn = set()

    def end_transaction(self) -> None:
        self._new_in_txn = set()

    def is_new(self, qualified: str) -> bool:
        """Created in the current file (or by the current statement's file): not a production risk."""
        return qualified in self._new

    def is_new_in_transaction(self, qualified: str) -> bool:
        return qualified in self._new_in_txn

    def _mark_new(self, qualified: str) -> None:
        self._gone.discard(qualified)
        if not self._history:
            self._new.add(qualified)
            self._new_in_txn.add(qualified)

    def _rename_new(self, old: str, new: str) -> None:
        for s in (self._new, self._new_in_txn):
            if old in s:
                s.discard(old)
                s.add(new)

    # ---- lookup ----------------------------------------------------------------------------------
    def table(self, qualified: str) -> Table | None:
        return self.tables.get(qualified)

    def index(self, qualified: str) -> Index | None:
        return self.indexes.get(qualified)

    def enum(self, qualified: str) -> Enum | None:
        return self.enums.get(qualified) or self.enums.get(self.resolve(qualified))

    def sequence(self, qualified: str) -> Sequence_ | None:
        return self.sequences.get(qualified)

    def gone(self, qualified: str) -> bool:
        """The history dropped this table or index (and did not create it again): it does not exist. A name
        the history never mentioned is not gone: it is assumed to exist before the migration."""
        return qualified in self._gone

    def _exists(self, qualified: str) -> bool:
        return (
            qualified in self.tables
            or qualified in self.indexes
            or qualified in self.sequences
            or qualified in self.enums
        )

    def resolve(self, name: Any) -> str:
        """Qualified name for a RangeVar, a tuple of name parts or a (possibly dotted) string."""
        if isinstance(name, ast.RangeVar):
            schema, relname = name.schemaname, name.relname
            if relname:
                # What no state of the model can change, said at once: a qualified name, or a name a
                # one-schema search_path places in that schema whether or not it exists there (only a pg_
                # name that does not exists falls back to pg_catalog).
                if schema:
                    return f"{schema}.{relname}"
                path = self.search_path
                if len(path) == 1 and not relname.startswith("pg_"):
                    return f"{path[0]}.{relname}"
            # The effect model, the statement's facts and the rules all resolve the same names: remembered
            # while the model does not change (every apply, ensure_table and begin_file bumps `changes`).
            key = (schema, relname)
            if self._resolved_at != self.changes:
                self._resolved = {}
                self._resolved_at = self.changes
            found = self._resolved.get(key)
            if found is None:
                found = self._resolved[key] = self._resolve(tuple(p for p in key if p))
            return found
        if isinstance(name, str):
            return self._resolve(tuple(name.split(".")) if "." in name else (name,))
        return self._resolve(tuple(str(p.sval) if isinstance(p, ast.String) else str(p) for p in name))

    def _resolve(self, parts: tuple[str, ...]) -> str:
        if len(parts) >= 2:
            return f"{parts[-2]}.{parts[-1]}"
        if not parts:
            return f"{DEFAULT_SCHEMA}.?"
        for schema in self.search_path:
            q = f"{schema}.{parts[0]}"
            if self._exists(q):
                return q
        if parts[0].startswith("pg_"):
            # pg_catalog is searched before the search_path unless listed in it; every catalog relation's
            # name starts with pg_.
            return f"pg_catalog.{parts[0]}"
        first = self.search_path[0] if self.search_path else DEFAULT_SCHEMA
        return f"{first}.{parts[0]}"

    def create_target(self, rv: ast.RangeVar) -> str:
        """The qualified name a CREATE of `rv` gives its new relation (first schema of the search_path)."""
        if rv.schemaname:
            return f"{rv.schemaname}.{rv.relname}"
        first = self.search_path[0] if self.search_path else DEFAULT_SCHEMA
        return f"{first}.{rv.relname}"

    def ensure_table(self, qualified: str) -> Table:
        """The table, or a placeholder for a table never seen in history (its columns are unknown)."""
        t = self.tables.get(qualified)
        if t is None:
            t = Table(qualified, known_columns=False, assumed=True)
            self.tables[qualified] = t
            self._gone.discard(qualified)
            self.changes += 1
        return t

    def children(self, qualified: str) -> list[str]:
        """Partitions and inheritance children, recursively (what ALTER TABLE without ONLY reaches)."""
        out: list[str] = []
        todo = [qualified]
        seen = {qualified}
        while todo:
            t = self.tables.get(todo.pop())
            if t is None:
                continue
            for c in t.partitions:
                if c not in seen:
                    seen.add(c)
                    out.append(c)
                    todo.append(c)
        if not self._inheritance:
            return out
        for name, t in self.tables.items():
            if qualified in t.inherits and name not in seen:
                seen.add(name)
                out.append(name)
        return out

    def dependent_views(self, qualified: str) -> list[str]:
        """Views and materialized views whose query reads the table (recursively): DROP ... CASCADE drops
        them."""
        out: list[str] = []
        todo = [qualified]
        while todo:
            target = todo.pop()
            for name, t in self.tables.items():
                if t.query is None or name in out or name == qualified:
                    continue
                if any(self.resolve(rv) == target for rv in range_vars(t.query)):
                    out.append(name)
                    todo.append(name)
        return out

    def referencing_fks(self, qualified: str) -> list[Constraint]:
        """Foreign keys on other tables that reference this one."""
        owner: Table | None = None
        for t, c in self._fk_by_target.get(qualified, ()):
            if c.referenced_table != qualified or t.constraints.get(c.name) is not c:
                continue  # retargeted, dropped or renamed since: the scan below would not see it here
            if owner is not None and owner is not t:
                return self._referencing_fks_scan(qualified)
            owner = t
        if owner is None:
            return []
        if self.tables.get(owner.name) is not owner:
            # A dropped table (or one not under its own name): only the full scan knows what is live.
            return self._referencing_fks_scan(qualified)
        return [c for c in owner.constraints.values() if c.kind == "fk" and c.referenced_table == qualified]

    def _referencing_fks_scan(self, qualified: str) -> list[Constraint]:
        # Several referencing tables: the full scan gives them in catalog (insertion) order.
        return [
            c
            for t in self.tables.values()
            for c in t.constraints.values()
            if c.kind == "fk" and c.referenced_table == qualified
        ]

    # ---- apply -----------------------------------------------------------------------------------
    def apply_statement(self, stmt: Statement) -> str:
        """Apply one statement (Schema.apply); a CREATE TABLE only partly understood (Statement.unparsed)
        still creates its table, with its columns unknown."""
        failure = self.apply(stmt.node)
        if stmt.unparsed and isinstance(stmt.node, ast.CreateStmt):
            table = self.tables.get(self.resolve(stmt.node.relation))
            if table is not None:
                table.known_columns = False
        return failure

    def apply(self, node: Any) -> str:
        """Apply one statement; "" when done (unknown kinds change nothing), else what went wrong: a shape of
        statement a handler does not expect leaves the model without (part of) its change, and the caller
        says so."""
        self.changes += 1
        handler = _HANDLERS.get(type(node).__name__)
        if handler is None:
            return ""
        try:
            handler(self, node)
        except _MODEL_ERRORS as err:
            return (
                f"the schema model could not apply it ({type(err).__name__}: {err}); later statements are "
                "judged without its change (please report it)"
            )
        return ""

    # CREATE TABLE
    def _create(self, node: Any) -> None:
        name = self.create_target(node.relation)
        if node.if_not_exists and name in self.tables:
            return
        t = Table(name, persistence=node.relation.relpersistence or "p")
        if node.partspec is not None:
            t.kind = "partitioned"
            t.partition_key = tuple(
                p.name for p in node.partspec.partParams or () if isinstance(p, ast.PartitionElem) and p.name
            )
        self._drop_table(name)
        self.tables[name] = t
        self._mark_new(name)
        if node.partbound is not None and node.inhRelations:
            parent = self.resolve(node.inhRelations[0])
            t.partition_of = parent
            t.is_default_partition = bool(node.partbound.is_default)
            pt = self.ensure_table(parent)
            if name not in pt.partitions:
                pt.partitions.append(name)
            for col in pt.columns.values():
                t.columns[col.name] = Column(
                    col.name,
                    col.type_name,
                    col.typmods,
                    col.not_null,
                    col.default,
                    col.identity,
                    col.generated,
                    col.default_node,
                    col.type,
                )
        elif node.inhRelations:
            t.inherits = [self.resolve(r) for r in node.inhRelations]
            self._inheritance = True
        for elt in node.tableElts or ():
            if isinstance(elt, ast.ColumnDef):
                self._add_column(t, elt)
            elif isinstance(elt, ast.Constraint):
                self._add_constraint(t, elt, None)
            elif isinstance(elt, ast.TableLikeClause):
                self._like(t, elt)

    def _like(self, t: Table, like: Any) -> None:
        src = self.tables.get(self.resolve(like.relation))
        if src is None:
            t.known_columns = False
            return
        opts = int(like.options or 0)  # INCLUDING ALL sets every bit
        tlo = enums.TableLikeOption
        defaults = bool(opts & tlo.CREATE_TABLE_LIKE_DEFAULTS)
        constraints = bool(opts & tlo.CREATE_TABLE_LIKE_CONSTRAINTS)
        indexes = bool(opts & tlo.CREATE_TABLE_LIKE_INDEXES)
        identity = bool(opts & tlo.CREATE_TABLE_LIKE_IDENTITY)
        generated = bool(opts & tlo.CREATE_TABLE_LIKE_GENERATED)
        for col in src.columns.values():
            t.columns[col.name] = Column(
                col.name,
                col.type_name,
                col.typmods,
                col.not_null,
                col.default if defaults and not col.generated else None,
                col.identity if identity else None,
                col.generated if generated else None,
                col.default_node if defaults or generated else None,
                col.type,
            )
        if constraints:
            for c in src.constraints.values():
                if c.kind == "check":
                    t.constraints[c.name] = Constraint(
                        c.name,
                        t.name,
                        "check",
                        c.columns,
                        c.validated,
                        check_not_null_column=c.check_not_null_column,
                        expression=c.expression,
                    )
        if indexes:
            base = split_qualified(t.name)[1]
            for idx in src.indexes.values():
                suffix = "pkey" if idx.primary else ("key" if idx.unique else "idx")
                name = (
                    f"{t.schema_name}.{base}_pkey"
                    if idx.primary
                    else f"{t.schema_name}.{base}_{'_'.join(c or 'expr' for c in idx.columns)}_{suffix}"
                )
                new = Index(name, t.name, idx.columns, idx.unique, idx.primary, True, idx.partial, idx.method)
                self.indexes[name] = new
                t.indexes[name] = new
                self._mark_new(name)

    def _add_column(self, t: Table, cd: Any) -> Column:
        if cd.typeName is None:
            # column options in CREATE TABLE ... PARTITION OF (WITH OPTIONS)
            col = t.columns.get(cd.colname) or Column(cd.colname, "?")
        else:
            ref = type_ref(cd.typeName)
            col = Column(cd.colname, ref.display, ref.typmods, type=ref)
            if ref.serial:
                seq = f"{t.schema_name}.{split_qualified(t.name)[1]}_{cd.colname}_seq"
                col.default = f"nextval('{seq}'::regclass)"
                col.not_null = True
                self.sequences[seq] = Sequence_(seq, (t.name, cd.colname))
                self._mark_new(seq)
        if cd.is_not_null:
            col.not_null = True
        if flag(cd.identity):
            col.identity = cd.identity
        if flag(cd.generated):
            col.generated = cd.generated
        t.columns[cd.colname] = col
        for con in cd.constraints or ():
            self._add_constraint(t, con, cd.colname)
        return col

    def _constraint_name(self, t: Table, con: Any, cols: Sequence[str], suffix: str) -> str:
        if con.conname:
            return str(con.conname)
        base = split_qualified(t.name)[1]
        name = f"{base}_{'_'.join(cols)}_{suffix}" if cols else f"{base}_{suffix}"
        n = 1
        out = name
        while out in t.constraints:
            out = f"{name}{n}"
            n += 1
        return out

    def _add_constraint(self, t: Table, con: Any, column: str | None) -> None:
        ct = con.contype
        if ct == _C.CONSTR_NOTNULL:
            if column is not None and column in t.columns:
                t.columns[column].not_null = True
            return
        if ct == _C.CONSTR_NULL:
            if column is not None and column in t.columns:
                t.columns[column].not_null = False
            return
        if ct == _C.CONSTR_DEFAULT:
            if column is not None and column in t.columns:
                t.columns[column].default = deparse(con.raw_expr)
                t.columns[column].default_node = con.raw_expr
            return
        if ct == _C.CONSTR_IDENTITY:
            if column is not None and column in t.columns:
                t.columns[column].identity = con.generated_when if flag(con.generated_when) else "a"
                t.columns[column].not_null = True
            return
        if ct == _C.CONSTR_GENERATED:
            if column is not None and column in t.columns:
                t.columns[column].generated = "s"
                t.columns[column].default_node = con.raw_expr
            return
        validated = not con.skip_validation
        if ct in (_C.CONSTR_PRIMARY, _C.CONSTR_UNIQUE, _C.CONSTR_EXCLUSION):
            if ct == _C.CONSTR_EXCLUSION:
                cols = tuple(
                    el[0].name or "" for el in (con.exclusions or ()) if isinstance(el[0], ast.IndexElem)
                )
            else:
                cols = strings(con.keys) or ((column,) if column else ())
            kind = {_C.CONSTR_PRIMARY: "pk", _C.CONSTR_UNIQUE: "unique", _C.CONSTR_EXCLUSION: "exclude"}[ct]
            suffix = {"pk": "pkey", "unique": "key", "exclude": "excl"}[kind]
            name = con.conname or (
                f"{split_qualified(t.name)[1]}_pkey"
                if kind == "pk"
                else self._constraint_name(t, con, cols, suffix)
            )
            if con.indexname:
                idx_q = f"{t.schema_name}.{con.indexname}"
                idx = self.indexes.pop(idx_q, None)
                t.indexes.pop(idx_q, None)
                if idx is not None and not cols:
                    cols = idx.columns
            idx_q = f"{t.schema_name}.{name}"
            index = Index(
                idx_q,
                t.name,
                cols,
                unique=kind != "exclude",
                primary=kind == "pk",
                method=con.access_method or "btree",
            )
            self.indexes[idx_q] = index
            t.indexes[idx_q] = index
            self._mark_new(idx_q)
            t.constraints[name] = Constraint(name, t.name, kind, cols, True, index=idx_q)
            if kind == "pk":
                for c in cols:
                    if c in t.columns:
                        t.columns[c].not_null = True
            return
        if ct == _C.CONSTR_CHECK:
            nn_col = _is_not_null_check(con.raw_expr)
            refs = column_refs(con.raw_expr)
            name = self._constraint_name(t, con, (column,) if column else refs[:1], "check")
            t.constraints[name] = Constraint(
                name,
                t.name,
                "check",
                refs or ((column,) if column else ()),
                validated,
                check_not_null_column=nn_col,
                expression=deparse(con.raw_expr),
            )
            return
        if ct == _C.CONSTR_FOREIGN:
            cols = strings(con.fk_attrs) or ((column,) if column else ())
            ref = self.resolve(con.pktable)
            name = self._constraint_name(t, con, cols, "fkey")
            fk = t.constraints[name] = Constraint(
                name,
                t.name,
                "fk",
                cols,
                validated,
                referenced_table=ref,
                referenced_columns=strings(con.pk_attrs),
                on_delete=con.fk_del_action if flag(con.fk_del_action) else "a",
            )
            self._fk_by_target.setdefault(ref, []).append((t, fk))
            return

    def _drop_table(self, name: str) -> None:
        self._gone.add(name)
        t = self.tables.pop(name, None)
        if t is None:
            return
        for idx in t.indexes:
            self.indexes.pop(idx, None)
            self._gone.add(idx)
        if t.partition_of and t.partition_of in self.tables:
            parent = self.tables[t.partition_of]
            if name in parent.partitions:
                parent.partitions.remove(name)
        for child in t.partitions:
            # Partitions are dropped with their parent.
            self._drop_table(child)
        for seq in [s for s, v in self.sequences.items() if v.owned_by and v.owned_by[0] == name]:
            del self.sequences[seq]
        self._new.discard(name)

    # ALTER TABLE
    def _alter_table(self, node: Any) -> None:
        name = self.resolve(node.relation)
        objtype = node.objtype
        if objtype == enums.ObjectType.OBJECT_INDEX:
            return
        t = self.tables.get(name)
        if t is None:
            if node.missing_ok:
                return
            t = self.ensure_table(name)
        targets = [t]
        if node.relation.inh:
            targets += [self.tables[c] for c in self.children(name) if c in self.tables]
        for cmd in node.cmds or ():
            self._alter_cmd(t, cmd, targets)

    def _alter_cmd(self, t: Table, cmd: Any, targets: list[Table]) -> None:
        st = cmd.subtype
        if st == _A.AT_AddColumn:
            for tt in targets:
                if cmd.missing_ok and cmd.def_.colname in tt.columns:
                    continue
                self._add_column(tt, cmd.def_)
        elif st == _A.AT_DropColumn:
            for tt in targets:
                if cmd.behavior == enums.DropBehavior.DROP_CASCADE:
                    for fk in self.referencing_fks(tt.name):
                        if cmd.name in tt.referenced_key(fk) and fk.table in self.tables:
                            self.tables[fk.table].constraints.pop(fk.name, None)
                tt.columns.pop(cmd.name, None)
                for cname in [k for k, c in tt.constraints.items() if cmd.name in c.columns]:
                    dropped = tt.constraints.pop(cname)
                    if dropped.index:
                        self.indexes.pop(dropped.index, None)
                        tt.indexes.pop(dropped.index, None)
                for iname in [k for k, i in tt.indexes.items() if cmd.name in i.columns]:
                    tt.indexes.pop(iname, None)
                    self.indexes.pop(iname, None)
        elif st == _A.AT_ColumnDefault:
            for tt in targets:
                col = tt.columns.get(cmd.name)
                if col is not None:
                    col.default = None if cmd.def_ is None else deparse(cmd.def_)
                    col.default_node = cmd.def_
        elif st == _A.AT_SetNotNull:
            for tt in targets:
                if cmd.name in tt.columns:
                    tt.columns[cmd.name].not_null = True
        elif st == _A.AT_DropNotNull:
            for tt in targets:
                if cmd.name in tt.columns:
                    tt.columns[cmd.name].not_null = False
        elif st == _A.AT_AlterColumnType:
            ref = type_ref(cmd.def_.typeName)
            for tt in targets:
                col = tt.columns.get(cmd.name)
                if col is not None:
                    col.type_name, col.typmods, col.type = ref.display, ref.typmods, ref
        elif st in (_A.AT_AddConstraint, _A.AT_AddIndexConstraint):
            for tt in targets if cmd.def_.contype != enums.ConstrType.CONSTR_PRIMARY else [t]:
                self._add_constraint(tt, cmd.def_, None)
        elif st == _A.AT_ValidateConstraint:
            for tt in targets:
                c = tt.constraints.get(cmd.name)
                if c is not None:
                    c.validated = True
        elif st == _A.AT_DropConstraint:
            for tt in targets:
                c = tt.constraints.pop(cmd.name, None)
                if c is not None and c.index:
                    self.indexes.pop(c.index, None)
                    tt.indexes.pop(c.index, None)
        elif st == _A.AT_AddIdentity:
            col = t.columns.get(cmd.name)
            if col is not None:
                col.identity = "a"
                col.not_null = True
        elif st == _A.AT_DropIdentity:
            col = t.columns.get(cmd.name)
            if col is not None:
                col.identity = None
        elif st == _A.AT_DropExpression:
            col = t.columns.get(cmd.name)
            if col is not None:
                col.generated = None
        elif st == _A.AT_SetLogged:
            t.persistence = "p"
        elif st == _A.AT_SetUnLogged:
            t.persistence = "u"
        elif st == _A.AT_AttachPartition:
            child = self.resolve(cmd.def_.name)
            ct = self.ensure_table(child)
            ct.partition_of = t.name
            ct.is_default_partition = bool(cmd.def_.bound is not None and cmd.def_.bound.is_default)
            if child not in t.partitions:
                t.partitions.append(child)
        elif st == _A.AT_DetachPartition:
            if cmd.def_.concurrent:
                pass  # the detach completes at commit of its second transaction; model it as done
            child = self.resolve(cmd.def_.name)
            if child in t.partitions:
                t.partitions.remove(child)
            ct2 = self.tables.get(child)
            if ct2 is not None:
                ct2.partition_of = None
        elif st == _A.AT_AddInherit:
            parent = self.resolve(cmd.def_)
            if parent not in t.inherits:
                t.inherits.append(parent)
                self._inheritance = True
        elif st == _A.AT_DropInherit:
            parent = self.resolve(cmd.def_)
            if parent in t.inherits:
                t.inherits.remove(parent)

    def _index(self, node: Any) -> None:
        table = self.resolve(node.relation)
        t = self.ensure_table(table)
        if node.idxname:
            name = f"{t.schema_name}.{node.idxname}"
        else:
            cols0 = [e.name or "expr" for e in node.indexParams or ()]
            name = f"{t.schema_name}.{split_qualified(table)[1]}_{'_'.join(cols0)}_idx"
        if node.if_not_exists and name in self.indexes:
            return
        cols = tuple(e.name or "" for e in node.indexParams or () if isinstance(e, ast.IndexElem))
        idx = Index(
            name,
            table,
            cols,
            unique=bool(node.unique),
            primary=bool(node.primary),
            partial=node.whereClause is not None,
            method=node.accessMethod or "btree",
        )
        self.indexes[name] = idx
        t.indexes[name] = idx
        self._mark_new(name)

    def _drop(self, node: Any) -> None:
        rt = node.removeType
        for obj in node.objects or ():
            if rt in (_O.OBJECT_TABLE, _O.OBJECT_VIEW, _O.OBJECT_MATVIEW, _O.OBJECT_FOREIGN_TABLE):
                name = self.resolve(strings(obj))
                if node.behavior == enums.DropBehavior.DROP_CASCADE:
                    for dep in self.dependent_views(name):
                        self._drop_table(dep)
                self._drop_table(name)
            elif rt == _O.OBJECT_INDEX:
                name = self.resolve(strings(obj))
                self._gone.add(name)
                idx = self.indexes.pop(name, None)
                if idx is not None and idx.table in self.tables:
                    self.tables[idx.table].indexes.pop(name, None)
                self._new.discard(name)
            elif rt == _O.OBJECT_SEQUENCE:
                self.sequences.pop(self.resolve(strings(obj)), None)
            elif rt == _O.OBJECT_TRIGGER:
                *rel, trigger = strings(obj)
                t = self.tables.get(self.resolve(rel))
                if t is not None:
                    t.triggers.pop(trigger, None)
            elif rt == _O.OBJECT_TYPE:
                names = strings(obj.names) if isinstance(obj, ast.TypeName) else strings(obj)
                self.enums.pop(self.resolve(names), None)
                self.domains.pop(self.resolve(names), None)
                if node.behavior == enums.DropBehavior.DROP_CASCADE and names:
                    for t in self.tables.values():
                        for col in [
                            c
                            for c in t.columns.values()
                            if c.type is not None and c.type.raw_name == names[-1]
                        ]:
                            del t.columns[col.name]
            elif rt == _O.OBJECT_SCHEMA and node.behavior == enums.DropBehavior.DROP_CASCADE:
                name = str(obj.sval) if isinstance(obj, ast.String) else ".".join(strings(obj))
                for q in [q for q in self.tables if q.split(".", 1)[0] == name]:
                    self._drop_table(q)

    def _rename(self, node: Any) -> None:
        rt = node.renameType
        if rt in (_O.OBJECT_TABLE, _O.OBJECT_VIEW, _O.OBJECT_MATVIEW, _O.OBJECT_FOREIGN_TABLE):
            old = self.resolve(node.relation)
            t = self.tables.pop(old, None)
            if t is None:
                return
            new = f"{t.schema_name}.{node.newname}"
            self._move_table(t, old, new)
        elif rt == _O.OBJECT_COLUMN:
            t = self.tables.get(self.resolve(node.relation))
            if t is None or node.subname not in t.columns:
                return
            targets = [t] + [self.tables[c] for c in self.children(t.name) if c in self.tables]
            for tt in targets:
                col = tt.columns.pop(node.subname, None)
                if col is None:
                    continue
                col.name = node.newname
                tt.columns[node.newname] = col
                for c in tt.constraints.values():
                    c.columns = tuple(node.newname if x == node.subname else x for x in c.columns)
                    if c.check_not_null_column == node.subname:
                        c.check_not_null_column = node.newname
                for i in tt.indexes.values():
                    i.columns = tuple(node.newname if x == node.subname else x for x in i.columns)
        elif rt == _O.OBJECT_INDEX:
            old = self.resolve(node.relation)
            idx = self.indexes.pop(old, None)
            if idx is None:
                return
            new = f"{split_qualified(old)[0]}.{node.newname}"
            self._gone.add(old)
            self._gone.discard(new)
            idx.name = new
            self.indexes[new] = idx
            t2 = self.tables.get(idx.table)
            if t2 is not None:
                t2.indexes.pop(old, None)
                t2.indexes[new] = idx
                for c in t2.constraints.values():
                    if c.index == old:
                        c.index = new
            self._rename_new(old, new)
        elif rt == _O.OBJECT_TABCONSTRAINT:
            t = self.tables.get(self.resolve(node.relation))
            if t is None:
                return
            renamed = t.constraints.pop(node.subname, None)
            if renamed is not None:
                renamed.name = node.newname
                t.constraints[node.newname] = renamed
        elif rt == _O.OBJECT_SEQUENCE:
            old = self.resolve(node.relation)
            s = self.sequences.pop(old, None)
            if s is not None:
                s.name = f"{split_qualified(old)[0]}.{node.newname}"
                self.sequences[s.name] = s
        elif rt == _O.OBJECT_TYPE:
            names = strings(node.object.names if isinstance(node.object, ast.TypeName) else node.object)
            old = self.resolve(names)
            e = self.enums.pop(old, None)
            if e is not None:
                e.name = f"{split_qualified(old)[0]}.{node.newname}"
                self.enums[e.name] = e

    def _move_table(self, t: Table, old: str, new: str) -> None:
        self._gone.add(old)
        self._gone.discard(new)
        t.name = new
        self.tables[new] = t
        for idx in t.indexes.values():
            idx.table = new
        for c in t.constraints.values():
            c.table = new
        for other in self.tables.values():
            if other.partition_of == old:
                other.partition_of = new
            other.partitions = [new if p == old else p for p in other.partitions]
            other.inherits = [new if p == old else p for p in other.inherits]
            for c in other.constraints.values():
                if c.referenced_table == old:
                    c.referenced_table = new
                    self._fk_by_target.setdefault(new, []).append((other, c))
        self._rename_new(old, new)

    def _set_schema(self, node: Any) -> None:
        if node.objectType in (_O.OBJECT_TABLE, _O.OBJECT_VIEW, _O.OBJECT_MATVIEW, _O.OBJECT_FOREIGN_TABLE):
            old = self.resolve(node.relation)
            t = self.tables.pop(old, None)
            if t is None:
                return
            new = f"{node.newschema}.{split_qualified(old)[1]}"
            self._move_table(t, old, new)
            for iname in list(t.indexes):
                idx = t.indexes.pop(iname)
                self.indexes.pop(iname, None)
                idx.name = f"{node.newschema}.{split_qualified(iname)[1]}"
                t.indexes[idx.name] = idx
                self.indexes[idx.name] = idx
                for c in t.constraints.values():
                    if c.index == iname:
                        c.index = idx.name
        elif node.objectType == _O.OBJECT_TYPE:
            old = self.resolve(strings(node.object))
            e = self.enums.pop(old, None)
            if e is not None:
                e.name = f"{node.newschema}.{split_qualified(old)[1]}"
                self.enums[e.name] = e

    def _create_view(self, node: Any) -> None:
        name = self.create_target(node.view)
        self._drop_table(name)
        self.tables[name] = Table(name, kind="view", known_columns=False, query=node.query)
        self._mark_new(name)

    def _create_table_as(self, node: Any) -> None:
        matview = node.objtype == enums.ObjectType.OBJECT_MATVIEW
        self._create_from_query(node.into, node.query, matview, bool(node.if_not_exists))

    def _create_from_query(self, into: Any, query: Any, matview: bool, if_not_exists: bool = False) -> None:
        name = self.create_target(into.rel)
        if if_not_exists and name in self.tables:
            return
        self._drop_table(name)
        cols = {c: Column(c, "?") for c in strings(into.colNames)}
        filled = () if into.skipData else self.filled_by(query)
        self.tables[name] = Table(
            name,
            kind="matview" if matview else "table",
            columns=cols,
            known_columns=False,
            query=query,
            filled_from=filled,
        )
        self._mark_new(name)

    def filled_by(self, query: Any) -> tuple[str, ...]:
        """The existing tables whose rows a query copies: those it reads, through views and through tables
        this migration filled from others."""
        out: dict[str, None] = {}
        todo, seen = [query], 0
        ctes = cte_names(query)
        while todo and seen < 50:
            seen += 1
            for rv in range_vars(todo.pop()):
                if not rv.schemaname and rv.relname in ctes:
                    continue
                q = self.resolve(rv)
                t = self.tables.get(q)
                if q.startswith(("pg_catalog.", "information_schema.")):
                    continue
                if t is not None and t.kind == "view" and t.query is not None:
                    todo.append(t.query)
                elif self.is_new(q):
                    out.update(dict.fromkeys(t.filled_from if t is not None else ()))
                else:
                    out[q] = None
        return tuple(out)

    def _insert(self, node: Any) -> None:
        # INSERT ... SELECT into a table this migration created: it is no longer empty.
        if node.selectStmt is None:
            return
        t = self.tables.get(self.resolve(node.relation))
        if t is not None and self.is_new(t.name):
            filled = self.filled_by(node.selectStmt)
            if filled:
                t.filled_from = tuple(dict.fromkeys((*t.filled_from, *filled)))

    def _select(self, node: Any) -> None:
        self._set(node)
        if node.intoClause is not None:
            # SELECT ... INTO new_table: CREATE TABLE AS by another spelling.
            self._create_from_query(node.intoClause, node, False)

    def _create_foreign(self, node: Any) -> None:
        self._create(node.base)
        name = self.create_target(node.base.relation)
        if name in self.tables:
            self.tables[name].kind = "foreign"

    def _create_trigger(self, node: Any) -> None:
        t = self.ensure_table(self.resolve(node.relation))
        t.triggers[str(node.trigname)] = Trigger(
            str(node.trigname), int(node.events or 0), bool(node.row), ".".join(strings(node.funcname))
        )

    def _create_enum(self, node: Any) -> None:
        name = (
            self.resolve(strings(node.typeName))
            if len(node.typeName) > 1
            else (
                f"{self.search_path[0] if self.search_path else DEFAULT_SCHEMA}.{strings(node.typeName)[0]}"
            )
        )
        self.enums[name] = Enum(name, list(strings(node.vals)))
        self._mark_new(name)

    def _alter_enum(self, node: Any) -> None:
        e = self.enums.get(self.resolve(strings(node.typeName)))
        if e is None:
            return
        if node.oldVal:
            e.values = [node.newVal if v == node.oldVal else v for v in e.values]
        elif node.newVal and node.newVal not in e.values:
            e.values.append(node.newVal)

    def _create_seq(self, node: Any) -> None:
        name = self.create_target(node.sequence)
        self.sequences[name] = Sequence_(name)
        self._mark_new(name)

    def _alter_seq(self, node: Any) -> None:
        name = self.resolve(node.sequence)
        s = self.sequences.setdefault(name, Sequence_(name))
        for opt in node.options or ():
            if opt.defname == "owned_by":
                parts = strings(opt.arg)
                if len(parts) >= 2:
                    s.owned_by = (self.resolve(parts[:-1]), parts[-1])

    def _create_function(self, node: Any) -> None:
        parts = strings(node.funcname)
        name = self.resolve(parts) if len(parts) > 1 else f"{self.search_path[0]}.{parts[-1]}"
        vol = "v"  # CREATE FUNCTION defaults to VOLATILE
        for opt in node.options or ():
            if opt.defname == "volatility" and isinstance(opt.arg, ast.String):
                vol = {"immutable": "i", "stable": "s"}.get(str(opt.arg.sval), "v")
        # Overloads with different volatility: keep the most volatile (conservative).
        old = self.functions.get(name)
        self.functions[name] = max(vol, old or "i", key="isv".index)

    def function_volatility(self, parts: Sequence[str]) -> str | None:
        """Volatility of a user function seen in history (by name; overloads merged), else None."""
        if not parts:
            return None
        if len(parts) > 1:
            return self.functions.get(f"{parts[-2]}.{parts[-1]}")
        for schema in self.search_path:
            v = self.functions.get(f"{schema}.{parts[-1]}")
            if v is not None:
                return v
        return None

    def _create_domain(self, node: Any) -> None:
        parts = strings(node.domainname)
        name = self.resolve(parts) if len(parts) > 1 else f"{self.search_path[0]}.{parts[-1]}"
        self.domains[name] = bool(node.constraints)
        self._mark_new(name)

    def _alter_domain(self, node: Any) -> None:
        name = self.resolve(strings(node.typeName))
        if node.subtype in ("C", "O") and name in self.domains:
            self.domains[name] = True

    def domain(self, parts: Sequence[str]) -> bool | None:
        """None when not a known domain, else whether it has constraints."""
        if not parts:
            return None
        if len(parts) > 1:
            return self.domains.get(f"{parts[-2]}.{parts[-1]}")
        for schema in self.search_path:
            d = self.domains.get(f"{schema}.{parts[-1]}")
            if d is not None:
                return d
        return None

    def _set(self, node: Any) -> None:
        # SET search_path, RESET, and pg_dump's SELECT pg_catalog.set_config('search_path', '', false): read
        # like every other session setting (core.session). SET LOCAL is followed too: the model keeps no
        # transaction-scoped search_path.
        for change in setting_changes(node):
            if change.name != "search_path" or change.value == UNREADABLE:
                continue
            if change.value is None:
                self.search_path = (DEFAULT_SCHEMA,)
            else:
                self._set_path([v.strip().strip('"') for v in change.value.split(",")])

    def _set_path(self, vals: Sequence[str]) -> None:
        path = tuple(v for v in vals if v and v != "$user" and v != "pg_catalog")
        # An empty search_path (pg_dump sets one) means every name is qualified; keep public as fallback.
        self.search_path = path or (DEFAULT_SCHEMA,)


def _is_not_null_check(expr: Any) -> str | None:
    """The column of a `CHECK (col IS NOT NULL)` constraint, else None."""
    if (
        isinstance(expr, ast.NullTest)
        and expr.nulltesttype == enums.NullTestType.IS_NOT_NULL
        and isinstance(expr.arg, ast.ColumnRef)
    ):
        parts = strings(expr.arg.fields)
        return parts[-1] if parts else None
    return None


_HANDLERS: dict[str, Any] = {
    "CreateStmt": Schema._create,
    "AlterTableStmt": Schema._alter_table,
    "IndexStmt": Schema._index,
    "DropStmt": Schema._drop,
    "RenameStmt": Schema._rename,
    "AlterObjectSchemaStmt": Schema._set_schema,
    "ViewStmt": Schema._create_view,
    "CreateTableAsStmt": Schema._create_table_as,
    "CreateForeignTableStmt": Schema._create_foreign,
    "CreateEnumStmt": Schema._create_enum,
    "CreateTrigStmt": Schema._create_trigger,
    "AlterEnumStmt": Schema._alter_enum,
    "CreateSeqStmt": Schema._create_seq,
    "AlterSeqStmt": Schema._alter_seq,
    "VariableSetStmt": Schema._set,
    "CreateFunctionStmt": Schema._create_function,
    "CreateDomainStmt": Schema._create_domain,
    "AlterDomainStmt": Schema._alter_domain,
    "SelectStmt": Schema._select,
    "InsertStmt": Schema._insert,
    "DiscardStmt": Schema._set,
}
