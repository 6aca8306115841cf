"""The hash chain that addresses the cache: what a result depends on, in order.

    base = H(cache format, foreshock's code, pglast, Python, the settings, the schema history)
    key[i] = H(key[i-1], migration i: path, text, how it runs)

A change anywhere changes the key of everything after it, and nothing before it.

The digest and the code's identity live in foreshock.cache.ident (standard library only: a run with nothing
changed computes them before importing anything else).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from foreshock.cache.ident import code_fingerprint, digest
from foreshock.core.model import MigrationUnit

__all__ = [
    "base_key",
    "chain",
    "code_fingerprint",
    "digest",
    "settings_fingerprint",
    "text_digest",
    "unit_fingerprint",
]


def settings_fingerprint(settings: Any) -> str:
    """What of config.Settings the analysis and the rule engine read: the analysis settings, the rules
    enabled and disabled, configured severities, and the deployment of each path (which rules run on it,
    and the window it is judged against)."""
    enabled = getattr(settings, "enabled_rules", None)
    return repr(
        (
            getattr(settings, "analysis", None),
            None if enabled is None else sorted(enabled),
            sorted(getattr(settings, "disabled_rules", ()) or ()),
            sorted((getattr(settings, "severities", None) or {}).items()),
            getattr(settings, "deployment", None),
        )
    )


def unit_fingerprint(unit: MigrationUnit) -> str:
    """Everything of a unit the analysis reads except its text (hashed on its own)."""
    line_map = sorted(unit.line_map.items()) if unit.line_map is not None else None
    return repr(
        (unit.path, unit.name, unit.transactional, unit.history, unit.migration_lines, line_map, unit.opaque)
    )


def text_digest(text: str) -> str:
    """The digest of a migration's text, made once per text in a process: a run keys its history more than
    once (the chain, the whole output's key), and a history's texts are megabytes."""
    known = _TEXTS.get(text)
    if known is None:
        if len(_TEXTS) >= _TEXTS_KEPT:
            _TEXTS.clear()
        known = _TEXTS[text] = digest(text)
    return known


# text -> its digest (a str's own hash, which the lookup takes, is computed once per str object).
_TEXTS: dict[str, str] = {}
_TEXTS_KEPT = 100_000


def base_key(kind: str, settings: Any, history: Iterable[MigrationUnit] = ()) -> str:
    parts = [kind, code_fingerprint(), settings_fingerprint(settings)]
    for unit in history:
        parts += [unit_fingerprint(unit), text_digest(unit.text)]
    return digest(*parts)


def chain(base: str, units: Sequence[MigrationUnit]) -> list[str]:
    """key[i] for every unit: the base, then each unit in order."""
    keys: list[str] = []
    key = base
    for unit in units:
        key = digest(key, unit_fingerprint(unit), text_digest(unit.text))
        keys.append(key)
    return keys
