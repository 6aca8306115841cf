"""`foreshock rehearse --race`: run the migration while what races it runs too, then check what it assumed.

Every check-then-act the static rules know (foreshock.rules.races: guarded ones included) is set up with the
concurrency that breaks it, on a synthetic database in the sandbox:

  back-fill, then NOT NULL      the release still running inserts rows without the new column
  setval(seq, max(id))          the release inserts, taking ids from the sequence
  INSERT … WHERE NOT EXISTS     a second runner of the migration, and the release inserting the same key
  aggregate back-fill           the release inserts child rows
  CREATE INDEX CONCURRENTLY IF NOT EXISTS   an earlier attempt interrupted mid-build
  DO block catalog test         a second runner of the migration

and the invariant the migration relied on is checked afterwards: no NULL left and the constraint step
succeeded; the sequence ahead of max(id) and no duplicate-key error in the release's inserts; no duplicate of
the checked key; the denormalised column equal to a recount; the index valid; both runners succeeded. Each
violation comes with the interleaving that produced it (who did what, when). A round runs on a fresh copy of
one prepared database; rounds alternate two schedules for the runners -- the second runner meets the first
one's uncommitted work (the first stops before its COMMIT), and both start together -- and stop once every
race has shown a violation. Bounded in time (per round) and count (rounds, inserts); sandbox databases only.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

import psycopg
from pglast.stream import RawStream
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from foreshock.core.model import AnalysisSettings, MigrationUnit
from foreshock.errors import ConfigError, InputError
from foreshock.load.race_actors import (
    Clock,
    Event,
    Insert,
    InsertPlan,
    ReleaseInserts,
    RowBuilder,
    Runner,
    StatementRun,
    blocked_by,
    error_text,
    session,
)
from foreshock.load.workload import ensure_sandbox_dsn
from foreshock.pg import connect, translate_error
from foreshock.pg.catalog import find_key
from foreshock.rules._race import (
    AGGREGATE,
    BACKFILL,
    DATA_CODE,
    DO_BLOCK,
    INDEX_IF_ABSENT,
    INSERT_IF_ABSENT,
    SETVAL,
    Race,
)
from foreshock.rules.races import races_in
from foreshock.sandbox import Sandbox

# Runner schedules.
HOLD = "the second runner meets the first one's uncommitted work"
TOGETHER = "both runners start together"
SINGLE = "one runner"
VIOLATED = "violated"
HELD = "held"
NOT_RUN = "not run"
_SHOWN = 3  # rows of evidence quoted per violation


@dataclass(frozen=True)
class RaceConfig:
    """How a race rehearsal runs; durations in seconds. See docs/races.md for every default."""

    rounds: int = 3
    duration: float = 60.0  # hard deadline of one round
    rate: float = 20.0  # the release's inserts per second per table
    think: tuple[float, float] = (0.05, 0.25)  # how long each of its transactions stays open after the INSERT
    pool: int = 6  # its sessions per table
    warmup: float = 0.5  # the release alone before the migration starts
    cooldown: float = 0.5  # the release after the migration ends: what it meets then
    hold: float = 3.0  # the longest the first runner waits before its COMMIT for the second to catch up
    max_inserts: int = 20_000  # per table and round
    seed: int = 1

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ConfigError("race rounds must be >= 1")
        if self.duration <= 0 or self.rate <= 0 or self.pool < 1 or self.max_inserts < 1:
            raise ConfigError("race duration, rate, pool and max-inserts must be > 0")


@dataclass(frozen=True)
class RaceOutcome:
    """One race of the migration, and what the run showed about it."""

    rule: str
    kind: str
    table: str
    path: str
    line: int
    statement: str
    breaker: str
    guard: str  # the static analysis' reason it is safe ("" = it reports it)
    verdict: str  # violated | held | not run
    invariant: str = ""
    found: str = ""  # what broke (violated), or why it was not run
    round: int | None = None  # the first round that showed it
    rounds: int = 0  # rounds it was run in
    interleaving: tuple[Event, ...] = ()

    @property
    def disagrees(self) -> bool:
        """Static analysis called it safe, the run broke it."""
        return bool(self.guard) and self.verdict == VIOLATED

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "kind": self.kind,
            "table": self.table,
            "path": self.path,
            "line": self.line,
            "statement": self.statement,
            "breaker": self.breaker,
            "static": "guarded" if self.guard else "racy",
            "guard": self.guard,
            "verdict": self.verdict,
            "invariant": self.invariant,
            "found": self.found,
            "round": self.round,
            "rounds": self.rounds,
            "interleaving": [e.to_json() for e in self.interleaving],
        }


@dataclass(frozen=True)
class RoundSummary:
    index: int
    schedule: str
    seconds: float
    runners: tuple[str, ...]  # "runner A: ok" / "runner B: failed at f.sql:4: …"
    inserts: int
    insert_errors: tuple[str, ...]  # "12 × 23505 duplicate key value violates …"

    def to_json(self) -> dict[str, Any]:
        return {
            "round": self.index,
            "schedule": self.schedule,
            "seconds": round(self.seconds, 3),
            "runners": list(self.runners),
            "release_inserts": self.inserts,
            "release_insert_errors": list(self.insert_errors),
        }


@dataclass(frozen=True)
class RaceReport:
    outcomes: tuple[RaceOutcome, ...]
    rounds: tuple[RoundSummary, ...]
    config: RaceConfig
    warnings: tuple[str, ...] = ()

    @property
    def violations(self) -> tuple[RaceOutcome, ...]:
        return tuple(o for o in self.outcomes if o.verdict == VIOLATED)

    def to_json(self) -> dict[str, Any]:
        c = self.config
        return {
            "races": [o.to_json() for o in self.outcomes],
            "violations": len(self.violations),
            "rounds": [r.to_json() for r in self.rounds],
            "config": {
                "rounds": c.rounds,
                "round_duration_s": c.duration,
                "release_inserts_per_s": c.rate,
                "release_transaction_s": list(c.think),
                "release_pool": c.pool,
                "max_inserts": c.max_inserts,
            },
            "warnings": list(self.warnings),
        }


# -- what races, and what is run --------------------------------------------------------------------------
Prepare = Callable[[str], None]


def find_races(
    release: Sequence[MigrationUnit],
    history: Sequence[MigrationUnit] = (),
    settings: AnalysisSettings | None = None,
) -> list[Race]:
    """The races whose act is in the release (a check may sit in an earlier file of it)."""
    paths = {u.path for u in release}
    units = [*(replace_history(u) for u in history), *release]
    return [
        r
        for r in races_in(units, settings)
        if (r.act is not None and r.act.path in paths) or (r.kind == DATA_CODE)
    ]


def replace_history(unit: MigrationUnit) -> MigrationUnit:
    return unit if unit.history else replace(unit, history=True)


def _where(r: Race) -> tuple[str, int]:
    if r.act is not None:
        return r.act.path, r.act.line
    return r.check_path, int(r.line or 0)


def _label(r: Race) -> str:
    if r.act is None:
        return r.note
    text = " ".join(r.act.text.split())
    return text if len(text) <= 90 else text[:89] + "…"


def _not_run(r: Race, why: str) -> RaceOutcome:
    path, line = _where(r)
    return RaceOutcome(r.rule, r.kind, r.table, path, line, _label(r), r.breaker, r.guard, NOT_RUN, found=why)


# -- the run ---------------------------------------------------------------------------------------------
def race(
    sandbox: Sandbox,
    release: Sequence[MigrationUnit],
    prepare: Prepare,
    rows: RowBuilder,
    config: RaceConfig | None = None,
    *,
    history: Sequence[MigrationUnit] = (),
    schema: str = "",
    progress: Callable[[str], None] | None = None,
) -> RaceReport:
    """Prepare one database (`prepare(dsn)`: schema and data), then per round run the release on a copy of it
    with its racers, and check the invariants. Only the sandbox's scratch databases are connected to.

    rows builds the release's INSERT into a table (foreshock.scale.datagen.release_insert: rows shaped like
    the synthetic data). history (migrations before the release) and schema (DDL, e.g. a snapshot's) tell the
    static analysis what exists before the release: which unique indexes, triggers and defaults guard its
    races."""
    config = config or RaceConfig()
    say = progress or (lambda _m: None)
    if not release:
        raise InputError("nothing to race: no migration given")
    settings = AnalysisSettings(pg_version=sandbox.major_version)
    known = [MigrationUnit("<schema>", schema, history=True)] if schema.strip() else []
    races = find_races(release, [*known, *history], settings)
    warnings: list[str] = []
    outcomes: dict[int, RaceOutcome] = {}
    runnable: list[Race] = []
    for r in races:
        if r.kind == DATA_CODE:
            outcomes[id(r)] = _not_run(
                r, "framework Python code is not run by --race; the static finding stands"
            )
        else:
            runnable.append(r)
    for u in release:
        for code in u.opaque:
            warnings.append(f"{u.path}:{code.line}: {code.kind} {code.name} is Python, not run by --race")
    rounds: list[RoundSummary] = []
    if runnable:
        with sandbox.fresh_database("race_base") as base:
            say("preparing the race database")
            prepare(base)
            shown: set[int] = set()
            for index in range(1, config.rounds + 1):
                schedule = _schedule(runnable, index)
                say(f"race round {index}/{config.rounds} ({schedule})")
                with sandbox.fresh_database("race_run", template=_dbname(base)) as dsn:
                    try:
                        summary, found = _round(dsn, release, runnable, rows, config, index, schedule)
                    except psycopg.Error as err:
                        raise translate_error(err, f"race rehearsal (round {index})") from None
                rounds.append(summary)
                for r in runnable:
                    previous = outcomes.get(id(r))
                    outcome = found[id(r)]
                    if previous is not None and previous.verdict == VIOLATED:
                        continue  # the first round that showed it is the one reported
                    outcomes[id(r)] = _counted(outcome, index)
                    if outcome.verdict == VIOLATED:
                        shown.add(id(r))
                if all(id(r) in shown for r in runnable):
                    break
    for r in runnable:
        o = outcomes[id(r)]
        if o.disagrees:
            warnings.append(
                f"{o.path}:{o.line}: static analysis calls this safe ({o.guard}), but the run broke it: "
                f"{o.found}"
            )
        elif not o.guard and o.verdict == HELD:
            warnings.append(
                f"{o.path}:{o.line}: [{o.rule}] not shown in {o.rounds} round(s): the window is a matter of "
                "timing, so this is no proof of safety"
            )
    ordered = tuple(outcomes[id(r)] for r in races)
    return RaceReport(ordered, tuple(rounds), config, tuple(warnings))


def _counted(o: RaceOutcome, index: int) -> RaceOutcome:
    return replace(o, rounds=index, round=index if o.verdict == VIOLATED else None)


def _dbname(dsn: str) -> str:
    return str(conninfo_to_dict(dsn).get("dbname") or "")


def _schedule(races: Sequence[Race], index: int) -> str:
    if not any(r.runner for r in races):
        return SINGLE
    return HOLD if index % 2 == 1 else TOGETHER


# -- one round -------------------------------------------------------------------------------------------
@dataclass
class _Round:
    dsn: str
    clock: Clock
    config: RaceConfig
    order: dict[str, int] = field(default_factory=dict)  # path -> position in the release
    events: list[Event] = field(default_factory=list)
    inserters: list[ReleaseInserts] = field(default_factory=list)
    runners: list[Runner] = field(default_factory=list)
    key_inserts: list[StatementRun] = field(default_factory=list)

    @property
    def inserts(self) -> list[Insert]:
        return [i for ins in self.inserters for i in ins.records]

    def statement_runs(self) -> list[StatementRun]:
        return [s for r in self.runners for s in r.statements] + self.key_inserts


def _round(
    dsn: str,
    release: Sequence[MigrationUnit],
    races: Sequence[Race],
    rows: RowBuilder,
    config: RaceConfig,
    index: int,
    schedule: str,
) -> tuple[RoundSummary, dict[int, RaceOutcome]]:
    ensure_sandbox_dsn(dsn)
    rnd = _Round(dsn, Clock(), config, {u.path: i for i, u in enumerate(release)})
    deadline = config.duration
    with connect(dsn, session("setup", 60.0)) as conn_:
        conn = cast("psycopg.Connection[Any]", conn_)
        for r in races:
            if r.kind == INDEX_IF_ABSENT and r.act is not None:
                _interrupted_build(dsn, conn, r, rnd)
        baselines = {id(r): _duplicates(conn, r) for r in races if r.kind == INSERT_IF_ABSENT and r.columns}
        plans = _insert_plans(conn, races, rows)
    for plan in plans:
        rnd.inserters.append(
            ReleaseInserts(
                dsn,
                plan,
                rnd.clock,
                rate=config.rate,
                think=config.think,
                pool=config.pool,
                first_g=1_000_000_000 + index * 10_000_000,
                deadline=deadline,
                max_inserts=config.max_inserts,
                seed=config.seed + index,
            )
        )
    for ins in rnd.inserters:
        ins.start()
    time.sleep(config.warmup)
    # The migration starts while the release has a transaction open, as it always has in production.
    until = time.monotonic() + max(config.think[1] * 4, 1.0)
    while rnd.inserters and not any(i.in_flight() for i in rnd.inserters) and time.monotonic() < until:
        time.sleep(0.002)
    try:
        _run_migration(rnd, release, races, schedule, deadline)
        time.sleep(min(config.cooldown, max(0.0, deadline - rnd.clock.now())))
    finally:
        for ins in rnd.inserters:
            ins.stop(wait=max(1.0, config.think[1] * 4))
    found = {id(r): _judge(rnd, r, baselines) for r in races}
    summary = RoundSummary(
        index,
        schedule,
        rnd.clock.now(),
        tuple(_runner_line(r) for r in rnd.runners),
        len(rnd.inserts),
        _error_lines(rnd.inserts) + tuple(e for ins in rnd.inserters for e in ins.errors),
    )
    return summary, found


def _runner_line(r: Runner) -> str:
    if r.stopped:
        return f"{r.name}: stopped: {r.stopped}"
    if r.failed is not None:
        f = r.failed
        return f"{r.name}: failed at {f.path}:{f.line}: {f.message}"
    return f"{r.name}: {'ok' if r.done.is_set() else 'did not finish in time'}"


def _error_lines(inserts: Sequence[Insert]) -> tuple[str, ...]:
    counts: dict[tuple[str, str], int] = {}
    for i in inserts:
        if i.outcome == "error":
            key = (i.sqlstate, i.message)
            counts[key] = counts.get(key, 0) + 1
    return tuple(
        f"{n} × {state} {message}" for (state, message), n in sorted(counts.items(), key=lambda kv: -kv[1])
    )


def _insert_plans(conn: psycopg.Connection[Any], races: Sequence[Race], rows: RowBuilder) -> list[InsertPlan]:
    """One INSERT of the release per table it writes: the back-filled and sequence-fed tables, and the child
    tables of aggregates (their foreign key pointing at existing parents)."""
    wanted: dict[str, dict[str, tuple[Any, ...]]] = {}
    for r in races:
        if r.kind in (BACKFILL, SETVAL):
            wanted.setdefault(r.table, {})
        elif r.kind == AGGREGATE and r.other_columns:
            child_col, parent_col = r.other_columns
            parents = conn.execute(
                sql.SQL("SELECT {} FROM {} WHERE {} IS NOT NULL LIMIT 2000").format(
                    sql.Identifier(parent_col), _ident(r.table), sql.Identifier(parent_col)
                )
            ).fetchall()
            if parents:
                wanted.setdefault(r.other, {})[child_col] = tuple(row[0] for row in parents)
    plans = []
    for table, pinned in wanted.items():
        key = find_key(conn, table) or ()
        plans.append(rows(conn, table, key[0].name if len(key) == 1 else "", pinned))
    return plans


def _interrupted_build(dsn: str, conn: psycopg.Connection[Any], r: Race, rnd: _Round) -> None:
    """Leave what an interrupted CREATE INDEX CONCURRENTLY leaves: the index, INVALID. The build is started
    while a transaction that wrote the table is open (the build waits for it), then cancelled."""
    assert r.act is not None
    node = r.act.node
    build = str(RawStream()(node)).replace(" IF NOT EXISTS", "", 1)
    table = sql.Identifier(*r.table.split(".", 1))
    holder_ready = threading.Event()
    release_holder = threading.Event()

    def hold() -> None:
        with connect(dsn, session("earlier-attempt-writer", 30.0)) as h_, h_.transaction():
            h = cast("psycopg.Connection[Any]", h_)
            h.execute(sql.SQL("LOCK TABLE {} IN ROW EXCLUSIVE MODE").format(table))
            holder_ready.set()
            release_holder.wait(20.0)

    t = threading.Thread(target=hold, daemon=True)
    t.start()
    holder_ready.wait(10.0)
    with connect(dsn, session("earlier-attempt", 30.0)) as b_:
        b = cast("psycopg.Connection[Any]", b_)
        pid = int(b.info.backend_pid)
        started = rnd.clock.now()

        def cancel() -> None:
            # Once the build waits for the writer, its INVALID index is committed: interrupt it there.
            for _ in range(200):
                row = conn.execute(
                    sql.SQL(
                        "SELECT wait_event_type = 'Lock' FROM pg_catalog.pg_stat_activity WHERE pid = {}"
                    ).format(sql.Literal(pid))
                ).fetchone()
                if row and row[0]:
                    break
                time.sleep(0.02)
            conn.execute(sql.SQL("SELECT pg_catalog.pg_cancel_backend({})").format(sql.Literal(pid)))

        canceller = threading.Thread(target=cancel, daemon=True)
        canceller.start()
        # The statement of the migration, without IF NOT EXISTS: trusted text, sent as the migration has it.
        with contextlib.suppress(psycopg.errors.QueryCanceled):
            b.execute(sql.SQL(build))
        canceller.join(10.0)
    release_holder.set()
    t.join(10.0)
    row = conn.execute(
        sql.SQL("SELECT indisvalid FROM pg_catalog.pg_index WHERE indexrelid = to_regclass({})").format(
            sql.Literal(r.other)
        )
    ).fetchone()
    left = "nothing" if row is None else ("a valid index" if row[0] else f"{r.other} INVALID")
    rnd.events.append(
        Event(started, "an earlier attempt", f"`{build[:80]}` interrupted mid-build: left {left}")
    )


def _run_migration(
    rnd: _Round, release: Sequence[MigrationUnit], races: Sequence[Race], schedule: str, deadline: float
) -> None:
    cfg = rnd.config
    a = Runner("runner A", rnd.dsn, release, rnd.clock, deadline, hold=cfg.hold)
    rnd.runners.append(a)
    if schedule == SINGLE:
        t = threading.Thread(target=a.run, daemon=True)
        t.start()
        t.join(max(0.0, deadline - rnd.clock.now()))
        return
    b = Runner("runner B", rnd.dsn, release, rnd.clock, deadline)
    rnd.runners.append(b)
    key_races = [r for r in races if r.kind == INSERT_IF_ABSENT and r.values and all(r.values)]
    gate = threading.Event()
    if schedule == TOGETHER:
        a.start_gate = gate
        b.start_gate = gate
    else:
        a.pause_after = frozenset(_where(r) for r in races if r.runner)
    ta = threading.Thread(target=a.run, daemon=True)
    ta.start()
    if schedule == HOLD:
        # The first runner goes up to the COMMIT after the racing statement and waits there.
        while not (a.paused.is_set() or a.done.is_set()) and rnd.clock.now() < deadline:
            time.sleep(0.01)
    tb = threading.Thread(target=b.run, daemon=True)
    tb.start()
    keys = [threading.Thread(target=_key_insert, args=(rnd, r, gate), daemon=True) for r in key_races]
    for k in keys:
        k.start()
    gate.set()
    if schedule == HOLD:
        # Until the second one has finished or waits for a lock the first one holds.
        end = time.monotonic() + cfg.hold
        while time.monotonic() < end and not b.done.is_set():
            if b.backend_pid and a.backend_pid and blocked_by(rnd.dsn, b.backend_pid, a.backend_pid):
                break
            time.sleep(0.02)
        a.resume.set()
    for t in (ta, tb, *keys):
        t.join(max(0.0, deadline - rnd.clock.now()))


def _key_insert(rnd: _Round, r: Race, gate: threading.Event) -> None:
    """The release still running creating the same row the same way, once, its transaction open a while."""
    assert r.act is not None
    gate.wait(rnd.config.hold)
    name = "the release: the same INSERT"
    started = rnd.clock.now()
    with connect(rnd.dsn, session("release-key", 30.0)) as c_:
        c = cast("psycopg.Connection[Any]", c_)
        try:
            with c.transaction():
                c.execute(sql.SQL(r.act.text))
                time.sleep(rnd.config.think[1])
        except psycopg.Error as err:
            text = error_text(err)
            rnd.key_inserts.append(
                StatementRun(
                    name,
                    r.act.path,
                    r.act.line,
                    r.act.text,
                    started,
                    rnd.clock.now(),
                    "error",
                    getattr(err, "sqlstate", "") or "",
                    text,
                )
            )
            return
    rnd.key_inserts.append(
        StatementRun(name, r.act.path, r.act.line, r.act.text, started, rnd.clock.now(), "ok")
    )


# -- invariants ------------------------------------------------------------------------------------------
def _outcome(
    r: Race, verdict: str, invariant: str, found: str = "", events: Sequence[Event] = ()
) -> RaceOutcome:
    path, line = _where(r)
    return RaceOutcome(
        r.rule,
        r.kind,
        r.table,
        path,
        line,
        _label(r),
        r.breaker,
        r.guard,
        verdict,
        invariant,
        found,
        interleaving=tuple(sorted(events, key=lambda e: e.at)),
    )


def _runs_at(rnd: _Round, path: str, line: int) -> list[StatementRun]:
    return [s for s in rnd.statement_runs() if s.path == path and s.line == line]


def _statement_events(runs: Sequence[StatementRun], rnd: _Round | None = None) -> list[Event]:
    """What these statements did, with the commits and pauses of the runners that ran them."""
    out = []
    if rnd is not None and runs:
        # From the first of these statements to the commit that follows the last one.
        first, last = min(s.started for s in runs), max(s.ended for s in runs)
        for r in rnd.runners:
            if r.name not in {s.runner for s in runs}:
                continue
            marks = [m for m in r.marks if m.at >= first]
            after = [m for m in marks if m.at > last]
            out += [m for m in marks if m.at <= last] + after[:1]
    for s in runs:
        text = " ".join(s.text.split())
        text = text if len(text) <= 60 else text[:59] + "…"
        at = _at(rnd, s.path, s.line)
        out.append(Event(s.started, s.runner, f"{at} `{text}` starts"))
        end = "succeeds" if s.outcome == "ok" else f"fails: {s.message}"
        notes = f" ({'; '.join(s.notices)})" if s.notices else ""
        out.append(Event(s.ended, s.runner, f"{at} {end}{notes}"))
    return out


def _at(rnd: _Round | None, path: str, line: int) -> str:
    """`line 4`, or `006_validate.sql:4` when the release has several files."""
    if rnd is not None and len(rnd.order) > 1:
        return f"{Path(path).name}:{line}"
    return f"line {line}"


def _failure(runs: Sequence[StatementRun]) -> StatementRun | None:
    return next((s for s in runs if s.outcome == "error"), None)


Judge = Callable[[_Round, Race, "psycopg.Connection[Any]"], RaceOutcome]


def _judge(rnd: _Round, r: Race, baselines: dict[int, int]) -> RaceOutcome:
    if r.kind == INSERT_IF_ABSENT:
        if id(r) not in baselines:
            return _outcome(r, NOT_RUN, "", "the checked columns could not be read from the statement")
        return _judge_duplicates(rnd, r, baselines[id(r)])
    judges: dict[str, Judge] = {
        BACKFILL: _judge_backfill,
        SETVAL: _judge_setval,
        AGGREGATE: _judge_aggregate,
        INDEX_IF_ABSENT: _judge_index,
        DO_BLOCK: _judge_do_block,
    }
    with connect(rnd.dsn, session("check", 60.0)) as conn_:
        return judges[r.kind](rnd, r, cast("psycopg.Connection[Any]", conn_))


def _ident(table: str) -> sql.Composable:
    return sql.Identifier(*table.split(".", 1))


def _column_exists(conn: psycopg.Connection[Any], table: str, column: str) -> bool:
    row = conn.execute(
        sql.SQL(
            "SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass({}) AND attname = {} "
            "AND NOT attisdropped"
        ).format(sql.Literal(table), sql.Literal(column))
    ).fetchone()
    return row is not None


def _judge_backfill(rnd: _Round, r: Race, conn: psycopg.Connection[Any]) -> RaceOutcome:
    assert r.act is not None
    col = r.columns[0]
    t = r.table.removeprefix("public.")
    invariant = (
        f"no NULL left in {t}.{col}, and the constraint steps from {_at(rnd, r.act.path, r.act.line)} succeed"
    )
    act_runs = _runs_at(rnd, r.act.path, r.act.line)
    check_runs = _runs_at(rnd, r.check.path, r.check.line) if r.check is not None else []
    events = _statement_events(check_runs + act_runs, rnd)
    if not _column_exists(conn, r.table, col):
        return _outcome(r, NOT_RUN, invariant, f"{t}.{col} does not exist after the run", events)
    failed = _failure_from(rnd, r.act.path, r.act.line)
    key = _key_of(rnd, r.table)
    rows = conn.execute(
        sql.SQL("SELECT {} FROM {} WHERE {} IS NULL").format(
            sql.Identifier(key) if key else sql.SQL("NULL"), _ident(r.table), sql.Identifier(col)
        )
    ).fetchall()
    act_started = min((s.started for s in act_runs), default=rnd.clock.now())
    # Once the constraint holds, the release's own inserts without the column fail.
    refused = [
        i
        for i in rnd.inserts
        if i.table == r.table
        and i.outcome == "error"
        and i.sqlstate in ("23502", "23514")
        and i.started >= act_started
    ]
    if not rows and failed is None and not refused:
        return _outcome(r, HELD, invariant, events=events)
    nulls = {row[0] for row in rows}
    culprits = [i for i in rnd.inserts if i.outcome == "ok" and i.key in nulls and i.table == r.table]
    found = []
    if failed is not None:
        found.append(f"{_at(rnd, failed.path, failed.line)} failed ({failed.sqlstate}: {failed.message})")
        events += _statement_events([failed], rnd)
    if rows:
        found.append(
            f"{len(rows):,} row(s) of {t} have {col} NULL, {len(culprits):,} of them inserted by the release"
        )
    if refused:
        found.append(f"{len(refused):,} insert(s) of the release refused ({refused[0].message})")
        events += [Event(i.ended, i.actor, f"an INSERT fails: {i.message}") for i in refused[:1]]
    events += _insert_events(culprits, "inserted without " + col)
    return _outcome(r, VIOLATED, invariant, "; ".join(found), events)


def _failure_from(rnd: _Round, path: str, line: int) -> StatementRun | None:
    """The first failure of a runner at or after path:line (the runner stops there)."""
    here = (rnd.order.get(path, 0), line)
    for runner in rnd.runners:
        f = runner.failed
        if f is not None and (rnd.order.get(f.path, 0), f.line) >= here:
            return f
    return None


def _key_of(rnd: _Round, table: str) -> str:
    return next((ins.plan.key for ins in rnd.inserters if ins.plan.table == table), "")


def _insert_events(inserts: Sequence[Insert], what: str) -> list[Event]:
    out = []
    for i in sorted(inserts, key=lambda i: i.inserted)[:_SHOWN]:
        key = f" (key {i.key})" if i.key is not None else ""
        out.append(Event(i.inserted, i.actor, f"{what}{key}, transaction open"))
        out.append(Event(i.ended, i.actor, f"commits{key}"))
    if len(inserts) > _SHOWN:
        last = max(inserts, key=lambda i: i.ended)
        out.append(
            Event(last.ended, last.actor, f"… {len(inserts) - _SHOWN} more like it, the last commits here")
        )
    return out


def _judge_setval(rnd: _Round, r: Race, conn: psycopg.Connection[Any]) -> RaceOutcome:
    assert r.act is not None
    col = r.columns[0] if r.columns else "id"
    t = r.table.removeprefix("public.")
    invariant = f"the sequence stays ahead of max({col}) of {t}; no insert of the release hits a duplicate"
    runs = _runs_at(rnd, r.act.path, r.act.line)
    events = _statement_events(runs, rnd)
    done = [s for s in runs if s.outcome == "ok"]
    if not done:
        failed = _failure(runs)
        why = f"line {r.act.line} did not run" + (f": {failed.message}" if failed else "")
        return _outcome(r, NOT_RUN, invariant, why, events)
    # The migration's own expression names the sequence; evaluated in the sandbox copy.
    name = conn.execute(sql.SQL("SELECT ({})::regclass::text").format(sql.SQL(r.other))).fetchone()
    seq = str(name[0]) if name else ""
    row = conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(sql.SQL(seq))).fetchone()
    top = conn.execute(
        sql.SQL("SELECT max({}) FROM {}").format(sql.Identifier(col), _ident(r.table))
    ).fetchone()
    next_value = (int(row[0]) + (1 if row[1] else 0)) if row else 0
    highest = int(top[0]) if top and top[0] is not None else 0
    setval_at = done[0].started
    duplicates = [
        i
        for i in rnd.inserts
        if i.outcome == "error" and i.sqlstate == "23505" and i.started >= setval_at and i.table == r.table
    ]
    in_flight = [
        i
        for i in rnd.inserts
        if i.outcome == "ok" and i.inserted <= setval_at < i.ended and i.table == r.table
    ]
    found = []
    if next_value <= highest:
        found.append(f"{seq} hands out {next_value:,} next, but max({col}) is {highest:,}")
    if duplicates:
        found.append(f"{len(duplicates)} insert(s) of the release failed on duplicate keys after the setval")
    if not found:
        return _outcome(r, HELD, invariant, events=events)
    events += _insert_events(in_flight, f"took an id from {seq} and inserted")
    events += [Event(i.ended, i.actor, f"an INSERT fails: {i.message}") for i in duplicates[:_SHOWN]]
    return _outcome(r, VIOLATED, invariant, "; ".join(found), events)


def _duplicates(conn: psycopg.Connection[Any], r: Race) -> int:
    """Rows holding the checked key (constant key), or groups of rows sharing one (otherwise)."""
    cols = sql.SQL(", ").join(map(sql.Identifier, r.columns))
    if all(r.values):
        # The key's constants as the migration writes them: trusted text.
        values = sql.SQL(", ").join(sql.SQL(v) for v in r.values)
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {} WHERE ({}) = ({})").format(
                _ident(r.table), sql.SQL("ROW({})").format(cols), sql.SQL("ROW({})").format(values)
            )
        ).fetchone()
    else:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM (SELECT 1 FROM {} GROUP BY {} HAVING count(*) > 1) d").format(
                _ident(r.table), cols
            )
        ).fetchone()
    return int(row[0]) if row else 0


def _judge_duplicates(rnd: _Round, r: Race, before: int) -> RaceOutcome:
    assert r.act is not None
    key = ", ".join(r.columns)
    t = r.table.removeprefix("public.")
    constant = all(r.values)
    invariant = (
        f"at most one row of {t} with ({key}) = ({', '.join(r.values)})"
        if constant
        else f"no new duplicates of ({key}) in {t}"
    )
    runs = _runs_at(rnd, r.act.path, r.act.line)
    events = _statement_events(runs, rnd)
    with connect(rnd.dsn, session("check", 60.0)) as conn_:
        after = _duplicates(cast("psycopg.Connection[Any]", conn_), r)
    if constant and after > max(before, 1):
        return _outcome(
            r, VIOLATED, invariant, f"{after} rows of {t} with ({key}) = ({', '.join(r.values)})", events
        )
    if not constant and after > before:
        return _outcome(
            r, VIOLATED, invariant, f"{after - before} new group(s) of duplicate ({key}) in {t}", events
        )
    if not runs:
        return _outcome(r, NOT_RUN, invariant, f"line {r.act.line} did not run", events)
    return _outcome(r, HELD, invariant, events=events)


def _judge_aggregate(rnd: _Round, r: Race, conn: psycopg.Connection[Any]) -> RaceOutcome:
    assert r.act is not None
    node = r.act.node
    col = r.columns[0]
    t = r.table.removeprefix("public.")
    invariant = f"{t}.{col} equals a recount once the release's writes have committed"
    runs = _runs_at(rnd, r.act.path, r.act.line)
    events = _statement_events(runs, rnd)
    target = next((x for x in node.targetList or () if str(x.name) == col), None)
    if node.fromClause or target is None:
        return _outcome(r, NOT_RUN, invariant, "the recount is built only for SET col = (subquery)", events)
    if not any(s.outcome == "ok" for s in runs):
        return _outcome(r, NOT_RUN, invariant, f"line {r.act.line} did not run", events)
    # The UPDATE's own relation, expression and WHERE clause, printed back: the recount it claims to store.
    rel = RawStream()(node.relation)
    expr = RawStream()(target.val)
    where = f"({RawStream()(node.whereClause)}) AND " if node.whereClause is not None else ""
    column = ".".join(filter(None, [node.relation.alias.aliasname if node.relation.alias else "", col]))
    row = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE {}{} IS DISTINCT FROM ({})").format(
            sql.SQL(rel),
            sql.SQL(where),
            sql.SQL(column),
            sql.SQL(expr),
        )
    ).fetchone()
    wrong = int(row[0]) if row else 0
    if not wrong:
        return _outcome(r, HELD, invariant, events=events)
    child = r.other.removeprefix("public.")
    started = min(s.started for s in runs)
    late = [i for i in rnd.inserts if i.outcome == "ok" and i.ended > started and i.table == r.other]
    events += _insert_events(late, f"inserts into {child}")
    return _outcome(
        r, VIOLATED, invariant, f"{wrong:,} row(s) of {t} differ from a recount of {child}", events
    )


def _judge_index(rnd: _Round, r: Race, conn: psycopg.Connection[Any]) -> RaceOutcome:
    assert r.act is not None
    invariant = f"index {r.other} exists and is valid"
    runs = _runs_at(rnd, r.act.path, r.act.line)
    events = rnd.events + _statement_events(runs, rnd)
    row = conn.execute(
        sql.SQL("SELECT indisvalid FROM pg_catalog.pg_index WHERE indexrelid = to_regclass({})").format(
            sql.Literal(r.other)
        )
    ).fetchone()
    if row is None:
        return _outcome(r, VIOLATED, invariant, f"{r.other} does not exist", events)
    if not row[0]:
        return _outcome(r, VIOLATED, invariant, f"{r.other} is INVALID: never used by queries", events)
    return _outcome(r, HELD, invariant, events=events)


def _judge_do_block(rnd: _Round, r: Race, conn: psycopg.Connection[Any]) -> RaceOutcome:
    assert r.act is not None
    invariant = "every runner gets through the DO block"
    runs = _runs_at(rnd, r.act.path, r.act.line)
    events = _statement_events(runs, rnd)
    failed = _failure(runs)
    if failed is not None:
        return _outcome(
            r, VIOLATED, invariant, f"{failed.runner} failed at line {failed.line}: {failed.message}", events
        )
    if len([s for s in runs if s.outcome == "ok"]) < 2:
        return _outcome(r, NOT_RUN, invariant, "the DO block did not run in both runners", events)
    return _outcome(r, HELD, invariant, events=events)
