"""The `foreshock` command: parse options -> one API call -> render -> exit code.

Exit codes: 0 nothing at error level, 1 error-level findings, 2 could not analyse (bad input, bad options,
bad configuration, internal error). Every error is one line on stderr; never a traceback unless
FORESHOCK_DEBUG=1.

Adding a command: either write a small `@cli.command()` function here, or put a click command named
`command` in a module of its own and list it in `PLUGIN_COMMANDS` (it is imported only when that command
runs or help is shown, so heavy imports such as psycopg stay out of `foreshock check`).
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import io
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from foreshock import __version__
from foreshock.core.model import LAYOUTS
from foreshock.errors import ConfigError, ForeshockError
from foreshock.options import deployment_options

FORMATS = ("tty", "gcc", "json", "sarif", "github")

# name -> module holding a click command called `command` (written by the engineers of those commands).
PLUGIN_COMMANDS: dict[str, str] = {
    "trace": "foreshock.trace.cli_command",
    "snapshot": "foreshock.scale.snapshot_command",
    "rehearse": "foreshock.rehearse.cli_command",
    "apply": "foreshock.apply.cli_command",
}


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


class ForeshockGroup(click.Group):
    """The `foreshock` group: serves PLUGIN_COMMANDS lazily, and reports every failure as one line.

    The one-line handling lives in `main` so that click's CliRunner (tests) sees exactly what users see.
    """

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> int:
        # The arguments as given: a cached check keeps its output under them (foreshock.cache.fast).
        extra.setdefault("obj", {"argv": list(sys.argv[1:] if args is None else args)})
        code = _invoke_one_line(self, args, prog_name, complete_var=complete_var, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        names.update(n for n, m in PLUGIN_COMMANDS.items() if _module_exists(m))
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        module_name = PLUGIN_COMMANDS.get(cmd_name)
        if module_name is None or not _module_exists(module_name):
            return None
        found = getattr(importlib.import_module(module_name), "command", None)
        return found if isinstance(found, click.Command) else None


@click.group("foreshock", cls=ForeshockGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="foreshock", message="%(prog)s %(version)s")
def cli() -> None:
    """foreshock: know what a PostgreSQL migration will do to production before it runs there."""


def _split(values: Sequence[str]) -> list[str]:
    """--select a,b --select c -> [a, b, c]."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--schema", "schema", multiple=True, type=click.Path(), metavar="FILE",
              help="Schema history to analyse against (e.g. `pg_dump --schema-only` output). Repeatable.")
@click.option("--pg-version", metavar="N",
              help="Target PostgreSQL major version, 12-17 (default 16 or the config).")
@click.option("--format", "fmt", type=click.Choice(FORMATS),
              help="Output format (default: tty, or the config).")
@click.option("--config", "config_path", type=click.Path(), metavar="FILE",
              help="TOML file with [tool.foreshock] (default: nearest pyproject.toml).")
@click.option("--assume-transaction/--no-assume-transaction", default=None,
              help="Each file runs in one transaction (default, as most frameworks do), or only explicit "
                   "BEGIN ... COMMIT groups statements.")
@click.option("--since", metavar="GIT_REF",
              help="Report only migrations new or changed since this git ref; the others are history.")
@click.option("--stats", "stats_path", type=click.Path(), metavar="FILE",
              help="Production table sizes (docs/stats-format.md, or `foreshock snapshot` output): lock-hold "
                   "estimates and severities that follow production size.")
@click.option("--dsn", metavar="URL",
              help="Read the sizes from this database instead (catalog only, read-only; never the rows).")
@click.option("--fleet", "fleet_path", type=click.Path(dir_okay=False), metavar="TARGETS.toml",
              help="Judge the migrations at the size of every target of this file (live snapshots, "
                   "docs/fleet.md): one verdict per target and a summary.")
@click.option("--stats-dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Like --fleet, from the snapshots `foreshock snapshot --fleet` wrote to DIR.")
@click.option("--parallel", type=click.IntRange(1, 256), metavar="N",
              help="With --fleet: databases snapshotted at once (default 4).")
@click.option("--select", multiple=True, metavar="RULE",
              help="Only these rules (repeatable or comma-separated).")
@click.option("--ignore", multiple=True, metavar="RULE",
              help="Skip these rules (repeatable or comma-separated).")
@click.option("--layout", type=click.Choice(LAYOUTS), metavar="NAME",
              help="Read directories as this tool's layout instead of detecting it: "
                   + ", ".join(LAYOUTS) + ".")
