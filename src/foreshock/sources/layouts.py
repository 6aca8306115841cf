"""Directory layouts of migration tools: which files are forward migrations, in which order, in which
transaction mode - decided the way each tool decides it, so that the history foreshock reads is the one
production ran.

Each tool's rules - forward files and their order, what is not forward (down, undo, revert, verify,
other dialects), the transaction each file runs in - are listed in docs/layouts.md.

Only plain and flyway look into subdirectories, as those tools do.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from foreshock.core.model import LAYOUTS
from foreshock.errors import InputError
from foreshock.sources.liquibase import master_changelog, read_changelog
from foreshock.sources.listing import SCRIPT, Entry, Listing, name_some

__all__ = [
    "LAYOUTS",
    "Entry",
    "Listing",
    "detect_layout",
    "list_layout",
    "name_some",
    "natural_key",
    "order_key",
    "path_key",
]


_FLYWAY = re.compile(r"^(?P<kind>[VvUuBbRr])(?P<version>\d+(?:[._]\d+)*)?__(?P<desc>.*)\.sql$")
_UPDOWN = re.compile(
    r"^(?P<version>\d+)_(?P<name>[^.]*)(?:\.(?P<dialect>[A-Za-z0-9]+))??(?P<autocommit>\.autocommit)?"
    r"\.(?P<dir>up|down)\.(?P<ext>sql|fizz)$"
)
_VERSIONED = re.compile(r"^(?P<version>\d+)[_\-.]")
_PRISMA_DIR = re.compile(r"^\d{14}_")
# pop/popx dialect names; a migration without one runs on every database.
_PG_DIALECTS = frozenset({"postgres", "postgresql", "pg"})
_DIGITS = re.compile(r"(\d+)")

# The order of plain directories (and the natural order the other layouts fall back on).
# Flyway: V<version>__<description>.sql with version parts separated by "." or "_" (V1_1__ == V1.1__),
# compared numerically part by part. B (baseline) sorts like V; R (repeatable) runs after every versioned
# migration, ordered by description; U (undo) never runs on migrate, so it is treated as an ordinary name.
_FLYWAY_STEM = re.compile(r"^(?P<kind>[VvBbRr])(?P<version>\d+(?:[._]\d+)*)?__(?P<desc>.*)$")
# Numbered files (001_init.sql, 2-add.sql, 20240101120000_orders.sql): the leading integer is the
# version, so "10_" follows "9_" and timestamps order by time.
_NUMBERED = re.compile(r"^(?P<version>\d+(?:\.\d+)*)(?:[_\-.\s]|$)")

NaturalKey = tuple[tuple[int, int | str], ...]
_GOOSE_UP = re.compile(r"^\s*--\s*\+goose\s+up\b", re.IGNORECASE | re.MULTILINE)
_DBMATE_UP = re.compile(r"^\s*--\s*migrate:up\b", re.IGNORECASE | re.MULTILINE)


def natural_key(text: str) -> NaturalKey:
    """'a2' < 'a10': digit runs compare as numbers, the rest case-insensitively."""
    parts: list[tuple[int, int | str]] = []
    for i, piece in enumerate(_DIGITS.split(text)):
        if not piece:
            continue
        parts.append((0, int(piece)) if i % 2 else (1, piece.lower()))
    return tuple(parts)


def path_key(relpath: str) -> tuple[NaturalKey, ...]:
    """Natural order of a relative path, directory by directory ("sub/a1" before "sub2/x")."""
    return tuple(natural_key(part) for part in relpath.split("/"))


OrderKey = tuple[int, tuple[int, ...], tuple[NaturalKey, ...], tuple[NaturalKey, ...]]


def order_key(relpath: str) -> OrderKey:
    """Sort key for a file inside a history directory (relpath uses "/" separators).

    Groups: 0 versioned (Flyway V/B or numbered), 1 unversioned (natural sort of the path),
    2 Flyway repeatables (R__, by description). Versioned files sort by version wherever they live in
    the tree, as Flyway does; ties fall back to the natural order of the path.
    """
    name = relpath.rsplit("/", 1)[-1]
    stem = name[:-4] if name.lower().endswith(".sql") else name
    m = _FLYWAY_STEM.match(stem)
    if m and m.group("kind") in "Rr" and m.group("version") is None:
        return (2, (), (natural_key(m.group("desc")),), path_key(relpath))
    if m and m.group("kind") in "VvBb" and m.group("version") is not None:
        version = tuple(int(p) for p in re.split(r"[._]", m.group("version")))
        return (0, version, path_key(relpath), ())
    n = _NUMBERED.match(stem)
    if n:
        version = tuple(int(p) for p in n.group("version").split("."))
        return (0, version, path_key(relpath), ())
    return (1, (), path_key(relpath), ())





def _files(directory: str, suffix: str = ".sql") -> list[str]:
    """Names of the files directly in `directory` ending with suffix (case-insensitive), hidden ones aside."""
    # scandir: the kind of each entry comes with the listing (a stat only for a symbolic link, followed as
    # os.path.isfile follows it), not one stat per file of a long history.
    try:
        with os.scandir(directory) as entries:
            return sorted(
                e.name
                for e in entries
                if e.name.lower().endswith(suffix) and not e.name.startswith(".") and _is(e.is_file)
            )
    except OSError:
        return []


def _subdirs(directory: str) -> list[str]:
    try:
        with os.scandir(directory) as entries:
            return sorted(e.name for e in entries if not e.name.startswith(".") and _is(e.is_dir))
    except OSError:
        return []


def _is(kind: Callable[[], bool]) -> bool:
    """DirEntry.is_file / is_dir as os.path.isfile / isdir answer: False when the entry cannot be stat'ed."""
    try:
        return kind()
    except OSError:
        return False


