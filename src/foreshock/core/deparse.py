"""SQL text of AST nodes, for defaults, constraint expressions and messages.

pglast's printer (RawStream) is exact but costs ~0.3 ms a call: the commonest small expressions are printed
here directly, exactly as pglast would print them.
"""

from __future__ import annotations

import functools
from typing import Any

from pglast import ast, enums
from pglast.keywords import COL_NAME_KEYWORDS, RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS

from foreshock.core.nodes import strings


@functools.lru_cache(maxsize=4096)
def maybe_double_quote_name(name: str) -> str:
    """pglast's quoting of a name, imported when first needed: pglast's printer module registers every
    printer on import, which a run that prints nothing need not pay for. Cached: the same names are quoted
    for nearly every fix."""
    from pglast.stream import maybe_double_quote_name as quote

    return str(quote(name))


def deparse(node: Any) -> str:
    """SQL text of a node, for defaults, constraint texts, messages and fixes: exactly what pglast's printer
    prints, or "..." for a node it cannot print (the text is shown to people, never parsed back)."""
    fast = _printed_here(node)
    if fast is not None:
        return fast
    try:
        return _printed_by_pglast(node)
    except _PRINTER_ERRORS:  # only pglast's printer: a bug in foreshock's own printing stays loud
        return "..."


def sql_text(node: Any) -> str:
    """Exactly what pglast's printer prints for a node, for SQL foreshock runs (apply's backfill batches);
    raises when the printer cannot print it."""
    fast = _printed_here(node)
    return fast if fast is not None else _printed_by_pglast(node)


def _printed_here(node: Any) -> str | None:
    fast = printed_like_pglast(node)
    return fast if fast is not None else _simple(node)


def _printed_by_pglast(node: Any) -> str:
    from pglast.stream import RawStream

    return str(RawStream()(node))  # a RawStream accumulates: one per call


# pglast's printer raises these for node kinds or shapes it has no printer for.
_PRINTER_ERRORS = (NotImplementedError, ValueError, KeyError, AttributeError, TypeError)


@functools.lru_cache(maxsize=4096)
def quote_ident(name: str) -> str:
    """An identifier as PostgreSQL needs it written (quoted when not plain). Cached: the same table and column
    names are quoted for nearly every finding and fix."""
    plain = (
        bool(name)
        and (name[0].isalpha() or name[0] == "_")
        and all(c.isalnum() or c == "_" for c in name)
        and name == name.lower()
        and name not in RESERVED_KEYWORDS
        and name not in TYPE_FUNC_NAME_KEYWORDS
    )
    return name if plain else '"' + name.replace('"', '""') + '"'


# pg_catalog type names pglast prints by their SQL spelling.
_TYPE_SPELLING = {
    "int2": "smallint",
    "int4": "integer",
    "int8": "bigint",
    "bool": "boolean",
    "float4": "real",
    "float8": "double precision",
    "bpchar": "char",
}


def _simple(node: Any) -> str | None:
    """The common small nodes (constants, calls, casts, plain types, column references) printed directly as
    pglast prints them: its printer costs ~50 us a call, and defaults, constraint texts and fixes are printed
    for every statement of a large pg_dump and every finding. None for anything else."""
    if isinstance(node, ast.A_Const):
        if node.isnull:
            return "NULL"
        val = node.val
        if isinstance(val, ast.Integer):
            return str(val.ival)
        if isinstance(val, ast.String):
            return "'" + str(val.sval).replace("'", "''") + "'"
        if isinstance(val, ast.Boolean):
            return "TRUE" if val.boolval else "FALSE"
        if isinstance(val, ast.Float):
            return str(val.fval)
        return None
    if isinstance(node, ast.FuncCall):
        if node.agg_order or node.agg_filter or node.over or node.agg_star or node.agg_distinct:
            return None
        if node.func_variadic or node.agg_within_group:
            return None
        names = [str(n.sval) for n in node.funcname or ()]
        if not names or names[0] == "pg_catalog":
            return None  # SQL-standard forms (CURRENT_TIMESTAMP, EXTRACT, ...) have their own spelling
        args = [_simple(a) for a in node.args or ()]
        if any(a is None or a.startswith("-") for a in args):
            return None
        return ".".join(quote_ident(n) for n in names) + "(" + ", ".join(a for a in args if a) + ")"
    if isinstance(node, ast.TypeCast) and node.typeName is not None:
        inner, typ = _simple(node.arg), _simple(node.typeName)
        if inner is None or typ is None or inner.startswith("-") or not isinstance(node.arg, ast.A_Const):
            return None
        return f"{inner}::{typ}"
    if isinstance(node, ast.TypeName):
        if node.arrayBounds or node.setof or node.pct_type or not node.names:
            return None
        names = [str(n.sval) for n in node.names]
        if names[0] == "pg_catalog" and len(names) == 2:
            name = _TYPE_SPELLING.get(names[1], names[1])
            if names[1] in ("interval", "timestamp", "timestamptz", "time", "timetz", "bit", "varbit"):
                return None if node.typmods else name
        else:
            name = ".".join(quote_ident(n) for n in names)
        if not node.typmods:
            return name
        mods = [_simple(m) for m in node.typmods]
        if any(m is None for m in mods):
            return None
        return f"{name}({', '.join(m for m in mods if m is not None)})"
    if isinstance(node, ast.ColumnRef) and all(isinstance(f, ast.String) for f in node.fields or ()):
        return ".".join(quote_ident(str(f.sval)) for f in node.fields or ())
    if isinstance(node, ast.ColumnDef):
        # A bare `name type` (the column of a split's ADD COLUMN): pglast prints the name, a space, the type.
        extras = (node.constraints, node.collClause, node.fdwoptions, node.storage_name, node.compression)
        if not node.colname or node.typeName is None or any(extras):
            return None
        typ = _pglast_type(node.typeName)
        return None if typ is None else f"{maybe_double_quote_name(str(node.colname))} {typ}"
    return None


