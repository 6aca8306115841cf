"""The history cache: what a run computed, kept on disk so that the next run over the same history only does
what changed.

Entries are addressed by keys of a hash chain (foreshock.cache.keys): the code and the settings, then every
migration's path and text in run order, so any change invalidates exactly the entries after it. The store
is plain files under the user's cache directory (`$XDG_CACHE_HOME/foreshock`, `--cache-dir`):

- atomic: an entry is written to a temporary file in its directory and renamed into place, so concurrent
  runs never read a partial entry (two runs writing one key write the same bytes);
- checked: every entry carries a digest of its bytes; a corrupt or truncated entry is a miss, removed and
  written again by the run that misses it;
- bounded: when the store grows past its limit, the entries used longest ago are removed (reading an entry
  marks it used).
"""

from __future__ import annotations

import os
import time
import zlib

# Not typing's nor pathlib's: a run with nothing changed reads its answer through this module before anything
# else is imported (foreshock.cache.fast), and those two are most of what it would import.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import pickle
    from pathlib import Path
    from typing import Any

__all__ = ["DEFAULT_LIMIT", "Store", "default_dir"]

# Bumped when what an entry holds changes shape: old entries are then never read again (and pruned).
FORMAT = 4
_MAGIC = b"FSC1"
# A CRC-32 and the length of the payload: enough to tell a torn or damaged file, and cheap on the output
# entries a run with nothing changed reads whole.
_DIGEST = 12
# Default size limit of the store; the oldest entries go first past it.
DEFAULT_LIMIT = 512 * 1024 * 1024
# How often (seconds) a run may walk the store to enforce the limit.
_PRUNE_EVERY = 3600.0
# Errors of unpickling bytes whose digest matched: only an entry written by a foreshock whose classes differ
# (its code fingerprint is in every key, so this is a store shared across Python installs at most); with
# pickle.UnpicklingError, named where pickle is imported (a run with nothing changed never imports it).
_STALE = (AttributeError, ImportError, EOFError, ValueError, TypeError, IndexError)


def default_dir() -> str:
    """$FORESHOCK_CACHE_DIR, else $XDG_CACHE_HOME/foreshock, else ~/.cache/foreshock."""
    explicit = os.environ.get("FORESHOCK_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "foreshock")


def _digest(data: bytes) -> bytes:
    return zlib.crc32(data).to_bytes(4, "little") + len(data).to_bytes(8, "little")


class Store:
    """Entries by (kind, key): bytes or pickled objects. Never raises for a missing, unreadable or corrupt
    entry (a miss), nor for a store it cannot write (the run goes on uncached)."""

    def __init__(self, root: str | os.PathLike[str], limit: int = DEFAULT_LIMIT) -> None:
        self._directory = os.fspath(root)
        # Entries of this cache format: `root` below.
        self.root_dir = os.path.join(self._directory, f"v{FORMAT}")
        self.limit = limit
        self.written = 0

    @property
    def directory(self) -> Path:
        from pathlib import Path

        return Path(self._directory)

    @property
    def root(self) -> Path:
        from pathlib import Path

        return Path(self.root_dir)

    def _path(self, kind: str, key: str) -> str:
        return os.path.join(self.root_dir, kind, key[:2], key)

    def has(self, kind: str, key: str) -> bool:
        return os.path.isfile(self._path(kind, key))

    def read(self, kind: str, key: str) -> bytes | None:
        path = self._path(kind, key)
        try:
            with open(path, "rb") as fh:
                # The head apart: the payload is then read as it is returned (an output is megabytes).
                head = fh.read(len(_MAGIC) + _DIGEST)
                data = fh.read()
        except OSError:
            return None
        if head[: len(_MAGIC)] != _MAGIC or _digest(data) != head[len(_MAGIC) :]:
            self._drop(path)
            return None
        # used now: pruning removes the entries used longest ago (not contextlib.suppress: see the imports)
        try:  # noqa: SIM105
            os.utime(path)
        except OSError:
            pass
        return data

    def write(self, kind: str, key: str, data: bytes) -> None:
        path = self._path(kind, key)
        tmp = os.path.join(os.path.dirname(path), f".tmp-{os.getpid()}-{os.urandom(6).hex()}")
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_MAGIC + _digest(data))
                fh.write(data)  # not joined to the head: a run's kept output is megabytes
            os.replace(tmp, path)
            self.written += len(data)
        except OSError:
            self._drop(tmp)

    def load(self, kind: str, key: str) -> Any:
        """The object stored under (kind, key), or None."""
        data = self.read(kind, key)
        if data is None:
            return None
        import pickle

        try:
            return pickle.loads(data)
        except (pickle.UnpicklingError, *_STALE):
            self._drop(self._path(kind, key))
            return None

    def save(self, kind: str, key: str, obj: Any, pickler: type[pickle.Pickler] | None = None) -> None:
        import pickle

        if pickler is None:
            data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        else:
            import io

            buf = io.BytesIO()
            pickler(buf, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
            data = buf.getvalue()
        self.write(kind, key, data)

    def _drop(self, path: str | os.PathLike[str]) -> None:
        try:  # noqa: SIM105
            os.unlink(path)
        except OSError:
            pass

    def prune(self, *, force: bool = False) -> int:
        """Keep the store under its limit, removing the entries used longest ago; walks the store at most
        once an hour (or when forced). Returns the bytes removed."""
        stamp = self.root / ".pruned"
        try:
            if not force and time.time() - stamp.stat().st_mtime < _PRUNE_EVERY:
                return 0
        except OSError:
            pass
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            stamp.touch()
        except OSError:
            return 0
        import shutil

        for old in self.directory.glob("v*"):
            if old != self.root and old.name[1:].isdigit():
                # Entries of another cache format: never read again by this foreshock.
                shutil.rmtree(old, ignore_errors=True)
        entries: list[tuple[float, int, str]] = []
        total = 0
        for directory, _dirs, files in os.walk(self.root):
            for name in files:
                if name == ".pruned":
                    continue
                full = os.path.join(directory, name)
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                stale_tmp = name.startswith(".tmp-") and time.time() - st.st_mtime > _PRUNE_EVERY
                if stale_tmp:
                    self._drop(full)
                    continue
                entries.append((st.st_mtime, st.st_size, full))
                total += st.st_size
        removed = 0
        if total <= self.limit:
            return 0
        for _mtime, size, full in sorted(entries):
            self._drop(full)
            removed += size
            if total - removed <= self.limit * 0.8:
                break
        return removed
