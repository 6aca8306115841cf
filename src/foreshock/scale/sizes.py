"""Size-aware `check`: the one call behind `foreshock check --stats FILE` / `--dsn URL`.

`sized_check` runs `foreshock.api.check`, reads production sizes (a stats file, or a catalog-only snapshot of
a live database), and lets every lock-naming finding carry its hold time at production size with a severity
from the lock budget (`foreshock.scale.estimate.apply_sizes`). Without sizes the result says size-blind.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from foreshock.core.locks import LockMode
from foreshock.core.model import CheckResult
from foreshock.scale.estimate import apply_sizes, indexes_from_schema
from foreshock.scale.stats import Stats, load_stats


def load_sizes(stats_path: str | os.PathLike[str] | None = None, dsn: str | None = None) -> Stats | None:
    """Sizes from --stats FILE, else from --dsn URL (snapshot: read-only, catalog only), else None."""
    if stats_path is not None:
        return load_stats(os.fspath(stats_path))
    if dsn:
        from foreshock.scale.snapshot import snapshot

        return snapshot(dsn).stats
    return None


def schema_indexes(
    paths: Iterable[str | os.PathLike[str]],
    schema: Sequence[str | os.PathLike[str]] = (),
    settings: Any = None,
    since: str | None = None,
) -> dict[str, list[tuple[str, ...]]]:
    """Key columns of every index per table, from the schema history the migrations build (so a minimal
    stats file, which has sizes only, still knows that an UPDATE maintains the table's indexes)."""
    from foreshock.core.analyze import analyze
    from foreshock.core.model import AnalysisSettings
    from foreshock.core.schema import Schema
    from foreshock.sources import discover
    from foreshock.sources.files import load_schema_files

    model = Schema()
    analysis = getattr(settings, "analysis", None) or AnalysisSettings()
    history = load_schema_files([os.fspath(s) for s in schema])
    loaded = discover([os.fspath(p) for p in paths], since=since)
    analyze([*history.units, *loaded.units], analysis, schema=model)
    return indexes_from_schema(model)


def sized_check(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    settings: Any = None,
    *,
    schema: Sequence[str | os.PathLike[str]] = (),
    since: str | None = None,
    stats_path: str | os.PathLike[str] | None = None,
    dsn: str | None = None,
    budgets: Mapping[LockMode, float | None] | None = None,
    duration_rules: Sequence[str] | None = None,
) -> CheckResult:
    """`check`, with lock-hold estimates and budget severities when sizes are given; size-blind otherwise."""
    from foreshock.api import check

    result = check(paths, settings, schema=schema, since=since)
    stats = load_sizes(stats_path, dsn)
    if stats is None:
        return replace(result, size_blind=True)
    path_list = [paths] if isinstance(paths, str | os.PathLike) else list(paths)
    indexes = schema_indexes(path_list, schema, settings, since)
    return apply_sizes(result, stats, budgets=budgets, schema_indexes=indexes, duration_rules=duration_rules)
