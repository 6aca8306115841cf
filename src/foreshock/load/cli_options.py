"""`foreshock rehearse --load`: its options (the run itself is foreshock.rehearse.under_load).

Usage in the rehearse click command:

    @load_options
    def command(..., **load_kw): ...
        opts = LoadOptions.from_cli(**load_kw)   # None without --load
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from foreshock.core.quantities import parse_duration
from foreshock.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])

# Rows in the biggest touched table for a load rehearsal: big enough for a rewrite or backfill to take
# seconds, small enough to build twice within the rehearsal budget on a small machine.
DEFAULT_LOAD_ROWS = 200_000


@dataclass(frozen=True)
class LoadOptions:
    rate: float | None = None  # queries/s per table over all classes; None: the snapshot's, else the default
    long_transaction: float = 0.0
    health_timeout: float = 2.0
    duration: float = 120.0
    rows: int = DEFAULT_LOAD_ROWS

    @classmethod
    def from_cli(
        cls,
        load: bool = False,
        rate: float | None = None,
        long_transaction: str | None = None,
        health_timeout: str = "2s",
        load_duration: str = "120s",
        load_rows: int = DEFAULT_LOAD_ROWS,
    ) -> LoadOptions | None:
        """None when --load was not given (and none of its options either)."""
        if not load:
            if rate is not None or long_transaction:
                raise ConfigError("--rate and --long-transaction only apply with --load")
            return None
        if rate is not None and rate <= 0:
            raise ConfigError("--rate must be > 0 queries per second")
        if load_rows < 1:
            raise ConfigError("--load-rows must be >= 1")
        return cls(
            rate,
            parse_duration(long_transaction, "--long-transaction") if long_transaction else 0.0,
            parse_duration(health_timeout, "--health-timeout"),
            parse_duration(load_duration, "--load-duration"),
            load_rows,
        )


def load_options(f: F) -> F:
    """Add --load, --rate, --long-transaction, --health-timeout, --load-duration, --load-rows to a command."""
    decorators = [
        click.option(
            "--load",
            is_flag=True,
            help="Also run the migration under a synthetic workload, as written and the apply way, "
            "side by side.",
        ),
        click.option(
            "--rate",
            type=float,
            default=None,
            help="Workload queries per second per table (split point/range/write 4:1:2). "
            "Default: the snapshot's observed rates scaled with the data, else 35/s.",
        ),
        click.option(
            "--long-transaction",
            default=None,
            metavar="DURATION",
            help="Hold a transaction with a read of the table open this long (e.g. 30s) while the "
            "migration starts.",
        ),
        click.option(
            "--health-timeout",
            default="2s",
            show_default=True,
            metavar="DURATION",
            help="Predict a failed health check when any read is slower than this.",
        ),
        click.option(
            "--load-duration",
            "--duration",
            "load_duration",
            default="120s",
            show_default=True,
            metavar="DURATION",
            help="Hard deadline of each load run; the workload stops by itself then.",
        ),
        click.option(
            "--load-rows",
            type=int,
            default=DEFAULT_LOAD_ROWS,
            show_default=True,
            help="Rows in the biggest touched table for the load runs.",
        ),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f

