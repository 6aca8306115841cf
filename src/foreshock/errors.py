"""One exception tree. The CLI prints any ForeshockError as one line and never a traceback."""

from __future__ import annotations


class ForeshockError(Exception):
    """Base of every error foreshock raises on purpose."""

    exit_code = 2


class InputError(ForeshockError):
    """Bad input: a file that cannot be read or parsed. Carries the exact position."""

    def __init__(self, message: str, path: str = "", line: int = 0, column: int = 0) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = self.path or "<input>"
        if self.line:
            where += f":{self.line}:{self.column or 1}"
        return f"{where}: {self.message}"


class ConfigError(ForeshockError):
    """Invalid configuration ([tool.foreshock] or command-line options)."""


class SandboxError(ForeshockError):
    """A sandbox PostgreSQL could not be started, reached or cleaned up."""


class DatabaseError(ForeshockError):
    """A PostgreSQL error translated at the pg/ boundary."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        self.sqlstate = sqlstate
        super().__init__(message)


class ConnectError(DatabaseError):
    """No session could be opened: the server is down or unreachable, or refused the login or database."""


class LockTimeout(DatabaseError):
    """lock_timeout expired (SQLSTATE 55P03, lock_not_available)."""


class StatementTimeout(DatabaseError):
    """statement_timeout expired (SQLSTATE 57014, query_canceled)."""


class ApplyError(ForeshockError):
    """`foreshock apply` refused or failed a step; the ledger says what ran."""


class ApplyBusy(ApplyError):
    """Another runner holds the target's runner lock: nothing was run."""