def _head(path: str, size: int = 4096) -> str:
    try:
        with open(path, "rb") as fh:
            return fh.read(size).decode("utf-8", errors="replace")
    except OSError:
        return ""


def _mentions_above(directory: str, filename: str, word: str, levels: int = 6) -> bool:
    here = Path(directory).resolve()
    for d in (here, *list(here.parents)[:levels]):
        f = d / filename
        if f.is_file():
            return word in _head(str(f), 1 << 16)
    return False


def sqitch_plan(directory: str) -> Path | None:
    """The sqitch.plan of a sqitch project directory, or of the project above its deploy/ directory."""
    here = Path(directory)
    for d in (here, here.parent):
        conf = _sqitch_conf(d)
        plan = d / conf.get("plan_file", "sqitch.plan")
        if plan.is_file():
            return plan
    return None


def _sqitch_conf(directory: Path) -> dict[str, str]:
    """top_dir, deploy_dir, plan_file from sqitch.conf (any section: core or the pg engine)."""
    conf = directory / "sqitch.conf"
    out: dict[str, str] = {}
    if conf.is_file():
        for line in _head(str(conf), 1 << 16).splitlines():
            m = re.match(r"^\s*(top_dir|deploy_dir|plan_file)\s*=\s*(.+?)\s*$", line)
            if m:
                out[m.group(1)] = m.group(2).strip("\"'")
    return out


