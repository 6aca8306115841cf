"""`foreshock snapshot --dsn URL -o FILE`: production's catalog statistics into a --stats file."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from click.core import ParameterSource

from foreshock.errors import ConfigError, InputError

ENVIRONMENT = ParameterSource.ENVIRONMENT


@click.command("snapshot")
@click.option(
    "--dsn",
    envvar="FORESHOCK_DSN",
    metavar="URL",
    help="Database to read (a replica is fine). Read-only, catalog only; see docs/snapshot-reads.md.",
)
@click.option(
    "--fleet",
    "fleet_path",
    type=click.Path(dir_okay=False),
    metavar="TARGETS.toml",
    help="Snapshot every target of this file (docs/fleet.md) instead of --dsn; -o is then a directory.",
)
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(),
    help="Where to write the stats file (JSON, docs/stats-format.md); with --fleet, a directory.",
)
@click.option(
    "--parallel",
    type=click.IntRange(1, 256),
    default=4,
    show_default=True,
    help="With --fleet: databases read at once.",
)
@click.option("--show-queries", is_flag=True, help="Print every statement sent, to stderr.")
def command(dsn: str | None, fleet_path: str | None, output: str, parallel: int, show_queries: bool) -> int:
    """Read sizes, column statistics, settings and schema from a live database — never a user row."""
    from foreshock.scale.snapshot import snapshot

    if fleet_path is not None:
        from foreshock.fleet.cli import run_snapshot

        if dsn and click.get_current_context().get_parameter_source("dsn") is not ENVIRONMENT:
            raise ConfigError("--fleet and --dsn exclude each other: the targets file names the databases")
        if show_queries:
            raise ConfigError("--show-queries reads one database: use it with --dsn, not --fleet")
        return run_snapshot(fleet_path, output, parallel)
    if not dsn:
        raise ConfigError("snapshot needs --dsn URL (or FORESHOCK_DSN), or --fleet TARGETS.toml")

    sent: list[str] | None = [] if show_queries else None
    result = snapshot(dsn, sent=sent)
    try:
        Path(output).write_text(result.stats.dumps(), encoding="utf-8")
    except OSError as err:
        raise InputError(f"cannot write the snapshot: {err.strerror or err}", output) from None
    for text in sent or ():
        sys.stderr.write(text.strip() + ";\n")
    for warning in result.warnings:
        sys.stderr.write(f"foreshock: warning: {warning}\n")
    stats = result.stats
    sys.stderr.write(
        f"foreshock: wrote {output}: {len(stats.tables)} tables, server {stats.server.version}\n"
    )
    return 0
