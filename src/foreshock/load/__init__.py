"""`foreshock rehearse --load`: what a migration does to live traffic, measured in a sandbox.

compare() runs the migration twice on identical databases under a bounded synthetic workload -- as written and
the way `foreshock apply` runs it -- and reports per query class latency, waits, errors, the lock queue and
whether health checks would fail.
"""

from __future__ import annotations

from foreshock.load.run import (
    APPLY_WAY,
    AS_WRITTEN,
    ClassSummary,
    HealthPrediction,
    LoadComparison,
    LoadConfig,
    MigrationRun,
    RunReport,
    compare,
    setup_from_sql,
)
from foreshock.load.workload import QueryRecord, QueueSample, TableTarget, Workload, WorkloadSpec

__all__ = [
    "APPLY_WAY",
    "AS_WRITTEN",
    "ClassSummary",
    "HealthPrediction",
    "LoadComparison",
    "LoadConfig",
    "MigrationRun",
    "QueryRecord",
    "QueueSample",
    "RunReport",
    "TableTarget",
    "Workload",
    "WorkloadSpec",
    "compare",
    "setup_from_sql",
]
