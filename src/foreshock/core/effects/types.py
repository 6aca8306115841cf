"""ALTER COLUMN ... TYPE: which type changes keep the table's storage (binary-coercible) and which rewrite it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pglast import ast

from foreshock.core.model import AnalysisSettings
from foreshock.core.nodes import strings
from foreshock.core.schema import TypeRef

_TYPMOD_WIDENING = {
    "character varying",
    "bit varying",
    "timestamp without time zone",
    "timestamp with time zone",
    "time without time zone",
    "time with time zone",
    "interval",
}


def type_change_rewrites(old: TypeRef | None, new: TypeRef, settings: AnalysisSettings) -> tuple[bool, str]:
    """(rewrite?, why) for ALTER COLUMN ... TYPE from old to new without a USING expression."""
    if old is None:
        return (
            True,
            "the column's current type is unknown (not in the schema history), so a rewrite is assumed",
        )
    if old.array or new.array:
        if old == new or (old.display == new.display and old.typmods == new.typmods):
            return False, "the type does not change"
        return True, f"{old.display} -> {new.display} converts every array element"
    src, dst = old.name, new.name
    if src == dst:
        if old.typmods == new.typmods:
            return False, "the type does not change"
        if src == "numeric":
            if not new.typmods:
                return False, "numeric(p,s) -> numeric is binary-coercible"
            op = old.typmods + (0,) * (2 - len(old.typmods)) if old.typmods else None
            np_ = new.typmods + (0,) * (2 - len(new.typmods))
            if op is not None and np_[1] == op[1] and np_[0] >= op[0]:
                return False, "numeric precision widens with the same scale: binary-coercible"
            return True, (
                f"{old.display}{type_mods(old)} -> {new.display}{type_mods(new)} changes scale or narrows"
            )
        if src in _TYPMOD_WIDENING:
            if not new.typmods or (old.typmods and new.typmods[0] >= old.typmods[0]):
                return False, f"{src} length/precision widens: binary-coercible"
            return True, f"{src}{type_mods(old)} -> {dst}{type_mods(new)} narrows: every row is converted"
        return True, f"{src}{type_mods(old)} -> {dst}{type_mods(new)} needs a length coercion of every row"
    if {src, dst} == {"timestamp without time zone", "timestamp with time zone"} and not new.typmods:
        if settings.pg_version >= 12 and settings.timezone_utc:
            return (
                False,
                "timestamp <-> timestamptz is binary-coercible when the session TimeZone is UTC (PG 12+)",
            )
        return True, "timestamp <-> timestamptz rewrites unless TimeZone is UTC (PG 12+)"
    from foreshock.core.catalog_data import BINARY_COERCIBLE_CASTS

    if (src, dst) in BINARY_COERCIBLE_CASTS:
        if not new.typmods or (dst == "character varying" and src != "character"):
            if new.typmods:
                return True, f"{src} -> {dst}{type_mods(new)} must check every value's length"
            return False, f"{src} -> {dst} is binary-coercible"
        return True, f"{src} -> {dst}{type_mods(new)} must check or pad every value"
    return True, f"{old.display}{type_mods(old)} -> {new.display}{type_mods(new)} is not binary-coercible"


def type_mods(t: TypeRef) -> str:
    return f"({','.join(str(m) for m in t.typmods)})" if t.typmods else ""


def using_is_plain(expr: Any, column: str) -> bool:
    """USING col or USING col::newtype behaves like no USING clause."""
    if expr is None:
        return True
    if isinstance(expr, ast.TypeCast):
        expr = expr.arg
    return isinstance(expr, ast.ColumnRef) and strings(expr.fields)[-1:] == (column,)


@cache
def known_builtin() -> frozenset[str]:
    """Built-in type names (format_type spelling): those of the catalog's binary-coercible casts and the
    common others. Built when first asked, so a run that changes no column type never loads the catalog."""
    from foreshock.core.catalog_data import BINARY_COERCIBLE_CASTS

    return frozenset(n for pair in BINARY_COERCIBLE_CASTS for n in pair) | _COMMON


_COMMON = frozenset(
    {
        "smallint",
        "integer",
        "bigint",
        "real",
        "double precision",
        "boolean",
        "numeric",
        "text",
        "character varying",
        "character",
        "date",
        "timestamp without time zone",
        "timestamp with time zone",
        "time without time zone",
        "time with time zone",
        "interval",
        "uuid",
        "json",
        "jsonb",
        "bytea",
        "inet",
        "cidr",
        "macaddr",
        "money",
        "bit",
        "bit varying",
        "xml",
        "tsvector",
        "point",
        "int4range",
        "int8range",
        "tstzrange",
        "daterange",
        "oid",
    }
)
