"""The targets file: which databases (or tenant schemas) a fleet command runs on.

    stages = ["internal", "small", "large"]    # optional: stage names in rollout order

    [defaults]                                  # optional: values every target inherits
    dsn_env = "APP_DSN"

    [[target]]
    name = "acme"                               # letters, digits, '.', '_' or '-'; unique
    dsn = "postgresql://app@db1/acme"           # or dsn_env = "ACME_DSN" (keeps passwords out of the file)
    schema = "tenant_acme"                      # optional: schema per tenant (search_path, ledger)
    stage = "internal"                          # optional: a name from `stages`, or an integer
    tags = ["eu"]                               # optional: select with --tag

Parsing is pure apart from reading the file and the environment. Every problem is one InputError with the
file:line:col of the key at fault; a target with a problem is left out and the others are kept.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from foreshock.errors import InputError
from foreshock.pg.connect import database_key, redact_dsn, valid_dsn

TARGET_KEYS = ("name", "dsn", "dsn_env", "schema", "stage", "tags")
DEFAULT_KEYS = ("dsn", "dsn_env", "schema", "stage", "tags")
TOP_KEYS = ("stages", "defaults", "target")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_HEADER = re.compile(r"^\s*\[\[\s*target\s*\]\]")
_TABLE = re.compile(r"^\s*\[")
_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True)
class Target:
    """One database, or one tenant schema in a database. `dsn` may hold a password: never print it."""

    name: str
    dsn: str = field(repr=False)
    schema: str | None = None
    stage: str | None = None  # the stage as written (None: not staged)
    stage_rank: int = 0  # position of its stage in rollout order (unstaged targets come last)
    tags: tuple[str, ...] = ()
    path: str = ""
    line: int = 0

    @property
    def server(self) -> str:
        """Where it is, for people: the DSN without its password, plus the schema."""
        where = redact_dsn(self.dsn)
        return f"{where} schema {self.schema}" if self.schema else where

    @property
    def database(self) -> tuple[str, str, str]:
        """(host, port, database): targets sharing it are tenants of one database."""
        return database_key(self.dsn)


@dataclass(frozen=True)
class TargetsFile:
    path: str
    targets: tuple[Target, ...]
    errors: tuple[InputError, ...] = ()
    stages: tuple[str, ...] = ()


class _Positions:
    """Line and column of keys in the raw text (tomllib keeps none), so errors point at the key at fault."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers = [i for i, line in enumerate(self.lines) if _HEADER.match(line)]

    def _block(self, index: int | None) -> range:
        if index is None:  # the top level: up to the first table header
            end = next((i for i, line in enumerate(self.lines) if _TABLE.match(line)), len(self.lines))
            return range(0, end)
        if index >= len(self.headers):
            return range(0, 0)
        start = self.headers[index] + 1
        end = next((i for i in range(start, len(self.lines)) if _TABLE.match(self.lines[i])), len(self.lines))
        return range(start, end)

    def target(self, index: int) -> tuple[int, int]:
        if index < len(self.headers):
            return self.headers[index] + 1, 1
        return 0, 0

    def key(self, index: int | None, key: str, section: str | None = None) -> tuple[int, int]:
        block = self._block(index)
        if section is not None:
            head = next(
                (i for i, line in enumerate(self.lines) if re.match(rf"^\s*\[\s*{section}\s*\]", line)), None
            )
            if head is None:
                return 0, 0
            end = next(
                (i for i in range(head + 1, len(self.lines)) if _TABLE.match(self.lines[i])), len(self.lines)
            )
            block = range(head + 1, end)
        pattern = re.compile(rf"^(\s*){re.escape(key)}\s*=")
        for i in block:
            m = pattern.match(self.lines[i])
            if m:
                return i + 1, len(m.group(1)) + 1
        return self.target(index) if index is not None else (0, 0)


