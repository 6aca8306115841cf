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
from foreshock.load.projection import DEFAULT_HEALTH_FAILURES, DEFAULT_HEALTH_INTERVAL

F = TypeVar("F", bound=Callable[..., Any])

# Rows in the biggest touched table for a load rehearsal when no rehearsal scale is known (the rehearse
# command runs the load at its largest rehearsal scale that fits the load run's deadline): big enough for a
# rewrite or backfill to take seconds, small enough to build twice on a small machine.
DEFAULT_LOAD_ROWS = 200_000
# Sessions per query class and table: a small application instance's connection pool.
DEFAULT_POOL = 3


@dataclass(frozen=True)
class LoadOptions:
    rate: float | None = None  # queries/s per table over all classes; None: the snapshot's, else the default
    long_transaction: float = 0.0
    health_timeout: float = 2.0
    duration: float = 120.0
    rows: int | None = None  # None: the rehearsal's largest scale that fits `duration`
    pool: int = DEFAULT_POOL
    health_interval: float = DEFAULT_HEALTH_INTERVAL
    health_failures: int = DEFAULT_HEALTH_FAILURES

    @classmethod
    def from_cli(
        cls,
        load: bool = False,
        rate: float | None = None,
        long_transaction: str | None = None,
        health_timeout: str = "2s",
        load_duration: str = "120s",
        load_rows: int | None = None,
        pool: int = DEFAULT_POOL,
        health_interval: str = "10s",
        health_failures: int = DEFAULT_HEALTH_FAILURES,
    ) -> LoadOptions | None:
        """None when --load was not given (and none of its options either)."""
        if not load:
            if rate is not None or long_transaction or load_rows is not None:
                raise ConfigError("--rate, --long-transaction and --load-rows only apply with --load")
            return None
        if rate is not None and rate <= 0:
            raise ConfigError("--rate must be > 0 queries per second")
        if load_rows is not None and load_rows < 1:
            raise ConfigError("--load-rows must be >= 1")
        if pool < 1:
            raise ConfigError("--pool must be >= 1 session per query class")
        if health_failures < 1:
            raise ConfigError("--health-failures must be >= 1")
        interval = parse_duration(health_interval, "--health-interval")
        timeout = parse_duration(health_timeout, "--health-timeout")
        if interval <= 0 or timeout <= 0:
            raise ConfigError("--health-interval and --health-timeout must be > 0")
        return cls(
            rate,
            parse_duration(long_transaction, "--long-transaction") if long_transaction else 0.0,
            timeout,
            parse_duration(load_duration, "--load-duration"),
            load_rows,
            pool,
            interval,
            health_failures,
        )


def load_options(f: F) -> F:
    """Add --load and its options (rate, pool, long transaction, health checks, duration, rows)."""
    decorators = [
        click.option(
            "--load",
            is_flag=True,
            help="Also run the migration under a synthetic workload, as written and its safe rewrite the "
            "`apply --rewrite` way, side by side, measured and projected to production size.",
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
            "--health-interval",
            default="10s",
            show_default=True,
            metavar="DURATION",
            help="How often the load balancer checks an instance.",
        ),
        click.option(
            "--health-failures",
            type=int,
            default=DEFAULT_HEALTH_FAILURES,
            show_default=True,
            help="Failed health checks in a row that mark an instance unhealthy.",
        ),
        click.option(
            "--pool",
            type=int,
            default=DEFAULT_POOL,
            show_default=True,
            help="The application's sessions per query class and table (its connection pool).",
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
            default=None,
            help="Rows in the biggest touched table for the load runs. Default: the rehearsal's largest "
            "scale whose migration fits --load-duration.",
        ),
    ]
    for d in reversed(decorators):
        f = d(f)
    return f
