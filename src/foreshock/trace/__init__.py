"""`foreshock trace`: run migrations on a sandbox PostgreSQL and record what the server really did.

    trace_cases(dsn, setup_sql, cases, settings) -> list[TracedCase]     # the consistency tests' entry point
    trace_units(sandbox_or_dsn, units, settings) -> TraceResult           # real migration files, in order
    compare(static_file_analyses, trace_result.files) -> list[Disagreement]
    foreshock.trace.api.trace(paths, settings, sandbox=..., ...) -> (TraceResult, static analyses)  # the CLI
    call
"""

from foreshock.trace.compare import Disagreement, compare
from foreshock.trace.engine import trace_cases
from foreshock.trace.model import Rewrite, TracedCase, TracedStatement, merge_effects
from foreshock.trace.units import TracedFile, TraceResult, trace_units

__all__ = [
    "Disagreement",
    "Rewrite",
    "TraceResult",
    "TracedCase",
    "TracedFile",
    "TracedStatement",
    "compare",
    "merge_effects",
    "trace_cases",
    "trace_units",
]
