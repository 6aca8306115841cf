"""What every cache key starts from, with the standard library only: the digest, and the identity of the
code that computed an entry.

A run with nothing changed answers from the cache before anything else of foreshock is imported
(foreshock.cache.fast), so this module imports nothing of foreshock's but the package itself.

foreshock's code is fingerprinted by the size and modification time of every file of the installed
package, not only its version: a development checkout (an editable install, whose files change without a
reinstall) or an upgrade that keeps the version must not read entries an older analysis wrote. A wheel's
files get new modification times when it is installed, so an upgrade is seen either way.
"""

from __future__ import annotations

import os
import sys

try:
    # The digest foreshock's keys use; hashlib would import OpenSSL's bindings first (a few ms at start-up).
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - an interpreter without the builtin module
    from hashlib import blake2b

_SIZE = 20
# The extensions of the files that make up a package's code and data.
_CODE = (".py", ".json", ".toml", ".so", ".pyd")


def digest(*parts: bytes | str) -> str:
    h = blake2b(digest_size=_SIZE)
    for p in parts:
        data = p.encode("utf-8", "surrogatepass") if isinstance(p, str) else p
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


# code_fingerprint's answer, once per process (not functools.lru_cache: importing functools is most of what
# a run answered from the cache would import).
_CODE_FINGERPRINT: list[str] = []


def code_fingerprint() -> str:
    """foreshock's code and pglast's (every file of both packages, by size and modification time) and
    Python's version."""
    if not _CODE_FINGERPRINT:
        _CODE_FINGERPRINT.append(_code_fingerprint())
    return _CODE_FINGERPRINT[0]


def _code_fingerprint() -> str:
    import foreshock

    parts = [foreshock.__version__, sys.version]
    parts += _files(os.path.dirname(os.path.abspath(foreshock.__file__)))
    # pglast is fingerprinted by its files too: importing it to ask its version costs more than this.
    where = package_dir("pglast")
    if where is not None:
        parts += _files(where)
    return digest(*parts)


def package_dir(name: str) -> str | None:
    """Where `import name` loads the package from, without importing it: the first sys.path entry holding
    it, as the import system's path search finds it; else (an install through an import hook) the import
    system's own answer, which costs a few ms more to ask."""
    loaded = getattr(sys.modules.get(name), "__file__", None)
    if isinstance(loaded, str):
        return os.path.dirname(os.path.abspath(loaded))
    for entry in sys.path:
        candidate = os.path.join(entry or os.curdir, name)
        if os.path.isfile(os.path.join(candidate, "__init__.py")):
            return os.path.abspath(candidate)
    import importlib.util

    spec = importlib.util.find_spec(name)
    return os.path.dirname(spec.origin) if spec is not None and spec.origin else None


def _files(package: str) -> list[str]:
    seen: list[str] = []
    # Every path os.walk gives is under `package`: its relative part by slicing (os.path.relpath was half
    # of the fingerprint's time, which every run pays).
    skip = len(os.path.join(package, ""))
    for directory, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(_CODE):
                full = os.path.join(directory, name)
                st = os.stat(full)
                seen.append(f"{full[skip:]}:{st.st_size}:{st.st_mtime_ns}")
    return seen