# pg_catalog types pglast prints by their SQL spelling (its printer's `system_types`, less interval), with
# the suffix written after the type modifiers.
_PGLAST_SYSTEM_TYPES = {
    "bool": ("boolean", ""),
    "bpchar": ("char", ""),
    "float4": ("real", ""),
    "float8": ("double precision", ""),
    "int2": ("smallint", ""),
    "int4": ("integer", ""),
    "int8": ("bigint", ""),
    "numeric": ("numeric", ""),
    "time": ("time", ""),
    "timestamp": ("timestamp", ""),
    "timestamptz": ("timestamp", " with time zone"),
    "timetz": ("time", " with time zone"),
    "varbit": ("bit varying", ""),
    "varchar": ("varchar", ""),
}


def _pglast_type(node: Any) -> str | None:
    """A type name exactly as pglast prints it, for the common forms (integer modifiers, array bounds); None
    for anything else (interval fields, SETOF, %TYPE)."""
    if not isinstance(node, ast.TypeName) or node.setof or node.pct_type or not node.names:
        return None
    names = [n.sval if isinstance(n, ast.String) else None for n in node.names]
    if any(not n for n in names):
        return None
    mods: list[int] = []
    for m in node.typmods or ():
        if not isinstance(m, ast.A_Const) or not isinstance(m.val, ast.Integer):
            return None
        mods.append(int(m.val.ival or 0))
    suffix = ""
    if len(names) == 2 and names[0] == "pg_catalog":
        if names[1] not in _PGLAST_SYSTEM_TYPES:
            return None  # interval (its fields), and the types pglast prints qualified
        out, suffix = _PGLAST_SYSTEM_TYPES[str(names[1])]
        if names[1] == "bpchar" and mods == [1]:
            mods = []  # pglast simplifies char(1) to char
    elif names == ["char"]:
        out = '"char"'
    else:
        out = ".".join(maybe_double_quote_name(str(n)) for n in names)
    if mods:
        out += "(" + ", ".join(str(m) for m in mods) + ")"
    out += suffix
    for bound in node.arrayBounds or ():
        if not isinstance(bound, ast.Integer):
            return None
        out += f"[{bound.ival}]" if (bound.ival or 0) >= 0 else "[]"
    return out


# Comparison operators: between two plain operands pglast prints them bare, without parentheses.
_COMPARISONS = frozenset({"=", "<>", "<", ">", "<=", ">="})


def printed_like_pglast(node: Any) -> str | None:
    """Exactly what pglast's RawStream prints, for the commonest small expressions (`col = 5`,
    `col IS NOT NULL`); None for anything else. The printer costs ~0.3 ms a call (it first annotates the
    whole tree), and CHECK constraints and WHERE clauses of backfills are printed for every finding."""
    if isinstance(node, ast.A_Expr):
        if node.kind != enums.A_Expr_Kind.AEXPR_OP or not node.name or len(node.name) != 1:
            return None
        op = node.name[0]
        if not isinstance(op, ast.String) or op.sval not in _COMPARISONS:
            return None
        left, right = _pglast_arith(node.lexpr), _pglast_arith(node.rexpr)
        if left is None or right is None:
            return None
        return f"{left} {op.sval} {right}"
    if isinstance(node, ast.Constraint):
        return _pglast_foreign_key(node)
    if isinstance(node, ast.NullTest) and isinstance(node.arg, ast.ColumnRef) and not node.argisrow:
        col = _pglast_operand(node.arg)
        if col is None:
            return None
        test = node.nulltesttype
        if test == enums.NullTestType.IS_NULL:
            return f"{col} IS NULL"
        if test == enums.NullTestType.IS_NOT_NULL:
            return f"{col} IS NOT NULL"
    return None


def _names(items: Any) -> str | None:
    if not items or not all(isinstance(i, ast.String) and i.sval for i in items):
        return None
    return ", ".join(maybe_double_quote_name(str(i.sval)) for i in items)


