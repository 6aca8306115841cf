"""The options of `foreshock apply` (a frozen record; no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass

from foreshock.errors import ConfigError

# The lock_timeout default: every query that arrives while our ALTER waits in the lock queue waits behind it,
# so the time we may wait is the latency we may add to live traffic. Peers that get this right use 0.1-1 s.
DEFAULT_LOCK_TIMEOUT = 0.5


@dataclass(frozen=True)
class ApplyOptions:
    """How `apply` runs. Durations are seconds. Every default is documented in docs/apply.md."""

    # Statements whose lock blocks traffic wait at most this long for it, then back off and retry.
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    # CONCURRENTLY statements ask for SHARE UPDATE EXCLUSIVE (blocks no reads or writes) and then wait for old
    # transactions through virtualxid locks; lock_timeout applies to those waits too, so a short one would
    # make them fail on any busy database. They get a long but finite wait instead.
    lock_timeout_concurrent: float = 600.0
    retries: int = 10
    initial_backoff: float = 0.2
    max_backoff: float = 10.0
    # Metadata-only DDL: it holds its lock for milliseconds; anything longer means something is wrong.
    statement_timeout_ddl: float = 30.0
    # Everything else inside a transaction (rewrites, validations, plain DML).
    statement_timeout_default: float = 900.0
    statement_timeout_concurrent: float = 6 * 3600.0
    # Pre-flight: wait up to this long for long-running transactions holding locks on the tables a
    # strong-lock step needs; after that the step still only waits lock_timeout per attempt.
    wait_for_blockers: float = 30.0
    # A transaction counts as long-running in the pre-flight when it has been open this long.
    blocker_min_age: float = 1.0
    batch_size: int = 1000
    batch_time: float = 0.5
    max_batch_size: int = 50_000
    # Pause a backfill while any replica's replay lag exceeds this.
    max_lag: float = 10.0
    batch_statement_timeout: float = 60.0
    dry_run: bool = False
    application_name: str = "foreshock apply"
    # None: show a progress bar only when stderr is a terminal.
    progress: bool | None = None

    def __post_init__(self) -> None:
        for name in (
            "lock_timeout",
            "lock_timeout_concurrent",
            "statement_timeout_ddl",
            "statement_timeout_default",
            "statement_timeout_concurrent",
            "batch_time",
            "batch_statement_timeout",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(
                    f"{name.replace('_', '-')} must be > 0 (a statement never runs without a timeout)"
                )
        if self.retries < 0:
            raise ConfigError("retries must be >= 0")
        if self.batch_size < 1 or self.max_batch_size < self.batch_size:
            raise ConfigError("batch-size must be >= 1 and <= max-batch-size")
