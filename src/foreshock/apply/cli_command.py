"""`foreshock apply PATHS --dsn URL`: the click command (registered by cli.py through PLUGIN_COMMANDS)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from foreshock.apply.options import DEFAULT_LOCK_TIMEOUT, ApplyOptions
from foreshock.apply.results import ApplyResult
from foreshock.core.quantities import format_duration, parse_duration
from foreshock.errors import ConfigError
from foreshock.fleet.cli import fleet_apply_options, fleet_only_options, run_apply

_D = ApplyOptions()


def _dur(name: str, value: str | None, default: float) -> float:
    return default if value is None else parse_duration(value, f"--{name}")


def render(result: ApplyResult) -> str:
    if result.dry_run:
        return result.plan_text
    lines = []
    for u in result.units:
        line = f"{u.name}: {u.outcome}"
        done = [s for s in u.steps if s.outcome == "applied"]
        if done:
            line += f" ({len(done)} step(s), {format_duration(sum(s.seconds for s in done))}"
            retries = sum(max(0, len(s.attempts) - 1) for s in done)
            line += f", {retries} lock-timeout retr{'y' if retries == 1 else 'ies'})" if retries else ")"
        if u.message:
            line += f" -- {u.message}"
        lines.append(line)
    lines.extend(f"warning: {w}" for w in result.warnings)
    return "\n".join(lines)


@click.command("apply")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--dsn",
    envvar="FORESHOCK_DSN",
    help="Target database URL (or FORESHOCK_DSN). Never printed with its password.",
)
@fleet_apply_options
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan (steps, transactions, timeouts, batches, estimates "
    "from the target's catalog when --dsn is given) and change nothing.",
)
@click.option(
    "--lock-timeout",
    default=None,
    metavar="DURATION",
    help="Longest wait for a traffic-blocking lock per attempt "
    f"(default {format_duration(DEFAULT_LOCK_TIMEOUT)}).",
)
@click.option(
    "--lock-timeout-concurrent",
    default=None,
    metavar="DURATION",
    help=f"Lock wait for CONCURRENTLY statements, which block no traffic "
    f"(default {format_duration(_D.lock_timeout_concurrent)}).",
)
@click.option(
    "--retries",
    type=click.IntRange(0, 1000),
    default=_D.retries,
    show_default=True,
    help="Retries after a lock timeout (the whole transaction is retried).",
)
@click.option(
    "--initial-backoff",
    default=None,
    metavar="DURATION",
    help=f"First pause between retries, doubled each time, with jitter (default "
    f"{format_duration(_D.initial_backoff)}).",
)
@click.option(
    "--max-backoff",
    default=None,
    metavar="DURATION",
    help=f"Longest pause between retries (default {format_duration(_D.max_backoff)}).",
)
@click.option(
    "--statement-timeout-ddl",
    default=None,
    metavar="DURATION",
    help=f"statement_timeout for metadata-only DDL (default {format_duration(_D.statement_timeout_ddl)}).",
)
@click.option(
    "--statement-timeout-default",
    default=None,
    metavar="DURATION",
    help=f"statement_timeout for other statements in a transaction (default "
    f"{format_duration(_D.statement_timeout_default)}).",
)
@click.option(
    "--statement-timeout-concurrent",
    default=None,
    metavar="DURATION",
    help="statement_timeout for CONCURRENTLY statements "
    f"(default {format_duration(_D.statement_timeout_concurrent)}).",
)
@click.option(
    "--wait-for-blockers",
    default=None,
    metavar="DURATION",
    help=f"Pre-flight: wait up to this long for long-running transactions on the tables a step locks "
    f"(default {format_duration(_D.wait_for_blockers)}; 0 to only report them).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=_D.batch_size,
    show_default=True,
    help="First batch size of backfills (then adapted to --batch-time).",
)
@click.option(
    "--batch-time",
    default=None,
    metavar="DURATION",
    help=f"Target duration of one backfill batch (default {format_duration(_D.batch_time)}).",
)
@click.option(
    "--max-lag",
    default=None,
    metavar="DURATION",
    help="Pause backfills while a replica's replay lag exceeds this "
    f"(default {format_duration(_D.max_lag)}).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Backfill progress bar; with --fleet, the fleet's progress (default: on a terminal; with --fleet "
    "elsewhere, one line per finished target).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--transaction/--no-transaction",
    "assume_transaction",
    default=True,
    show_default=True,
    help="Run each SQL file without BEGIN/COMMIT as one transaction.",
)
def command(
    paths: Sequence[str],
    dsn: str | None,
    dry_run: bool,
    lock_timeout: str | None,
    lock_timeout_concurrent: str | None,
    retries: int,
    initial_backoff: str | None,
    max_backoff: str | None,
    statement_timeout_ddl: str | None,
    statement_timeout_default: str | None,
    statement_timeout_concurrent: str | None,
    wait_for_blockers: str | None,
    batch_size: int,
    batch_time: str | None,
    max_lag: str | None,
    progress: bool | None,
    fmt: str,
    assume_transaction: bool,
    **fleet_args: Any,
) -> int:
    """Run migrations in order against --dsn (or every target of --fleet) without taking it down.

    Every traffic-blocking lock is asked for with a short lock_timeout and retried with backoff; CONCURRENTLY
    statements run outside transactions; `-- foreshock:backfill` UPDATE/DELETE statements run in resumable
    key batches; each migration is recorded in foreshock.ledger so a second run is a no-op.
    """
    from foreshock.apply.runner import apply
    from foreshock.sources.files import load_sql_paths

    options = ApplyOptions(
        lock_timeout=_dur("lock-timeout", lock_timeout, _D.lock_timeout),
        lock_timeout_concurrent=_dur(
            "lock-timeout-concurrent", lock_timeout_concurrent, _D.lock_timeout_concurrent
        ),
        retries=retries,
        initial_backoff=_dur("initial-backoff", initial_backoff, _D.initial_backoff),
        max_backoff=_dur("max-backoff", max_backoff, _D.max_backoff),
        statement_timeout_ddl=_dur("statement-timeout-ddl", statement_timeout_ddl, _D.statement_timeout_ddl),
        statement_timeout_default=_dur(
            "statement-timeout-default", statement_timeout_default, _D.statement_timeout_default
        ),
        statement_timeout_concurrent=_dur(
            "statement-timeout-concurrent", statement_timeout_concurrent, _D.statement_timeout_concurrent
        ),
        wait_for_blockers=_dur("wait-for-blockers", wait_for_blockers, _D.wait_for_blockers),
        batch_size=batch_size,
        max_batch_size=max(batch_size, _D.max_batch_size),
        batch_time=_dur("batch-time", batch_time, _D.batch_time),
        max_lag=_dur("max-lag", max_lag, _D.max_lag),
        dry_run=dry_run,
        progress=progress,
        assume_transaction=assume_transaction,
    )
    if options.lock_timeout > 60:
        raise ConfigError(
            "--lock-timeout above 1min defeats its purpose: every query queued behind the "
            "waiting lock waits that long too (use 100ms-1s)"
        )
    loaded = load_sql_paths(paths)
    if loaded.errors:
        raise loaded.errors[0]
    if fleet_args["fleet_path"]:
        source = click.get_current_context().get_parameter_source("dsn")
        if dsn and source is not click.core.ParameterSource.ENVIRONMENT:
            raise ConfigError("--fleet and --dsn exclude each other: the targets file names the databases")
        return run_apply(paths, loaded.units, options, fleet_args, fmt=fmt)
    alone = fleet_only_options(click.get_current_context())
    if alone:
        raise ConfigError(f"{', '.join(alone)}: only with --fleet TARGETS.toml")
    if not dry_run and not dsn:
        raise ConfigError("apply needs --dsn URL (or FORESHOCK_DSN); use --dry-run to only print the plan")

    def log(msg: str) -> None:
        click.echo(msg, err=True)

    result = apply(loaded.units, dsn, options, log=log)
    if fmt == "json":
        out = result.to_json()
        if dry_run:
            out["plan"] = result.plan_text
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(render(result))
    return result.exit_code


__all__ = ["command", "render"]
