"""Volatility of function calls: built-ins from the generated catalog data, user functions from the
schema history. A call of unknown volatility is treated as volatile (conservative).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pglast import ast

from foreshock.core.nodes import strings, walk
from foreshock.core.schema import Schema


@cache
def _by_name() -> dict[str, dict[int, str]]:
    """Function name -> number of arguments -> the most volatile of those overloads. Argument types are not
    known statically, so among overloads of one arity the most volatile is the conservative choice. Built
    when first asked: the catalog data is loaded only by runs that call a function."""
    from foreshock.core.catalog_data import FUNCTIONS

    out: dict[str, dict[int, str]] = {}
    for signature, (volatility, _versions) in FUNCTIONS.items():
        name, _, args = signature.partition("(")
        arity = args.count(",") + 1 if args != ")" else 0
        by_arity = out.setdefault(name, {})
        by_arity[arity] = max(by_arity.get(arity, "i"), volatility, key="isv".index)
    return out


def function_volatility(parts: tuple[str, ...], arguments: int | None = None) -> str | None:
    """'i', 's' or 'v' for a built-in function called with `arguments` arguments (the overloads of that arity;
    all overloads when none matches, e.g. VARIADIC); None when unknown (user or extension function)."""
    if not parts:
        return None
    if len(parts) > 1 and parts[0] != "pg_catalog":
        return None
    by_arity = _by_name().get(parts[-1])
    if not by_arity:
        return None
    if arguments is not None and arguments in by_arity:
        return by_arity[arguments]
    return max(by_arity.values(), key="isv".index)


def volatile_calls(expr: Any, schema: Schema | None = None) -> tuple[list[str], list[str]]:
    """(volatile calls, calls of unknown volatility) in an expression: built-ins from the catalog data,
    user functions from CREATE FUNCTION seen in the schema history."""
    volatile: list[str] = []
    unknown: list[str] = []
    for n in walk(expr):
        if isinstance(n, ast.FuncCall):
            parts = strings(n.funcname)
            v = schema.function_volatility(parts) if schema is not None else None
            if v is None:
                v = function_volatility(parts, len(n.args or ()))
            name = ".".join(parts) + "()"
            if v is None:
                unknown.append(name)
            elif v == "v":
                volatile.append(name)
        elif isinstance(n, (ast.SubLink,)):
            unknown.append("a subquery")
    return volatile, unknown
