"""The PostgreSQL boundary: connections with safe session settings, and error translation."""

from foreshock.pg.connect import (
    SessionSettings,
    connect,
    pg_duration,
    redact_dsn,
    schema_dsn,
    translate_error,
)

__all__ = ["SessionSettings", "connect", "pg_duration", "redact_dsn", "schema_dsn", "translate_error"]