def load_targets(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> TargetsFile:
    """Read a targets file. Never raises for bad content: problems are in `errors`, good targets are kept."""
    where = os.fspath(path)
    try:
        with open(where, "rb") as fh:
            raw = fh.read()
    except OSError as err:
        return TargetsFile(
            where,
            (),
            (
                InputError(
                    f"cannot read the targets file: {err.strerror or err} "
                    "(give the path of a TOML targets file)",
                    where,
                ),
            ),
        )
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        return TargetsFile(
            where, (), (InputError("the targets file is not UTF-8 text (save it as UTF-8)", where),)
        )
    except tomllib.TOMLDecodeError as err:
        m = _TOML_AT.search(str(err))
        line, col = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        message = _TOML_AT.sub("", str(err)).strip()
        return TargetsFile(where, (), (InputError(f"{message} (fix the TOML syntax)", where, line, col),))
    return parse_targets(data, text, where, os.environ if environ is None else environ)


def parse_targets(data: dict[str, Any], text: str, path: str, environ: Mapping[str, str]) -> TargetsFile:
    pos = _Positions(text)
    errors: list[InputError] = []

    def error(message: str, at: tuple[int, int]) -> None:
        errors.append(InputError(message, path, at[0], at[1]))

    for key in data:
        if key not in TOP_KEYS:
            error(
                f"unknown key {key!r} (expected {', '.join(TOP_KEYS)}; targets go in [[target]] tables)",
                pos.key(None, key),
            )
    stages = _stage_names(data.get("stages"), pos, error)
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        error("[defaults] must be a table", pos.key(None, "defaults"))
        defaults = {}
    for key in defaults:
        if key not in DEFAULT_KEYS:
            error(
                f"unknown key {key!r} in [defaults] (expected {', '.join(DEFAULT_KEYS)})",
                pos.key(None, key, section="defaults"),
            )
    raw_targets = data.get("target", [])
    if not isinstance(raw_targets, list) or not all(isinstance(t, dict) for t in raw_targets):
        error("`target` must be an array of tables: write each target as [[target]]", pos.key(None, "target"))
        raw_targets = []
    if not raw_targets:
        error("no [[target]] tables: list each database as [[target]] with name and dsn or dsn_env", (1, 1))

    parsed: list[tuple[Target, Any, int]] = []
    seen_names: dict[str, int] = {}
    seen_places: dict[tuple[str, str, str, str | None], str] = {}
    for i, raw in enumerate(raw_targets):
        before = len(errors)
        merged = {**{k: v for k, v in defaults.items() if k in DEFAULT_KEYS}, **raw}
        if "dsn" in raw and "dsn_env" not in raw:
            merged.pop("dsn_env", None)
        if "dsn_env" in raw and "dsn" not in raw:
            merged.pop("dsn", None)
        for key in raw:
            if key not in TARGET_KEYS:
                error(
                    f"unknown key {key!r} in [[target]] (expected {', '.join(TARGET_KEYS)})", pos.key(i, key)
                )
        name = merged.get("name")
        if not isinstance(name, str) or not name:
            error(
                "a [[target]] needs name = \"...\" (unique; letters, digits, '.', '_' or '-')",
                pos.key(i, "name"),
            )
            continue
        if not _NAME.fullmatch(name):
            error(
                f"target name {name!r} may only hold letters, digits, '.', '_' or '-' (it names files)",
                pos.key(i, "name"),
            )
        elif name in seen_names:
            error(
                f"target name {name!r} is used twice (also line {seen_names[name]}); names must be unique",
                pos.key(i, "name"),
            )
        seen_names.setdefault(name, pos.key(i, "name")[0])
        dsn = _dsn(merged, name, i, pos, environ, error)
        schema = merged.get("schema")
        if schema is not None and (not isinstance(schema, str) or not schema):
            error(
                f"target {name}: schema must be a non-empty string (the tenant's schema)",
                pos.key(i, "schema"),
            )
            schema = None
        stage = merged.get("stage")
        if stage is not None and (isinstance(stage, bool) or not isinstance(stage, int | str)):
            error(f"target {name}: stage must be a name or an integer", pos.key(i, "stage"))
            stage = None
        tags = merged.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
            error(f'target {name}: tags must be a list of strings, e.g. tags = ["eu"]', pos.key(i, "tags"))
            tags = []
        if dsn is not None and len(errors) == before:
            place = (*database_key(dsn), schema)
            if place in seen_places:
                what = f"schema {schema} of " if schema else ""
                error(
                    f"target {name} is the same {what}database as target {seen_places[place]} "
                    "(two runs on one target at once would race; list it once)",
                    pos.key(i, "name"),
                )
            seen_places.setdefault(place, name)
        if len(errors) == before and dsn is not None:
            line = pos.target(i)[0]
            parsed.append(
                (
                    Target(
                        name, dsn, schema, None if stage is None else str(stage), 0, tuple(tags), path, line
                    ),
                    stage,
                    i,
                )
            )
    targets = _rank_stages(parsed, stages, pos, path, errors)
    return TargetsFile(path, tuple(targets), tuple(errors), stages)


def _stage_names(raw: Any, pos: _Positions, error: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(s, str) and s for s in raw):
        error(
            'stages must be a list of stage names in rollout order, e.g. stages = ["canary", "eu"]',
            pos.key(None, "stages"),
        )
        return ()
    if len(set(raw)) != len(raw):
        error("stages lists a name twice", pos.key(None, "stages"))
    return tuple(raw)


def _dsn(
    merged: dict[str, Any], name: str, i: int, pos: _Positions, environ: Mapping[str, str], error: Any
) -> str | None:
    dsn, env = merged.get("dsn"), merged.get("dsn_env")
    if (dsn is None) == (env is None):
        error(
            f'target {name} needs exactly one of dsn = "postgresql://..." or dsn_env = "VARIABLE"',
            pos.key(i, "dsn" if dsn is not None else "name"),
        )
        return None
    if env is not None:
        if not isinstance(env, str) or not env:
            error(f"target {name}: dsn_env must name an environment variable", pos.key(i, "dsn_env"))
            return None
        value = environ.get(env, "")
        if not value:
            error(
                f"target {name}: environment variable {env} is not set (export it with the target's DSN)",
                pos.key(i, "dsn_env"),
            )
            return None
        dsn = value
    if not isinstance(dsn, str) or not dsn:
        error(f"target {name}: dsn must be a connection string", pos.key(i, "dsn"))
        return None
    if not valid_dsn(dsn):
        where = "dsn_env" if env is not None else "dsn"
        error(
            f"target {name}: {where} is not a valid PostgreSQL connection string "
            "(postgresql://user@host/db or 'host=... dbname=...')",
            pos.key(i, where),
        )
        return None
    return dsn


def _rank_stages(
    parsed: Sequence[tuple[Target, Any, int]],
    stages: tuple[str, ...],
    pos: _Positions,
    path: str,
    errors: list[InputError],
) -> list[Target]:
    """Stage order: integers ascending; names in `stages` order (else first appearance); unstaged last.

    A target whose stage cannot be placed is left out (with its error), like any other bad target."""
    kept: list[tuple[Target, Any]] = []
    order: list[Any] = list(stages)
    kinds = {type(raw) for _, raw, _ in parsed if raw is not None}
    for target, raw, index in parsed:
        if raw is None:
            kept.append((target, raw))
        elif len(kinds) > 1 or (stages and isinstance(raw, int)):
            errors.append(
                InputError(
                    f"target {target.name}: stage {raw!r} mixes integer and named stages; use one kind",
                    path,
                    *pos.key(index, "stage"),
                )
            )
        elif isinstance(raw, str) and stages and raw not in stages:
            errors.append(
                InputError(
                    f"target {target.name}: stage {raw!r} is not listed in stages = [...] (add it there)",
                    path,
                    *pos.key(index, "stage"),
                )
            )
        else:
            kept.append((target, raw))
            if raw not in order:
                order.append(raw)
    if kinds == {int}:
        order.sort()
    rank = {v: i for i, v in enumerate(order)}
    return [replace(t, stage_rank=rank[raw] if raw is not None else len(order)) for t, raw in kept]


def select_targets(
    targets: Sequence[Target], names: Sequence[str] = (), tags: Sequence[str] = ()
) -> list[Target]:
    """--target NAME / --tag TAG: a target is kept when it matches any name and carries every tag."""
    from foreshock.errors import ConfigError

    known = {t.name for t in targets}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ConfigError(f"--target: no target named {', '.join(unknown)} in the targets file")
    out = [t for t in targets if (not names or t.name in names) and all(tag in t.tags for tag in tags)]
    if not out:
        raise ConfigError("no target matches --target/--tag")
    return out
