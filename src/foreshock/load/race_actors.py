"""Who races a migration in `rehearse --race`: the release still running, and runners of the migration.

* ReleaseInserts: the application's INSERTs into a table as the release still running writes them -- the
  columns the table has BEFORE the migration (so never a column the migration adds), ids from the sequence,
  foreign keys pointing at existing rows -- each in a transaction that stays open a little after the insert,
  like a request doing more work before it commits. A pool of sessions at a fixed rate.
* Runner: one copy of the migration, run statement by statement as a deploy runs it (one transaction per
  file unless the file writes its own), recording when each statement started and ended. It can stop before
  a COMMIT until told to go on, which is how a second runner is made to meet the first one's uncommitted work.

Everything is bounded (a deadline, a count) and connects only to the sandbox database it is given.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import psycopg
from pglast import ast
from psycopg import sql

from foreshock.core.model import MigrationUnit, Statement
from foreshock.load.run import one_transaction, statements_of
from foreshock.load.workload import APP_PREFIX, ensure_sandbox_dsn
from foreshock.pg import SessionSettings, connect
from foreshock.pg.connect import pg_duration

RACE_APP = APP_PREFIX + "race-"


@dataclass(frozen=True)
class Event:
    """Something one actor did, at `at` seconds since the round started."""

    at: float
    actor: str
    what: str

    def to_json(self) -> dict[str, Any]:
        return {"at_s": round(self.at, 4), "actor": self.actor, "what": self.what}


class Clock:
    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self.t0


def session(name: str, timeout: float) -> SessionSettings:
    t = pg_duration(max(timeout, 0.001))
    return SessionSettings(RACE_APP + name, lock_timeout=t, statement_timeout=t)


def _qualified(table: str) -> sql.Composable:
    return sql.Identifier(*table.split(".", 1))


# -- the release still running ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Insert:
    """One INSERT of the release: when it ran, when its transaction ended, the key it got, how it ended."""

    actor: str
    table: str
    started: float
    inserted: float
    ended: float
    key: Any
    outcome: str  # ok | error
    sqlstate: str = ""
    message: str = ""


class InsertPlan(Protocol):
    """How the release inserts into one table (foreshock.scale.datagen.ReleaseInsert builds one): the
    statement takes the row number `g` (when numbered) and a value per chosen column (`c0`, `c1`, …)."""

    @property
    def table(self) -> str: ...
    @property
    def key(self) -> str: ...  # the column RETURNING gives back ("" when the table has none usable)
    @property
    def statement(self) -> sql.Composed: ...
    @property
    def choices(self) -> tuple[tuple[str, tuple[Any, ...]], ...]: ...
    @property
    def numbered(self) -> bool: ...


# (connection, table, key column, columns pinned to given values) -> the release's INSERT into that table.
RowBuilder = Callable[["psycopg.Connection[Any]", str, str, Mapping[str, tuple[Any, ...]]], InsertPlan]


def insert_params(plan: InsertPlan, g: int, rng: random.Random) -> dict[str, Any]:
    out: dict[str, Any] = {"g": g} if plan.numbered else {}
    out.update({f"c{i}": rng.choice(values) for i, (_, values) in enumerate(plan.choices)})
    return out


class ReleaseInserts:
    """Sessions of the release inserting into one table at `rate` per second, until stop() or the deadline."""

    def __init__(
        self,
        dsn: str,
        plan: InsertPlan,
        clock: Clock,
        *,
        rate: float,
        think: tuple[float, float],
        pool: int,
        first_g: int,
        deadline: float,
        max_inserts: int,
        seed: int = 1,
    ) -> None:
        ensure_sandbox_dsn(dsn)
        self.dsn = dsn
        self.plan = plan
        self.clock = clock
        self.rate = rate
        self.think = think
        self.pool = max(1, pool)
        self.deadline = deadline
        self.max_inserts = max_inserts
        self.seed = seed
        self.name = f"the release: INSERT INTO {plan.table.removeprefix('public.')}"
        self.records: list[Insert] = []
        self.errors: list[str] = []
        self._g = first_g
        self._issued = 0
        self._open = 0  # transactions that inserted and have not ended yet
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.pool):
            t = threading.Thread(target=self._guard, args=(i,), name=f"race-insert-{i}", daemon=True)
            self._threads.append(t)
            t.start()

    def stop(self, wait: float = 10.0) -> None:
        """No new transactions; the open ones finish (they commit: a draining application)."""
        self._stop.set()
        end = time.monotonic() + wait
        for t in self._threads:
            t.join(max(0.0, end - time.monotonic()))

    def in_flight(self) -> bool:
        """A transaction of the release has inserted a row and not committed yet."""
        with self._lock:
            return self._open > 0

    def _opened(self, delta: int) -> None:
        with self._lock:
            self._open += delta

    def _next(self) -> int | None:
        with self._lock:
            if self._issued >= self.max_inserts:
                return None
            self._issued += 1
            self._g += 1
            return self._g

    def _guard(self, index: int) -> None:
        try:
            self._worker(index)
        except Exception as err:  # a session that fails is reported, never silently missing
            self.errors.append(f"{self.name}: {type(err).__name__}: {error_text(err)}")

    def _worker(self, index: int) -> None:
        rng = random.Random(f"{self.seed}:{self.plan.table}:{index}")
        period = self.pool / self.rate if self.rate > 0 else 1.0
        with connect(self.dsn, session("release", max(1.0, self.deadline - self.clock.now()))) as conn_:
            conn = cast("psycopg.Connection[Any]", conn_)
            conn.prepare_threshold = None  # the migration changes the row type; applications re-plan
            due = time.monotonic() + index * period / self.pool
            while not self._stop.is_set() and self.clock.now() < self.deadline:
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                due += period
                g = self._next()
                if g is None:
                    break
                self._one(conn, insert_params(self.plan, g, rng), rng)
                if conn.broken:
                    break

    def _one(self, conn: psycopg.Connection[Any], params: dict[str, Any], rng: random.Random) -> None:
        started = self.clock.now()
        inserted = started
        key: Any = None
        try:
            with conn.transaction():
                row = conn.execute(self.plan.statement, params).fetchone()
                inserted = self.clock.now()
                key = row[0] if row else None
                # The rest of the request: the transaction stays open, its row invisible to others. Not cut
                # short by stop(): a draining application finishes its open requests.
                self._opened(1)
                try:
                    time.sleep(rng.uniform(*self.think))
                finally:
                    self._opened(-1)
        except psycopg.Error as err:
            state = getattr(err, "sqlstate", "") or ""
            text = error_text(err)
            ended = self.clock.now()
            self.records.append(
                Insert(self.name, self.plan.table, started, inserted, ended, key, "error", state, text)
            )
            return
        self.records.append(
            Insert(self.name, self.plan.table, started, inserted, self.clock.now(), key, "ok")
        )


# -- runners of the migration -------------------------------------------------------------------------------
@dataclass(frozen=True)
class StatementRun:
    runner: str
    path: str
    line: int
    text: str
    started: float
    ended: float
    outcome: str  # ok | error | skipped
    sqlstate: str = ""
    message: str = ""
    notices: tuple[str, ...] = ()


@dataclass
class Runner:
    """One copy of the migration. pause_before_commit: stop before the first COMMIT that follows any of these
    statement lines ((path, line)) and wait for `resume` (at most `hold` seconds)."""

    name: str
    dsn: str
    units: Sequence[MigrationUnit]
    clock: Clock
    deadline: float
    pause_after: frozenset[tuple[str, int]] = frozenset()
    hold: float = 5.0
    statements: list[StatementRun] = field(default_factory=list)
    paused: threading.Event = field(default_factory=threading.Event)
    resume: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    start_gate: threading.Event | None = None
    backend_pid: int = 0
    failed: StatementRun | None = None
    marks: list[Event] = field(default_factory=list)  # commits of the transactions it opened, its pauses
    stopped: str = ""  # why it stopped outside a statement (a lost connection, a COMMIT refused)

    def run(self) -> None:
        try:
            self._run()
        except Exception as err:  # reported in the round's summary, never a silently shorter run
            self.stopped = f"{type(err).__name__}: {error_text(err)}"
        finally:
            self.done.set()

    def _run(self) -> None:
        remaining = max(0.5, self.deadline - self.clock.now())
        with connect(self.dsn, session(self.name.replace(" ", "-"), remaining)) as conn_:
            conn = cast("psycopg.Connection[Any]", conn_)
            self.backend_pid = int(conn.info.backend_pid)
            notices: list[str] = []
            conn.add_notice_handler(lambda d: notices.append(str(d.message_primary or "")))
            if self.start_gate is not None:
                self.start_gate.wait(remaining)
            pending_pause = False
            for unit in self.units:
                statements = statements_of(unit)
                implicit = one_transaction(unit, statements)
                if implicit:
                    conn.execute(sql.SQL("BEGIN"))
                for stmt in statements:
                    if stmt.in_do_block:
                        continue
                    pending_pause |= (unit.path, stmt.line) in self.pause_after
                    if pending_pause and _is_commit(stmt):
                        self._pause()
                        pending_pause = False
                    if not self._execute(conn, unit, stmt, notices):
                        with contextlib.suppress(psycopg.Error):
                            conn.execute(sql.SQL("ROLLBACK"))
                        return
                if implicit:
                    if pending_pause:
                        self._pause()
                        pending_pause = False
                    conn.execute(sql.SQL("COMMIT"))
                    self.marks.append(Event(self.clock.now(), self.name, f"commits {unit.path}"))

    def _pause(self) -> None:
        self.marks.append(
            Event(self.clock.now(), self.name, "stops before COMMIT: its work is not visible yet")
        )
        self.paused.set()
        self.resume.wait(self.hold)

    def _execute(
        self, conn: psycopg.Connection[Any], unit: MigrationUnit, stmt: Statement, notices: list[str]
    ) -> bool:
        started = self.clock.now()
        notices.clear()
        outcome, state, text = "ok", "", ""
        try:
            # Migration text is trusted input written by its author; it is sent exactly as written.
            conn.execute(sql.SQL(stmt.text))
        except psycopg.Error as err:
            outcome, state, text = "error", getattr(err, "sqlstate", "") or "", error_text(err)
        run = StatementRun(
            self.name,
            unit.path,
            stmt.line,
            stmt.text,
            started,
            self.clock.now(),
            outcome,
            state,
            text,
            tuple(notices),
        )
        self.statements.append(run)
        if outcome == "error":
            self.failed = run
            return False
        return True


def error_text(err: BaseException) -> str:
    """The first line of a server error (the password never appears in those)."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _is_commit(stmt: Statement) -> bool:
    node = stmt.node
    return isinstance(node, ast.TransactionStmt) and str(getattr(node.kind, "name", "")) in (
        "TRANS_STMT_COMMIT",
        "TRANS_STMT_PREPARE",
    )


def blocked_by(dsn: str, waiter: int, holder: int) -> bool:
    """The session `waiter` waits for a lock `holder` holds."""
    with connect(dsn, session("monitor", 5.0)) as conn_:
        conn = cast("psycopg.Connection[Any]", conn_)
        row = conn.execute(
            sql.SQL("SELECT {} = ANY (pg_catalog.pg_blocking_pids({}))").format(
                sql.Literal(holder), sql.Literal(waiter)
            )
        ).fetchone()
    return bool(row and row[0])