def detect_layout(directory: str) -> tuple[str, str]:
    """(layout, why) for a directory, from the files the tools leave behind."""
    if sqitch_plan(directory) is not None:
        return "sqitch", "sqitch.plan"
    if synapse_schema(directory) is not None:
        return "synapse", "<database>/delta/<version>/"
    changelog = master_changelog(directory)
    if changelog is not None:
        return "liquibase", os.path.basename(changelog)
    files = _files(directory)
    # Up/down pairs first: Atlas writes atlas.sum for golang-migrate directories too (its sum then lists
    # the up files only).
    if any(_UPDOWN.match(f) for f in files) or any(_UPDOWN.match(f) for f in _files(directory, ".fizz")):
        return "golang-migrate", "<version>_<name>.up.sql"
    if os.path.isfile(os.path.join(directory, "atlas.sum")):
        return "atlas", "atlas.sum"
    subdirs = _subdirs(directory)
    if os.path.isfile(os.path.join(directory, "migration_lock.toml")) or any(
        _PRISMA_DIR.match(d) and os.path.isfile(os.path.join(directory, d, "migration.sql")) for d in subdirs
    ):
        return "prisma", "<timestamp>_<name>/migration.sql"
    if any(os.path.isfile(os.path.join(directory, d, "up.sql")) for d in subdirs):
        return "diesel", "<version>_<name>/up.sql"
    heads = {f: _head(os.path.join(directory, f)) for f in files[:200]}
    # Every marker line holds its word (as sources.sections reads them): most heads are ruled out without
    # matching line by line.
    # (and each is a `--` comment line: a head without one is not even lowered)
    lowered = [(h, h.lower()) for h in heads.values() if "--" in h]
    if any("+goose" in low and _GOOSE_UP.search(h) for h, low in lowered):
        return "goose", "-- +goose Up"
    if any("migrate:" in low and _DBMATE_UP.search(h) for h, low in lowered):
        return "dbmate", "-- migrate:up"
    if any(re.match(r"^\s*--\s*liquibase\s+formatted\s+sql\b", h, re.IGNORECASE) for h, _low in lowered):
        return "liquibase", "--liquibase formatted sql"
    if any(_FLYWAY.match(f) and f[0] in "VvUuBb" for f in files) or any(
        _FLYWAY.match(f) for _r, _d, fs in os.walk(directory) for f in fs
    ):
        return "flyway", "V<version>__<description>.sql"
    return "plain", ""


def list_layout(directory: str, layout: str) -> Listing:
    """The forward migrations of `directory` read as `layout`, in the order that tool runs them; every
    other file in the layout's reach is counted in `skipped` and named in a note, never dropped silently."""
    listing = _LISTERS[layout](directory)
    if not listing.complete:
        _account_unread(directory, layout, listing)
    return listing


# What each lister looks at: how deep below the directory (None: all the way), the file endings it reads or
# counts itself, and the files that are its tool's own metadata.
_SCOPE: dict[str, tuple[int | None, tuple[str, ...], frozenset[str]]] = {
    "plain": (None, (".sql",), frozenset({"manifest.json"})),
    "flyway": (None, (".sql", ".sql.conf"), frozenset({"flyway.conf", "flyway.toml"})),
    "golang-migrate": (1, (".sql", ".fizz"), frozenset()),
    "goose": (1, (".sql", ".go"), frozenset()),
    "dbmate": (1, (".sql",), frozenset()),
    "atlas": (1, (".sql",), frozenset({"atlas.sum"})),
    "liquibase": (1, (".sql",), frozenset()),
    # One directory per migration: only the files of a migration directory the tool runs are read.
    "diesel": (2, (), frozenset({"metadata.toml"})),
    "prisma": (2, (), frozenset({"migration_lock.toml"})),
}
# Atlas writes atlas.sum beside the migrations of the tools it generates for (golang-migrate, goose, flyway).
_ANY_METADATA = frozenset({"atlas.sum"})
# Files no migration tool runs and no reader needs told about: compiled Python, editor and OS litter.
_LITTER = (".pyc", ".pyo", "~", ".swp", ".DS_Store")
def _account_unread(directory: str, layout: str, listing: Listing) -> None:
    if layout not in _SCOPE:
        return
    depth, handled, metadata = _SCOPE[layout]
    metadata = metadata | _ANY_METADATA
    used = {os.path.abspath(p) for e in listing.entries for p in (e.path, e.down) if p}
    migration_dirs = {os.path.dirname(p) for p in used}
    top = os.path.abspath(directory)
    unread: list[str] = []
    for root, dirs, files in os.walk(top):
        level = 0 if root == top else os.path.relpath(root, top).count(os.sep) + 1
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        if depth is not None and level + 1 >= depth:
            dirs[:] = []
        if depth == 2 and level == 1 and root not in migration_dirs:
            continue  # a subdirectory that is not a migration is counted by the lister
        for f in sorted(files):
            full = os.path.join(root, f)
            if f.startswith(".") or f.endswith(_LITTER) or f in metadata or full in used:
                continue
            if handled and f.lower().endswith(handled):
                continue
            unread.append(os.path.relpath(full, top).replace(os.sep, "/"))
    if not unread:
        return
    listing.skipped["not-read"] += len(unread)
    listing.notes.append(
        (directory, f"{len(unread)} file(s) not read: not migrations of the {layout} layout "
                    f"({name_some(unread)})")
    )


