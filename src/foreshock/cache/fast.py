"""A `check` with nothing changed, answered from the history cache before anything else is imported.

A run whose output is kept (`gcc`, `github`, `json`, `sarif` through the cache) also keeps how to tell,
with the standard library only, that the next run with the same command line would print the same:

    command = H(this module's format, Python, the command line, the working directory, FORESHOCK_* variables)
    manifest[command] = every input the run read: the files it opened, the directories it listed, and the
                        names the sources look for above them (pyproject.toml, manage.py, sqitch.plan, ...);
                        the state of those directories and names on its own (a new migration is a miss
                        before any file is read); the key of the shares its report is made of, if it is
                        (foreshock.cache.shares: read on another thread while such a run starts up); the
                        key of the latest schema snapshot in its history (restored by a helper process while
                        such a run finds its migrations: foreshock.analysis)
    fasto[H(command, foreshock's and pglast's code, the current state of every input in the manifest)]
        = the key of the run's output entry: (stdout, or where the shares keep it; stderr; exit code)

The inputs are found by watching the run (an audit hook: `open`, `os.listdir`, `os.scandir`), not by
re-deriving what the sources read, so a layout that reads one more file is covered without a change here.
Files are compared by content, directories by their entries, probed names by whether they exist and are a
file or a directory; foreshock's and pglast's code as every other cache key does (foreshock.cache.ident).

The entry point (`foreshock.__main__`) reads the manifest for its command line, hashes the inputs it names
and prints the stored output when the whole key matches; anything else - no manifest, any input changed,
an option whose effect is not a file (--since, --dsn, --fleet...), a framework project - is the normal
run. The output is what the normal run printed, byte for byte, with its exit code.

What no hook sees is a file's existence checked without reading it or listing its directory (`isfile`):
the sources do that only for the names in PROBED, in a directory's ancestors; a source that probes for
another name above a directory adds it there (tests/test_cache.py creates each of them above a warm run).
"""

from __future__ import annotations

import marshal
import os
import sys

from foreshock.cache import Store, default_dir, shares
from foreshock.cache.ident import code_fingerprint, digest, package_dir
from foreshock.cache.shares import join

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import IO, Any

__all__ = [
    "PROBED", "Recorder", "command_key", "lookup", "probe", "read", "read_output", "record", "replay",
    "save", "write_output",
]

MANIFEST, OUTPUT = "fastm", "fasto"
# A run's whole output, kept by the normal run under a key of everything it depends on (the CLI's, computed
# after the inputs are read); the fast path's OUTPUT entry names it.
OUTPUT_ENTRY = "output"
# Bumped when the manifest, the output entry or what the key covers change.
_VERSION = "fast-3"
# Names the sources check for by existence alone, in the ancestors of what they read: the configuration
# (pyproject.toml), the kind of a project (manage.py, alembic.ini, env.py), and the layouts that look above
# their directory (sqitch, refinery's Cargo.toml, synapse's schema root).
PROBED = (
    "pyproject.toml",
    "manage.py",
    "alembic.ini",
    "env.py",
    "sqitch.plan",
    "sqitch.conf",
    "Cargo.toml",
    "delta",
    os.path.join("common", "delta"),
    "full_schemas",
)
# Options whose effect is not read from a file, so no manifest can vouch for it.
_UNWATCHED = ("--since", "--dsn", "--fleet", "--stats-dir", "--alembic-config", "--sandbox-dsn")


def store_dir(argv: Sequence[str]) -> str | None:
    """The store a `check` with these arguments uses when it is cached; None for any other command and
    with --no-cache. (A value of another option that looks like one of these only makes a miss.)"""
    if not argv or argv[0] != "check":
        return None
    cache_dir = ""
    for i, arg in enumerate(argv):
        if arg == "--no-cache" or arg in ("-h", "--help"):
            return None
        if arg == "--cache-dir" and i + 1 < len(argv):
            cache_dir = argv[i + 1]
        elif arg.startswith("--cache-dir="):
            cache_dir = arg.partition("=")[2]
    return cache_dir or default_dir()


