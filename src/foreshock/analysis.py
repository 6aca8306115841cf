"""check's analysis loop: migration units -> one outcome per reported file (its analysis, its findings, the
errors the rule engine found in it), straight from the core and the rule engine, or from the history cache.

With a cache store, each file's outcome is kept under its key in the hash chain (foreshock.cache.keys), and
the schema model after the last file is kept as a snapshot. The next run reads the outcomes of the longest
unchanged prefix of the history, brings the schema model to the end of that prefix (from the latest
snapshot in it, applying the files after the snapshot to the model only) and analyses only the files after
it. The outcome is the one a cold run gives: the schema a file is judged against, the rule engine's state
(per file: suppressions, pending findings) and every error and not-analysed statement are the same. A file
read from the cache loads its statements only when a report asks for them (`gcc` never does).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from foreshock.core.model import FileAnalysis, Finding, MigrationUnit, StatementAnalysis
from foreshock.errors import InputError

if TYPE_CHECKING:
    from foreshock.cache import Store
    from foreshock.config import Settings
    from foreshock.core.analyze import StatementContext
    from foreshock.core.schema import Schema
    from foreshock.rules import RuleEngine


@dataclass(frozen=True)
class FileOutcome:
    """One reported file: its analysis (lines in the source file), its findings and the errors the rule
    engine found in it (suppressions naming unknown rules), in the engine's order."""

    analysis: FileAnalysis
    findings: tuple[Finding, ...]
    errors: tuple[Any, ...]


@dataclass
class Analysed:
    files: list[FileOutcome]
    # Errors of the schema history (`--schema` files): statements the parser or the model could not read.
    schema_errors: list[Any]
    # Files analysed in this run (the others came from the cache).
    analysed: int = 0


def analyse(
    units: Sequence[MigrationUnit],
    settings: Settings,
    *,
    history: Sequence[MigrationUnit] = (),
    store: Store | None = None,
    keys: Sequence[str] | None = None,
    start: int = 0,
) -> Analysed:
    """Analyse `units` against the schema `history` builds; with `store`, through the history cache.

    keys: the units' keys (`chain_keys`), when the caller has them. start: the outcomes of the units before
    it are not wanted (a caller that has them in another form): they are neither read nor returned, and the
    first of them outcomes start from is units[start] (which must not follow a history unit)."""
    if store is not None:
        return _cached(units, settings, history, store, keys, start)
    schema_errors: list[Any] = []
    model = schema_model(history, schema_errors)
    files = _run(units, settings, model)
    return Analysed(files, schema_errors, len(files))


def chain_keys(
    units: Sequence[MigrationUnit], settings: Settings, history: Sequence[MigrationUnit] = ()
) -> list[str]:
    """The key of every unit in the history cache's chain (foreshock.cache.keys), the base first."""
    from foreshock.cache.keys import base_key, chain

    base = base_key("check", settings, history)
    return [base, *chain(base, units)]


def schema_model(units: Sequence[MigrationUnit], errors: list[Any]) -> Schema:
    """The schema model from `--schema` files, keeping their syntax errors.

    analyze() drops parse errors of history units (history is not reported), but a schema the user
    handed over explicitly and that could not be read in full makes every later answer doubtful: say so.
    """
    from foreshock.core.analyze import apply_history
    from foreshock.core.schema import Schema
    from foreshock.core.sql import parse

    model = Schema()
    for unit in units:
        parsed = parse(unit.text, unit.path)
        errors.extend(parsed.errors)
        model.begin_file(True)
        errors.extend(apply_history(parsed.statements, model))
    return model