def _pglast_foreign_key(con: Any) -> str | None:
    """`[CONSTRAINT name] FOREIGN KEY (cols) REFERENCES table [(cols)] [NOT VALID]` as pglast prints it; None
    for any other constraint or any option (MATCH, ON DELETE/UPDATE, DEFERRABLE, PERIOD, NOT ENFORCED)."""
    if con.contype != enums.ConstrType.CONSTR_FOREIGN:
        return None
    ref = con.pktable
    default_actions = ("\0", enums.FKCONSTR_ACTION_NOACTION)
    if (
        not isinstance(ref, ast.RangeVar)
        or not ref.relname
        or not ref.inh
        or ref.catalogname
        or ref.alias
        or con.fk_with_period
        or con.pk_with_period
        or con.fk_matchtype not in ("\0", enums.FKCONSTR_MATCH_SIMPLE)
        or con.fk_del_action not in default_actions
        or con.fk_upd_action not in default_actions
        or con.fk_del_set_cols
        or con.deferrable
        or con.initdeferred
        or not con.is_enforced
        or con.indexname
        or con.indexspace
        or con.including
        or con.options
        or con.keys
    ):
        return None
    cols = _names(con.fk_attrs)
    if cols is None:
        return None
    out = f"CONSTRAINT {maybe_double_quote_name(str(con.conname))} " if con.conname else ""
    out += f"FOREIGN KEY ({cols}) REFERENCES "
    if ref.schemaname:
        out += maybe_double_quote_name(str(ref.schemaname)) + "."
    out += maybe_double_quote_name(str(ref.relname))
    if con.pk_attrs:
        pk = _names(con.pk_attrs)
        if pk is None:
            return None
        out += f" ({pk})"
    if con.skip_validation:
        out += " NOT VALID"
    return out


def _pglast_arith(node: Any) -> str | None:
    """An operand of a comparison: a plain operand, or `x + y` / `x - y` of plain operands (binds tighter
    than any comparison, so pglast prints it without parentheses: `created_at < now() - CAST(...)`)."""
    if (
        isinstance(node, ast.A_Expr)
        and node.kind == enums.A_Expr_Kind.AEXPR_OP
        and node.name
        and len(node.name) == 1
        and isinstance(node.name[0], ast.String)
        and node.name[0].sval in ("+", "-")
    ):
        left, right = _pglast_operand(node.lexpr), _pglast_operand(node.rexpr)
        if left is None or right is None:
            return None
        return f"{left} {node.name[0].sval} {right}"
    return _pglast_operand(node)


def _pglast_operand(node: Any) -> str | None:
    """A column reference or a constant as pglast prints it; None otherwise (negative numbers too: they
    may get parentheses depending on the side)."""
    if isinstance(node, ast.ColumnRef):
        fields = node.fields or ()
        if not fields or not all(isinstance(f, ast.String) for f in fields):
            return None
        return ".".join(maybe_double_quote_name(f.sval) for f in fields)
    if isinstance(node, ast.FuncCall):
        # now(), clock_timestamp(): no arguments, no decoration, one unqualified ordinary name.
        names = node.funcname or ()
        if (
            len(names) != 1
            or not isinstance(names[0], ast.String)
            or not names[0].sval
            or names[0].sval in COL_NAME_KEYWORDS
            or node.args
            or node.agg_order
            or node.agg_filter
            or node.over
            or node.agg_star
            or node.agg_distinct
            or node.func_variadic
            or node.agg_within_group
        ):
            return None
        return f"{maybe_double_quote_name(str(names[0].sval))}()"
    if isinstance(node, ast.TypeCast):
        # interval '90 days': pglast spells the cast out.
        tn = node.typeName
        if (
            tn is None
            or tn.typmods
            or tn.arrayBounds
            or tn.setof
            or tn.pct_type
            or strings(tn.names) != ("pg_catalog", "interval")
            or not isinstance(node.arg, ast.A_Const)
            or not isinstance(node.arg.val, ast.String)
            or node.arg.isnull
        ):
            return None
        return "CAST('" + str(node.arg.val.sval).replace("'", "''") + "' AS interval)"
    if not isinstance(node, ast.A_Const):
        return None
    if node.isnull:
        return "NULL"
    v = node.val
    if isinstance(v, ast.Integer):
        return None if isinstance(v.ival, int) and v.ival < 0 else str(v.ival)
    if isinstance(v, ast.String):
        return "'" + str(v.sval).replace("'", "''") + "'"
    if isinstance(v, ast.Boolean):
        return "TRUE" if v.boolval else "FALSE"
    if isinstance(v, ast.Float) and isinstance(v.fval, str) and not v.fval.startswith("-"):
        return v.fval
    return None


def alter_parts(node: Any) -> tuple[str, tuple[str, ...] | None]:
    """The header and the subcommands of an ALTER TABLE as pglast prints them: a statement of several prints
    as the header, a space and the subcommands joined by ", " (tests.test_window checks it against pglast)."""
    head = deparse(_alter(node, ()))
    commands = []
    for cmd in node.cmds or ():
        one = deparse(_alter(node, (cmd,)))
        if one == "..." or not one.startswith(head + " "):
            return head, None  # pglast cannot print it: no SQL can be offered for it
        commands.append(one[len(head) + 1 :])
    return head, tuple(commands)


def _alter(node: Any, cmds: tuple[Any, ...]) -> Any:
    return ast.AlterTableStmt(
        relation=node.relation, cmds=cmds, objtype=node.objtype, missing_ok=node.missing_ok
    )
