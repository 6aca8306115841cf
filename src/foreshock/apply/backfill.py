"""Batched backfills: an UPDATE or DELETE cut into primary-key keyset batches, each its own short transaction.

Each batch reads the saved position with SELECT ... FOR UPDATE, changes the rows in (last key, upper key], and
moves the position in the same transaction. A crash or SIGKILL at any moment either loses the whole batch
(rolled back by PostgreSQL) or keeps it together with its new position, so a re-run resumes exactly and no
row is processed twice -- even if two runners race, because the FOR UPDATE on the position row serialises
them.
"""

from __future__ import annotations

import hashlib
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg import sql

from foreshock.apply import ledger
from foreshock.apply.cancel import CANCELLED, Cancel
from foreshock.apply.options import ApplyOptions
from foreshock.apply.preflight import waiting_on
from foreshock.core.quantities import format_duration
from foreshock.errors import ApplyError
from foreshock.pg import SessionSettings, connect, redact_dsn, translate_error
from foreshock.pg.catalog import KeyColumn, find_key, to_regclass
from foreshock.pg.connect import pg_duration


@dataclass(frozen=True)
class BackfillResult:
    name: str
    table: str
    rows: int  # rows changed by this run
    batches: int  # batches committed by this run
    seconds: float
    already_done: bool = False
    resumed: bool = False
    total_rows: int = 0  # rows changed by all runs of this backfill


def _table_ident(table: str) -> sql.Composable:
    parts = table.split(".", 1)
    return sql.Identifier(*parts)


def _key_list(key: Sequence[KeyColumn]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(k.name) for k in key)


def _key_texts(key: Sequence[KeyColumn]) -> sql.Composable:
    # Aliased: an output column named like the key column would make ORDER BY sort the text ('99' > '100').
    return sql.SQL(", ").join(
        sql.SQL("{}::text AS {}").format(sql.Identifier(k.name), sql.Identifier(f"foreshock_key_{i}"))
        for i, k in enumerate(key)
    )


def _key_row(key: Sequence[KeyColumn]) -> sql.Composable:
    return sql.SQL("({})").format(_key_list(key))


def _key_value(key: Sequence[KeyColumn], values: Sequence[str]) -> sql.Composable:
    return sql.SQL("({})").format(
        sql.SQL(", ").join(
            sql.SQL("CAST({} AS {})").format(sql.Literal(v), sql.SQL(k.type_sql))
            for k, v in zip(key, values, strict=True)
        )
    )


def fingerprint(table: str, set_sql: str | None, where_sql: str | None) -> str:
    return hashlib.sha256(f"{table}\0{set_sql}\0{where_sql}".encode()).hexdigest()


def default_name(table: str, set_sql: str | None, where_sql: str | None) -> str:
    return f"{table}:{fingerprint(table, set_sql, where_sql)[:12]}"


