"""`foreshock trace PATHS`: the click command (registered by cli.py through PLUGIN_COMMANDS).

Parse options -> foreshock.trace.api.trace(...) -> render (tty side-by-side view, or JSON) -> exit code.
"""

from __future__ import annotations

import sys

import click

from foreshock.errors import ConfigError
from foreshock.options import (
    assume_transaction_option,
    config_option,
    format_option,
    paths_argument,
    schema_option,
)


@click.command("trace")
@paths_argument
@schema_option
@click.option(
    "--sandbox",
    "sandbox",
    type=click.Choice(["embedded", "initdb", "dsn"]),
    default="embedded",
    show_default=True,
    help="Where to run: the PostgreSQL bundled with foreshock, initdb/postgres installed on this "
    "machine, or --sandbox-dsn.",
)
@click.option(
    "--pg-version",
    "pg_version",
    type=int,
    default=None,
    help="PostgreSQL major version of the initdb sandbox (/usr/lib/postgresql/<v>/bin).",
)
@click.option(
    "--sandbox-dsn",
    "sandbox_dsn",
    envvar="FORESHOCK_SANDBOX_DSN",
    default=None,
    metavar="URL",
    help="A disposable server to trace on (or FORESHOCK_SANDBOX_DSN); needs CREATEDB.",
)
@click.option(
    "--sandbox-allow-existing",
    is_flag=True,
    default=False,
    help="Accept a --sandbox-dsn database that already holds tables.",
)
@format_option(("tty", "json"), "Side-by-side view (tty), or check's JSON with measured effects.", "tty")
@config_option
@assume_transaction_option()
def command(
    paths: tuple[str, ...],
    schema: tuple[str, ...],
    sandbox: str,
    pg_version: int | None,
    sandbox_dsn: str | None,
    sandbox_allow_existing: bool,
    fmt: str,
    config_path: str | None,
    assume_transaction: bool | None,
) -> int:
    """What did PostgreSQL really lock, rewrite and scan? Runs the migrations on a throwaway server.

    PATHS are .sql files, directories of them, Alembic or Django projects (as for `check`). Each statement is
    shown next to what `check` predicted; disagreements are marked.
    """
    from foreshock.config import load_config, with_overrides
    from foreshock.trace.api import trace

    if sandbox == "dsn" and not sandbox_dsn:
        raise ConfigError("--sandbox dsn needs --sandbox-dsn URL (or FORESHOCK_SANDBOX_DSN)")
    if pg_version is not None and sandbox == "embedded" and not sandbox_dsn:
        sandbox = "initdb"  # asking for a version means the installed server of that version
    settings = with_overrides(load_config(config_path), assume_transaction=assume_transaction)
    result, static = trace(
        paths,
        settings,
        schema=schema,
        sandbox=sandbox,
        pg_version=pg_version,
        sandbox_dsn=sandbox_dsn,
        allow_existing=sandbox_allow_existing,
    )
    for err in result.errors:
        sys.stderr.write(err + "\n")
    sys.stderr.flush()
    if fmt == "json":
        sys.stdout.write(result.dumps() + "\n")
    else:
        from rich.console import Console

        from foreshock.trace.view import render

        render(result, static, Console())
    return result.exit_code