def command_key(argv: Sequence[str]) -> str:
    """Everything of the command itself an output depends on: the arguments, where it runs, the
    FORESHOCK_* variables, the interpreter."""
    env = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("FORESHOCK_"))
    return digest(_VERSION, sys.version, sys.prefix, os.getcwd(), repr(list(argv)), repr(env))


Signature = tuple[int, int, int, int] | None


def _signature(path: str) -> Signature:
    try:
        st = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL in the name, which the open itself reports
        return None
    return st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino


def _places(dirs: Sequence[str], probes: Sequence[str]) -> str:
    """The state of a manifest's directories (their entries) and probed names (file, directory or absent),
    as one digest: told apart without reading a file (a new migration changes its directory's entries)."""
    parts: list[bytes | str] = []
    for path in dirs:
        try:
            with os.scandir(path) as it:
                names = sorted(e.name + ("/" if e.is_dir() else "") for e in it)
            parts += ("+", "\0".join(names))
        except OSError:
            parts.append("-")
    for path in probes:
        try:
            parts.append(str(os.stat(path).st_mode >> 12))
        except OSError:
            parts.append("-")
    return digest(*parts)


def _state(places: str, files: Sequence[str], read: dict[str, tuple[Signature, bytes]] | None = None) -> str:
    """The current state of a manifest's inputs, as one digest: its places', then each file's content
    (tagged: a file that cannot be read is never taken for one whose text is a marker). `read`: what the
    run read of some of them, used while their signature is the one they had then."""
    parts: list[bytes | str] = [places]
    for path in files:
        kept = read.get(path) if read is not None else None
        if kept is not None and kept[0] is not None and kept[0] == _signature(path):
            parts += ("+", digest(kept[1]))
            continue
        try:
            with open(path, "rb") as fh:
                parts += ("+", digest(fh.read()))
        except OSError:
            parts.append("-")
    return digest(*parts)


def _ancestors(paths: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for path in paths:
        here = path
        while here not in out:
            out.add(here)
            up = os.path.dirname(here)
            if up == here:
                break
            here = up
    return out


class Recorder:
    """What a run reads, watched while it runs: files opened for reading and directories listed (with
    their signature when first seen)."""

    def __init__(self) -> None:
        self._exclude: tuple[str, ...] = ()
        self._unlisted: set[str] = set()
        self.files: dict[str, tuple[int, int, int, int] | None] = {}
        self.dirs: dict[str, tuple[int, int, int, int] | None] = {}
        # Something was read that no manifest can name (a directory by descriptor) or written outside the
        # store: such a run is not kept for the fast path.
        self.tainted = False
        # path -> (its signature, the bytes the run read): files the sources hand over as they read them
        # (`read`), not read again to key the run's answer.
        self.read: dict[str, tuple[Signature, bytes]] = {}
        # Paths the sources looked at by existence alone (`probe`): a migration its tool names but whose
        # file is missing, which a run answered from here must see appear.
        self.probed: set[str] = set()
        # The key of the latest schema snapshot in the run's history (`snapshot`); "" when none is known.
        self.snapshot = ""

    def exclude(self, store: Store) -> None:
        """Not watched from now on, nor kept: the store's entries (what is under its root), and the store's
        own directory listed (pruning looks for other formats' roots there; the directory may be the one
        the migrations are in, so only its listing is left out)."""
        for path in {os.path.abspath(store.root_dir), os.path.realpath(store.root_dir)}:
            self._exclude += (path.rstrip(os.sep) + os.sep,)
        self._unlisted |= {os.path.abspath(store.directory), os.path.realpath(store.directory)}
        self.files = {p: s for p, s in self.files.items() if not p.startswith(self._exclude)}
        self.dirs = {p: s for p, s in self.dirs.items() if not self._excluded_dir(p)}

    def _excluded_dir(self, path: str) -> bool:
        return path in self._unlisted or (path + os.sep).startswith(self._exclude)

    def event(self, event: str, args: tuple[Any, ...]) -> None:
        if not args:
            self.tainted = True  # an event of a shape this module does not know: nothing to vouch for
        elif event == "open":
            target, mode, flags = (*args, None, None)[:3]
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND)
            )
            self._seen(target, self.files, writes)
        elif event in ("os.listdir", "os.scandir"):
            self._seen(args[0] if args[0] is not None else ".", self.dirs, False)

    def _seen(self, target: Any, into: dict[str, tuple[int, int, int, int] | None], writes: bool) -> None:
        if isinstance(target, int):
            if into is self.dirs:
                self.tainted = True
            return  # a file descriptor: what it was opened from was seen then
        try:
            path = os.path.abspath(os.fsdecode(target))
        except TypeError:
            self.tainted = True
            return
        if path.startswith(self._exclude) or (into is self.dirs and self._excluded_dir(path)):
            return
        if writes:
            self.tainted = True
        elif path not in into:
            into[path] = _signature(path)


