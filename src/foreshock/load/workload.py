"""A bounded synthetic application workload on the tables a migration touches.

Per table, three query classes -- point read by key, short range read, single-row UPDATE -- each issued by a
small pool of sessions at a fixed rate, like an application's connection pool. Every query is recorded (class,
start, latency, outcome); a monitor samples every ~50 ms how many sessions wait for a lock behind the
migration. The workload is bounded in time and in count, connects only to the sandbox database it is given,
and stops by itself at its deadline: queries still waiting then are cancelled, so a hung migration cannot keep
it running.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from foreshock.errors import ConfigError
from foreshock.pg import SessionSettings, connect, redact_dsn
from foreshock.pg.catalog import find_key
from foreshock.pg.connect import pg_duration
from foreshock.pg.databases import DATABASE_PREFIX

# Query classes, in report order. Reads are what health checks issue; the UPDATE is the app's writes.
READ_POINT = "read_point"
READ_RANGE = "read_range"
WRITE = "write"
CLASSES = (READ_POINT, READ_RANGE, WRITE)
READ_CLASSES = (READ_POINT, READ_RANGE)

# Application names: the migration's sessions share one prefix so the monitor can find them, whichever runner
# (plain execution or foreshock.apply with its control/backfill sessions) opened them.
APP_PREFIX = "foreshock-load-"
MIGRATION_APP = APP_PREFIX + "migration"

# Without a snapshot's observed rates: a modest app on one table, per second.
DEFAULT_RATES: Mapping[str, float] = {READ_POINT: 20.0, READ_RANGE: 5.0, WRITE: 10.0}
# Rates taken from a snapshot are scaled down with the data, then kept within these bounds: below the floor
# a run sees too few queries to measure a wait; above the ceiling a 2-core sandbox measures itself.
MIN_RATE = 2.0
MAX_RATE = 100.0
RANGE_ROWS = 20
KEY_SAMPLE = 2000


@dataclass(frozen=True)
class TableTarget:
    """A table the workload queries: its key columns (keyset reads and single-row writes) and sampled keys."""

    table: str  # schema-qualified
    key: tuple[str, ...]
    keys: tuple[tuple[Any, ...], ...]
    # The column writes assign to itself; empty: the first key column. A GENERATED ALWAYS identity or a
    # generated column cannot be assigned, not even its own value.
    write_column: str = ""


@dataclass(frozen=True)
class WorkloadSpec:
    """What the workload does. Rates are queries per second per table and class; durations are seconds."""

    rates: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    # Per-table overrides of `rates` (e.g. from a snapshot's observed traffic).
    table_rates: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    duration: float = 60.0  # hard deadline from start(): the workload stops by itself then
    max_queries: int = 100_000  # count bound over all classes and tables
    pool: int = 3  # sessions per table and class, like an application's connection pool
    # Workload queries wait for locks as long as this, so their wait is measured rather than cut short. It is
    # set (never 0), like every foreshock session's timeouts.
    statement_timeout: float = 120.0
    sample_interval: float = 0.05
    seed: int = 1

    def __post_init__(self) -> None:
        if self.duration <= 0:
            raise ConfigError("load duration must be > 0")
        if self.max_queries < 1 or self.pool < 1:
            raise ConfigError("load max-queries and pool must be >= 1")
        for rates in (self.rates, *self.table_rates.values()):
            for cls, r in rates.items():
                if cls not in CLASSES:
                    raise ConfigError(f"unknown query class {cls!r}; expected one of {', '.join(CLASSES)}")
                if r < 0:
                    raise ConfigError(f"rate of {cls} must be >= 0")

    def rate(self, table: str, cls: str) -> float:
        return float(self.table_rates.get(table, self.rates).get(cls, 0.0))


@dataclass(frozen=True, slots=True)
class QueryRecord:
    table: str
    cls: str
    start: float  # seconds since the workload started
    latency: float  # seconds
    # ok | error | timeout | cancelled (still waiting when the workload ended) | queued (never sent: every
    # session of its pool was busy past its due time; latency is how long it would have waited for one)
    outcome: str


@dataclass(frozen=True, slots=True)
class QueueSample:
    at: float  # seconds since the workload started
    behind_migration: int  # sessions waiting for a lock held or requested by the migration's sessions
    not_granted: int  # ungranted lock requests in this database (pg_locks)
    migration_waiting: bool  # the migration itself waits for a lock


def ensure_sandbox_dsn(dsn: str) -> None:
    """Refuse any database foreshock did not create for this run (scratch databases carry its prefix).

    The workload writes; pointed at a real application database by mistake it would change user rows.
    """
    dbname = str(conninfo_to_dict(dsn).get("dbname") or "")
    if not dbname.startswith(DATABASE_PREFIX):
        raise ConfigError(
            f"the load workload runs only against a foreshock sandbox database (name starting with "
            f"{DATABASE_PREFIX!r}), not {redact_dsn(dsn)}; use foreshock.sandbox's fresh_database()"
        )


def _settings(cls: str, statement_timeout: float) -> SessionSettings:
    t = pg_duration(statement_timeout)
    return SessionSettings(APP_PREFIX + cls, lock_timeout=t, statement_timeout=t)


def _qualified(table: str) -> sql.Composable:
    return sql.Identifier(*table.split(".", 1))


def discover_targets(dsn: str, tables: Sequence[str], seed: int = 1) -> tuple[list[TableTarget], list[str]]:
    """Key columns and a spread sample of existing keys per table; tables without a usable key are skipped."""
    ensure_sandbox_dsn(dsn)
    targets: list[TableTarget] = []
    warnings: list[str] = []
    with connect(dsn, _settings("setup", 60.0)) as conn_:
        conn = cast("psycopg.Connection[Any]", conn_)
        for table in tables:
            row = conn.execute(
                sql.SQL(
                    "SELECT c.oid::regclass::text, n.nspname, c.relname, c.reltuples::float8 "
                    "FROM pg_catalog.pg_class c "
                    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.oid = to_regclass({}) AND c.relkind IN ('r', 'p')"
                ).format(sql.Literal(table))
            ).fetchone()
            if row is None:
                warnings.append(f"{table}: not a table in the sandbox; no load on it")
                continue
            name = f"{row[1]}.{row[2]}"
            found = find_key(conn, name)
            if found is None:
                warnings.append(f"{name}: no primary key or unique NOT NULL key; no load on it")
                continue
            key = tuple(k.name for k in found)
            # BERNOULLI spreads the sample over the whole table (a plain LIMIT would read only its first
            # pages); seeded with REPEATABLE so both runs query the same rows.
            pct = min(100.0, 100.0 * 2 * KEY_SAMPLE / max(float(row[3] or 0.0), 1.0))
            keys = conn.execute(
                sql.SQL("SELECT {} FROM {} TABLESAMPLE BERNOULLI ({}) REPEATABLE ({}) LIMIT {}").format(
                    sql.SQL(", ").join(map(sql.Identifier, key)),
                    _qualified(name),
                    sql.Literal(pct),
                    sql.Literal(seed),
                    sql.Literal(KEY_SAMPLE),
                )
            ).fetchall()
            if not keys:
                warnings.append(f"{name}: empty; no load on it")
                continue
            writable = conn.execute(
                sql.SQL(
                    "SELECT a.attname FROM pg_catalog.pg_attribute a WHERE a.attrelid = to_regclass({}) "
                    "AND a.attnum > 0 AND NOT a.attisdropped AND a.attidentity <> 'a' "
                    "AND a.attgenerated = '' "
                    "ORDER BY a.attnum LIMIT 1"
                ).format(sql.Literal(name))
            ).fetchone()
            if writable is None:
                warnings.append(f"{name}: no column an UPDATE can assign; reads only")
            targets.append(
                TableTarget(name, key, tuple(tuple(k) for k in keys), writable[0] if writable else "")
            )
    return targets, warnings


def _query(target: TableTarget, cls: str) -> sql.Composed:
    cols = sql.SQL(", ").join(map(sql.Identifier, target.key))
    params = sql.SQL(", ").join(sql.Placeholder() for _ in target.key)
    t = _qualified(target.table)
    if cls == READ_POINT:
        return sql.SQL("SELECT * FROM {} WHERE ({}) = ({})").format(t, cols, params)
    if cls == READ_RANGE:
        return sql.SQL("SELECT * FROM {} WHERE ({}) >= ({}) ORDER BY {} LIMIT {}").format(
            t, cols, params, cols, sql.Literal(RANGE_ROWS)
        )
    # Writing a column onto itself changes no data yet takes what any application write takes: ROW EXCLUSIVE
    # on the table and a row lock, and a new row version. It needs no knowledge of the other columns.
    first = sql.Identifier(target.write_column or target.key[0])
    return sql.SQL("UPDATE {} SET {} = {} WHERE ({}) = ({})").format(t, first, first, cols, params)


_MONITOR = sql.SQL(
    """WITH m AS (
         SELECT coalesce(array_agg(pid), '{{}}'::int[]) AS pids,
                coalesce(bool_or(wait_event_type = 'Lock'), false) AS waiting
         FROM pg_catalog.pg_stat_activity
         WHERE datname = current_database() AND application_name LIKE {prefix})
       SELECT (SELECT count(*) FROM pg_catalog.pg_stat_activity a
               WHERE a.datname = current_database() AND a.wait_event_type = 'Lock'
                 AND a.pid <> ALL (m.pids) AND pg_catalog.pg_blocking_pids(a.pid) && m.pids),
              (SELECT count(*) FROM pg_catalog.pg_locks l
               JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
               WHERE NOT l.granted AND a.datname = current_database()),
              m.waiting
       FROM m"""
)


class Workload:
    """Start with start(); it ends at its deadline, at max_queries, or at stop(), whichever comes first."""

    def __init__(
        self,
        dsn: str,
        targets: Sequence[TableTarget],
        spec: WorkloadSpec | None = None,
        *,
        long_transaction: float = 0.0,
        migration_app: str = MIGRATION_APP,
    ) -> None:
        ensure_sandbox_dsn(dsn)
        self.dsn = dsn
        self.targets = tuple(targets)
        self.spec = spec or WorkloadSpec()
        self.long_transaction = long_transaction
        self.migration_app = migration_app
        self.records: list[QueryRecord] = []
        self.samples: list[QueueSample] = []
        self.errors: list[str] = []
        # Every DSN a session of this workload opened: the tests check it is only the sandbox's.
        self.connected_to: set[str] = set()
        self.skipped = (
            0  # scheduled queries not sent because every session of the pool was still busy (queued)
        )
        self.long_transaction_span: tuple[float, float] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._issued = 0
        self._conns: list[psycopg.Connection[Any]] = []
        self._threads: list[threading.Thread] = []
        self._t0 = 0.0
        self._timer: threading.Timer | None = None
        self._long_ready = threading.Event()
        self.stopped_at: float | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------
    def now(self) -> float:
        return time.monotonic() - self._t0

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._spawn(self._monitor, "monitor")
        for target in self.targets:
            for cls in CLASSES:
                rate = self.spec.rate(target.table, cls)
                if rate <= 0:
                    continue
                for i in range(self.spec.pool):
                    self._spawn(self._worker, f"{cls}-{i}", target, cls, rate, i)
        # The hard deadline lives in its own timer: it fires even when the caller is stuck in a migration.
        self._timer = threading.Timer(self.spec.duration, self.stop)
        self._timer.daemon = True
        self._timer.start()

    def start_long_transaction(self, table: str | None = None) -> None:
        """Open a transaction that reads `table` (ACCESS SHARE, kept until commit) and idles for
        long_transaction seconds -- the report query or forgotten session a migration meets in production."""
        if self.long_transaction <= 0:
            return
        name = table or (self.targets[0].table if self.targets else None)
        if name is None:
            return
        self._long_ready.clear()
        self._spawn(self._long, "long-transaction", name)
        self._long_ready.wait(10.0)

    def stop(self) -> None:
        """End now: no new queries; queries still waiting are cancelled (outcome `cancelled`)."""
        if self._stop.is_set():
            return
        self.stopped_at = self.now()
        self._stop.set()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(psycopg.Error, OSError):
                conn.cancel_safe(timeout=2.0)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for every session to end; True when all did."""
        end = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.join(None if end is None else max(0.0, end - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def close(self) -> None:
        self.stop()
        if self._timer is not None:
            self._timer.cancel()
        self.wait(30.0)

    def __enter__(self) -> Workload:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def done(self) -> bool:
        return self._stop.is_set()

    @property
    def t0(self) -> float:
        """time.monotonic() when the workload started: every recorded time is relative to it."""
        return self._t0

    def sleep(self, seconds: float) -> bool:
        """Sleep, waking early when the workload ends; True when it has ended."""
        return self._stop.wait(max(0.0, seconds))

    # -- sessions ----------------------------------------------------------------------------------------
    def _spawn(self, fn: Any, name: str, *args: Any) -> None:
        t = threading.Thread(target=self._guard, args=(fn, name, *args), name=f"load-{name}", daemon=True)
        self._threads.append(t)
        t.start()

    def _guard(self, fn: Any, name: str, *args: Any) -> None:
        try:
            fn(*args)
        except Exception as err:  # a session that fails is reported, never silently missing from the figures
            self.errors.append(
                f"{name}: {type(err).__name__}: {redact_dsn(str(err)).splitlines()[0] if str(err) else ''}"
            )

    def _open(self, cls: str, timeout: float | None = None) -> Any:
        self.connected_to.add(self.dsn)
        return connect(self.dsn, _settings(cls, timeout or self.spec.statement_timeout))

    def _register(self, conn: psycopg.Connection[Any]) -> None:
        with self._lock:
            self._conns.append(conn)

    def _ticket(self) -> bool:
        with self._lock:
            if self._issued >= self.spec.max_queries:
                self._stop.set()
                return False
            self._issued += 1
            return True

    def _worker(self, target: TableTarget, cls: str, rate: float, index: int) -> None:
        rng = random.Random(
            f"{self.spec.seed}:{target.table}:{cls}:{index}"
        )  # str seeds are stable across runs
        query = _query(target, cls)
        period = self.spec.pool / rate
        with self._open(cls) as conn_:
            conn = cast("psycopg.Connection[Any]", conn_)
            # A cached plan for SELECT * would fail once the migration changes the row type; applications
            # re-plan, so the workload does not prepare statements.
            conn.prepare_threshold = None
            self._register(conn)
            due = time.monotonic() + index * (period / self.spec.pool)
            while not self._stop.is_set():
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                if not self._ticket():
                    break
                key = rng.choice(target.keys)
                started = time.monotonic()
                outcome = "ok"
                try:
                    cur = conn.execute(query, key)
                    if cur.description is not None:
                        cur.fetchall()
                except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable):
                    outcome = "cancelled" if self._stop.is_set() else "timeout"
                except psycopg.Error:
                    outcome = "error"
                end = time.monotonic()
                self.records.append(
                    QueryRecord(target.table, cls, started - self._t0, end - started, outcome)
                )
                if conn.broken:
                    break
                due += period
                if due < end:
                    # Slots that passed while this session was busy: the application's pool would have queued
                    # them. They are recorded as `queued` with the time they waited for the session (a lower
                    # bound of what the application saw) -- leaving them out would hide most of a blocked
                    # period from the percentiles -- and not replayed in a burst afterwards.
                    missed = int((end - due) / period) + 1
                    self.skipped += missed
                    for k in range(missed):
                        slot = due + k * period
                        self.records.append(
                            QueryRecord(target.table, cls, slot - self._t0, end - slot, "queued")
                        )
                    due += missed * period

    def _long(self, table: str) -> None:
        with self._open("long-transaction", self.long_transaction + 60.0) as conn_:
            conn = cast("psycopg.Connection[Any]", conn_)
            self._register(conn)
            started = self.now()
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(_qualified(table))).fetchall()
                    self._long_ready.set()
                    self._stop.wait(self.long_transaction)
            finally:
                self._long_ready.set()
                self.long_transaction_span = (started, self.now())

    def _monitor(self) -> None:
        query = _MONITOR.format(prefix=sql.Literal(self.migration_app + "%"))
        with self._open("monitor", 5.0) as conn_:
            conn = cast("psycopg.Connection[Any]", conn_)
            self._register(conn)
            nxt = time.monotonic()
            while not self._stop.is_set():
                at = self.now()
                try:
                    row = conn.execute(query).fetchone()
                except psycopg.Error:
                    if self._stop.is_set() or conn.broken:
                        break
                    continue
                if row is not None:
                    self.samples.append(QueueSample(at, int(row[0]), int(row[1]), bool(row[2])))
                nxt += self.spec.sample_interval
                self._stop.wait(max(0.0, nxt - time.monotonic()))
