"""Databases foreshock creates on a sandbox server, always dropped afterwards."""

from __future__ import annotations

import itertools
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from foreshock.pg.connect import SessionSettings, connect, translate_error

# Every database foreshock creates starts with this prefix and carries the creating process id, so a later run
# can
# recognise (and drop) what a killed run left behind.
DATABASE_PREFIX = "foreshock_"

_counter = itertools.count(1)
_ADMIN = SessionSettings(application_name="foreshock-sandbox", lock_timeout="30s")


def database_dsn(dsn: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    return make_conninfo(dsn, dbname=dbname)


def dsn_database(dsn: str) -> str:
    return str(conninfo_to_dict(dsn).get("dbname") or "")


def new_database_name(purpose: str) -> str:
    return f"{DATABASE_PREFIX}{purpose}_{os.getpid()}_{next(_counter)}_{secrets.token_hex(3)}"


def create_database(dsn: str, name: str, template: str | None = None) -> None:
    with connect(dsn, _ADMIN) as conn:
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template)
            )
        try:
            conn.execute(query)
        except psycopg.Error as err:
            raise translate_error(err, f"cannot create sandbox database {name}") from None


def drop_database(dsn: str, name: str) -> None:
    with connect(dsn, _ADMIN) as conn:
        try:
            # WITH (FORCE) (PG 13+) ends sessions a failed trace may have left behind.
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        except psycopg.Error as err:
            raise translate_error(err, f"cannot drop sandbox database {name}") from None


@contextmanager
def scratch_database(dsn: str, purpose: str, template: str | None = None) -> Iterator[str]:
    """A new database on the server of dsn (optionally cloned from a template); dropped afterwards."""
    name = new_database_name(purpose)
    create_database(dsn, name, template)
    try:
        yield name
    finally:
        drop_database(dsn, name)
