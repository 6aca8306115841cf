"""The command-line options the commands share, declared once: one vocabulary for check, trace, rehearse and
apply (the same names, the same meaning, the same help)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def paths_argument(f: F) -> F:
    return click.argument("paths", nargs=-1, required=True, type=click.Path())(f)


def schema_option(f: F) -> F:
    return click.option(
        "--schema",
        "schema",
        multiple=True,
        type=click.Path(),
        metavar="FILE",
        help="Schema history the migrations run against (e.g. `pg_dump --schema-only` output). Repeatable.",
    )(f)


def config_option(f: F) -> F:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(),
        metavar="FILE",
        help="TOML file with [tool.foreshock] (default: nearest pyproject.toml).",
    )(f)


def stats_option(help_text: str, *, required: bool = False) -> Callable[[F], F]:
    """--stats FILE: production sizes (docs/stats-format.md, or `foreshock snapshot` output)."""

    def decorate(f: F) -> F:
        return click.option(
            "--stats", "stats_path", required=required, type=click.Path(), metavar="FILE", help=help_text
        )(f)

    return decorate


def pg_version_option(f: F) -> F:
    return click.option(
        "--pg-version", metavar="N", help="Target PostgreSQL major version, 12-17 (default 16 or the config)."
    )(f)


def assume_transaction_option(*aliases: str) -> Callable[[F], F]:
    """--assume-transaction/--no-assume-transaction (and older spellings a command kept as aliases)."""

    def decorate(f: F) -> F:
        return click.option(
            "--assume-transaction/--no-assume-transaction",
            *aliases,
            "assume_transaction",
            default=None,
            help="Each file runs in one transaction (default, as most frameworks do), or only explicit "
            "BEGIN ... COMMIT groups statements.",
        )(f)

    return decorate


def format_option(formats: Sequence[str], help_text: str, default: str | None = None) -> Callable[[F], F]:
    """--format with the report layer's names (tty and json everywhere; gcc, sarif and github where there are
    findings)."""

    def decorate(f: F) -> F:
        return click.option(
            "--format",
            "fmt",
            type=click.Choice(tuple(formats)),
            default=default,
            show_default=default is not None,
            help=help_text,
        )(f)

    return decorate


def deployment_options(f: F) -> F:
    """--deployment online|window and --window DURATION: how the migrations are deployed
    (docs/deployment.md)."""
    f = click.option(
        "--window",
        metavar="DURATION",
        help="The maintenance window a window deployment must fit in, e.g. 30min (default 10min or the "
        "config).",
    )(f)
    return click.option(
        "--deployment",
        type=click.Choice(("online", "window")),
        help="online: migrations run while the service serves traffic (default, or the config); window: the "
        "service is down while they run, and findings are about how long they take at production size.",
    )(f)
