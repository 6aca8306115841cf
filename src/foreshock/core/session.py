"""The session settings a migration file sets for itself: what is in force when each statement runs.

A file's own `SET` statements change what the server does to the statements after them: `SET timezone`
decides whether timestamp -> timestamptz rewrites the table, `SET lock_timeout` whether a lock request can
queue traffic indefinitely, `SET search_path` which table an unqualified name is. Read here, once, from:

- `SET [SESSION | LOCAL] name {= | TO} value`, `SET TIME ZONE value`, `SET name TO DEFAULT`, `RESET name`,
  `RESET ALL`, `DISCARD ALL`;
- `SELECT set_config('name', 'value', is_local)` as a top-level target (how pg_dump sets search_path).

`SET LOCAL` (and set_config(..., true)) lasts until the transaction ends; outside a transaction block it has
no effect (PostgreSQL only warns). A setting the file does not set is the one configured for the run
(AnalysisSettings: TimeZone UTC by default) -- None here. Each file starts a new session, as migration tools
run each file on a connection whose settings the file cannot count on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from pglast import ast, enums

from foreshock.core.model import NO_SESSION, AnalysisSettings, Session
from foreshock.core.nodes import strings

VSK = enums.VariableSetKind

# The value recorded for a setting set to an expression the model cannot read (PostgreSQL validates it).
UNREADABLE = "?"

# The settings the analysis reads; other names are ignored.
TRACKED = frozenset({"timezone", "lock_timeout", "statement_timeout", "search_path"})


@dataclass(frozen=True, eq=False, repr=False)
class SettingChange:
    """One change a statement makes: value None resets the setting to the run's default."""

    name: str
    value: str | None
    local: bool = False


def settings_for(session: Session, base: AnalysisSettings) -> AnalysisSettings:
    """The run's settings with what the session changes (its TimeZone)."""
    if session.timezone is None:
        return base
    utc = timezone_is_utc(session.timezone)
    return base if utc == base.timezone_utc else replace(base, timezone_utc=utc)


# Patterns compiled when first used (re keeps them): only a file that SETs a session value needs them.
_NUMBER = r"[0-9]+(\.[0-9]*)?"


def timeout_on(value: str | None) -> bool:
    """A timeout value that sets a limit: 0 in any unit ("0", "0ms", "0s") turns the timeout off; a value
    that cannot be read is PostgreSQL's to validate, assumed to set one."""
    if value is None:
        return False
    digits = value.strip().lower().rstrip("abcdefghijklmnopqrstuvwxyz").strip()
    if re.fullmatch(_NUMBER, digits):
        return float(digits) != 0
    return True


# Zones with a fixed UTC offset of zero and no transition in their whole history: the only ones for which
# PostgreSQL 12+ treats timestamp <-> timestamptz as binary-coercible (TimestampTimestampTzRequiresRewrite
# asks pg_get_timezone_offset for a fixed offset equal to 0). Europe/London, Africa/Abidjan and the like had
# other offsets at some time, so they rewrite.
_UTC_ZONES = frozenset(
    {
        "utc",
        "etc/utc",
        "uct",
        "etc/uct",
        "gmt",
        "etc/gmt",
        "gmt0",
        "gmt+0",
        "gmt-0",
        "etc/gmt0",
        "etc/gmt+0",
        "etc/gmt-0",
        "greenwich",
        "etc/greenwich",
        "universal",
        "etc/universal",
        "zulu",
        "etc/zulu",
        "z",
    }
)
_ZERO_OFFSET = r"[+-]?0+(:0+){0,2}(\.0*)?"


def timezone_is_utc(value: str) -> bool:
    text = value.strip().strip("'\"").lower()
    return text in _UTC_ZONES or bool(re.fullmatch(_ZERO_OFFSET, text))


def _const_text(node: Any) -> str | None:
    if isinstance(node, ast.TypeCast):
        node = node.arg
    if not isinstance(node, ast.A_Const) or node.isnull:
        return None
    val = node.val
    for attr in ("sval", "ival", "fval", "boolval"):
        raw = getattr(val, attr, None)
        if raw is not None:
            return str(raw)
    return None


def setting_changes(node: Any) -> Iterator[SettingChange]:
    """The changes to tracked settings one statement makes; RESET ALL / DISCARD ALL reset every one."""
    # Asked of every statement of a file: the kinds that cannot change a setting answer at once.
    if node.__class__ not in _SETTING_NODES:
        return iter(())
    return _setting_changes(node)


def _setting_changes(node: Any) -> Iterator[SettingChange]:
    if isinstance(node, ast.VariableSetStmt):
        if node.kind == VSK.VAR_RESET_ALL:
            yield from (SettingChange(n, None) for n in sorted(TRACKED))
            return
        name = (node.name or "").lower()
        if name not in TRACKED:
            return
        local = bool(node.is_local)
        if node.kind == VSK.VAR_SET_VALUE:
            values = [_const_text(a) for a in node.args or ()]
            if all(v is not None for v in values) and values:
                yield SettingChange(name, ", ".join(v for v in values if v is not None), local)
            else:
                # A value the model cannot read (an expression): PostgreSQL's to validate; keep it as
                # written so a timeout still counts as set.
                yield SettingChange(name, UNREADABLE, local)
        elif node.kind in (VSK.VAR_SET_DEFAULT, VSK.VAR_RESET):
            yield SettingChange(name, None, local)
    elif isinstance(node, ast.DiscardStmt) and node.target == enums.DiscardMode.DISCARD_ALL:
        yield from (SettingChange(n, None) for n in sorted(TRACKED))
    elif isinstance(node, ast.SelectStmt) and node.fromClause is None:
        for rt in node.targetList or ():
            fc = getattr(rt, "val", None)
            if not isinstance(fc, ast.FuncCall) or strings(fc.funcname)[-1:] != ("set_config",):
                continue
            args = list(fc.args or ())
            if len(args) != 3:
                continue
            setting, value, is_local = (_const_text(a) for a in args)
            if setting is None or setting.lower() not in TRACKED:
                continue
            readable = value if value is not None else UNREADABLE
            yield SettingChange(setting.lower(), readable, str(is_local).lower() == "true")


_SETTING_NODES = frozenset({ast.VariableSetStmt, ast.DiscardStmt, ast.SelectStmt})


class SessionTracker:
    """Feeds a file's statements in order; `current` is the session in force for the next statement."""

    def __init__(self) -> None:
        self._session: dict[str, str | None] = {}
        self._local: dict[str, str | None] = {}
        self.current = NO_SESSION

    def apply(self, node: Any, in_transaction: bool) -> None:
        changed = False
        for change in setting_changes(node):
            changed = True
            if change.local:
                if in_transaction:
                    self._local[change.name] = change.value
                continue
            self._session[change.name] = change.value
            # A session-level SET inside a transaction also replaces the transaction's SET LOCAL value.
            self._local.pop(change.name, None)
        if changed:
            self._refresh()

    def end_transaction(self) -> None:
        if self._local:
            self._local = {}
            self._refresh()

    def _refresh(self) -> None:
        values = {**self._session, **self._local}
        self.current = Session(**{k: v for k, v in values.items() if k in TRACKED})
