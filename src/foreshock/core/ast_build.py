"""Build pglast AST nodes from libpg_query's JSON, without pglast's per-attribute validation.

pglast's own constructor validates and coerces every attribute through `Node.__setattr__`; on a large
migration that validation is most of the parse time. libpg_query's JSON already holds well-formed trees,
so this builder assigns the same attributes directly. The result is the same object graph pglast builds:
tests/test_ast_build.py compares the two, positions included, on every SQL text in the repository.

JSON conventions handled here: fields typed as a concrete node pointer (RangeVar*, TypeName*) hold the
bare struct, generic Node* fields and list items hold {"NodeName": {...}}; List nodes become tuples; an
empty object in a list is a NULL entry; A_Const keeps its value under ival/sval/fval/boolval/bsval; false
booleans, zero integers and NUL chars are omitted; a location of -1 means none.

Speed: one builder function per node class, generated from pglast's slot table the first time the class is
met, sets each slot through its slot descriptor. A per-slot interpreted dispatch costs about twice as much,
and building nodes is the largest part of parsing a migration.

Positions: `off` is subtracted from every location, so a statement cut out of a file parsed whole gets the
positions it would have if parsed on its own (pglast's are relative to the statement). For a statement
holding non-ASCII text `off` is instead a list mapping libpg_query's byte offsets to character offsets,
which is what pglast reports.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any, Protocol

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

class ByteMap(Protocol):
    """libpg_query's byte offset -> the character offset to report (a list, or core.sql's map)."""

    def __getitem__(self, byte: int, /) -> int: ...


Offset = int | ByteMap
_NON_ASCII = re.compile(r"[^\x00-\x7f]")
_Builder = Callable[[dict[str, Any], Offset], Any]


def _loc(v: int, off: Offset) -> int | None:
    # libpg_query writes -1 for "no position"; pglast turns that into None.
    if v < 0:
        return None
    return v - off if isinstance(off, int) else off[v]


class _Builders(dict[str, _Builder]):
    """Node name -> its builder, generated when the name is first met."""

    def __missing__(self, name: str) -> _Builder:
        builder = self[name] = _generate(name)
        return builder


_BUILDERS = _Builders()


def _generate(name: str) -> _Builder:
    if name == "List":
        def build_list(body: dict[str, Any], off: Offset) -> tuple[Any, ...]:
            return tuple([build(v, off) for v in body.get("items", ())])

        return build_list
    cls = getattr(ast, name)
    env: dict[str, Any] = {"_new": cls.__new__, "_cls": cls, "_build": build, "_B": _BUILDERS, "_loc": _loc}
    lines = [f"def build_{name}(d, off):", "    o = _new(_cls)", "    g = d.get"]
    for i, (slot, info) in enumerate(cls.__slots__.items()):
        ctype: str = info.c_type
        # pglast appends "_" to attribute names that are Python keywords (def_ for "def").
        key = slot[:-1] if slot.endswith("_") else slot
        setter = f"_s{i}"
        env[setter] = cls.__dict__[slot].__set__
        if ctype == "bool":
            value = f"g({key!r}, False)"
        elif ctype == "ParseLoc":
            lines.append(f"    v = g({key!r})")
            value = "0 if v is None else _loc(v, off)"
        elif ctype in _INT_TYPES:
            value = f"g({key!r}, 0)"
        elif ctype == "char":
            value = f"g({key!r}, '\\x00')"
        elif ctype == "char*":
            value = f"g({key!r})"
        elif ctype == "List*":
            lines.append(f"    v = g({key!r})")
            value = "None if v is None else tuple([_build(x, off) for x in v])"
        elif ctype in ("Node*", "Expr*"):
            lines.append(f"    v = g({key!r})")
            value = "None if v is None else _build(v, off)"
        elif ctype.endswith("*") or ctype == "CreateStmt":
            # A concrete node pointer (or CreateStmt embedded by value) holds the bare struct.
            target = ctype.rstrip("*")
            lines.append(f"    v = g({key!r})")
            value = f"None if v is None else _B[{target!r}](v, off)"
        elif ctype == "ValUnion":
            lines.append(f"    v = g({key!r})")
            for n, (vkey, vname) in enumerate(_VALUES):
                test = "if" if n == 0 else "elif"
                lines.append(f"    {test} {vkey!r} in d: v = _B[{vname!r}](d[{vkey!r}], off)")
            value = "v"
        elif hasattr(enums, ctype):
            enum = getattr(enums, ctype)
            table: dict[Any, Any] = {m.name: m for m in enum}
            # An omitted enum field is its zero member; an enum without one (PartitionStrategy is a char)
            # is always written.
            with contextlib.suppress(ValueError):
                table[None] = enum(0)
            env[f"_e{i}"] = table
            value = f"_e{i}[g({key!r})]"
        else:
            raise TypeError(f"ast_build: unhandled C type {ctype!r} of {name}.{slot}")
        lines.append(f"    {setter}(o, {value})")
    lines.append("    return o")
    # Code generated above from pglast's own slot table.
    exec("\n".join(lines), env)
    builder: _Builder = env[f"build_{name}"]
    return builder


def build(value: Any, off: Offset = 0) -> Any:
    """A pglast node (or tuple, or scalar) from one JSON value of libpg_query's parse tree."""
    if value.__class__ is dict:
        if not value:
            return None
        for name, body in value.items():
            return _BUILDERS[name](body, off)
    if value.__class__ is list:
        return tuple([build(v, off) for v in value])
    return value