_current: list[Recorder] = []
_hooked = False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _current or event not in _WATCHED:
        return
    # Not what imports read or list (modules, and the directories they are looked for in): the code, not
    # the inputs. The frame that made the call is the import system's own.
    try:
        caller = sys._getframe(1).f_code.co_filename
    except ValueError:  # called from C with no Python frame above
        caller = ""
    if not caller.startswith(_IMPORTS):
        _current[-1].event(event, args)


_WATCHED = frozenset(("open", "os.listdir", "os.scandir"))
_IMPORTS = ("<frozen importlib", "<frozen zipimport")


def record() -> Recorder:
    """Start watching what this run reads (until `save` or `stop`). One audit hook serves every run of the
    process: hooks cannot be removed, so in-process runs (tests) do not pile them up."""
    global _hooked
    if not _hooked:
        sys.addaudithook(_hook)
        _hooked = True
    recorder = Recorder()
    _current.append(recorder)
    return recorder


def read(path: str, st: os.stat_result, data: bytes) -> None:
    """The bytes of a file a run's sources read whole, and the file's signature then (os.fstat of the file
    read): keeping the run's answer digests them instead of reading the file again."""
    if _current:
        signature = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)
        _current[-1].read[os.path.abspath(path)] = (signature, data)


def probe(path: str) -> None:
    """A path the run's sources looked at by existence alone, outside PROBED (a migration its tool names
    whose file is missing): the answer kept for the run holds whether it is there."""
    if _current:
        _current[-1].probed.add(os.path.abspath(path))


def snapshot(key: str) -> None:
    """The key of the latest schema snapshot in this run's history (the one it restored or kept): a run over
    the same history and more restores it in a helper process while it starts (foreshock.analysis)."""
    if _current:
        _current[-1].snapshot = key


def stop(recorder: Recorder) -> None:
    if recorder in _current:
        _current.remove(recorder)


def encoded(out: str) -> str | bytes:
    """A run's stdout as kept and written: UTF-8 bytes, encoded once here (a history's report is megabytes:
    encoding it for the entry and again for the terminal was a tenth of a warm run); the text itself when
    it does not encode strictly (a file name's undecodable bytes), for the stream to handle as it would."""
    try:
        return out.encode("utf-8")
    except UnicodeEncodeError:
        return out


def emit(stream: IO[str], out: Text) -> None:
    """Write `out` (as `encoded` gives it, or pieces of it) to a text stream exactly as stream.write(the
    text) would: the bytes straight to its buffer when the stream would have made the same bytes (it
    encodes UTF-8 without newline translation; its error handler never comes into it, the text having
    encoded strictly), else the text."""
    pieces = out if isinstance(out, list) else [out]
    if all(isinstance(p, bytes) for p in pieces):
        buffer = getattr(stream, "buffer", None)
        utf8 = (getattr(stream, "encoding", None) or "").lower().replace("_", "-") in ("utf-8", "utf8")
        if buffer is not None and utf8 and os.linesep == "\n":
            stream.flush()
            for piece in pieces:
                buffer.write(piece)
            return
    text = join(pieces)
    stream.write(text.decode("utf-8") if isinstance(text, bytes) else text)


