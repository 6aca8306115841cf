"""SQL text of AST nodes, for defaults, constraint expressions and messages.

pglast's printer (RawStream) is exact but costs ~0.3 ms a call: the commonest small expressions are printed
here directly, exactly as pglast would print them.
"""

from __future__ import annotations

from typing import Any

from pglast import ast, enums
from pglast.keywords import COL_NAME_KEYWORDS
from pglast.stream import RawStream, maybe_double_quote_name

from foreshock.core.nodes import strings


def deparse(node: Any) -> str:
    """SQL text of an expression node (for defaults and messages); never raises."""
    quick = _quick_deparse(node)
    if quick is not None:
        return quick
    exact = printed_like_pglast(node)
    if exact is not None:
        return exact
    try:
        return str(RawStream()(node))
    except Exception:  # pglast cannot print every node kind; the text is informative only
        return "?"


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


def _quick_deparse(node: Any) -> str | None:
    """The common default expressions (constants, casts, simple calls) without pglast's printer, which is
    slow enough to matter when loading a large pg_dump."""
    if isinstance(node, ast.A_Const):
        if node.isnull:
            return "NULL"
        v = node.val
        if isinstance(v, ast.Integer):
            return str(v.ival)
        if isinstance(v, ast.String):
            return "'" + str(v.sval).replace("'", "''") + "'"
        if isinstance(v, ast.Float):
            return str(v.fval)
        if isinstance(v, ast.Boolean):
            return "true" if v.boolval else "false"
        return None
    if isinstance(node, ast.TypeCast) and node.typeName is not None:
        inner = _quick_deparse(node.arg)
        names = strings(node.typeName.names)
        if inner is None or not names or node.typeName.typmods or node.typeName.arrayBounds:
            return None
        return f"{inner}::{names[-1]}"
    if isinstance(node, ast.FuncCall) and not node.agg_star and not node.over and not node.agg_order:
        args = [_quick_deparse(a) for a in node.args or ()]
        if any(a is None for a in args) or node.func_variadic or node.agg_distinct:
            return None
        return f"{'.'.join(strings(node.funcname))}({', '.join(a for a in args if a is not None)})"
    return None