# ---- plain and flyway: recursive


def _walk_sql(directory: str) -> list[str]:
    out: list[str] = []
    for root, dirs, files in os.walk(directory):
        # Hidden directories (.git, .venv) are never migration history.
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        out.extend(
            os.path.join(root, f) for f in files if f.lower().endswith(".sql") and not f.startswith(".")
        )
    return out


def _manifest(directory: str) -> list[str] | None:
    """temporal-sql-tool: `manifest.json` lists the version directory's scripts, in run order (files it does
    not list never run)."""
    path = os.path.join(directory, "manifest.json")
    if not os.path.isfile(path):
        return None
    try:
        import json  # only for a directory that has the manifest

        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = data.get("SchemaUpdateCqlFiles") if isinstance(data, dict) else None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return files


def _plain(directory: str) -> Listing:
    out = Listing("plain")
    found: list[tuple[OrderKey, Entry]] = []
    manifests: dict[str, list[str] | None] = {}
    for f in _walk_sql(directory):
        folder = os.path.dirname(f)
        if folder not in manifests:
            manifests[folder] = _manifest(folder)
        listed = manifests[folder]
        rel = os.path.relpath(f, directory).replace(os.sep, "/")
        if listed is None:
            found.append((order_key(rel), Entry(f)))
        elif os.path.basename(f) in listed:
            # The manifest's order within its version directory; the tool runs each statement on its own.
            key = (*path_key(os.path.dirname(rel)), ((0, listed.index(os.path.basename(f))),))
            found.append(((1, (), key, ()), Entry(f, transactional=False)))
        else:
            out.skipped["not-in-manifest"] += 1
    if any(m is not None for m in manifests.values()):
        out.detail = "manifest.json"
    found.sort(key=lambda item: item[0])
    out.entries = [e for _, e in found]
    return out


def _flyway_version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.split(r"[._]", text))


def _flyway(directory: str) -> Listing:
    out = Listing("flyway")
    # refinery (Rust) names files like Flyway, but its U prefix means "unversioned", not undo.
    refinery = _mentions_above(directory, "Cargo.toml", "refinery")
    versioned: list[tuple[tuple[int, ...], str, str]] = []
    repeatable: list[tuple[tuple[tuple[int, int | str], ...], str]] = []
    baselines: list[tuple[tuple[int, ...], str]] = []
    undo: dict[tuple[int, ...], str] = {}
    for path in _walk_sql(directory):
        name = os.path.basename(path)
        m = _FLYWAY.match(name)
        if m is None:
            out.skipped["not-a-migration-name"] += 1
            continue
        kind, version = m.group("kind").upper(), m.group("version")
        if kind == "R" and version is None:
            repeatable.append((natural_key(m.group("desc")), path))
        elif version is None:
            out.skipped["not-a-migration-name"] += 1
        elif kind == "V" or (kind == "U" and refinery):
            versioned.append((_flyway_version(version), path, m.group("desc")))
        elif kind == "U":
            undo[_flyway_version(version)] = path
            out.skipped["undo"] += 1
        elif kind == "B":
            baselines.append((_flyway_version(version), path))
        else:
            out.skipped["not-a-migration-name"] += 1
    versioned.sort(key=lambda v: (v[0], natural_key(v[1])))
    lowest = versioned[0][0] if versioned else None
    for version, path in sorted(baselines):
        # A baseline migration only runs on a new database. When versioned migrations up to it are present,
        # production ran those instead; when they were deleted, the baseline is the only record of the
        # schema they built: read it as history.
        if lowest is not None and lowest <= version:
            out.skipped["baseline"] += 1
        else:
            out.entries.append(Entry(path, history=True))
            out.notes.append((path, "Flyway baseline migration read as schema history (it runs only on new "
                                    "databases)"))
    for version, path, _desc in versioned:
        out.entries.append(Entry(path, transactional=_flyway_conf(path), down=undo.get(version)))
    for _key, path in sorted(repeatable):
        out.entries.append(Entry(path, transactional=_flyway_conf(path)))
    return out


