"""What check keeps in the store, and how it comes back.

- "file": one reported file's outcome without its statements: path, errors, file directives, findings (rows
  of their fields' values) and the rule engine's errors in it;
- "body": its statements and transactions, read only when a report or a command asks for them
  (`CachedFileAnalysis`);
- "rewrites": its findings' safe rewrites, read (all of a file's at once) when the first of them is used
  (`CachedFinding`): the verdict folds a missing lock_timeout into the rewrite of the finding it rides on,
  which should not cost reading the file's statements too;
- "hist": a history unit (schema history read before `--since`) was seen at this key;
- "schema": the schema model after the unit at this key;
- "base": the errors of the `--schema` history.

(A line-per-finding report of a history, in per-file shares, is kept by foreshock.cache.shares.)

Statements are kept without their syntax trees (reports never read them; trees are most of a statement's
bytes), and syntax trees inside the schema model (defaults, view queries) are pickled slot by slot and
restored without pglast's validating __setattr__, which made reading a snapshot cost as much as building it.
"""

from __future__ import annotations

import copyreg
import dataclasses
import pickle
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from foreshock.core.model import FileAnalysis, Finding, Statement
from foreshock.core.records import StandIn
from foreshock.errors import ForeshockError

if TYPE_CHECKING:
    from foreshock.cache import Store
    from foreshock.core.schema import Schema

FILE, BODY, REWRITES, HIST, SCHEMA, BASE = "file", "body", "rewrites", "hist", "schema", "base"


class CacheError(ForeshockError):
    """A cache entry a result still needs has gone (removed by another process) or is corrupt."""


# Every field of a Statement, in order: a field added later is kept without a change here.
_STATEMENT_FIELDS = tuple(f.name for f in dataclasses.fields(Statement))


def _reduce_statement(s: Statement) -> tuple[Any, tuple[Any, ...]]:
    # Without its syntax tree (`node`).
    return Statement, tuple(None if name == "node" else getattr(s, name) for name in _STATEMENT_FIELDS)


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
        from foreshock.core import schema
        from foreshock.core.ast_build import node_reducers

        records = (schema.Table, schema.Column, schema.Index, schema.Constraint, schema.Trigger, schema.Enum,
                   schema.Sequence_)
        reducers: dict[type, Any] = {cls: _without_defaults(cls) for cls in records}
        _SCHEMA_DISPATCH.update({**copyreg.dispatch_table, **node_reducers(), **reducers})
    return _SCHEMA_DISPATCH


def _without_defaults(cls: type) -> Any:
    """A reducer of the schema model's records that leaves out each field still at its default: the class
    holds that default (a dataclass keeps a field's plain default as a class attribute), so the restored
    instance reads the same. A snapshot holds thousands of columns, indexes and constraints with most fields
    at their defaults: reading one back was a third faster."""
    defaults = {
        f.name: f.default
        for f in dataclasses.fields(cls)
        if f.default is None or isinstance(f.default, bool | int | str | tuple)
    }
    assert all(getattr(cls, name) is default for name, default in defaults.items())

    def reduce(record: Any) -> Any:
        state = getattr(record, "__dict__", None)
        if state is None:
            return record.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
        kept = {k: v for k, v in state.items() if not (k in defaults and _same(v, defaults[k]))}
        return copyreg.__newobj__, (cls,), kept  # type: ignore[attr-defined]

    return reduce


def _same(value: object, default: object) -> bool:
    # Equal and of one type (False is not 0): the defaults are immutable, so which object is read back is
    # of no consequence.
    return value is default or (type(value) is type(default) and value == default)


class CachedFileAnalysis(FileAnalysis):
    """A FileAnalysis read from the cache: its statements and transactions are read when first used."""

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes missing from the instance: the two read lazily.
        if name not in ("statements", "transactions"):
            raise AttributeError(name)
        store, key = self.__dict__["_entry"]
        self.__dict__["statements"], self.__dict__["transactions"] = _entry(store, BODY, key, self.path)
        return self.__dict__[name]

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        fields = (self.path, self.statements, self.transactions, self.errors, self.file_directives)
        return FileAnalysis, fields


class _Rewrites:
    """One file's rewrites entry, read once for all its findings."""

    def __init__(self, store: Store, key: str, path: str) -> None:
        self.store, self.key, self.path = store, key, path
        self.read: dict[int, Any] | None = None

    def get(self, index: int) -> Any:
        if self.read is None:
            self.read = _entry(self.store, REWRITES, self.key, self.path)
        return self.read[index]


class _LazyRewrite:
    """CachedFinding.rewrite: read from the file's rewrites entry on first use, then kept in the instance (a
    descriptor without __set__, so the instance's own value wins once it is there). A finding that carries a
    missing lock_timeout (CachedFinding.carrying) gets its fix with it, as the engine makes it."""

    def __get__(self, finding: Finding | None, owner: type | None = None) -> Any:
        if finding is None:
            return None
        state = finding.__dict__
        rewrites, index = state["_entry"]
        rewrite = rewrites.get(index)
        first = state.get("_carried")
        if first is not None:
            from foreshock.rules.engine import carried_fix

            state["fix"], rewrite = carried_fix(None, rewrite, first)
        state["rewrite"] = rewrite
        return rewrite