class _Progress:
    """A rich progress bar on a terminal; silent otherwise."""

    def __init__(self, enabled: bool, total: float, done: float, label: str) -> None:
        self._bar: Any = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/~{task.total:,.0f}"),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._bar.start()
        self._task = self._bar.add_task(label, total=max(total, done, 1), completed=done, note="")

    def update(self, advance: float, note: str = "") -> None:
        if self._bar is not None:
            task = self._bar.tasks[0]
            if task.completed + advance > task.total:
                self._bar.update(self._task, total=task.completed + advance)
            self._bar.update(self._task, advance=advance, note=note)

    def finish(self, note: str) -> None:
        if self._bar is not None:
            task = self._bar.tasks[0]
            # The last batch's size is unknown (everything after the last key): show the walk as complete.
            end = max(task.total or 0.0, task.completed)
            self._bar.update(self._task, total=end, completed=end, note=note)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def backfill(
    dsn: str,
    table: str,
    set_sql: str | None,
    where_sql: str | None = None,
    *,
    name: str | None = None,
    batch_size: int | None = None,
    batch_time: float | None = None,
    max_lag: float | None = None,
    options: ApplyOptions | None = None,
    progress: bool | None = None,
    on_batch: Callable[[int, int, float], None] | None = None,
    place: ledger.Place = ledger.DATABASE,
    cancel: Cancel | None = None,
) -> BackfillResult:
    """Run `UPDATE table SET <set_sql> WHERE <where_sql>` (or DELETE when set_sql is None) in keyset batches.

    set_sql and where_sql are SQL fragments written by the migration author (trusted like migration text).
    Resumable: the position is kept in foreshock.backfill_progress under `name`; a finished backfill is a
    no-op. place: where the progress is kept (a tenant's schema for schema-per-tenant targets). cancel: stops
    it between batches and cancels the running one (rolled back; the position stays where it was).
    """
    o = options or ApplyOptions()
    cancel = cancel or Cancel()
    progress_table = place.progress
    size = batch_size or o.batch_size
    target = batch_time or o.batch_time
    lag_limit = o.max_lag if max_lag is None else max_lag
    name = name or default_name(table, set_sql, where_sql)
    sha = fingerprint(table, set_sql, where_sql)
    show = (sys.stderr.isatty() if o.progress is None else o.progress) if progress is None else progress
    control_settings = SessionSettings(
        o.application_name + " (backfill control)",
        pg_duration(o.lock_timeout),
        pg_duration(o.statement_timeout_ddl),
    )
    work_settings = SessionSettings(
        o.application_name + " (backfill)",
        pg_duration(o.lock_timeout),
        pg_duration(o.batch_statement_timeout),
    )
    started = time.monotonic()
    try:
        with connect(dsn, control_settings) as ctl_, connect(dsn, work_settings, autocommit=False) as work_:
            ctl, work = cast("psycopg.Connection[Any]", ctl_), cast("psycopg.Connection[Any]", work_)
            got = ctl.execute(
                sql.SQL("SELECT pg_try_advisory_lock({}, hashtext({}))").format(
                    sql.Literal(ledger.BACKFILL_LOCK_CLASS), sql.Literal(place.backfill_lock_name(name))
                )
            ).fetchone()
            if not got or not got[0]:
                raise ApplyError(
                    f"backfill {name} is already running in another session on "
                    f"{redact_dsn(dsn)}; wait for it or stop it"
                )
            _ensure_ledger(ctl, place)
            if to_regclass(ctl, table) is None:
                raise ApplyError(f"backfill: table {table} does not exist")
            key = find_key(ctl, table)
            if key is None:
                raise ApplyError(
                    f"backfill: table {table} has no usable key for keyset batches; add a PRIMARY KEY or "
                    "a UNIQUE index on NOT NULL columns (no expressions, no WHERE), or run the statement "
                    "unbatched"
                )
            ctl.execute(
                sql.SQL(
                    "INSERT INTO {} (name, table_name, key_columns, statement_sha) VALUES ({}, {}, {}, {}) "
                    "ON CONFLICT (name) DO NOTHING"
                ).format(
                    progress_table, sql.Literal(name), sql.Literal(table),
                    sql.Literal([k.name for k in key]), sql.Literal(sha),
                )
            )
            row = ctl.execute(
                sql.SQL(
                    "SELECT key_columns, finished_at IS NOT NULL, rows_done, last_key IS NOT NULL, "
                    "statement_sha FROM {} WHERE name = {}"
                ).format(progress_table, sql.Literal(name))
            ).fetchone()
            assert row is not None
            if row[4] != sha:
                raise ApplyError(
                    f"backfill {name} was started with a different statement ({int(row[2]):,} rows already "
                    "done); finishing it with new SQL could process those rows twice -- restore the original "
                    "statement, or delete its row in foreshock.backfill_progress if re-processing is safe"
                )
            if list(row[0]) != [k.name for k in key]:
                raise ApplyError(
                    f"backfill {name}: saved position uses key {row[0]}, the table's key is now "
                    f"{[k.name for k in key]}; delete its row in foreshock.backfill_progress to restart"
                )
            if row[1]:
                return BackfillResult(
                    name, table, 0, 0, time.monotonic() - started, already_done=True, total_rows=int(row[2])
                )
            resumed = bool(row[3])
            est = ctl.execute(
                sql.SQL(
                    "SELECT greatest(reltuples, 0)::float8 FROM pg_class WHERE oid = to_regclass({})"
                ).format(sql.Literal(table))
            ).fetchone()
            bar = _Progress(show, float(est[0]) if est else 0.0, 0.0, f"backfill {table}")
            try:
                with cancel.watching(work):
                    rows, batches, total = _run(
                        ctl, work, table, key, set_sql, where_sql, name, size, target, lag_limit, o, bar,
                        on_batch, progress_table, cancel,
                    )
            finally:
                bar.close()
            return BackfillResult(
                name, table, rows, batches, time.monotonic() - started, resumed=resumed, total_rows=total
            )
    except psycopg.Error as err:
        raise translate_error(err, f"backfill {name}") from None