class _Recorder:
    """The analysis visitor: the rule engine, and each file's outcome as the file ends."""

    def __init__(self, engine: RuleEngine) -> None:
        self.engine = engine
        self.outcomes: list[FileOutcome] = []
        self._findings = 0
        self._errors = 0

    def statement(self, ctx: StatementContext) -> None:
        self.engine.statement(ctx)

    def settle(self) -> None:
        self.engine.settle()

    def file(self, unit: MigrationUnit, analysis: FileAnalysis, schema: Schema) -> None:
        engine = self.engine
        engine.file(unit, analysis, schema)
        # The engine reports findings and suppression errors in source lines already.
        findings, errors = engine.findings[self._findings :], engine.errors[self._errors :]
        self._findings, self._errors = len(engine.findings), len(engine.errors)
        self.outcomes.append(FileOutcome(remap_file(analysis, unit), tuple(findings), tuple(errors)))


def _run(units: Sequence[MigrationUnit], settings: Settings, schema: Schema) -> list[FileOutcome]:
    from foreshock.core.analyze import analyze
    from foreshock.rules import RuleEngine

    recorder = _Recorder(RuleEngine(settings))
    analyze(units, settings.analysis, visitor=recorder, schema=schema)
    return recorder.outcomes


# ---------------------------------------------------------------------------------------------------------
# Generated SQL (Alembic/Django): positions in the generated text mean nothing in the .py file.


def _remap_statement(sa: StatementAnalysis, unit: MigrationUnit) -> StatementAnalysis:
    st = sa.statement
    # The column in the generated text means nothing in the .py file.
    moved = dataclasses.replace(
        st,
        line=unit.source_line(st.line),
        column=1,
        end_line=unit.source_line(st.end_line),
        end_column=1,
    )
    return dataclasses.replace(sa, statement=moved)


def remap_file(fa: FileAnalysis, unit: MigrationUnit) -> FileAnalysis:
    if unit.line_map is None:
        return fa
    return dataclasses.replace(
        fa,
        statements=tuple(_remap_statement(sa, unit) for sa in fa.statements),
        transactions=tuple(
            dataclasses.replace(t, line=unit.source_line(t.line), column=1) for t in fa.transactions
        ),
        errors=tuple(remap_error(e, unit) for e in fa.errors),
    )


def remap_error(err: Any, unit: MigrationUnit | None) -> Any:
    if unit is None or unit.line_map is None or not isinstance(err, InputError) or not err.line:
        return err
    return InputError(err.message, err.path, unit.source_line(err.line), 1)


# ---------------------------------------------------------------------------------------------------------
# The cached loop.

# A run keeps the schema model after its last file when at least this many files follow the snapshot it
# started from.
_SNAPSHOT_EVERY = 8


def _cached(
    units: Sequence[MigrationUnit],
    settings: Settings,
    history: Sequence[MigrationUnit],
    store: Store,
    chained: Sequence[str] | None,
    start: int,
) -> Analysed:
    from foreshock.cache import entries

    base, *keys = chained if chained is not None else chain_keys(units, settings, history)
    schema_errors: list[Any] | None = store.load(entries.BASE, base)
    outcomes: list[FileOutcome] = []
    with _loading():
        # units [start, done) come from the cache
        done = _read_prefix(units, keys, store, outcomes, start) if schema_errors is not None else start
    # Resuming after trailing history units would lose the statements they could not apply (reported with
    # the next analysed file): they are cheap to read again.
    while done > start and units[done - 1].history:
        done -= 1
    if done == len(units) and schema_errors is not None:
        return Analysed(outcomes, schema_errors, 0)

    first = entries.latest_snapshot(store, keys, done)
    fresh = _helped(_Work(units, settings, keys, done, first), store) if schema_errors is not None else None
    if fresh is None:
        with _loading():
            schema = entries.load_schema(store, keys, first)
            while schema is None and first:  # unreadable (removed by the read): the one before it
                first = entries.latest_snapshot(store, keys, first - 1)
                schema = entries.load_schema(store, keys, first)
        if schema is None or schema_errors is None:
            errors: list[Any] = []
            schema, first = schema_model(history, errors), 0
            if schema_errors is None:
                schema_errors = errors
                store.save(entries.BASE, base, errors)
        fresh = _resume(_Work(units, settings, keys, done, first), store, schema)
    outcomes.extend(fresh)
    from foreshock.cache import fast

    fast.snapshot(keys[-1] if len(units) - first >= _SNAPSHOT_EVERY else keys[first - 1] if first else "")
    store.prune()
    assert schema_errors is not None  # read, or made with the model above
    return Analysed(outcomes, schema_errors, sum(not u.history for u in units[done:]))


