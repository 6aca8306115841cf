"""Build pglast AST nodes from libpg_query's JSON, without pglast's per-attribute validation.

pglast's own constructor validates and coerces every attribute through `Node.__setattr__`; on a large
migration that validation is most of the parse time. libpg_query's JSON already holds well-formed trees,
so this builder assigns the same attributes directly. The result is the same object graph pglast builds:
tests/test_ast_build.py compares the two, positions included, on every SQL text in the repository.

JSON conventions handled here: fields typed as a concrete node pointer (RangeVar*, TypeName*) hold the
bare struct, generic Node* fields and list items hold {"NodeName": {...}}; List nodes become tuples; an
empty object in a list is a NULL entry; A_Const keeps its value under ival/sval/fval/boolval/bsval; false
booleans, zero integers and NUL chars are omitted; a location of -1 means none.
"""

from __future__ import annotations

from typing import Any

from pglast import ast, enums

_INT_TYPES = frozenset(
    {
        "int", "int16", "int32", "uint32", "int64", "uint64", "long", "Oid", "Index", "AttrNumber",
        "Cost", "Cardinality", "SubTransactionId", "RelFileNumber", "AclMode", "bits32", "double",
    }
)
_VALUES = (
    ("ival", "Integer"), ("sval", "String"), ("fval", "Float"), ("boolval", "Boolean"), ("bsval", "BitString")
)

# kind codes for the per-slot dispatch
_NODE, _TYPED, _LIST, _BOOL, _INT, _CHAR, _STR, _ENUM, _EMBEDDED, _VALUNION, _LOC = range(11)

_Spec = tuple[Any, tuple[tuple[str, str, int, Any], ...]]
_SPECS: dict[str, _Spec] = {}
_setattr = object.__setattr__


def _spec(name: str) -> _Spec:
    spec = _SPECS.get(name)
    if spec is not None:
        return spec
    cls = getattr(ast, name)
    fields: list[tuple[str, str, int, Any]] = []
    for slot, info in cls.__slots__.items():
        ctype: str = info.c_type
        # pglast appends "_" to attribute names that are Python keywords (def_ for "def").
        key = slot[:-1] if slot.endswith("_") else slot
        extra: Any = None
        if ctype == "bool":
            kind = _BOOL
        elif ctype == "ParseLoc":
            kind = _LOC
        elif ctype in _INT_TYPES:
            kind = _INT
        elif ctype == "char":
            kind = _CHAR
        elif ctype == "char*":
            kind = _STR
        elif ctype == "List*":
            kind = _LIST
        elif ctype in ("Node*", "Expr*"):
            kind = _NODE
        elif ctype.endswith("*"):
            kind, extra = _TYPED, ctype[:-1]
        elif ctype == "CreateStmt":
            kind = _EMBEDDED
        elif ctype == "ValUnion":
            kind = _VALUNION
        elif hasattr(enums, ctype):
            kind, extra = _ENUM, getattr(enums, ctype)
        else:
            raise TypeError(f"ast_build: unhandled C type {ctype!r} of {name}.{slot}")
        fields.append((slot, key, kind, extra))
    spec = _SPECS[name] = (cls, tuple(fields))
    return spec


def build(value: Any) -> Any:
    """A pglast node (or tuple, or scalar) from one JSON value of libpg_query's parse tree."""
    if isinstance(value, dict):
        if not value:
            return None
        ((name, body),) = value.items()
        return build_node(name, body)
    if isinstance(value, list):
        return tuple(build(v) for v in value)
    return value


def build_node(name: str, body: dict[str, Any]) -> Any:
    if name == "List":
        return tuple(build(v) for v in body.get("items", ()))
    cls, fields = _spec(name)
    obj = cls.__new__(cls)
    get = body.get
    for slot, key, kind, extra in fields:
        v = get(key)
        if kind == _NODE:
            if v is not None:
                v = build(v)
        elif kind == _TYPED:
            if v is not None:
                v = build_node(extra, v)
        elif kind == _LIST:
            if v is not None:
                v = tuple([build(x) for x in v])
        elif kind == _BOOL:
            v = bool(v)
        elif kind == _INT:
            if v is None:
                v = 0
        elif kind == _LOC:
            # libpg_query writes -1 for "no position"; pglast turns that into None.
            if v is None:
                v = 0
            elif v < 0:
                v = None
        elif kind == _CHAR:
            if v is None:
                v = "\x00"
        elif kind == _ENUM:
            v = extra(0) if v is None else extra[v]
        elif kind == _EMBEDDED:
            if v is not None:
                v = build_node("CreateStmt", v)
        elif kind == _VALUNION:
            for vkey, vname in _VALUES:
                if vkey in body:
                    v = build_node(vname, body[vkey])
                    break
        _setattr(obj, slot, v)
    return obj
