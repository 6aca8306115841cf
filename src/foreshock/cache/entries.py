"""What check keeps in the store, and how it comes back.

- "file": one reported file's outcome without its statements: path, errors, file directives, findings and
  the rule engine's errors in it;
- "body": its statements and transactions, read only when a report asks for them (`CachedFileAnalysis`);
- "hist": a history unit (schema history read before `--since`) was seen at this key;
- "schema": the schema model after the unit at this key;
- "base": the errors of the `--schema` history.

Statements are kept without their syntax trees (reports never read them; trees are most of a statement's
bytes), and syntax trees inside the schema model (defaults, view queries) are pickled slot by slot and
restored without pglast's validating __setattr__, which made reading a snapshot cost as much as building it.
"""

from __future__ import annotations

import copyreg
import pickle
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from foreshock.core.model import FileAnalysis, Finding, Statement
from foreshock.errors import ForeshockError

if TYPE_CHECKING:
    from foreshock.cache import Store
    from foreshock.core.schema import Schema

FILE, BODY, HIST, SCHEMA, BASE = "file", "body", "hist", "schema", "base"


class CacheError(ForeshockError):
    """A cache entry a result still needs has gone (removed by another process) or is corrupt."""


def _reduce_statement(s: Statement) -> tuple[Any, tuple[Any, ...]]:
    return Statement, (s.path, s.index, s.line, s.column, s.end_line, s.end_column, s.text, s.kind, None,
                       s.in_do_block, s.directives)


_BODY_DISPATCH: dict[type, Any] = {**copyreg.dispatch_table, Statement: _reduce_statement}


class _BodyPickler(pickle.Pickler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dispatch_table = _BODY_DISPATCH


class _SchemaPickler(pickle.Pickler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dispatch_table = _schema_dispatch()


_SCHEMA_DISPATCH: dict[type, Any] = {}


def _schema_dispatch() -> dict[type, Any]:
    if not _SCHEMA_DISPATCH:
        from foreshock.core.ast_build import node_reducers

        _SCHEMA_DISPATCH.update({**copyreg.dispatch_table, **node_reducers()})
    return _SCHEMA_DISPATCH


class CachedFileAnalysis(FileAnalysis):
    """A FileAnalysis read from the cache: its statements and transactions are read when first used."""

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes missing from the instance: the two read lazily.
        if name not in ("statements", "transactions"):
            raise AttributeError(name)
        store, key = self.__dict__["_entry"]
        body = store.load(BODY, key)
        if body is None:
            raise CacheError(
                f"{self.__dict__['path']}: its cache entry has gone or is corrupt (run again, or --no-cache)"
            )
        self.__dict__["statements"], self.__dict__["transactions"] = body
        return self.__dict__[name]

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        fields = (self.path, self.statements, self.transactions, self.errors, self.file_directives)
        return FileAnalysis, fields


def save_file(
    store: Store, key: str, fa: FileAnalysis, findings: tuple[Finding, ...], errors: tuple[Any, ...]
) -> None:
    store.save(BODY, key, (fa.statements, fa.transactions), pickler=_BodyPickler)
    store.save(FILE, key, (fa.path, fa.errors, fa.file_directives, findings, errors))


def load_file(store: Store, key: str) -> tuple[FileAnalysis, tuple[Finding, ...], tuple[Any, ...]] | None:
    """(analysis, findings, engine errors) of the file kept under `key`, its statements read lazily; None
    when it is not there in full."""
    head = store.load(FILE, key)
    if head is None or not store.has(BODY, key):
        return None
    path, errors, directives, findings, engine_errors = head
    fa = CachedFileAnalysis.__new__(CachedFileAnalysis)
    fa.__dict__.update(path=path, errors=errors, file_directives=directives, _entry=(store, key))
    return fa, findings, engine_errors


def save_schema(store: Store, key: str, schema: Schema) -> None:
    store.save(SCHEMA, key, schema, pickler=_SchemaPickler)


def latest_schema(store: Store, keys: Sequence[str], before: int) -> tuple[Schema | None, int]:
    """The schema model after the latest unit before `before` that has a snapshot, and the unit after it."""
    for i in range(before - 1, -1, -1):
        if store.has(SCHEMA, keys[i]):
            schema: Schema | None = store.load(SCHEMA, keys[i])
            if schema is not None:
                return schema, i + 1
    return None, 0
