"""The records' generated methods, compiled once and kept beside the package's bytecode.

dataclasses makes every generated method (__init__, __eq__, __repr__, a frozen record's __setattr__, ...) by
exec() of source text it writes for the class; compiling that text is most of what creating foreshock's record
classes costs, a sixth of a one-statement check. The same class definition always yields the same text, so
the code compiled from it is kept, keyed by that exact text and the compiler flags it was compiled with (an
entry can never be stale: changed code is a different key), in one marshal file per Python, next to this
module's bytecode the way Python keeps .pyc files (its __pycache__, or under sys.pycache_prefix):

    __pycache__/dataclass-methods.<cache tag>  =  marshal((magic, bytecode magic, generation,
                                                  {(source, flags): (marshalled code, generation last used)}))

`install()` (the command-line entry point, before any record is imported) gives the dataclasses module a
global named `exec` that dataclasses then calls instead of the builtin: a source text exec'd into the
namespace of one of foreshock's own modules is looked up there (compiled and remembered on a miss); anything
else is compiled exactly as the builtin would have done. `save()` (as the process ends) writes the file again
only when something was compiled: atomically (a temporary file renamed into place: concurrent runs each write
a whole file, the last one wins), never under sys.dont_write_bytecode, and never failing the run (a read-only
install has no file). A file that cannot be read back, of another format or another bytecode, is ignored and
replaced. Entries not used by the last _KEEP writes are dropped, so the keys of older code do not pile up.

A Python whose dataclasses stops calling exec with source text (or calls it by another name) only loses the
saving: the builtin then does what it always did.
"""

from __future__ import annotations
import __future__

import dataclasses
import importlib.util
import marshal
import os
import sys
import types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# What identifies this file's format; the second field of the header is the interpreter's bytecode magic, so
# a file written by another Python build is never read.
_MAGIC = "foreshock-dataclass-methods-1"
# Entries unused by this many writes in a row are dropped when the file is written next.
_KEEP = 8
# The compiler flags a `from __future__` import sets: what builtin exec() takes over from the code calling
# it, so the code compiled here is compiled with those of dataclasses' own frame, as it would have been.
# (Not nested scopes': a flag of every nested function's code, not a future import.)
_FUTURE = 0
for _name in __future__.all_feature_names:
    _FUTURE |= getattr(__future__, _name).compiler_flag
_FUTURE &= ~__future__.nested_scopes.compiler_flag

_EXEC = exec
_Key = tuple[str, int]


class _Codes:
    """The kept code of this process: what the file held, what this run used of it and compiled anew."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.generation = 0
        self.kept: dict[_Key, tuple[bytes, int]] = {}
        self.used: set[_Key] = set()
        self.compiled: dict[_Key, bytes] = {}
        if path is not None:
            self._read(path)

    def _read(self, path: str) -> None:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            loaded = marshal.loads(data)
        except (OSError, EOFError, ValueError, TypeError):
            return  # none yet, unreadable, truncated or damaged: every method compiled, the file rewritten
        if not (type(loaded) is tuple and len(loaded) == 4 and loaded[0] == _MAGIC
                and loaded[1] == importlib.util.MAGIC_NUMBER and type(loaded[2]) is int
                and type(loaded[3]) is dict):
            return
        self.generation = loaded[2]
        self.kept = loaded[3]

    def code(self, source: str, flags: int) -> types.CodeType:
        key = (source, flags)
        entry = self.kept.get(key)
        if type(entry) is tuple and len(entry) == 2 and type(entry[0]) is bytes:
            try:
                kept = marshal.loads(entry[0])
            except (EOFError, ValueError, TypeError):
                kept = None
            if isinstance(kept, types.CodeType):
                self.used.add(key)
                return kept
        code: types.CodeType = compile(source, "<string>", "exec", flags, dont_inherit=True)
        self.compiled[key] = marshal.dumps(code)
        return code

    def save(self) -> None:
        if self.path is None or not self.compiled or sys.dont_write_bytecode:
            return
        generation = self.generation + 1
        entries: dict[_Key, tuple[bytes, int]] = {}
        for key, entry in self.kept.items():
            if type(entry) is not tuple or len(entry) != 2 or type(entry[0]) is not bytes \
                    or type(entry[1]) is not int:
                continue  # not an entry this module writes: dropped
            if key in self.used:
                entries[key] = (entry[0], generation)
            elif generation - entry[1] <= _KEEP:
                entries[key] = entry
        entries.update((key, (code, generation)) for key, code in self.compiled.items())
        data = marshal.dumps((_MAGIC, importlib.util.MAGIC_NUMBER, generation, entries))
        directory = os.path.dirname(self.path)
        tmp = f"{self.path}.{os.getpid()}-{os.urandom(4).hex()}.tmp"
        try:
            os.makedirs(directory, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, self.path)
        except OSError:
            try:  # noqa: SIM105 (contextlib is not imported by a check otherwise)
                os.unlink(tmp)
            except OSError:
                pass
        else:
            self.kept, self.used, self.compiled, self.generation = entries, set(), {}, generation


_codes: _Codes | None = None


def default_path() -> str | None:
    """The file beside this module's bytecode (None where Python keeps no bytecode for it)."""
    spec = globals().get("__spec__")
    cached = getattr(spec, "cached", None)
    tag = sys.implementation.cache_tag
    if not isinstance(cached, str) or tag is None:
        return None
    return os.path.join(os.path.dirname(cached), f"dataclass-methods.{tag}")


def _ours(namespace: object) -> bool:
    if type(namespace) is not dict:
        return False
    name = namespace.get("__name__")
    return type(name) is str and (name == "foreshock" or name.startswith("foreshock."))


def _exec(source: Any, globals: Any = None, locals: Any = None, /, *args: Any, **kwargs: Any) -> None:
    """exec() as dataclasses calls it: the builtin's behaviour, with foreshock's methods' code kept."""
    if type(source) is not str:
        return _EXEC(source, globals, locals, *args, **kwargs)
    frame = sys._getframe(1)
    if globals is None:  # the builtin runs it in its caller's namespace: the caller is one frame further out
        globals = frame.f_globals
        if locals is None:
            locals = frame.f_locals
    flags = frame.f_code.co_flags & _FUTURE
    if _codes is not None and _ours(globals):
        code = _codes.code(source, flags)
    else:
        code = compile(source, "<string>", "exec", flags, dont_inherit=True)
    return _EXEC(code, globals, locals, *args, **kwargs)


def install(path: str | None = None) -> None:
    """Give dataclasses the kept code of foreshock's records (the file at `path`, default `default_path()`).
    Call before the records are imported; a second call, or a dataclasses module with its own `exec`, is a
    no-op."""
    global _codes
    if _codes is not None or "exec" in vars(dataclasses):
        return
    _codes = _Codes(default_path() if path is None else path)
    dataclasses.exec = _exec  # type: ignore[attr-defined]


def save() -> None:
    """Write the file if this process compiled methods the file did not hold."""
    if _codes is not None:
        _codes.save()

