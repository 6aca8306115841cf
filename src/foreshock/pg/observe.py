"""Run one statement on a sandbox database and record what the server did while it ran.

Everything here is measured, not predicted:
- locks: pg_locks rows of the executing backend. A statement that can run in a transaction runs as
  BEGIN; observe; statement; observe; COMMIT, so the locks it took are still held (and only they are new) when
  the
  second observation reads pg_locks of its own backend.
- rewrites: pg_class.relfilenode changes, cross-checked by a `table_rewrite` event trigger that RAISEs a
NOTICE with
  the rewrite reason (event triggers fire for ALTER TABLE/ALTER TYPE rewrites only, not for VACUUM FULL or
  CLUSTER,
  so relfilenode is the primary signal).
- scans: pg_stat_xact_user_tables.seq_scan inside the statement's own transaction (exact, not sampled). Table
  rewrites, index builds and validation scans all start heap scans that count there.
- WAL: pg_current_wal_insert_lsn() before and after; temp bytes: pg_stat_database.temp_bytes after forcing
this
  backend to flush its statistics (pg_stat_force_next_flush, PG 15+).

Statements PostgreSQL refuses inside a transaction block (SQLSTATE 25001: CREATE/DROP INDEX CONCURRENTLY,
REINDEX
CONCURRENTLY, DETACH PARTITION ... CONCURRENTLY, VACUUM) cannot be observed from their own backend, so they
are run
on their own while a monitor session samples pg_locks for that backend. To make the interesting moments last
long
enough to be seen, "holder" sessions hold SHARE UPDATE EXCLUSIVE on each table the statement names (the
weakest mode
that conflicts with every lock these statements take), so the statement queues on it and its requested mode
shows up
as a waiting lock; the holder then lets go. A further holder keeps a REPEATABLE READ snapshot open, so the
CONCURRENTLY phases that wait for older snapshots sit still with their locks granted while they are sampled.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg import sql

from foreshock.core.locks import LockMode
from foreshock.errors import DatabaseError
from foreshock.pg.connect import SessionSettings, connect, translate_error

# Reasons a table_rewrite event trigger reports (AT_REWRITE_* bits in src/include/nodes/parsenodes.h /
# event_trigger.h).
REWRITE_REASONS = {
    0x01: "persistence changed (SET LOGGED/UNLOGGED)",
    0x02: "column default needs a value per row",
    0x04: "column type changed",
    0x08: "access method changed",
}

EVENT_TRIGGER_SCHEMA = "foreshock_trace"
_NOTICE_PREFIX = "foreshock-rewrite "

# Relations that count as tables for effects: ordinary, partitioned, materialized views.
_TABLE_KINDS = ("r", "p", "m")
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast", EVENT_TRIGGER_SCHEMA)


def rewrite_reason_text(code: int) -> str:
    parts = [text for bit, text in REWRITE_REASONS.items() if code & bit]
    return ", ".join(parts) if parts else f"reason code {code}"


@dataclass(frozen=True)
class Relation:
    """A table (or partitioned table, or matview) that existed before the statement ran."""

    oid: int
    name: str  # schema-qualified, unquoted: "public.orders"
    kind: str  # pg_class.relkind
    relfilenode: int
    indexes: tuple[str, ...] = ()
    parent: int | None = None  # partition parent oid


@dataclass(frozen=True)
class LockRow:
    """One row of pg_locks held (granted) or requested (waiting) by the traced backend."""

    locktype: str
    mode: str
    granted: bool
    target: str  # "public.orders", "index public.orders_pkey", "advisory 1:42", "virtualxid 3/7", ...
    relation: int | None = None
    relkind: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"locktype": self.locktype, "mode": self.mode, "granted": self.granted, "target": self.target}


@dataclass(frozen=True)
class Observation:
    """Raw measurements of one statement; trace/ turns them into Effects."""

    locks: tuple[LockRow, ...] = ()  # granted locks the statement took (new since it started)
    waiting: tuple[LockRow, ...] = ()  # locks it was seen waiting for
    relfilenode_changed: tuple[int, ...] = ()  # oids of pre-existing relations with a new relfilenode
    rewrite_events: tuple[
        tuple[int, int], ...
    ] = ()  # (oid, reason code) from the table_rewrite event trigger
    seq_scans: dict[int, int] = field(default_factory=dict)  # oid -> seq_scan delta
    duration_ms: float = 0.0
    wal_bytes: int = 0
    temp_bytes: int | None = None
    error: DatabaseError | None = None
    concurrent: bool = False  # traced from a second session (cannot run inside a transaction block)


_LOCKS_QUERY = sql.SQL(
    """
