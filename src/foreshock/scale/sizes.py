"""Production sizes from where the user has them: a stats file, or a catalog-only snapshot of a live
database."""

from __future__ import annotations

import os

from foreshock.scale.stats import Stats, load_stats


def load_sizes(stats_path: str | os.PathLike[str] | None = None, dsn: str | None = None) -> Stats | None:
    """Sizes from --stats FILE, else from --dsn URL (snapshot: read-only, catalog only), else None."""
    if stats_path is not None:
        return load_stats(os.fspath(stats_path))
    if dsn:
        from foreshock.scale.snapshot import snapshot

        return snapshot(dsn).stats
    return None