@click.option("--accept-not-analysed", is_flag=True, default=None,
              help="Migrations that cannot be analysed (named with their reason) do not make the exit "
                   "code 2.")
@click.option("--include-down", is_flag=True, default=None,
              help="Also check the down/undo/rollback SQL of SQL layouts, as a report of its own (never as "
                   "history). Alembic downgrade() and Django backwards migrations are not analysed.")
@click.option("--django-settings", metavar="MODULE",
              help="Django settings module (default: the one manage.py names).")
@click.option("--alembic-config", type=click.Path(), metavar="FILE",
              help="The Alembic ini file, whatever its name (default: alembic.ini in the project).")
@click.option("--sandbox", type=click.Choice(("auto", "embedded", "initdb", "dsn")),
              help="Server Django migrations (and Alembic revisions that query the database) are rendered "
                   "on: auto (default: initdb binaries when installed, they have the contrib extensions; "
                   "else embedded), embedded, initdb, or dsn (--sandbox-dsn).")
@click.option("--sandbox-dsn", metavar="URL",
              help="Render on this server instead (an empty database foreshock may create databases on).")
@click.option("--render-timeout", metavar="SECONDS",
              help="Time rendering a Django project may take (default 1800; also the limit for any one "
                   "statement of an Alembic revision run on the sandbox); migrations not reached by then are "
                   "named as not analysed.")
@deployment_options
@click.option("--show-info/--hide-info", default=None,
              help="List info-level findings (style notes, durations within budget) in tty, gcc and github "
                   "output too (default: hide them; config: show-info = true); json and sarif list them all.")
@click.option("--cache-dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Keep the history cache here (default: $FORESHOCK_CACHE_DIR, else "
                   "$XDG_CACHE_HOME/foreshock or ~/.cache/foreshock). Used by default for directories and "
                   "framework projects.")
@click.option("--no-cache", is_flag=True,
              help="Neither read nor write the history cache: analyse (and render) everything.")