def _ensure_ledger(conn: psycopg.Connection[Any], place: ledger.Place) -> None:
    # Two first-ever runs can race on CREATE ... IF NOT EXISTS (a unique violation in the catalog); the loser
    # simply finds the tables there on its second try.
    for attempt in range(3):
        try:
            ledger.ensure(conn, place)
            return
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject):
            if attempt == 2:
                raise
            time.sleep(0.1)


def _replica_lag(conn: psycopg.Connection[Any]) -> float:
    """The largest replay lag of any streaming replica, in seconds (0 without replicas).

    replay_lag keeps its last measured value until the standby has reported being caught up twice (up to
    wal_receiver_status_interval later), so a replica that has replayed everything flushed counts as 0:
    otherwise a paused backfill, writing nothing, could wait on a stale figure.
    """
    row = conn.execute(
        sql.SQL(
            "SELECT coalesce(max(CASE WHEN replay_lsn IS NULL "
            "OR replay_lsn < pg_catalog.pg_current_wal_flush_lsn() THEN extract(epoch FROM replay_lag) "
            "ELSE 0 END), 0)::float8 FROM pg_catalog.pg_stat_replication"
        )
    ).fetchone()
    return float(row[0]) if row else 0.0


def _run(
    ctl: psycopg.Connection[Any],
    work: psycopg.Connection[Any],
    table: str,
    key: Sequence[KeyColumn],
    set_sql: str | None,
    where_sql: str | None,
    name: str,
    size: int,
    target: float,
    lag_limit: float,
    o: ApplyOptions,
    bar: _Progress,
    on_batch: Callable[[int, int, float], None] | None,
    progress_table: sql.Identifier,
    cancel: Cancel,
) -> tuple[int, int, int]:
    tbl = _table_ident(table)
    work_pid = work.info.backend_pid
    rows_total = 0
    batches = 0
    failures = 0
    total_done = 0
    while True:
        if cancel.cancelled:
            raise ApplyError(f"backfill {name}: {CANCELLED}")
        lag = _replica_lag(ctl)
        while lag > lag_limit:
            bar.update(0, f"paused: replica lag {format_duration(lag)}")
            # Short polls: the lag can drop at once when a paused or slow replica catches up.
            if cancel.wait(min(1.0, max(0.2, lag - lag_limit))):
                raise ApplyError(f"backfill {name}: {CANCELLED}")
            lag = _replica_lag(ctl)
        t0 = time.monotonic()
        try:
            with work.transaction():
                pos = work.execute(
                    sql.SQL(
                        "SELECT last_key, finished_at IS NOT NULL, rows_done FROM {} "
                        "WHERE name = {} FOR UPDATE"
                    ).format(progress_table, sql.Literal(name))
                ).fetchone()
                assert pos is not None
                last, finished, total_done = pos[0], pos[1], int(pos[2])
                if finished:
                    return rows_total, batches, total_done
                after = (
                    sql.SQL("{} > {}").format(_key_row(key), _key_value(key, last))
                    if last is not None
                    else sql.SQL("true")
                )
                upper_row = work.execute(
                    sql.SQL(
                        "SELECT {texts} FROM {tbl} WHERE {after} ORDER BY {keys} LIMIT 1 OFFSET {off}"
                    ).format(
                        texts=_key_texts(key),
                        tbl=tbl,
                        after=after,
                        keys=_key_list(key),
                        off=sql.Literal(size - 1),
                    )
                ).fetchone()
                conds = [after]
                final = upper_row is None
                if upper_row is not None:
                    conds.append(sql.SQL("{} <= {}").format(_key_row(key), _key_value(key, upper_row)))
                else:
                    # The last batch: everything after the saved key, however many rows that is now.
                    top = work.execute(
                        sql.SQL("SELECT {texts} FROM {tbl} WHERE {after} ORDER BY {desc} LIMIT 1").format(
                            texts=_key_texts(key),
                            tbl=tbl,
                            after=after,
                            desc=sql.SQL(", ").join(
                                sql.SQL("{} DESC").format(sql.Identifier(k.name)) for k in key
                            ),
                        )
                    ).fetchone()
                    if top is not None:
                        conds.append(sql.SQL("{} <= {}").format(_key_row(key), _key_value(key, top)))
                    upper_row = top
                if where_sql:
                    conds.append(sql.SQL("({})").format(sql.SQL(where_sql)))
                cond = sql.SQL(" AND ").join(conds)
                if set_sql is None:
                    stmt = sql.SQL("DELETE FROM {} WHERE {}").format(tbl, cond)
                else:
                    stmt = sql.SQL("UPDATE {} SET {} WHERE {}").format(tbl, sql.SQL(set_sql), cond)
                cur = work.execute(stmt)
                changed = max(cur.rowcount, 0)
                done = final or upper_row is None or _is_last(work, tbl, key, upper_row)
                work.execute(
                    sql.SQL(
                        "UPDATE {} SET last_key = coalesce({}, last_key), rows_done = rows_done + {}, "
                        "batches = batches + 1, updated_at = clock_timestamp(), "
                        "finished_at = CASE WHEN {} THEN clock_timestamp() END WHERE name = {}"
                    ).format(
                        progress_table,
                        sql.Literal(list(upper_row) if upper_row is not None else None),
                        sql.Literal(changed),
                        sql.Literal(done),
                        sql.Literal(name),
                    )
                )
                # Sessions queued behind this batch's row locks right now: the batch is too big for the
                # traffic.
                waiters = waiting_on(ctl, work_pid)
        except (
            psycopg.errors.LockNotAvailable,
            psycopg.errors.QueryCanceled,
            psycopg.errors.DeadlockDetected,
        ) as err:
            if cancel.cancelled:
                raise ApplyError(f"backfill {name}: {CANCELLED}") from None
            failures += 1
            if failures > o.retries:
                raise translate_error(
                    err, f"backfill {name}: batch of {size} rows failed {failures} times"
                ) from None
            size = max(1, size // 2)
            cancel.wait(min(o.max_backoff, o.initial_backoff * 2**failures) * random.uniform(0.5, 1.0))
            continue
        failures = 0
        took = time.monotonic() - t0
        rows_total += changed
        batches += 1
        total_done += changed
        if on_batch is not None:
            on_batch(batches, changed, took)
        if done:
            bar.finish(f"{total_done:,} rows changed")
            return rows_total, batches, total_done
        # (last, upper] holds exactly `size` keys, so the bar counts keys walked, not rows matched.
        bar.update(size, f"batch {size:,} in {format_duration(took)}")
        if waiters:
            # Give the queued sessions room: smaller batches and a pause as long as the batch itself.
            size = max(1, size // 2)
            cancel.wait(min(took, o.max_backoff))
        else:
            # Steer towards the target batch duration, changing by at most 2x per step to damp noise.
            factor = min(2.0, max(0.5, target / max(took, 1e-3)))
            size = max(1, min(o.max_batch_size, int(size * factor)))


def _is_last(
    work: psycopg.Connection[Any], tbl: sql.Composable, key: Sequence[KeyColumn], upper: Sequence[str]
) -> bool:
    row = work.execute(
        sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {} WHERE {} > {})").format(
            tbl, _key_row(key), _key_value(key, upper)
        )
    ).fetchone()
    return bool(row and row[0])
