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


class StandIn:
    """Base (before the record class) of a subclass of a frozen dataclass record whose fields are partly made
    when first read, by descriptors of the subclass in front of them: equal to, hashed as, and pickled
    (copied) as the record of the dataclass with every field read out."""

    _record: type
    _fields: tuple[str, ...]
    _compared: tuple[str, ...]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        mro = cls.__mro__[1:]
        record = next(b for b in mro if dataclasses.is_dataclass(b) and not issubclass(b, StandIn))
        table: Any = record
        cls._record = record
        cls._fields = tuple(f.name for f in dataclasses.fields(table))
        cls._compared = tuple(f.name for f in dataclasses.fields(table) if f.compare)
        cls.__hash__ = record.__hash__  # type: ignore[method-assign]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, self._record):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self._compared)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _rebuilt, (self._record, tuple(getattr(self, name) for name in self._fields))


def _rebuilt(record: type[T], values: tuple[Any, ...]) -> T:
    return record(*values)
