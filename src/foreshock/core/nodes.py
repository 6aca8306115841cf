"""Small helpers over pglast AST nodes: name parts, flags, constants, and walking a statement's tree.

Shared by the schema model, the effect model and the rules, so each reads a node the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from pglast import ast


def flag(value: Any) -> bool:
    """pglast renders unset char fields as '\\x00', which is truthy."""
    return bool(value) and value != "\x00"


def strings(items: Iterable[Any] | None) -> tuple[str, ...]:
    out: list[str] = []
    for item in items or ():
        if isinstance(item, ast.String):
            out.append(str(item.sval))
        elif isinstance(item, ast.A_Star):
            out.append("*")
    return tuple(out)


def int_value(node: Any) -> int | None:
    if isinstance(node, ast.A_Const) and isinstance(node.val, ast.Integer):
        return int(node.val.ival or 0)
    return None


def _child_slots(cls: type) -> tuple[str, ...]:
    """The attributes of a node class that can hold nodes or lists, reversed (the walk's stack order).

    pglast describes each slot with its C type: strings, booleans, numbers and enums never hold a node, and
    skipping them roughly halves the cost of a walk over a statement."""
    slots: Any = getattr(cls, "__slots__", ())
    names = list(slots)
    if isinstance(slots, dict):
        names = [k for k, info in slots.items() if _may_hold_node(str(getattr(info, "c_type", "*")))]
    return tuple(reversed(names))


def _may_hold_node(c_type: str) -> bool:
    return (c_type.endswith("*") and c_type != "char*") or c_type == "ValUnion"


_CHILD_SLOTS: dict[type, tuple[str, ...]] = {}


def walk(node: Any) -> Iterator[Any]:
    """Every AST node under `node` (depth first, pre-order)."""
    stack = [node]
    node_type = ast.Node
    child_slots = _CHILD_SLOTS
    while stack:
        n = stack.pop()
        if isinstance(n, node_type):
            yield n
            cls = type(n)
            names = child_slots.get(cls)
            if names is None:
                names = child_slots[cls] = _child_slots(cls)
            for name in names:
                v = getattr(n, name, None)
                if v is not None:
                    stack.append(v)
        elif isinstance(n, (tuple, list)):
            stack.extend(reversed(n))


def option_on(params: Any, name: str) -> bool:
    """A `(NAME [value])` option of a utility statement is on: written without a value, or with a true one
    (`REINDEX (CONCURRENTLY false) ...` is off)."""
    for d in params or ():
        if (getattr(d, "defname", None) or "").lower() != name:
            continue
        arg = getattr(d, "arg", None)
        value = getattr(arg, "sval", None)
        if value is None:
            value = getattr(arg, "ival", None)
        if value is None:
            value = getattr(arg, "boolval", None)
        return arg is None or str(value).lower() not in ("false", "off", "0", "no")
    return False


def range_vars(node: Any) -> Iterator[ast.RangeVar]:
    for n in walk(node):
        if isinstance(n, ast.RangeVar):
            yield n


def cte_names(node: Any) -> set[str]:
    out: set[str] = set()
    for n in walk(node):
        if isinstance(n, ast.CommonTableExpr) and n.ctename:
            out.add(n.ctename)
    return out


def column_refs(expr: Any) -> tuple[str, ...]:
    out: list[str] = []
    stack = [expr]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.ColumnRef):
            parts = strings(n.fields)
            if parts and parts[-1] not in out:
                out.append(parts[-1])
        elif isinstance(n, ast.Node):
            stack.extend(getattr(n, a, None) for a in n.__slots__)  # type: ignore[attr-defined]
        elif isinstance(n, (tuple, list)):
            stack.extend(n)
    return tuple(out)