def check(
    paths: tuple[str, ...],
    schema: tuple[str, ...],
    pg_version: str | None,
    fmt: str | None,
    config_path: str | None,
    assume_transaction: bool | None,
    since: str | None,
    stats_path: str | None,
    dsn: str | None,
    fleet_path: str | None,
    stats_dir: str | None,
    parallel: int | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    layout: str | None,
    accept_not_analysed: bool | None,
    include_down: bool | None,
    django_settings: str | None,
    alembic_config: str | None,
    sandbox: str | None,
    sandbox_dsn: str | None,
    render_timeout: str | None,
    deployment: str | None,
    window: str | None,
    show_info: bool | None,
    cache_dir: str | None,
    no_cache: bool,
) -> int:
    """What will these migrations lock, rewrite or scan, and what traffic does that block?

    PATHS are .sql files, directories of migrations (read as the layout of the tool that wrote them -
    Flyway, golang-migrate, diesel, goose, dbmate, sqitch, Prisma, Atlas, Liquibase or plain SQL - forward
    migrations only, in that tool's order and transaction mode), Alembic projects (an ini file or its
    directory) or Django projects (manage.py).

    Every migration found is analysed or named as not analysed with the reason.

    With --deployment window (the service down while migrations run), the question is instead how long they
    take at production size (--stats/--dsn): each statement and migration against the maintenance window, and
    the predicted downtime of the run.

    Directories and framework projects are checked through a history cache: a run reads what an earlier run
    found for the unchanged start of the history and analyses (or renders) only the migrations after it,
    with the same output as a run without it.

    Exit codes: 0 nothing at error level, 1 error-level findings, 2 something could not be analysed (bad
    input, or migrations not analysed unless --accept-not-analysed).
    """
    from foreshock.api import prepare_check
    from foreshock.cache import fast
    from foreshock.config import load_config, with_overrides
    from foreshock.report import render
    from foreshock.report.common import check_stderr

    # What this run reads, so that a run over the same inputs can be answered before imports (fast.replay).
    recorder = fast.record()
    click.get_current_context().call_on_close(lambda: fast.stop(recorder))
    settings = with_overrides(
        load_config(config_path),
        pg_version=pg_version,
        assume_transaction=assume_transaction,
        select=_split(select),
        ignore=_split(ignore),
        format=fmt,
        layout=layout,
        accept_not_analysed=accept_not_analysed,
        include_down=include_down,
        django_settings=django_settings,
        alembic_config=alembic_config,
        sandbox=sandbox,
        sandbox_dsn=sandbox_dsn,
        render_timeout=render_timeout,
        deployment=deployment,
        window=window,
        show_info=show_info,
    )
    if not paths and settings.sources.alembic_config is None:
        raise click.UsageError("give the migrations to check (PATHS), or --alembic-config FILE")
    if fleet_path is not None or stats_dir is not None:
        if stats_path is not None or dsn is not None:
            raise ConfigError("--fleet/--stats-dir judge every target at its own size: drop --stats/--dsn")
        from foreshock.fleet.cli import run_check as run_fleet_check

        gc.enable()  # a fleet's snapshots and rollout are long work: collected as usual

        return run_fleet_check(paths, settings, schema=schema, since=since, fleet_path=fleet_path,
                         stats_dir=stats_dir, parallel=parallel)
    if parallel is not None:
        raise ConfigError("--parallel only applies with --fleet TARGETS.toml")
    sizes = None
    if stats_path is not None or dsn is not None:
        from foreshock.scale.sizes import load_sizes

        sizes = load_sizes(stats_path, dsn)
    store = _cache_store(paths, settings, cache_dir, no_cache)
    if store is not None:
        recorder.exclude(store)  # its entries are not inputs
    sql_only = _sql_only(paths, settings)
    if gc.isenabled():
        click.get_current_context().call_on_close(gc.enable)
    if sql_only:
        # A check is one short process, and its analysis and reports make next to no cyclic garbage (a
        # 20,000-statement history peaks at the same memory either way), while the collector's passes cost
        # up to a fifth of a run (its full passes over the objects a warm run reads back from the cache):
        # paused until the command ends (the entry point pauses it from the start of a check process).
        gc.disable()
    else:
        gc.enable()  # Django and Alembic renders run the project's own code: collected as usual
    prepared = prepare_check(paths, settings, schema=schema, since=since, cache=store)
    gc.disable()
    output_key = None
    if store is not None and settings.format != "tty":
        # Formats that do not depend on the terminal: the whole output of a run over the same inputs.
        output_key = prepared.fingerprint(sizes) + settings.format
        kept = fast.read_output(store, output_key)
        if kept is not None:
            if not (since or dsn):
                _keep_for_fast_path(store, recorder, paths, sql_only, output_key)
            return _write_output(*kept)
    if output_key is None:
        result = prepared.run(sizes, store)
        fast.stop(recorder)
        sys.stderr.write(check_stderr(result, settings.format))
        sys.stderr.flush()
        render(result, settings.format, sys.stdout)
        return result.exit_code
    assert store is not None
    # A line-per-finding report is made of each file's share, kept in the cache with the history.
    kept = prepared.run_lines(settings.format, sizes, store, output_key)
    if kept is None:
        result = prepared.run(sizes, store)
        out = io.StringIO()
        render(result, settings.format, out)
        kept = (fast.encoded(out.getvalue()), check_stderr(result, settings.format), result.exit_code)
        fast.write_output(store, output_key, kept)
    if not (since or dsn):
        _keep_for_fast_path(store, recorder, paths, sql_only, output_key)
    return _write_output(*kept)


def _write_output(out: Any, err: str, code: int) -> int:
    from foreshock.cache.fast import emit

    sys.stderr.write(err)
    sys.stderr.flush()
    emit(sys.stdout, out)
    return code


def _sql_only(paths: Sequence[str], settings: Any) -> bool:
    """Every input is SQL: no Django or Alembic project, whose renders run the project's own code."""
    from foreshock.sources import project_kind

    return settings.sources.alembic_config is None and all(project_kind(p) == "sql" for p in paths)


def _keep_for_fast_path(store: Any, recorder: Any, paths: Sequence[str], sql_only: bool, output: str) -> None:
    """Point the entry point's fast path (foreshock.cache.fast) at the run's kept `output`, under the command
    line as given. Not for framework projects: their renders run code a manifest of the files read cannot
    vouch for; nor (the caller's part) with --since or --dsn, whose answers are not in files."""
    from foreshock.cache import fast

    argv = (click.get_current_context().find_root().obj or {}).get("argv")
    if argv is not None and sql_only:
        fast.save(store, argv, recorder, output, paths)


