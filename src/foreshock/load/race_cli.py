"""`foreshock rehearse --race`: its options, and which migrations form the release it runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import click

from foreshock.core.model import MigrationUnit
from foreshock.core.quantities import parse_duration
from foreshock.errors import ConfigError, InputError

F = TypeVar("F", bound=Callable[..., Any])

# Rows in the biggest table the release touches: enough for a back-fill to take a noticeable time (the window
# the release's inserts fall into), small enough to copy once per round.
DEFAULT_RACE_ROWS = 20_000
RACE_KEYS = ("race", "race_only", "race_rounds", "race_rows", "race_duration", "race_rate", "race_from")


@dataclass(frozen=True)
class RaceOptions:
    rounds: int = 3
    rows: int = DEFAULT_RACE_ROWS
    duration: float = 60.0
    rate: float = 20.0
    release_from: str | None = None
    only: bool = False  # the race run alone: no timing rehearsal, no --load

    @classmethod
    def from_cli(
        cls,
        race: bool = False,
        race_only: bool = False,
        race_rounds: int = 3,
        race_rows: int = DEFAULT_RACE_ROWS,
        race_duration: str = "60s",
        race_rate: float = 20.0,
        race_from: str | None = None,
    ) -> RaceOptions | None:
        """None when neither --race nor --race-only was given."""
        race = race or race_only
        if not race:
            if race_from:
                raise ConfigError("--race-from only applies with --race")
            return None
        if race_rounds < 1:
            raise ConfigError("--race-rounds must be >= 1")
        if race_rows < 1:
            raise ConfigError("--race-rows must be >= 1")
        if race_rate <= 0:
            raise ConfigError("--race-rate must be > 0 inserts per second")
        duration = parse_duration(race_duration, "--race-duration")
        return cls(race_rounds, race_rows, duration, race_rate, race_from, race_only)


def race_options(f: F) -> F:
    """Add --race, --race-rounds, --race-rows, --race-duration, --race-rate, --race-from to a command."""
    decorators = [
        click.option(
            "--race",
            is_flag=True,
            help="Also run the migration while the release still running inserts (and, for migrations that "
            "test then act, a second runner runs it too), then check what it assumed.",
        ),
        click.option(
            "--race-only",
            is_flag=True,
            help="Only the race run: no timing rehearsal and no --load (for a release of several files, "
            "whose later files the timing rehearsal cannot run alone).",
        ),
        click.option(
            "--race-rounds", type=int, default=3, show_default=True, help="Most rounds of the race run."
        ),
        click.option(
            "--race-rows",
            type=int,
            default=DEFAULT_RACE_ROWS,
            show_default=True,
            help="Rows in the biggest table the release touches, for the race run.",
        ),
        click.option(
            "--race-duration",
            default="60s",
            show_default=True,
            metavar="DURATION",
            help="Hard deadline of each race round.",
        ),
        click.option(
            "--race-rate",
            type=float,
            default=20.0,
            show_default=True,
            help="Inserts per second of the release still running, per table, during the race run.",
        ),
        click.option(
            "--race-from",
            metavar="PATH",
            default=None,
            help="First migration file of the release under test (it and every later one run, in order); "
            "default: the last one.",
        ),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f


def split_release(
    units: Sequence[MigrationUnit], release_from: str | None
) -> tuple[list[MigrationUnit], list[MigrationUnit]]:
    """(history, release): the release is the units from `release_from` on (default: the last one)."""
    candidates = [u for u in units if not u.history]
    if not candidates:
        raise InputError("nothing to race: give the migration file(s) as PATHS")
    start = len(units) - 1
    while start > 0 and units[start].history:
        start -= 1
    if release_from:
        wanted = Path(release_from).resolve()
        found = [i for i, u in enumerate(units) if Path(u.path).resolve() == wanted]
        if not found:
            raise InputError(f"--race-from: {release_from} is not one of the migrations given", release_from)
        start = found[0]
    history = [u if u.history else replace(u, history=True) for u in units[:start]]
    return history, [u for u in units[start:] if not u.history]