def build_node(name: str, body: dict[str, Any], off: Offset = 0) -> Any:
    """The node `name` from its JSON body."""
    return _BUILDERS[name](body, off)


def byte_offsets(text: str) -> list[int]:
    """For each byte offset of `text` in UTF-8 (and the end), the character offset it falls in."""
    out: list[int] = []
    done = 0
    for m in _NON_ASCII.finditer(text):
        at = m.start()
        out.extend(range(done, at))  # ASCII: one byte per character
        out.extend([at] * len(m.group().encode("utf-8")))
        done = at + 1
    out.extend(range(done, len(text) + 1))
    return out


def restore(cls: Any, values: tuple[Any, ...]) -> Any:
    """A node of `cls` with its slots set to `values` (in slot order): how pickled trees come back, without
    pglast's validating __setattr__ (a copy of a tree pglast or this builder built is well-formed)."""
    node = cls.__new__(cls)
    for setter, value in zip(_setters(cls), values, strict=True):
        setter(node, value)
    return node


def make(cls: Any, **fields: Any) -> Any:
    """A node of `cls` with `fields` set and every other attribute None: what pglast's constructor makes of
    well-typed values (nodes, tuples of nodes, enum members, str, bool, int), without its validating
    __setattr__ (most of its cost: a Constraint has over thirty attributes)."""
    node = cls.__new__(cls)
    for slot, setter in zip(cls.__slots__, _setters(cls), strict=True):
        setter(node, fields.pop(slot, None))
    if fields:
        raise TypeError(f"{cls.__name__} has no attribute {sorted(fields)}")
    return node


_SETTERS: dict[type, tuple[Callable[[Any, Any], None], ...]] = {}


def _setters(cls: Any) -> tuple[Callable[[Any, Any], None], ...]:
    found = _SETTERS.get(cls)
    if found is None:
        found = _SETTERS[cls] = tuple(cls.__dict__[slot].__set__ for slot in cls.__slots__)
    return found


def _reduce(node: Any) -> tuple[Any, tuple[Any, ...]]:
    cls = type(node)
    return restore, (cls, tuple([getattr(node, slot) for slot in cls.__slots__]))


def node_reducers() -> dict[type, Callable[[Any], tuple[Any, tuple[Any, ...]]]]:
    """A pickling dispatch table for every pglast node class (see `restore`)."""
    classes = [c for c in vars(ast).values() if isinstance(c, type) and issubclass(c, ast.Node)]
    return {cls: _reduce for cls in classes if isinstance(cls.__dict__.get("__slots__"), dict)}