class _LazyFix:
    """CachedFinding.fix of a finding that carries a missing lock_timeout: the rendering of its rewrite, made
    with the rewrite (an instance's own fix, kept in it, wins over this descriptor)."""

    def __get__(self, finding: Finding | None, owner: type | None = None) -> Any:
        if finding is None:
            return None
        finding.rewrite  # noqa: B018 -- reading it sets the fix
        return finding.__dict__["fix"]


class CachedFinding(StandIn, Finding):
    """A Finding read from the cache: its safe rewrite (most of a finding's bytes, and of the time to read
    it back) is read from the file's rewrites entry when first used (a gcc or github report reads only those
    the verdict folds a missing lock_timeout into). Equal to, and hashed as, the Finding it was stored
    from."""

    # The dataclass field's default (None) is a class attribute: a descriptor here stands in front of it.
    rewrite = _LazyRewrite()
    fix = _LazyFix()

    def carrying(self, first: str, changes: dict[str, Any]) -> Finding:
        """This finding carrying a missing lock_timeout (rules.engine.merge_per_statement): `changes` made
        now, the fix and rewrite led by `first` when first used (a gcc or github report never reads them, and
        reading them means reading the file's rewrites entry and rendering)."""
        carried = CachedFinding.__new__(CachedFinding)
        state = dict(self.__dict__, **changes)
        state.pop("fix", None)
        state.pop("rewrite", None)
        # Carried already (a result judged again): its rewrite is led by the advice, as the engine leaves it.
        state.setdefault("_carried", first)
        carried.__dict__.update(state)
        return carried


def _entry(store: Store, kind: str, key: str, path: str) -> Any:
    kept = store.load(kind, key)
    if kept is None:
        raise CacheError(f"{path}: its cache entry has gone or is corrupt (run again, or --no-cache)")
    return kept


# Every field of a Finding, in order; findings are kept as rows of these values (the rewrite's left out):
# unpickling ten thousand objects' attribute dictionaries cost twice what reading rows and filling the
# dictionaries does.
_FINDING_FIELDS = tuple(f.name for f in dataclasses.fields(Finding))
_REWRITE = _FINDING_FIELDS.index("rewrite")


def save_file(
    store: Store, key: str, fa: FileAnalysis, findings: tuple[Finding, ...], errors: tuple[Any, ...]
) -> None:
    # Imported here: a run whose new files a helper process analyses reads entries but never writes one.
    from foreshock.core.facts import forget_lone_rewrites

    rewrites = {i: f.rewrite for i, f in enumerate(findings) if f.rewrite is not None}
    rows = tuple(
        tuple(None if n == _REWRITE else getattr(f, name) for n, name in enumerate(_FINDING_FIELDS))
        for f in findings
    )
    forget_lone_rewrites(fa.statements)
    store.save(BODY, key, (fa.statements, fa.transactions), pickler=_BodyPickler)
    if rewrites:
        store.save(REWRITES, key, rewrites)
    store.save(FILE, key, (fa.path, fa.errors, fa.file_directives, rows, tuple(rewrites), errors))


def load_file(store: Store, key: str) -> tuple[FileAnalysis, tuple[Finding, ...], tuple[Any, ...]] | None:
    """(analysis, findings, engine errors) of the file kept under `key`, its statements and its findings'
    rewrites read lazily; None when it is not there in full."""
    head = store.load(FILE, key)
    if head is None or not store.has(BODY, key):
        return None
    path, errors, directives, rows, with_rewrite, engine_errors = head
    if with_rewrite and not store.has(REWRITES, key):
        return None
    rewrites = _Rewrites(store, key, path)
    lazy = frozenset(with_rewrite)
    new, fields = object.__new__, _FINDING_FIELDS
    findings: list[Finding] = []
    if any(len(row) != len(fields) for row in rows):
        return None  # kept by a foreshock whose findings had other fields
    for i, row in enumerate(rows):
        if i in lazy:
            f: Finding = new(CachedFinding)
            state = f.__dict__
            state.update(zip(fields, row, strict=True))
            del state["rewrite"]
            state["_entry"] = (rewrites, i)
        else:
            f = new(Finding)
            f.__dict__.update(zip(fields, row, strict=True))
        findings.append(f)
    fa = CachedFileAnalysis.__new__(CachedFileAnalysis)
    fa.__dict__.update(path=path, errors=errors, file_directives=directives, _entry=(store, key))
    return fa, tuple(findings), engine_errors


def save_schema(store: Store, key: str, schema: Schema) -> None:
    store.save(SCHEMA, key, schema, pickler=_SchemaPickler)


def latest_snapshot(store: Store, keys: Sequence[str], before: int) -> int:
    """The number of units the latest schema snapshot before units[before] follows (0: none)."""
    for i in range(before - 1, -1, -1):
        if store.has(SCHEMA, keys[i]):
            return i + 1
    return 0


def load_schema(store: Store, keys: Sequence[str], after: int) -> Schema | None:
    """The schema model kept after units[:after] (`latest_snapshot`), or None (none, or unreadable)."""
    if after == 0:
        return None
    schema: Schema | None = store.load(SCHEMA, keys[after - 1])
    return schema
