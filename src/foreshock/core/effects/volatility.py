"""Volatility of function calls: built-ins from the generated catalog data, user functions from the
schema history. A call of unknown volatility is treated as volatile (conservative).
"""

from __future__ import annotations

from typing import Any

from pglast import ast

from foreshock.core.catalog_data import FUNCTION_VOLATILITY
from foreshock.core.nodes import strings, walk
from foreshock.core.schema import Schema


def function_volatility(parts: tuple[str, ...]) -> str | None:
    """'i', 's' or 'v' for a built-in function; None when unknown (user or extension function)."""
    if not parts:
        return None
    if len(parts) > 1 and parts[0] != "pg_catalog":
        return None
    return FUNCTION_VOLATILITY.get(parts[-1])


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
                v = function_volatility(parts)
            name = ".".join(parts) + "()"
            if v is None:
                unknown.append(name)
            elif v == "v":
                volatile.append(name)
        elif isinstance(n, (ast.SubLink,)):
            unknown.append("a subquery")
    return volatile, unknown
