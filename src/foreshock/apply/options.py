"""The options of `foreshock apply` (a frozen record; no I/O here)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from foreshock.core.model import Finding
from foreshock.errors import ConfigError

# The lock_timeout default: every query that arrives while our ALTER waits in the lock queue waits behind it,
# so the time we may wait is the latency we may add to live traffic. Peers that get this right use 0.1-1 s.
DEFAULT_LOCK_TIMEOUT = 0.5


@dataclass(frozen=True)
class Acceptance:
    """`--accept RULE` (every finding of the rule) or `--accept RULE:FILE:LINE` (one finding)."""

    rule: str
    path: str | None = None
    line: int | None = None

    @staticmethod
    def parse(text: str, known: frozenset[str] | None = None) -> Acceptance:
        rule, _, rest = text.strip().partition(":")
        where, line = None, None
        if rest:
            where, _, number = rest.rpartition(":")
            if not where or not number.isdigit():
                raise ConfigError(f"--accept {text!r}: write RULE or RULE:FILE:LINE (e.g. setting-not-null:"
                                  "migrations/003.sql:10)")
            line = int(number)
        if known is not None and rule not in known:
            raise ConfigError(f"--accept {text!r}: unknown rule {rule!r} (`foreshock rules` lists them)")
        return Acceptance(rule, where, line)

    def matches(self, f: Finding) -> bool:
        if f.rule != self.rule:
            return False
        if self.path is None:
            return True
        return f.line == self.line and _same_file(self.path, f.path)

    def __str__(self) -> str:
        return self.rule if self.path is None else f"{self.rule}:{self.path}:{self.line}"


def _same_file(a: str, b: str) -> bool:
    return os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b))


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
    # The gate (apply.gate): judge the migrations at the target's size first and refuse error-level findings.
    # Off only for runs that are themselves the measurement (a rehearsal's apply-way run on a sandbox).
    gate: bool = True
    # Run the safe rewrite of every statement check gives one for, instead of the statement as written.
    rewrite: bool = False
    # Findings a person takes responsibility for, and why (recorded in the ledger).
    accept: tuple[Acceptance, ...] = ()
    reason: str = ""

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
        if self.accept and not self.reason.strip():
            raise ConfigError("--accept needs --reason TEXT: why running it as written is acceptable (the "
                              "ledger records it)")
        if self.reason and not self.accept:
            raise ConfigError("--reason goes with --accept RULE[:FILE:LINE]")