SELECT l.locktype, l.mode, l.granted, l.relation::int8, c.relkind::text,
       CASE
         WHEN l.locktype = 'relation' THEN
           CASE WHEN c.oid IS NULL THEN 'relation ' || l.relation::text
                WHEN c.relkind IN ('r', 'p', 'm', 'f', 'v') THEN n.nspname || '.' || c.relname
                WHEN c.relkind IN ('i', 'I') THEN 'index ' || n.nspname || '.' || c.relname
                WHEN c.relkind = 'S' THEN 'sequence ' || n.nspname || '.' || c.relname
                ELSE 'relation ' || n.nspname || '.' || c.relname END
         WHEN l.locktype = 'advisory' THEN 'advisory ' || l.classid::text || ':' || l.objid::text
         WHEN l.locktype = 'object' THEN
           coalesce(pg_catalog.pg_describe_object(l.classid, l.objid, l.objsubid),
                    'object ' || l.classid::text || ':' || l.objid::text)
         WHEN l.locktype = 'virtualxid' THEN 'virtualxid ' || l.virtualxid
         WHEN l.locktype = 'transactionid' THEN 'transactionid ' || l.transactionid::text
         ELSE l.locktype || coalesce(' ' || l.relation::text, '')
       END
FROM pg_catalog.pg_locks l
LEFT JOIN pg_catalog.pg_class c ON l.locktype = 'relation' AND c.oid = l.relation
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE l.pid = {pid}
"""
)


def _lock_rows(conn: psycopg.Connection[Any], pid: int | None = None) -> list[LockRow]:
    pid_sql: sql.Composable = sql.Literal(pid) if pid is not None else sql.SQL("pg_catalog.pg_backend_pid()")
    rows = conn.execute(_LOCKS_QUERY.format(pid=pid_sql)).fetchall()
    return [
        LockRow(
            locktype=r[0], mode=r[1], granted=bool(r[2]), target=r[5] or r[0], relation=r[3], relkind=r[4]
        )
        for r in rows
    ]


def _lock_key(row: LockRow) -> tuple[str, str, str]:
    return (row.locktype, row.mode, row.target)


def pre_existing_relations(conn: psycopg.Connection[Any]) -> dict[int, Relation]:
    """Tables, partitioned tables and matviews of the current database (user schemas only)."""
    rows = conn.execute(
        sql.SQL(
            """
SELECT c.oid::int8, n.nspname, c.relname, c.relkind::text, c.relfilenode::int8,
       coalesce((SELECT array_agg(ic.relname::text ORDER BY ic.relname)
                 FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
                 WHERE i.indrelid = c.oid), '{{}}'),
       (SELECT inh.inhparent::int8 FROM pg_catalog.pg_inherits inh WHERE inh.inhrelid = c.oid LIMIT 1)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = ANY({kinds}) AND NOT (n.nspname = ANY({system}))
  AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