# A run's stdout as `encoded` gives it, or in pieces (a list: a history's report is megabytes, written as
# it is kept, not joined first).
Text = str | bytes | list[str | bytes]
# stdout, stderr, exit code.
Output = tuple[Text, str, int]
# stdout where it is kept already: (the key of a report's per-file shares (foreshock.cache.shares), what
# follows their lines).
Joined = tuple[str, str | bytes]


def write_output(store: Store, key: str, kept: Output, joined: Joined | None = None) -> None:
    """A run's whole output under `key` (marshal: read back without pickle); with `joined`, its stdout is
    not written again but read from there (a history's report is megabytes, written once)."""
    out = kept[0] if joined is None else joined
    store.write(OUTPUT_ENTRY, key, marshal.dumps((join(out) if isinstance(out, list) else out, *kept[1:])))


def read_output(store: Store, key: str) -> Output | None:
    kept = _unmarshal(store.read(OUTPUT_ENTRY, key))
    if not (isinstance(kept, tuple) and len(kept) == 3):
        return None
    out, err, code = kept
    if isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], str):
        out = _joined(store, *out)
    if not (isinstance(out, str | bytes | list) and isinstance(err, str) and isinstance(code, int)):
        return None
    return out, err, code


def _joined(store: Store, parts_key: str, tail: object) -> list[str | bytes] | None:
    kept = shares.read(store, parts_key)
    if kept is None or not isinstance(tail, str | bytes):
        return None
    return [*kept[2], tail]


def save(
    store: Store, argv: Sequence[str], recorder: Recorder, output: str, paths: Sequence[str] = ()
) -> bool:
    """Point the fast path at the run's output kept under `output` (write_output), with the manifest of
    what the run read and of the command's `paths` (whether each is a file, a directory or absent: a path
    that did not exist was only looked at); nothing when the run read something a manifest cannot name or an
    input changed while it ran. True when kept."""
    stop(recorder)
    recorder.exclude(store)
    if recorder.tainted:
        return False
    # foreshock's and pglast's files (their data) are covered by the code's fingerprint.
    code = tuple(d + os.sep for d in (package_dir("foreshock"), package_dir("pglast")) if d)
    files = {p: s for p, s in recorder.files.items() if not p.startswith(code)}
    dirs = {p: s for p, s in recorder.dirs.items() if not (p + os.sep).startswith(code)}
    if any(_signature(p) != sig for p, sig in (*files.items(), *dirs.items())):
        return False
    above = _ancestors([os.getcwd(), *dirs, *{os.path.dirname(p) for p in files}])
    probes = {os.path.join(a, name) for a in above for name in PROBED} | {os.path.abspath(p) for p in paths}
    probes |= recorder.probed
    files_read = sorted(files)
    places = _places(sorted(dirs), sorted(probes))
    # The shares the output's report is made of (foreshock.cache.shares), if it is: a run that finds a new
    # migration in a directory starts with them (a run over the same history and more) while it starts up.
    kept = _unmarshal(store.read(OUTPUT_ENTRY, output))
    joined = kept[0] if isinstance(kept, tuple) and len(kept) == 3 else None
    parts = joined[0] if isinstance(joined, tuple) and len(joined) == 2 and isinstance(joined[0], str) else ""
    manifest = (files_read, sorted(dirs), sorted(probes), places, parts, recorder.snapshot)
    command = command_key(argv)
    key = digest(command, code_fingerprint(), _state(places, files_read, recorder.read))
    store.write(OUTPUT, key, marshal.dumps(output))
    store.write(MANIFEST, command, marshal.dumps(manifest))
    return True


# (store root, shares key, the thread reading them, [what it read]) of the one prefetch a process makes.
_PREFETCH: list[tuple[str, str, Any, list[Any]]] = []
# (store root, key of a schema snapshot) the lookup of this process found (`warm_snapshot`).
_SNAPSHOT: list[tuple[str, str]] = []