class _Work(NamedTuple):
    """What is left of a cached run: the outcomes of units[done:] (keys: the units' keys in the chain),
    from the schema model after units[:first]."""

    units: Sequence[MigrationUnit]
    settings: Settings
    keys: Sequence[str]
    done: int
    first: int


def _resume(work: _Work, store: Store, schema: Schema) -> list[FileOutcome]:
    """The outcomes of the work's units, analysed from `schema` and kept in `store`, with the model after
    the last unit when enough units follow the snapshot the work starts from."""
    from foreshock.cache import entries

    units, settings, keys, done, first = work

    _replay(units[first:done], schema)
    fresh = _run(units[done:], settings, schema)
    reported = iter(fresh)
    outcomes: list[FileOutcome] = []
    for i in range(done, len(units)):
        if units[i].history:
            store.write(entries.HIST, keys[i], b"")
            continue
        outcome = next(reported)
        entries.save_file(store, keys[i], outcome.analysis, outcome.findings, outcome.errors)
        outcomes.append(outcome)
    if len(units) - first >= _SNAPSHOT_EVERY:
        # Else the next run replays the few files since the snapshot it started from on the model (parsed
        # again: a few ms), cheaper than writing the model now (tens of ms for a large schema).
        entries.save_schema(store, keys[-1], schema)
    return outcomes


# ---------------------------------------------------------------------------------------------------------
# The helper: restoring a schema snapshot (tens of ms for a large history: pickle holds the interpreter lock,
# so no thread can do it meanwhile) in a child process, while this one finds and reads the migrations.


class _Helper:
    """A child process holding the schema snapshot under `key` (restored as soon as it starts): given the
    units after the snapshot, it analyses them from it and keeps their outcomes in the store, as `_resume`
    does here."""

    def __init__(self, root: str, key: str, pid: int, send: int, receive: int) -> None:
        self.root, self.key, self.pid, self.send, self.receive = root, key, pid, send, receive

    def close(self) -> None:
        """Dismissed (or done): the child sees its input end and exits."""
        for fd in (self.send, self.receive):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)


_HELPERS: list[_Helper] = []


def start_helper(store: Store) -> None:
    """When this process's entry point found that the history a kept run read has changed, start restoring
    that run's schema snapshot (foreshock.cache.fast.warm_snapshot) in a child process (`_Helper`): `_cached`
    hands it the units after the snapshot if it is the one the run needs. Nothing where processes cannot be
    forked; a helper that fails in any way leaves `_cached` to do its work."""
    from foreshock.cache import fast

    key = fast.warm_snapshot(store)
    if key is None or not hasattr(os, "fork") or _HELPERS:
        return
    fast.settle_prefetch()  # no other thread runs when this process forks
    from_parent, to_child = os.pipe()
    from_child, to_parent = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        for fd in (to_child, from_parent, from_child, to_parent):
            os.close(fd)
        return
    if pid == 0:  # the child: never returns
        os.close(to_child)
        os.close(from_child)
        _serve(store, key, from_parent, to_parent)
    os.close(from_parent)
    os.close(to_parent)
    _HELPERS.append(_Helper(store.root_dir, key, pid, to_child, from_child))


def _serve(store: Store, key: str, receive: int, send: int) -> None:
    """The helper child: restore the snapshot, then analyse what the parent sends (or exit at its end)."""
    reply: object = None
    try:
        # Nothing of the terminal: a reader of this run's output sees its end when the parent ends.
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        import pickle

        from foreshock.cache import entries

        with _loading():
            schema = store.load(entries.SCHEMA, key)
        if schema is None:
            return  # replies None: the parent restores a snapshot itself
        # What analysing needs, imported while the parent is still finding the migrations: the model, then
        # the rules' modules (each imported when first needed otherwise) until the work comes.
        import importlib
        import select

        import foreshock.core.analyze  # noqa: F401
        from foreshock.rules.registry import RULE_MODULES

        for name in RULE_MODULES:
            if select.select([receive], [], [], 0)[0]:
                break
            importlib.import_module(f"foreshock.rules.{name}")
        with os.fdopen(receive, "rb") as fh:
            work = pickle.load(fh)
        reply = len(_resume(work, store, schema))
    except BaseException:  # the parent does the work itself, and meets any error there
        reply = None
    finally:
        try:
            os.write(send, repr(reply).encode())
        finally:
            os._exit(0)