def _flyway_conf(path: str) -> bool | None:
    """`V1__x.sql.conf` beside a script: `executeInTransaction=false` runs it outside a transaction."""
    conf = path + ".conf"
    if os.path.isfile(conf):
        m = re.search(r"^\s*executeInTransaction\s*=\s*(\w+)", _head(conf), re.MULTILINE | re.IGNORECASE)
        if m:
            return m.group(1).lower() != "false"
    return None


# ---- single-directory tools


def _golang_migrate(directory: str) -> Listing:
    out = Listing("golang-migrate")
    chosen: dict[tuple[int, str], tuple[int, str, re.Match[str]]] = {}
    downs: dict[tuple[int, str], tuple[int, str]] = {}
    for name in [*_files(directory), *_files(directory, ".fizz")]:
        m = _UPDOWN.match(name)
        if m is None:
            out.skipped["not-a-migration-name"] += 1
            continue
        dialect = (m.group("dialect") or "").lower()
        if dialect and dialect not in _PG_DIALECTS:
            out.skipped["other-dialect"] += 1
            continue
        key = (int(m.group("version")), m.group("name"))
        # pop/popx: a file for PostgreSQL wins over the one for every dialect.
        rank = 1 if dialect else 0
        if m.group("dir") == "down":
            out.skipped["down"] += 1
            if key not in downs or rank > downs[key][0]:
                downs[key] = (rank, os.path.join(directory, name))
            continue
        if key in chosen:
            out.skipped["superseded-by-dialect-file"] += 1
            if rank <= chosen[key][0]:
                continue
        chosen[key] = (rank, name, m)
    for key in sorted(chosen):
        _rank, name, m = chosen[key]
        path = os.path.join(directory, name)
        entry = Entry(path, transactional=False if m.group("autocommit") else SCRIPT,
                      down=downs.get(key, (0, None))[1])
        if m.group("ext") == "fizz":
            entry.code = "a pop fizz migration (pop's DSL, not SQL)"
        out.entries.append(entry)
    return out


def _diesel(directory: str) -> Listing:
    out = Listing("diesel")
    for d in _subdirs(directory):
        up = os.path.join(directory, d, "up.sql")
        if not os.path.isfile(up):
            out.skipped["not-a-migration-directory"] += 1
            continue
        down = os.path.join(directory, d, "down.sql")
        if os.path.isfile(down):
            out.skipped["down"] += 1
        meta = os.path.join(directory, d, "metadata.toml")
        transactional = True
        if os.path.isfile(meta) and re.search(
            r"^\s*run_in_transaction\s*=\s*false\b", _head(meta), re.MULTILINE
        ):
            transactional = False
        out.entries.append(
            Entry(up, name=d, transactional=transactional, down=down if os.path.isfile(down) else None)
        )
    return out


def _versioned_files(directory: str, out: Listing, code_suffix: str = "", code_reason: str = "") -> None:
    names = _files(directory)
    if code_suffix:
        names += _files(directory, code_suffix)
    found: list[tuple[int, tuple[tuple[int, int | str], ...], str]] = []
    for name in names:
        m = _VERSIONED.match(name)
        if m is None:
            out.skipped["not-a-migration-name"] += 1
            continue
        found.append((int(m.group("version")), natural_key(name), name))
    for _v, _k, name in sorted(found):
        entry = Entry(os.path.join(directory, name), transactional=True)
        if code_suffix and name.endswith(code_suffix):
            if name.endswith("_test.go"):
                out.skipped["test-code"] += 1
                continue
            entry.code = code_reason
        out.entries.append(entry)


def _goose(directory: str) -> Listing:
    out = Listing("goose")
    _versioned_files(directory, out, ".go", "a goose Go migration (code, not SQL)")
    return out


