"""A cheaper constructor for the frozen records made once per statement, effect and finding.

A frozen dataclass's generated __init__ stores each field through `object.__setattr__` (its own __setattr__
refuses assignment): one global lookup, one attribute lookup and one call per field. A 20,000-statement
migration makes about 270,000 records (statements, their facts and analyses, effects, held locks, findings,
hits, rewrites), so that is a tenth of its analysis. Writing the fields into the new instance's __dict__
gives the same object three times faster; it is still frozen afterwards (assignment still raises),
compares, hashes, copies and pickles as before (none of those call __init__ differently).

    @fast_init
    @dataclass(frozen=True)
    class Record: ...

The replacement takes exactly the parameters the dataclass's own __init__ takes (names, order, defaults,
keyword-only), fills fields with init=False from their defaults and calls __post_init__ when the class has
one; tests/test_records.py compares it with the generated one for every class that uses it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def fast_init(cls: type[T]) -> type[T]:
    """Replace a frozen dataclass's __init__ with one that writes its fields into the instance's __dict__."""
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" in cls.__dict__:
        raise TypeError(f"fast_init: {cls.__name__} is not a frozen dataclass with a __dict__")
    env: dict[str, Any] = {"_MISSING": _MISSING}
    positional: list[str] = []
    keyword: list[str] = []
    body: list[str] = ["    _d = self.__dict__"]
    record: Any = cls
    for n, f in enumerate(dataclasses.fields(record)):
        if not isinstance(f.type, str) and f.type is dataclasses.InitVar:  # pragma: no cover - unused here
            raise TypeError(f"fast_init: {cls.__name__}.{f.name} is an InitVar")
        default, factory = f"_d{n}", f"_f{n}"
        if f.default is not _MISSING:
            env[default] = f.default
        if f.default_factory is not _MISSING:
            env[factory] = f.default_factory
        if not f.init:
            if f.default is not _MISSING:
                body.append(f"    _d[{f.name!r}] = {default}")
            elif f.default_factory is not _MISSING:
                body.append(f"    _d[{f.name!r}] = {factory}()")
            continue
        if f.default is not _MISSING:
            param = f"{f.name}={default}"
            body.append(f"    _d[{f.name!r}] = {f.name}")
        elif f.default_factory is not _MISSING:
            param = f"{f.name}=_MISSING"
            body.append(f"    _d[{f.name!r}] = {factory}() if {f.name} is _MISSING else {f.name}")
        else:
            param = f.name
            body.append(f"    _d[{f.name!r}] = {f.name}")
        (keyword if f.kw_only else positional).append(param)
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()")
    signature = ", ".join(["self", *positional, *(["*", *keyword] if keyword else [])])
    # Code generated from the dataclass's own field table, as dataclasses itself does.
    exec(f"def __init__({signature}):\n" + "\n".join(body), env)
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(cls.__init__.__annotations__)
    init.__wrapped__ = cls.__init__  # the generated one, for inspect.signature and the test comparing them
    cls.__init__ = init  # type: ignore[method-assign]
    return cls


_INIT_FIELDS: dict[type, frozenset[str]] = {}


def evolve(record: T, **changes: Any) -> T:
    """dataclasses.replace for records without __post_init__, without re-running __init__ over every field
    (replace introspects the class and passes every field again): the record's fields copied, `changes`
    written over them. A name that is not an init field raises TypeError, as replace does."""
    cls = type(record)
    names = _INIT_FIELDS.get(cls)
    if names is None:
        if hasattr(cls, "__post_init__"):
            raise TypeError(f"evolve: {cls.__name__} has a __post_init__ (use dataclasses.replace)")
        table: Any = cls
        names = _INIT_FIELDS[cls] = frozenset(f.name for f in dataclasses.fields(table) if f.init)
    if not names.issuperset(changes):
        raise TypeError(f"evolve: {cls.__name__} has no init field {sorted(set(changes) - names)}")
    out = object.__new__(cls)
    out.__dict__.update(record.__dict__)
    out.__dict__.update(changes)
    return out