def _helped(work: _Work, store: Store) -> list[FileOutcome] | None:
    """The outcomes of the work's units from the helper, when it holds the model after units[:first] of
    this store (read back from the entries it kept); None: do it here."""
    if not _HELPERS:
        return None
    helper = _HELPERS.pop()
    units, settings, keys, done, first = work
    try:
        if first == 0 or helper.root != store.root_dir or helper.key != keys[first - 1]:
            return None
        # In the child's terms: the units from the snapshot on, the first of them after it.
        data = _dumps(_Work(list(units[first:]), settings, list(keys[first:]), done - first, 0))
        if data is None:
            return None
        try:
            with os.fdopen(helper.send, "wb") as fh:
                helper.send = -1
                fh.write(data)
        except OSError:  # it has gone
            return None
        answer = _read_all(helper.receive)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(helper.pid, 0)  # its time is this run's
        if answer != str(sum(not u.history for u in units[done:])).encode():
            return None
        from foreshock.cache import entries

        outcomes: list[FileOutcome] = []
        with _loading():
            for i in range(done, len(units)):
                if units[i].history:
                    continue
                kept = entries.load_file(store, keys[i])
                if kept is None:
                    return None
                outcomes.append(FileOutcome(*kept))
        return outcomes
    finally:
        helper.close()


def _dumps(work: object) -> bytes | None:
    """The work as the helper reads it; None when something in it does not pickle."""
    import copyreg
    import io
    import pickle
    from types import MappingProxyType

    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    # The settings' severities are a read-only view of a dict.
    pickler.dispatch_table = {
        **copyreg.dispatch_table, MappingProxyType: lambda m: (_read_only, (dict(m),))
    }
    try:
        pickler.dump(work)
    except (pickle.PicklingError, TypeError, AttributeError):
        return None
    return buf.getvalue()


def _read_only(items: dict[Any, Any]) -> Any:
    from types import MappingProxyType

    return MappingProxyType(items)


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return b""
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


@contextlib.contextmanager
def _loading() -> Iterator[None]:
    """Reading entries back allocates hundreds of thousands of objects and no cycles: the cyclic collector
    would walk them again and again while they load, and once more as the youngest generation after (a
    fifth of a warm run's time). It is paused meanwhile, and what was loaded goes straight to the oldest
    generation (freeze, then unfreeze), walked only by a later full collection; nothing is kept alive."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if collecting:
            gc.enable()


def _read_prefix(
    units: Sequence[MigrationUnit], keys: Sequence[str], store: Store, outcomes: list[FileOutcome], start: int
) -> int:
    """Read the outcomes of the longest prefix of `units` the store holds from units[start] on (into
    `outcomes`); its length."""
    from foreshock.cache import entries

    for i in range(start, len(units)):
        unit = units[i]
        if unit.history:
            if not store.has(entries.HIST, keys[i]):
                return i
            continue
        kept = entries.load_file(store, keys[i])
        if kept is None:
            return i
        outcomes.append(FileOutcome(*kept))
    return len(units)


def _replay(units: Sequence[MigrationUnit], schema: Schema) -> None:
    """Bring the schema model through units whose outcomes came from the cache: the model depends only on
    the statements applied (each file starts afresh: begin_file), never on the rules."""
    from foreshock.core.analyze import apply_history
    from foreshock.core.sql import parse

    for unit in units:
        schema.begin_file(unit.history)
        apply_history(parse(unit.text, unit.path).statements, schema)