def _dbmate(directory: str) -> Listing:
    out = Listing("dbmate")
    _versioned_files(directory, out)
    return out


def _prisma(directory: str) -> Listing:
    out = Listing("prisma")
    for d in _subdirs(directory):
        f = os.path.join(directory, d, "migration.sql")
        if os.path.isfile(f):
            out.entries.append(Entry(f, name=d, transactional=SCRIPT))
        else:
            out.skipped["not-a-migration-directory"] += 1
    return out


def _atlas(directory: str) -> Listing:
    out = Listing("atlas")
    listed: list[str] = []
    try:
        lines = Path(directory, "atlas.sum").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for line in lines[1:]:  # the first line is the directory's own hash
        parts = line.rsplit(" h1:", 1)
        if len(parts) == 2 and parts[0].strip():
            listed.append(parts[0].strip())
    present = set(_files(directory))
    for name in listed:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            out.entries.append(Entry(path, transactional=True))
        else:
            missing = InputError(
                "listed in atlas.sum but missing (restore it or run `atlas migrate hash`)", path
            )
            out.entries.append(Entry(path, missing=missing))
    for name in sorted(present - set(listed)):
        path = os.path.join(directory, name)
        out.entries.append(Entry(path, transactional=True))
        out.notes.append((path, "not in atlas.sum: atlas would refuse the directory until "
                                "`atlas migrate hash` is run; read in name order"))
    return out


def _liquibase(directory: str) -> Listing:
    changelog = master_changelog(directory)
    if changelog is not None:
        return read_changelog(changelog)
    out = Listing("liquibase")
    # includeAll runs a directory's files in alphabetical order of their paths.
    for name in _files(directory):
        out.entries.append(Entry(os.path.join(directory, name), transactional=True))
    return out


_PLAN_CHANGE = re.compile(r"^(?P<op>[+-]?)(?P<name>[^\s@\[#]+)(?=\s|$)")
_PLAN_TAG = re.compile(r"^@(?P<tag>[^\s#]+)")


def _sqitch(directory: str) -> Listing:
    out = Listing("sqitch")
    plan = sqitch_plan(directory)
    if plan is None:
        out.errors.append(InputError("no sqitch.plan here or above", directory))
        return out
    top = plan.parent
    conf = _sqitch_conf(top)
    top_dir = top / conf.get("top_dir", ".")
    deploy_dir = top / conf["deploy_dir"] if "deploy_dir" in conf else top_dir / "deploy"
    revert_dir = top_dir / "revert"
    out.detail = os.path.relpath(plan)
    # (change name, line) in plan order, and for each the tags seen after it until the same change appears
    # again: a reworked change's earlier script is named after one of them.
    changes: list[tuple[str, int]] = []
    rework_tags: list[list[str]] = []
    open_tags: dict[str, list[str]] = {}
    for number, raw in enumerate(plan.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("%", "#")):
            continue
        t = _PLAN_TAG.match(line)
        if t:
            for tags in open_tags.values():
                tags.append(t.group("tag"))
            continue
        m = _PLAN_CHANGE.match(line)
        if m is None:
            continue
        if m.group("op") == "-":
            out.skipped["reverted-in-plan"] += 1
            continue
        changes.append((m.group("name"), number))
        rework_tags.append([])
        open_tags[m.group("name")] = rework_tags[-1]
    last = {name: i for i, (name, _n) in enumerate(changes)}
    for i, (name, number) in enumerate(changes):
        script = name
        if last[name] != i:
            # A reworked change: its earlier script carries the first of the tags between it and its next
            # version that names an existing file (as sqitch looks it up), else the first of them.
            if not rework_tags[i]:
                out.errors.append(
                    InputError(f"reworked change {name} has no tag after it", str(plan), number)
                )
                continue
            names = [f"{name}@{tag}" for tag in rework_tags[i]]
            script = next((n for n in names if (deploy_dir / f"{n}.sql").is_file()), names[0])
        path = deploy_dir / f"{script}.sql"
        if not path.is_file():
            missing = InputError(f"deploy script of change {name} is missing: {path}", str(plan), number)
            out.entries.append(Entry(str(path), name=name, missing=missing))
            continue
        revert = revert_dir / f"{script}.sql"
        out.entries.append(
            Entry(str(path), name=name, transactional=False, down=str(revert) if revert.is_file() else None)
        )
        if revert.is_file():
            out.skipped["revert"] += 1
        if (top_dir / "verify" / f"{script}.sql").is_file():
            out.skipped["verify"] += 1
    return out