def _prefetch(store: Store, key: str) -> None:
    """Read the shares under `key` on another thread while the run starts up: the read is the disk's and
    zlib's work (both release the interpreter lock), megabytes for a long history. `prefetched` hands them
    over; anything the thread meets makes it hand over nothing (the run reads them itself)."""
    import threading

    from foreshock.cache import shares

    got: list[Any] = []

    def read() -> None:
        try:
            got.append(shares.read(store, key))
        except Exception:  # the run reads them again itself, and meets it there
            got.append(None)

    thread = threading.Thread(target=read, name="foreshock-prefetch", daemon=True)
    thread.start()
    _PREFETCH[:] = [(store.root_dir, key, thread, got)]


def prefetched(store: Store, key: str) -> Any:
    """What the prefetch read of the shares under `key` (foreshock.cache.shares.read's answer), waiting
    for it; None when no prefetch was for them (or it met anything)."""
    if not _PREFETCH:
        return None
    root, wanted, thread, got = _PREFETCH[0]
    if (root, wanted) != (store.root_dir, key):
        return None
    del _PREFETCH[:]
    thread.join()
    return got[0] if got else None


def warm_snapshot(store: Store) -> str | None:
    """The key of the schema snapshot that the run which kept this command's output restored or kept (the
    one a run over the same history and more starts from), when this process's lookup found the history
    changed (most often: a new migration); once per process."""
    if not _SNAPSHOT or _SNAPSHOT[0][0] != store.root_dir:
        return None
    return _SNAPSHOT.pop()[1]


def _idle_core() -> bool:
    """Whether a core is idle now: fewer tasks are running (this one among them) than this process may run
    on (Linux's /proc/loadavg; elsewhere, whether there is more than one core). A helper process pays only
    on an idle core: on a busy machine it would only add the cost of forking."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with open("/proc/loadavg", "rb") as fh:
            running = int(fh.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        running = 1
    return running < cores


def settle_prefetch() -> None:
    """Wait for the prefetch's thread to end (what it read stays for `prefetched`): before this process
    forks, no other thread runs."""
    if _PREFETCH:
        _PREFETCH[0][2].join()


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def lookup(argv: Sequence[str]) -> Output | None:
    """The kept (stdout, stderr, exit code) of this command line when nothing it depends on changed; None:
    run normally."""
    root = store_dir(argv)
    if root is None or any(arg.partition("=")[0] in _UNWATCHED for arg in argv):
        return None
    store = Store(root)
    command = command_key(argv)
    manifest = _unmarshal(store.read(MANIFEST, command))
    if not (
        isinstance(manifest, tuple)
        and len(manifest) == 6
        and all(_strings(m) for m in manifest[:3])
        and all(isinstance(m, str) for m in manifest[3:])
    ):
        return None
    files, dirs, probes, places, parts, schema = manifest
    if _places(dirs, probes) != places:
        # A directory's entries or a probed name changed (no file need be read to know): most often a new
        # migration after the history the kept report covers, whose shares the run will read, and whose
        # schema snapshot it will restore.
        # Whether a core is idle is asked before the read-ahead's thread starts (it would count itself).
        if schema and _idle_core():
            _SNAPSHOT[:] = [(store.root_dir, schema)]
        if parts:
            _prefetch(store, parts)
        return None
    output = _unmarshal(store.read(OUTPUT, digest(command, code_fingerprint(), _state(places, files))))
    return read_output(store, output) if isinstance(output, str) else None


def replay(argv: Sequence[str], stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int | None:
    """Print the kept output of this command line (`lookup`) as the normal run does: stderr first; its exit
    code, or None (run normally)."""
    kept = lookup(argv)
    if kept is None:
        return None
    out, err, code = kept
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    stderr.write(err)
    stderr.flush()
    emit(stdout, out)
    return code


def _unmarshal(data: bytes | None) -> object:
    if data is None:
        return None
    try:
        return marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return None
