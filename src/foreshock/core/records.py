"""Copying a frozen record with some fields changed, cheaply.

dataclasses.replace introspects the class and runs __init__ again over every field on each call; the rule
engine and the parser copy records for most findings and statements they make (a rewrite placed on its
statement, a statement given its directives).
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

_FIELDS: dict[type, tuple[str, ...]] = {}


def evolve(record: T, **changes: Any) -> T:
    """dataclasses.replace for records without __post_init__ or init=False fields, without re-running
    __init__ through replace's introspection of the class: each field copied, `changes` written over them.
    A name that is not a field raises TypeError, as replace does."""
    cls = type(record)
    names = _FIELDS.get(cls)
    if names is None:
        table: Any = cls
        fields = dataclasses.fields(table)
        if hasattr(cls, "__post_init__") or not all(f.init for f in fields):
            raise TypeError(f"evolve: {cls.__name__} has a __post_init__ or init=False fields (use replace)")
        names = _FIELDS[cls] = tuple(f.name for f in fields)
    if not set(changes).issubset(names):
        raise TypeError(f"evolve: {cls.__name__} has no field {sorted(set(changes) - set(names))}")
    out = object.__new__(cls)
    for name in names:
        # Set like the dataclass's own __init__ does: the instance keeps CPython's compact attribute storage.
        _SETATTR(out, name, changes[name] if name in changes else getattr(record, name))
    return out


_SETATTR = object.__setattr__