# ---- synapse: its own runner (synapse/storage/prepare_database.py)


@dataclass
class SynapseSchema:
    """Where a synapse-style schema lives: the schema root and the logical databases whose deltas are read
    (`common` always, as synapse applies it on every physical database)."""

    root: Path
    databases: list[str]


def _int_dirs(directory: Path) -> list[int]:
    if not directory.is_dir():
        return []
    return sorted(int(d.name) for d in directory.iterdir() if d.is_dir() and d.name.isdigit())


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    if not directory.is_dir():
        return []
    with os.scandir(directory) as it:
        return list(it)


def synapse_schema(directory: str) -> SynapseSchema | None:
    """The synapse schema a directory is part of: `<root>/<database>/delta` (as handed over to upgrade one
    database), `<root>/<database>`, or the root holding `<database>/delta/<version>/` directories.

    Recognised by version directories that hold engine-specific SQL (`.sql.postgres`, `.sql.sqlite`), or
    by a `full_schemas` directory beside `delta`.
    """
    here = Path(directory).resolve()
    if here.name == "delta":
        root, databases = here.parent.parent, [here.parent.name]
    elif (here / "delta").is_dir():
        root, databases = here.parent, [here.name]
    else:
        root = here
        # Only subdirectories can hold delta/: a directory of hundreds of migration files costs no stat each.
        databases = sorted(
            e.name
            for e in _entries(here)
            if e.is_dir() and e.name != "common" and (here / e.name / "delta").is_dir()
        )
    if not databases:
        return None
    schema = SynapseSchema(root, [*(["common"] if (root / "common" / "delta").is_dir() else []),
                                  *[d for d in databases if d != "common"]])
    for db in schema.databases:
        base = root / db
        if (base / "full_schemas").is_dir() and _int_dirs(base / "delta"):
            return schema
        for version in _int_dirs(base / "delta"):
            files = (base / "delta" / str(version)).iterdir()
            if any(f.name.endswith((".sql.postgres", ".sql.sqlite")) for f in files):
                return schema
    return None


_PYTHON_DELTA = ("a Python delta (synapse's own migrator imports it and runs its run_create / run_upgrade "
                 "functions; the SQL they send is not known before they run)")


# What synapse's PostgreSQL engine substitutes in every script before it runs it.
_SYNAPSE_REWRITE = (("$%AUTO_INCREMENT_PRIMARY_KEY%$", "BIGINT PRIMARY KEY GENERATED ALWAYS AS IDENTITY"),)


_HOOKS = ("run_create", "run_upgrade")


def _python_delta_idle_on_postgres(path: Path) -> bool:
    """True when the syntax tree shows a Python delta cannot act on PostgreSQL: synapse calls neither hook,
    or each hook only acts inside `if isinstance(engine, Sqlite3Engine):` or returns first thing when
    `not isinstance(engine, Sqlite3Engine)`. Anything else (or code that does not parse) is not analysed."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
        return False
    hooks = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in _HOOKS]
    return all(_sqlite_only(hook) for hook in hooks)


def _is_sqlite_check(test: ast.expr) -> bool:
    """`isinstance(<anything>, Sqlite3Engine)`."""
    if not (isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "isinstance"):
        return False
    return len(test.args) == 2 and isinstance(test.args[1], ast.Name) and test.args[1].id == "Sqlite3Engine"


def _sqlite_only(hook: ast.FunctionDef) -> bool:
    body = list(hook.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if not body or not isinstance(body[0], ast.If):
        return False
    first = body[0]
    if len(body) == 1 and _is_sqlite_check(first.test) and not first.orelse:
        return True
    test = first.test
    if not (isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)):
        return False
    returns = len(first.body) == 1 and isinstance(first.body[0], ast.Return) and not first.orelse
    return _is_sqlite_check(test.operand) and returns


def _synapse_files(directories: list[Path]) -> list[Path]:
    """The files of one version across databases, in synapse's order: by file name, then path."""
    files = [f for d in directories if d.is_dir() for f in d.iterdir() if f.is_file()]
    return sorted(files, key=lambda f: (f.name, str(f)))


