"""`foreshock snapshot --dsn URL -o FILE`: production's catalog statistics into a --stats file."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from foreshock.errors import InputError


@click.command("snapshot")
@click.option(
    "--dsn",
    required=True,
    envvar="FORESHOCK_DSN",
    metavar="URL",
    help="Database to read (a replica is fine). Read-only, catalog only; see docs/snapshot-reads.md.",
)
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Where to write the stats file (JSON, docs/stats-format.md).",
)
@click.option("--show-queries", is_flag=True, help="Print every statement sent, to stderr.")
def command(dsn: str, output: str, show_queries: bool) -> int:
    """Read sizes, column statistics, settings and schema from a live database — never a user row."""
    from foreshock.scale.snapshot import snapshot

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