def _cache_store(paths: Sequence[str], settings: Any, cache_dir: str | None, no_cache: bool) -> Any:
    """The history cache store for this run: by default for directories and framework projects (a lone
    file is quick to analyse), always with --cache-dir, never with --no-cache."""
    if no_cache:
        return None
    if cache_dir is None:
        from foreshock.sources import project_kind

        if not any(os.path.isdir(p) or project_kind(p) != "sql" for p in paths) and (
            settings.sources.alembic_config is None
        ):
            return None
    from foreshock.cache import Store, default_dir

    return Store(cache_dir or default_dir())


@cli.command("rules")
def rules_command() -> int:
    """List every rule: id, default severity and summary."""
    from foreshock.rules import all_rules

    rules = sorted(all_rules(), key=lambda r: r.id)
    width = max((len(r.id) for r in rules), default=0)
    out = [f"{r.id:<{width}}  {r.severity:<7}  {r.summary}\n" for r in rules]
    sys.stdout.write("".join(out))
    return 0


@cli.command()
@click.argument("rule_id", metavar="RULE")
def explain(rule_id: str) -> int:
    """Why a rule exists, the lock it is about, the safe alternative and examples."""
    from foreshock.rules import get_rule

    try:
        rule = get_rule(rule_id)
    except KeyError:
        raise ConfigError(f"unknown rule {rule_id!r}; `foreshock rules` lists them") from None
    sys.stdout.write(_explain_text(rule))
    return 0


def _explain_text(rule: Any) -> str:
    # The same text as the rule's docs page (docs/rules/<id>.md), generated from the rule unit.
    from foreshock.rules.docs import render_rule_markdown

    text = str(render_rule_markdown(rule))
    return text if text.endswith("\n") else text + "\n"


def reference_markdown() -> str:
    """docs/cli.md: every command's --help, generated (`python -m foreshock.cli_reference > docs/cli.md`)."""
    parts = ["# Command-line reference\n\n",
             "Generated from the commands' own help by `python -m foreshock.cli_reference > docs/cli.md`; "
             "a test fails when this file is stale.\n"]
    root = click.Context(cli, info_name="foreshock", terminal_width=100, max_content_width=100,
                         **cli.context_settings)
    parts.append(f"\n## foreshock\n\n```\n{cli.get_help(root)}\n```\n")
    for name in cli.list_commands(root):
        command = cli.get_command(root, name)
        if command is None:
            continue
        ctx = click.Context(command, info_name=name, parent=root, terminal_width=100, max_content_width=100)
        parts.append(f"\n## foreshock {name}\n\n```\n{command.get_help(ctx)}\n```\n")
    return "".join(parts)


def _fail(message: str, code: int = 2) -> int:
    sys.stderr.write(f"foreshock: {message}\n")
    return code


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point: exits 0, 1 or 2 (0 for --help/--version)."""
    cli.main(args=argv, prog_name="foreshock")


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI in-process and return its exit code instead of exiting."""
    code: int = cli.main(args=argv, prog_name="foreshock", standalone_mode=False)
    return code


def _invoke_one_line(
    group: click.Group, args: Sequence[str] | None, prog_name: str | None, **extra: Any
) -> int:
    """Run the group; turn every failure into one line on stderr and an exit code."""
    try:
        rv = click.Group.main(group, args=args, prog_name=prog_name, standalone_mode=False, **extra)
    except click.exceptions.NoArgsIsHelpError as e:
        sys.stdout.write(e.format_message() + "\n")
        return 2
    except click.UsageError as e:
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
        return _fail(f"{' '.join(e.format_message().split())}{hint}", e.exit_code)
    except click.ClickException as e:
        return _fail(" ".join(e.format_message().split()), e.exit_code)
    except click.Abort:
        return _fail("aborted")
    except ForeshockError as e:
        if os.environ.get("FORESHOCK_DEBUG") == "1":
            import traceback

            traceback.print_exc()
        return _fail(" ".join(str(e).split()), e.exit_code)
    except BrokenPipeError:
        # `foreshock check ... | head`: the reader went away; nothing more to say.
        return 2
    except Exception as e:  # the last line of defence: one line, never a traceback by default
        return internal_error(e)
    return rv if isinstance(rv, int) else 0


def internal_error(e: Exception) -> int:
    """Report an exception no one expected as one line (the traceback with FORESHOCK_DEBUG=1); exit code 2."""
    if os.environ.get("FORESHOCK_DEBUG") == "1":
        import traceback

        traceback.print_exc()
    detail = " ".join(str(e).split())
    return _fail(
        f"internal error: {type(e).__name__}: {detail} (please report; FORESHOCK_DEBUG=1 shows more)"
    )
