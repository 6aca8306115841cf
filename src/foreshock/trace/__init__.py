"""`foreshock trace`: run migrations on a sandbox PostgreSQL and record what the server really did."""

from foreshock.trace.engine import trace_cases
from foreshock.trace.model import Rewrite, TracedCase, TracedStatement, merge_effects

__all__ = ["Rewrite", "TracedCase", "TracedStatement", "merge_effects", "trace_cases"]
