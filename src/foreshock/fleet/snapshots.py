"""Sizes for every target: live snapshots (bounded parallelism) or a directory written by `snapshot --fleet`.

Each database is read once, with the same read-only, catalog-only `foreshock.scale.snapshot` as a single
`foreshock snapshot`, however many tenant schemas of it the targets file lists; each tenant target's file then
leaves out the other tenants' schemas. A target that cannot be reached is an outcome ("unreachable"), never a
missing line; the message never holds a password.

The directory holds one stats file per target (`<name>.json`, the format of docs/stats-format.md) and a
manifest, `fleet.json`, that names each file's target, schema, stage and tags and what happened to it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from foreshock.errors import ConnectError, DatabaseError, InputError
from foreshock.fleet.targets import Target
from foreshock.pg.connect import redact_dsn
from foreshock.scale.stats import Stats, load_stats

MANIFEST = "fleet.json"
MANIFEST_FORMAT = "foreshock-fleet-snapshot"


@dataclass(frozen=True)
class TargetSizes:
    """One target's sizes, or why there are none (outcome "unreachable", "failed" or "missing")."""

    target: Target
    stats: Stats | None
    outcome: str = "ok"
    message: str = ""
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0
    file: str = ""

    def to_json(self) -> dict[str, Any]:
        t = self.target
        return {
            "name": t.name,
            "file": self.file,
            "schema": t.schema,
            "stage": t.stage,
            "stage_rank": t.stage_rank,
            "tags": list(t.tags),
            "server": t.server,
            "outcome": self.outcome,
            "message": self.message,
            "warnings": list(self.warnings),
            "tables": len(self.stats.tables) if self.stats is not None else None,
            "taken_at": self.stats.taken_at if self.stats is not None else None,
            "seconds": round(self.seconds, 3),
        }


def _for_target(stats: Stats, target: Target, others: set[str]) -> tuple[Stats, tuple[str, ...]]:
    """The database's sizes without the schemas of the other tenants listed for the same database."""
    if not others:
        return stats, ()
    tables = {k: v for k, v in stats.tables.items() if k.split(".", 1)[0] not in others}
    # The schema DDL describes every tenant; per target it would grow with the square of the tenants.
    return replace(stats, tables=tables, schema=""), (
        f"schema DDL left out: {len(others) + 1} targets share this database (snapshot it with `foreshock "
        "snapshot --dsn` to rehearse it)",
    )


def snapshot_targets(
    targets: Sequence[Target],
    parallel: int = 4,
    on_done: Callable[[TargetSizes], None] | None = None,
) -> list[TargetSizes]:
    """Snapshot each distinct database once, at most `parallel` at a time; one result per target, in order."""
    from foreshock.scale.snapshot import snapshot

    groups: dict[tuple[str, str, str], list[Target]] = {}
    for t in targets:
        groups.setdefault(t.database, []).append(t)
    results: dict[str, TargetSizes] = {}

    def one(group: list[Target]) -> list[TargetSizes]:
        t0 = time.monotonic()
        first = group[0]
        try:
            snap = snapshot(first.dsn)
        except ConnectError as err:
            return [
                TargetSizes(t, None, "unreachable", redact_dsn(str(err)), seconds=time.monotonic() - t0)
                for t in group
            ]
        except DatabaseError as err:
            return [
                TargetSizes(t, None, "failed", redact_dsn(str(err)), seconds=time.monotonic() - t0)
                for t in group
            ]
        took = time.monotonic() - t0
        tenants = {t.schema for t in group if t.schema}
        out = []
        for t in group:
            stats, notes = _for_target(snap.stats, t, tenants - {t.schema} if t.schema else set())
            if t.schema and not any(k.startswith(f"{t.schema}.") for k in snap.stats.tables):
                notes = (*notes, f"schema {t.schema} holds no tables (is the schema name right?)")
            out.append(TargetSizes(t, stats, "ok", warnings=(*snap.warnings, *notes), seconds=took))
        return out

    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="foreshock-snapshot") as pool:
        for future in as_completed([pool.submit(one, g) for g in groups.values()]):
            for r in future.result():
                results[r.target.name] = r
                if on_done is not None:
                    on_done(r)
    return [results[t.name] for t in targets]


def write_dir(sizes: Sequence[TargetSizes], out_dir: str | os.PathLike[str]) -> list[TargetSizes]:
    """One stats file per reachable target plus the manifest; returns the results with their file names."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for r in sizes:
            if r.stats is not None:
                name = f"{r.target.name}.json"
                (out / name).write_text(r.stats.dumps(), encoding="utf-8")
                r = replace(r, file=name)
            written.append(r)
        manifest = {
            "format": MANIFEST_FORMAT,
            "version": 1,
            "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "targets": [r.to_json() for r in written],
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    except OSError as err:
        raise InputError(
            f"cannot write the snapshots: {err.strerror or err} (check -o DIR)", str(out)
        ) from None
    return written


def load_dir(directory: str | os.PathLike[str], targets: Sequence[Target] | None = None) -> list[TargetSizes]:
    """Sizes per target from a `snapshot --fleet` directory.

    With targets (from a targets file) each is looked up by name; without, the manifest names them (and
    their schemas), else every `*.json` file is one target named after the file.
    """
    root = Path(directory)
    if not root.is_dir():
        raise InputError(
            "not a directory of snapshots (write one with `foreshock snapshot --fleet FILE -o DIR`)",
            str(root),
        )
    manifest = _manifest(root)
    if targets is None:
        if manifest is not None:
            targets = [
                Target(
                    str(e["name"]),
                    "",
                    e.get("schema") or None,
                    e.get("stage"),
                    int(e.get("stage_rank") or 0),
                    tuple(e.get("tags") or ()),
                    str(root / MANIFEST),
                )
                for e in manifest
            ]
        else:
            targets = [Target(p.stem, "", path=str(p)) for p in sorted(root.glob("*.json"))]
    recorded = {str(e["name"]): e for e in manifest or ()}
    out = []
    for t in targets:
        entry = recorded.get(t.name)
        if entry is not None and entry.get("outcome") not in (None, "ok"):
            out.append(
                TargetSizes(
                    t,
                    None,
                    str(entry["outcome"]),
                    f"{entry.get('message') or 'no snapshot'} (at snapshot time)",
                )
            )
            continue
        path = root / f"{t.name}.json"
        if not path.is_file():
            out.append(TargetSizes(t, None, "missing", f"no snapshot {path} (snapshot the fleet again)"))
            continue
        try:
            stats = load_stats(path)
        except InputError as err:
            out.append(TargetSizes(t, None, "failed", err.one_line()))
            continue
        out.append(TargetSizes(t, stats, "ok", file=path.name))
    return out


def _manifest(root: Path) -> list[dict[str, Any]] | None:
    path = root / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(
            f"cannot read the fleet manifest: {err} (write the directory again with "
            "`foreshock snapshot --fleet`)",
            str(path),
        ) from None
    entries = data.get("targets") if isinstance(data, dict) else None
    if (
        not isinstance(data, dict)
        or data.get("format") != MANIFEST_FORMAT
        or not isinstance(entries, list)
        or not all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries)
    ):
        raise InputError(
            f"not a {MANIFEST_FORMAT} manifest (write the directory again with `foreshock snapshot --fleet`)",
            str(path),
        )
    return entries