"""
        ).format(kinds=sql.Literal(list(_TABLE_KINDS)), system=sql.Literal(list(_SYSTEM_SCHEMAS)))
    ).fetchall()
    return {
        int(r[0]): Relation(
            oid=int(r[0]),
            name=f"{r[1]}.{r[2]}",
            kind=r[3],
            relfilenode=int(r[4]),
            indexes=tuple(r[5]),
            parent=int(r[6]) if r[6] is not None else None,
        )
        for r in rows
    }


def _relfilenodes(conn: psycopg.Connection[Any], oids: Sequence[int]) -> dict[int, int]:
    rows = conn.execute(
        sql.SQL("SELECT oid::int8, relfilenode::int8 FROM pg_catalog.pg_class WHERE oid = ANY({})").format(
            sql.Literal(list(oids))
        )
    ).fetchall()
    return {int(r[0]): int(r[1]) for r in rows}


def _wal_lsn(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(sql.SQL("SELECT pg_catalog.pg_current_wal_insert_lsn()::text")).fetchone()
    assert row is not None
    return str(row[0])


def _wal_since(conn: psycopg.Connection[Any], lsn: str) -> int:
    row = conn.execute(
        sql.SQL(
            "SELECT pg_catalog.pg_wal_lsn_diff(pg_catalog.pg_current_wal_insert_lsn(), {}::pg_lsn)::int8"
        ).format(sql.Literal(lsn))
    ).fetchone()
    assert row is not None
    return int(row[0])


def _seq_scans(conn: psycopg.Connection[Any], view: str) -> dict[int, int]:
    rows = conn.execute(
        sql.SQL("SELECT relid::int8, coalesce(seq_scan, 0)::int8 FROM pg_catalog.{}").format(
            sql.Identifier(view)
        )
    ).fetchall()
    return {int(r[0]): int(r[1]) for r in rows}


def _deltas(before: dict[int, int], after: dict[int, int]) -> dict[int, int]:
    return {oid: n - before.get(oid, 0) for oid, n in after.items() if n - before.get(oid, 0) > 0}


def install_rewrite_trigger(conn: psycopg.Connection[Any]) -> bool:
    """Create the table_rewrite event trigger in the current database; False when not allowed (not
    superuser)."""
    func = sql.Identifier(EVENT_TRIGGER_SCHEMA, "on_table_rewrite")
    try:
        with conn.transaction():
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(EVENT_TRIGGER_SCHEMA))
            )
            conn.execute(
                sql.SQL(
                    "CREATE OR REPLACE FUNCTION {func}() RETURNS event_trigger LANGUAGE plpgsql "
                    "AS $fs$ BEGIN "
                    "RAISE NOTICE {fmt}, pg_catalog.pg_event_trigger_table_rewrite_oid(), "
                    "pg_catalog.pg_event_trigger_table_rewrite_reason(); END $fs$"
                ).format(func=func, fmt=sql.Literal(_NOTICE_PREFIX + "%:%"))
            )
            conn.execute(
                sql.SQL(
                    "CREATE EVENT TRIGGER foreshock_table_rewrite ON table_rewrite EXECUTE FUNCTION {}()"
                ).format(func)
            )
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def prepare_template(dsn: str, setup_sql: str) -> dict[int, Relation]:
    """Run the schema set-up in the (new) database of dsn, ANALYZE it, install the rewrite event trigger;
    return its tables, which are the pre-existing tables of every database cloned from it."""
    with connect(dsn, SessionSettings(application_name="foreshock-setup")) as conn:
        if setup_sql.strip():
            try:
                conn.execute(sql.SQL(setup_sql))  # user SQL, sent as written
            except psycopg.Error as err:
                raise translate_error(err, "schema set-up failed") from None
        conn.execute(sql.SQL("ANALYZE"))
        install_rewrite_trigger(conn)
        return pre_existing_relations(conn)


_NOTICE_RE = re.compile(re.escape(_NOTICE_PREFIX) + r"(\d+):(\d+)")


@dataclass(frozen=True)
class TraceOptions:
    """Session settings of the traced statements."""

    timezone: str = "UTC"
    statement_timeout: str = "5min"
    lock_timeout: str = "1min"
    # How long the concurrent path waits for a blocked statement before letting every holder go.
    holder_patience_s: float = 10.0


class TraceSession:
    """One backend on a sandbox database that runs statements and observes each of them."""

    def __init__(self, dsn: str, relations: dict[int, Relation], options: TraceOptions | None = None) -> None:
        self.dsn = dsn
        self.relations = relations
        self.options = options or TraceOptions()
        self._stack = ExitStack()
        self._settings = SessionSettings(
            application_name="foreshock-trace",
            lock_timeout=self.options.lock_timeout,
            statement_timeout=self.options.statement_timeout,
        )
        self.conn: psycopg.Connection[Any] = self._stack.enter_context(connect(dsn, self._settings))
        self._notices: list[tuple[int, int]] = []
        self.conn.add_notice_handler(self._on_notice)
        self._setup_session(self.conn)
        row = self.conn.execute(
            sql.SQL("SELECT pg_catalog.current_setting('server_version_num')::int")
        ).fetchone()
        assert row is not None
        self.server_version_num = int(row[0])
        self.in_transaction = False
        self._temp_bytes = self._read_temp_bytes()

    def _setup_session(self, conn: psycopg.Connection[Any]) -> None:
        # Parallel workers count their scans in their own backends, which would hide them from
        # pg_stat_xact_user_tables of this one; sandbox tables are small enough not to need them.
        for name, value in (
            ("TimeZone", self.options.timezone),
            ("max_parallel_workers_per_gather", "0"),
            ("max_parallel_maintenance_workers", "0"),
            ("client_min_messages", "notice"),
        ):
            conn.execute(
                sql.SQL("SELECT pg_catalog.set_config({}, {}, false)").format(
                    sql.Literal(name), sql.Literal(value)
                )
            )

    def _on_notice(self, diag: psycopg.errors.Diagnostic) -> None:
        m = _NOTICE_RE.search(diag.message_primary or "")
        if m:
            self._notices.append((int(m.group(1)), int(m.group(2))))

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> TraceSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- statistics
    # --------------------------------------------------------------------------------------------

    def _flush_stats(self, conn: psycopg.Connection[Any]) -> None:
        """Make this backend's pending statistics visible to others (they are flushed when it goes idle)."""
        if self.server_version_num >= 150000:
            conn.execute(sql.SQL("SELECT pg_catalog.pg_stat_force_next_flush()"))
        else:  # pragma: no cover - PG 14 and older send stats to the collector at most every 500 ms
            time.sleep(0.6)

    def _read_temp_bytes(self) -> int:
        self._flush_stats(self.conn)
        self.conn.execute(sql.SQL("SELECT pg_catalog.pg_stat_clear_snapshot()"))
        row = self.conn.execute(
            sql.SQL(
                "SELECT coalesce(temp_bytes, 0)::int8 FROM pg_catalog.pg_stat_database "
                "WHERE datname = pg_catalog.current_database()"
            )
        ).fetchone()
        return int(row[0]) if row is not None else 0

    # --- transactions
    # ------------------------------------------------------------------------------------------

    def begin(self) -> None:
        if not self.in_transaction:
            self.conn.execute(sql.SQL("BEGIN"))
            self.in_transaction = True

    def commit(self) -> DatabaseError | None:
        if not self.in_transaction:
            return None
        self.in_transaction = False
        try:
            self.conn.execute(sql.SQL("COMMIT"))
        except psycopg.Error as err:
            return translate_error(err)
        return None

    def rollback(self) -> None:
        if self.in_transaction:
            self.in_transaction = False
            self.conn.execute(sql.SQL("ROLLBACK"))

    def execute_plain(self, text: str) -> None:
        """Run SQL without observing it (schema set-up)."""
        try:
            self.conn.execute(sql.SQL(text))  # user SQL, sent as written
        except psycopg.Error as err:
            raise translate_error(err) from None

    # --- observing
    # ----------------------------------------------------------------------------------------------

    def run(self, text: str, tables: Sequence[str] = ()) -> Observation:
        """Run one statement. Outside an explicit transaction it gets its own BEGIN ... COMMIT; statements
        that cannot run in a transaction block are traced from a second session, which makes the lock
        requests on `tables` (the qualified relations the statement touches, from the core's facts) wait long
        enough to be seen."""
        if self.in_transaction:
            obs = self._observe_in_transaction(text)
            if obs.error is not None:
                self.rollback()
            return obs
        self.begin()
        obs = self._observe_in_transaction(text)
        if obs.error is not None:
            self.rollback()
            if (
                obs.error.sqlstate == "25001"
            ):  # active_sql_transaction: "cannot run inside a transaction block"
                return self._observe_concurrently(text, tables)
            return obs
        commit_error = self.commit()
        temp = self._read_temp_bytes()
        temp_delta = temp - self._temp_bytes
        self._temp_bytes = temp
        return replace(obs, temp_bytes=temp_delta, error=commit_error)

    def _observe_in_transaction(self, text: str) -> Observation:
        conn = self.conn
        oids = list(self.relations)
        nodes_before = _relfilenodes(conn, oids)
        scans_before = _seq_scans(conn, "pg_stat_xact_user_tables")
        lsn = _wal_lsn(conn)
        # Read twice: the first read's own catalog locks are then part of "before" and not blamed on the
        # statement.
        _lock_rows(conn)
        locks_before = {_lock_key(r) for r in _lock_rows(conn)}
        self._notices.clear()
        start = time.perf_counter()
        try:
            conn.execute(sql.SQL(text))  # user SQL, sent as written
        except psycopg.Error as err:
            return Observation(duration_ms=(time.perf_counter() - start) * 1000, error=translate_error(err))
        duration = (time.perf_counter() - start) * 1000
        events = tuple(self._notices)
        locks_after = _lock_rows(conn)
        nodes_after = _relfilenodes(conn, oids)
        scans_after = _seq_scans(conn, "pg_stat_xact_user_tables")
        wal = _wal_since(conn, lsn)
        new_locks = tuple(r for r in locks_after if _lock_key(r) not in locks_before and r.granted)
        return Observation(
            locks=new_locks,
            relfilenode_changed=_changed(nodes_before, nodes_after),
            rewrite_events=events,
            seq_scans=_deltas(scans_before, scans_after),
            duration_ms=duration,
            wal_bytes=wal,
        )

    def _watched(self, tables: Sequence[str]) -> list[Relation]:
        """The pre-existing relations among `tables`, with their partition parents and children (statements
        on a partitioned table or a partition lock the other side too: DETACH, VACUUM of a parent); every
        relation when none is named."""
        wanted = set(tables)
        named = [rel for rel in self.relations.values() if rel.name in wanted]
        chosen = {rel.oid for rel in named}
        for rel in named:
            if rel.parent is not None:
                chosen.add(rel.parent)
        for rel in self.relations.values():
            if rel.parent in chosen:
                chosen.add(rel.oid)
        if not chosen:
            chosen = set(self.relations)
        return [self.relations[o] for o in sorted(chosen)][:60]

    def _observe_concurrently(self, text: str, tables: Sequence[str]) -> Observation:
        oids = list(self.relations)
        with ExitStack() as stack:
            monitor = stack.enter_context(
                connect(self.dsn, SessionSettings(application_name="foreshock-trace-monitor"))
            )
            row = self.conn.execute(sql.SQL("SELECT pg_catalog.pg_backend_pid()")).fetchone()
            assert row is not None
            pid = int(row[0])
            self._flush_stats(self.conn)
            monitor.execute(sql.SQL("SELECT pg_catalog.pg_stat_clear_snapshot()"))
            nodes_before = _relfilenodes(monitor, oids)
            scans_before = _seq_scans(monitor, "pg_stat_user_tables")
            lsn = _wal_lsn(monitor)

            # Holders make each lock request wait long enough to be sampled. Per table: one in SHARE UPDATE
            # EXCLUSIVE (the mode every CONCURRENTLY variant asks for first) and one in ACCESS SHARE, which
            # conflicts only with ACCESS EXCLUSIVE - so a later, brief ACCESS EXCLUSIVE request (the second
            # transaction of DETACH PARTITION ... CONCURRENTLY) waits too instead of slipping between samples.
            holders: dict[int, list[tuple[LockMode, psycopg.Connection[Any]]]] = {}
            for rel in self._watched(tables):
                name = sql.Identifier(*rel.name.split(".", 1))
                modes = [LockMode.ShareUpdateExclusiveLock, LockMode.AccessShareLock]
                for mode in modes if rel.kind != "m" else modes[1:]:
                    h = stack.enter_context(
                        connect(self.dsn, SessionSettings(application_name="foreshock-trace-holder"))
                    )
                    h.execute(sql.SQL("BEGIN"))
                    if rel.kind == "m":  # LOCK TABLE refuses matviews; a read takes ACCESS SHARE
                        h.execute(sql.SQL("SELECT FROM ONLY {} WHERE false").format(name))
                    else:
                        h.execute(
                            sql.SQL("LOCK TABLE ONLY {} IN {} MODE").format(name, sql.SQL(mode.sql_name))
                        )
                    holders.setdefault(rel.oid, []).append((mode, h))
            snap = stack.enter_context(
                connect(self.dsn, SessionSettings(application_name="foreshock-trace-snapshot"))
            )
            snap.execute(sql.SQL("BEGIN ISOLATION LEVEL REPEATABLE READ"))
            snap.execute(sql.SQL("SELECT 1"))
            snapshot_open = True

            def release(conn: psycopg.Connection[Any]) -> None:
                with suppress(psycopg.Error):
                    conn.execute(sql.SQL("ROLLBACK"))

            def release_blockers(waiter: int) -> None:
                nonlocal snapshot_open
                row: Any = monitor.execute(
                    sql.SQL("SELECT pg_catalog.pg_blocking_pids({})").format(sql.Literal(waiter))
                ).fetchone()
                blockers: set[int] = set(row[0] or ()) if row else set()
                ours = False
                for oid in list(holders):
                    keep = []
                    for mode, h in holders[oid]:
                        if h.info.backend_pid in blockers:
                            release(h)
                            ours = True
                        else:
                            keep.append((mode, h))
                    if keep:
                        holders[oid] = keep
                    else:
                        del holders[oid]
                if snapshot_open and snap.info.backend_pid in blockers:
                    release(snap)
                    snapshot_open = False
                    ours = True
                if blockers and not ours:
                    release_all()  # blocked by someone else: don't keep it waiting on us as well

            def release_all() -> None:
                nonlocal snapshot_open
                for held_by in holders.values():
                    for _, h in held_by:
                        release(h)
                holders.clear()
                release(snap)
                snapshot_open = False

            result: dict[str, Any] = {}
            self._notices.clear()

            def worker() -> None:
                start = time.perf_counter()
                try:
                    self.conn.execute(sql.SQL(text))
                except psycopg.Error as err:
                    result["error"] = translate_error(err)
                except BaseException as err:  # re-raised in the caller's thread
                    result["exception"] = err
                result["duration"] = (time.perf_counter() - start) * 1000

            held: dict[tuple[str, str, str], LockRow] = {}
            waiting: dict[tuple[str, str, str], LockRow] = {}
            thread = threading.Thread(target=worker, name="foreshock-trace", daemon=True)
            thread.start()
            deadline = time.monotonic() + self.options.holder_patience_s
            try:
                while thread.is_alive():
                    rows = _lock_rows(monitor, pid)
                    for lock in rows:
                        (held if lock.granted else waiting).setdefault(_lock_key(lock), lock)
                    if any(not lock.granted for lock in rows) and (holders or snapshot_open):
                        # Its granted locks were just sampled; let it past exactly the sessions it waits for,
                        # so a later request (another table, a second transaction) can be caught waiting too.
                        release_blockers(pid)
                    if time.monotonic() > deadline and (holders or snapshot_open):
                        release_all()
                    thread.join(0.002)
            except BaseException:
                self.conn.cancel_safe()
                thread.join()
                raise
            if "exception" in result:
                raise result["exception"]
            events = tuple(self._notices)
            release_all()
            self._flush_stats(self.conn)
            monitor.execute(sql.SQL("SELECT pg_catalog.pg_stat_clear_snapshot()"))
            nodes_after = _relfilenodes(monitor, oids)
            scans_after = _seq_scans(monitor, "pg_stat_user_tables")
            wal = _wal_since(monitor, lsn)
        temp = self._read_temp_bytes()
        temp_delta = temp - self._temp_bytes
        self._temp_bytes = temp
        own = {
            "virtualxid"
        }  # every backend holds its own virtualxid lock; it says nothing about the statement
        return Observation(
            locks=tuple(r for r in held.values() if not (r.locktype in own and r.mode == "ExclusiveLock")),
            waiting=tuple(waiting.values()),
            relfilenode_changed=_changed(nodes_before, nodes_after),
            rewrite_events=events,
            seq_scans=_deltas(scans_before, scans_after),
            duration_ms=float(result.get("duration", 0.0)),
            wal_bytes=wal,
            temp_bytes=temp_delta,
            error=result.get("error"),
            concurrent=True,
        )


def _changed(before: dict[int, int], after: dict[int, int]) -> tuple[int, ...]:
    return tuple(
        oid for oid, node in before.items() if node and oid in after and after[oid] and after[oid] != node
    )


@contextmanager
def admin_session(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """A maintenance session (CREATE/DROP DATABASE) on the sandbox server."""
    with connect(dsn, SessionSettings(application_name="foreshock-sandbox", lock_timeout="30s")) as conn:
        yield conn
