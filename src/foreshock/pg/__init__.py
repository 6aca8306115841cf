"""The PostgreSQL boundary: connections with safe session settings, and error translation."""

from foreshock.pg.connect import SessionSettings, connect, redact_dsn, schema_dsn, translate_error

__all__ = ["SessionSettings", "connect", "redact_dsn", "schema_dsn", "translate_error"]
