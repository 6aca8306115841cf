"""The hash chain that addresses the cache: what a result depends on, in order.

    base = H(cache format, foreshock's code, pglast, Python, the settings, the schema history)
    key[i] = H(key[i-1], migration i: path, text, how it runs)

A change anywhere changes the key of everything after it, and nothing before it.

foreshock's code is fingerprinted by the size and modification time of every file of the installed
package, not only its version: a development checkout (or an upgrade that keeps the version) must not
read entries an older analysis wrote.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from foreshock.core.model import MigrationUnit

_SIZE = 20


def digest(*parts: bytes | str) -> str:
    h = hashlib.blake2b(digest_size=_SIZE)
    for p in parts:
        data = p.encode("utf-8", "surrogatepass") if isinstance(p, str) else p
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """foreshock's code and pglast's (every file of both packages, by size and modification time) and
    Python's version."""
    import foreshock

    parts = [foreshock.__version__, sys.version]
    parts += _files(os.path.dirname(os.path.abspath(foreshock.__file__)))
    # pglast is fingerprinted by its files too: importing it to ask its version costs more than this.
    spec = importlib.util.find_spec("pglast")
    if spec is not None and spec.origin:
        parts += _files(os.path.dirname(spec.origin))
    return digest(*parts)


def _files(package: str) -> list[str]:
    seen: list[str] = []
    for directory, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".py", ".json", ".toml", ".so", ".pyd")):
                st = os.stat(os.path.join(directory, name))
                rel = os.path.relpath(os.path.join(directory, name), package)
                seen.append(f"{rel}:{st.st_size}:{st.st_mtime_ns}")
    return seen


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


def base_key(kind: str, settings: Any, history: Iterable[MigrationUnit] = ()) -> str:
    parts = [kind, code_fingerprint(), settings_fingerprint(settings)]
    for unit in history:
        parts += [unit_fingerprint(unit), unit.text]
    return digest(*parts)


def chain(base: str, units: Sequence[MigrationUnit]) -> list[str]:
    """key[i] for every unit: the base, then each unit in order."""
    keys: list[str] = []
    key = base
    for unit in units:
        key = digest(key, unit_fingerprint(unit), unit.text)
        keys.append(key)
    return keys
