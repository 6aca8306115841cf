"""`foreshock apply PATHS --dsn URL`: the click command (registered by cli.py through PLUGIN_COMMANDS)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from foreshock.apply.options import Acceptance, ApplyOptions
from foreshock.apply.results import ApplyResult
from foreshock.core.quantities import format_duration, parse_duration
from foreshock.errors import ConfigError
from foreshock.fleet.cli import fleet_apply_options, fleet_only_options, run_apply
from foreshock.options import (
    assume_transaction_option,
    config_option,
    format_option,
    paths_argument,
    pg_version_option,
    stats_option,
)

_D = ApplyOptions()
F = TypeVar("F", bound=Callable[..., Any])


def render(result: ApplyResult) -> str:
    if result.dry_run:
        return result.plan_text
    lines = [result.verdict.render()] if result.verdict is not None else []
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


# The DURATION options: each sets the ApplyOptions field of its name; its default is stated in its help.
DURATIONS: dict[str, str] = {
    "lock-timeout": "Longest wait for a traffic-blocking lock per attempt",
    "lock-timeout-concurrent": "Lock wait for CONCURRENTLY statements, which block no traffic",
    "initial-backoff": "First pause between retries, doubled each time, with jitter",
    "max-backoff": "Longest pause between retries",
    "statement-timeout-ddl": "statement_timeout for metadata-only DDL",
    "statement-timeout-default": "statement_timeout for other statements in a transaction",
    "statement-timeout-concurrent": "statement_timeout for CONCURRENTLY statements",
    "wait-for-blockers": "Pre-flight: wait up to this long for long-running transactions on the tables a "
    "step locks; 0 only reports them",
    "batch-time": "Target duration of one backfill batch",
    "max-lag": "Pause backfills while a replica's replay lag exceeds this",
}


def _durations(f: F) -> F:
    for flag, text in reversed(DURATIONS.items()):
        default = format_duration(getattr(_D, flag.replace("-", "_")))
        help_text = f"{text} (default {default})."
        f = click.option(f"--{flag}", default=None, metavar="DURATION", help=help_text)(f)
    return f


@click.command("apply")
@paths_argument
@click.option(
    "--dsn",
    envvar="FORESHOCK_DSN",
    help="Target database URL (or FORESHOCK_DSN). Never printed with its password.",
)
@fleet_apply_options
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the verdict at the target's size and the plan (steps, transactions, timeouts, batches, "
    "estimates from the target's catalog when --dsn is given) and change nothing.",
)
@click.option(
    "--rewrite",
    is_flag=True,
    help="Run the safe rewrite check prints instead of each statement it has a mechanical one for (split "
    "transactions, key-range backfills, NOT VALID + VALIDATE, CONCURRENTLY...), each step committed on its "
    "own and recorded in the ledger.",
)
@click.option(
    "--accept",
    "accept",
    multiple=True,
    metavar="RULE[:FILE:LINE]",
    help="Run despite this error-level finding (every finding of RULE, or the one at FILE:LINE); needs "
    "--reason. Repeatable. Recorded in the ledger.",
)
@click.option(
    "--reason",
    default="",
    metavar="TEXT",
    help="Why the accepted findings are acceptable here (recorded in the ledger with who accepted them).",
)
@_durations
@click.option(
    "--retries",
    type=click.IntRange(0, 1000),
    default=_D.retries,
    show_default=True,
    help="Retries after a lock timeout (the whole transaction is retried).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=_D.batch_size,
    show_default=True,
    help="First batch size of backfills (then adapted to --batch-time).",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Backfill progress bar; with --fleet, the fleet's progress (default: on a terminal; with --fleet "
    "elsewhere, one line per finished target).",
)
@format_option(("tty", "json"), "Output format: the plan or what ran (tty), or JSON.", "tty")
@assume_transaction_option("--transaction/--no-transaction")
@stats_option(
    "Production sizes for --dry-run estimates (as for check --stats); with --dsn and no --stats the "
    "target's catalog is read (catalog only, read-only)."
)
@pg_version_option
@config_option
def command(
    paths: Sequence[str],
    dsn: str | None,
    dry_run: bool,
    rewrite: bool,
    accept: Sequence[str],
    reason: str,
    retries: int,
    batch_size: int,
    progress: bool | None,
    fmt: str,
    assume_transaction: bool | None,
    stats_path: str | None,
    pg_version: str | None,
    config_path: str | None,
    **more: Any,
) -> int:
    """Run migrations in order against --dsn (or every target of --fleet) without taking it down.

    First the migrations are judged at the target's size with check's rules (sizes read from its catalog,
    read-only): a migration with an error-level finding is refused before anything runs (exit 1), unless
    --rewrite runs the safe alternative instead or --accept takes responsibility for the finding. Every
    traffic-blocking lock is asked for with a short lock_timeout and retried with backoff; CONCURRENTLY
    statements run outside transactions; `-- foreshock:backfill` UPDATE/DELETE statements run in resumable
    key batches; each migration is recorded in foreshock.ledger so a second run is a no-op.
    """
    from foreshock.apply.runner import apply
    from foreshock.config import known_rule_ids, load_config, with_overrides
    from foreshock.scale.sizes import load_sizes
    from foreshock.sources.files import load_sql_paths

    settings = with_overrides(
        load_config(config_path), pg_version=pg_version, assume_transaction=assume_transaction
    )

    # `more`: the DURATION options (by ApplyOptions field name); what is left, the fleet's options.
    durations = {name: more.pop(name) for name in list(more) if name.replace("_", "-") in DURATIONS}
    given: dict[str, Any] = {
        name: parse_duration(value, f"--{name.replace('_', '-')}")
        for name, value in durations.items()
        if value is not None
    }
    options = ApplyOptions(
        retries=retries,
        batch_size=batch_size,
        max_batch_size=max(batch_size, _D.max_batch_size),
        dry_run=dry_run,
        progress=progress,
        rewrite=rewrite,
        accept=tuple(Acceptance.parse(a, known_rule_ids()) for a in accept),
        reason=reason,
        **given,
    )
    if options.lock_timeout > 60:
        raise ConfigError(
            "--lock-timeout above 1min defeats its purpose: every query queued behind the "
            "waiting lock waits that long too (use 100ms-1s)"
        )
    loaded = load_sql_paths(paths)
    if loaded.errors:
        raise loaded.errors[0]
    if more["fleet_path"]:
        source = click.get_current_context().get_parameter_source("dsn")
        if dsn and source is not click.core.ParameterSource.ENVIRONMENT:
            raise ConfigError("--fleet and --dsn exclude each other: the targets file names the databases")
        if stats_path is not None:
            raise ConfigError("--fleet reads every target's own sizes: use --stats-dir DIR, not --stats")
        return run_apply(paths, loaded.units, options, more, settings=settings, fmt=fmt)
    alone = fleet_only_options(click.get_current_context())
    if alone:
        raise ConfigError(f"{', '.join(alone)}: only with --fleet TARGETS.toml")
    if not dry_run and not dsn:
        raise ConfigError("apply needs --dsn URL (or FORESHOCK_DSN); use --dry-run to only print the plan")

    def log(msg: str) -> None:
        click.echo(msg, err=True)

    sizes = load_sizes(stats_path) if stats_path is not None else None
    result = apply(loaded.units, dsn, options, log=log, sizes=sizes, settings=settings)
    if fmt == "json":
        out = result.to_json()
        if dry_run:
            out["plan"] = result.plan_text
        click.echo(json.dumps(out, indent=2))
    else:
        click.echo(render(result))
    return result.exit_code


__all__ = ["command", "render"]