def _synapse(directory: str) -> Listing:
    out = Listing("synapse", complete=True)
    schema = synapse_schema(directory)
    if schema is None:
        out.errors.append(InputError("no synapse schema here (<database>/delta/<version>/ directories)",
                                     directory))
        return out
    bases = [schema.root / db for db in schema.databases]
    # A new database starts from the newest full schema (the common one decides which, as synapse does)
    # and then runs every delta after it; deltas up to it are in the snapshot already.
    snapshots = _int_dirs(schema.root / "common" / "full_schemas") or sorted(
        {v for base in bases for v in _int_dirs(base / "full_schemas")}
    )
    start = snapshots[-1] if snapshots else None
    if start is not None:
        dirs = [base / "full_schemas" / str(start) for base in bases]
        for f in _synapse_files(dirs):
            if f.name.endswith((".sql", ".sql.postgres")):
                out.entries.append(Entry(str(f), history=True))
        out.detail = f"full schema {start} + deltas after it"
    other: list[str] = []
    unknown: list[str] = []
    sqlite_only: list[str] = []
    for version in sorted({v for base in bases for v in _int_dirs(base / "delta")}):
        files = _synapse_files([base / "delta" / str(version) for base in bases])
        if start is not None and version <= start:
            counted = [f for f in files if not f.name.endswith((".pyc", ".pyo"))]
            out.skipped["in-full-schema"] += len(counted)
            continue
        for f in files:
            name, rel = f.name, f"{version}/{f.name}"
            if name.endswith((".sql", ".sql.postgres")):
                # The PostgreSQL engine commits, then runs each script in a transaction of its own.
                out.entries.append(Entry(str(f), name=rel, transactional=True, rewrite=_SYNAPSE_REWRITE))
            elif name.endswith(".py"):
                if _python_delta_idle_on_postgres(f):
                    out.skipped["sqlite-only"] += 1
                    sqlite_only.append(rel)
                else:
                    out.entries.append(Entry(str(f), name=rel, code=_PYTHON_DELTA))
            elif name.endswith((".pyc", ".pyo")):
                continue  # synapse skips compiled modules too
            elif ".sql." in name:
                out.skipped["other-database"] += 1
                other.append(rel)
            else:
                out.skipped["not-a-delta"] += 1
                unknown.append(rel)
    if start is not None and out.skipped["in-full-schema"]:
        out.notes.append((directory, f"deltas up to version {start} are not read as migrations: a new "
                                     f"database starts from full_schemas/{start}, read as schema history "
                                     f"({out.skipped['in-full-schema']} files)"))
    for names, why in ((other, "SQL for another database engine (synapse runs them on SQLite only)"),
                       (unknown, "not a delta (synapse warns and skips it)"),
                       (sqlite_only, "Python deltas that do nothing on PostgreSQL (no run_create or "
                                     "run_upgrade, or one that only acts on SQLite)")):
        if names:
            out.notes.append((directory, f"{len(names)} file(s) skipped: {why}: {name_some(names)}"))
    return out


_LISTERS: dict[str, Callable[[str], Listing]] = {
    "plain": _plain,
    "flyway": _flyway,
    "golang-migrate": _golang_migrate,
    "diesel": _diesel,
    "goose": _goose,
    "dbmate": _dbmate,
    "sqitch": _sqitch,
    "prisma": _prisma,
    "atlas": _atlas,
    "liquibase": _liquibase,
    "synapse": _synapse,
}
assert tuple(_LISTERS) == LAYOUTS, "every configurable layout has a lister"
