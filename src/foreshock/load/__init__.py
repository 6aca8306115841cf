"""`foreshock rehearse --load`: what a migration does to live traffic, measured in a sandbox.

compare() runs the migration twice on identical databases under a bounded synthetic workload -- as written and
its safe rewrite the way `foreshock apply --rewrite` runs it -- and reports per query class latency, waits,
errors, the lock queue and whether health checks would fail; load.projection carries those figures to
production size with the predicted lock holds.
"""

from __future__ import annotations

from foreshock.load.projection import Blocking, Figures, HealthChecks, Stall
from foreshock.load.run import (
    AS_WRITTEN,
    SAFE,
    ClassSummary,
    HealthPrediction,
    LoadComparison,
    LoadConfig,
    MigrationRun,
    RunReport,
    SafeRun,
    compare,
    setup_from_sql,
)
from foreshock.load.workload import QueryRecord, QueueSample, TableTarget, Workload, WorkloadSpec

__all__ = [
    "AS_WRITTEN",
    "SAFE",
    "Blocking",
    "ClassSummary",
    "Figures",
    "HealthChecks",
    "HealthPrediction",
    "LoadComparison",
    "LoadConfig",
    "MigrationRun",
    "QueryRecord",
    "QueueSample",
    "RunReport",
    "SafeRun",
    "Stall",
    "TableTarget",
    "Workload",
    "WorkloadSpec",
    "compare",
    "setup_from_sql",
]
