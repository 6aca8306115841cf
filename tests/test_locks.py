"""The lock-conflict table, proven against a real server with LOCK TABLE ... NOWAIT."""

from __future__ import annotations

import itertools

import psycopg
import pytest
from psycopg import sql

from foreshock.core.locks import LockMode


def test_parse_accepts_pg_locks_and_sql_names() -> None:
    assert LockMode.parse("AccessExclusiveLock") is LockMode.AccessExclusiveLock
    assert LockMode.parse("ACCESS EXCLUSIVE") is LockMode.AccessExclusiveLock
    assert LockMode.parse("share update exclusive") is LockMode.ShareUpdateExclusiveLock
    assert LockMode.parse("share") is LockMode.ShareLock
    with pytest.raises(ValueError):
        LockMode.parse("exclusiveish")


def test_traffic_classes() -> None:
    assert LockMode.AccessExclusiveLock.blocked == ("reads", "writes", "ddl")
    assert LockMode.ShareLock.blocked == ("writes", "ddl")
    assert LockMode.ShareUpdateExclusiveLock.blocked == ("ddl",)
    assert LockMode.RowExclusiveLock.blocked == ()
    assert not LockMode.ShareUpdateExclusiveLock.blocks_traffic
    assert LockMode.ShareRowExclusiveLock.blocks_traffic


def test_conflicts_are_symmetric() -> None:
    for a, b in itertools.product(LockMode, LockMode):
        assert a.conflicts_with(b) == b.conflicts_with(a), (a, b)


@pytest.mark.db
def test_conflict_table_matches_the_server(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as setup:
        setup.execute("DROP TABLE IF EXISTS lock_probe; CREATE TABLE lock_probe (a int)")
    opts = "-c lock_timeout=2s -c statement_timeout=5s"
    with (
        psycopg.connect(pg_dsn, application_name="foreshock-test", options=opts) as holder,
        psycopg.connect(pg_dsn, application_name="foreshock-test", options=opts) as asker,
    ):
        for held, asked in itertools.product(LockMode, LockMode):
            holder.execute(sql.SQL("LOCK TABLE lock_probe IN {} MODE").format(sql.SQL(held.sql_name)))
            try:
                ask = sql.SQL("LOCK TABLE lock_probe IN {} MODE NOWAIT").format(sql.SQL(asked.sql_name))
                asker.execute(ask)
                conflict = False
            except psycopg.errors.LockNotAvailable:
                conflict = True
            asker.rollback()
            holder.rollback()
            assert conflict == held.conflicts_with(asked), (held.name, asked.name)
