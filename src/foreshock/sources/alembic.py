"""Alembic projects: each revision rendered to SQL in offline mode, one revision at a time.

The project's own env.py runs (exactly as `alembic upgrade A:B --sql` would), so its `context.configure()`
options decide the output: transaction_per_migration, transactional_ddl, literal_binds, the version table.
The rendered text keeps the BEGIN/COMMIT Alembic writes, including the COMMIT ... BEGIN pair around an
`autocommit_block()`, so statements inside that block are seen running outside any transaction - which is
what the server will do. Units are therefore `transactional=False`: the text says where transactions are.

Every piece of SQL Alembic writes goes through the output buffer, synchronously, from inside the `op.*` call
that produced it; the buffer looks up the calling frame in the revision module to map the SQL to that line.
Statements on the version table are dropped: they are Alembic's bookkeeping, not the team's migration.
"""

from __future__ import annotations

import io
import os
import re
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from foreshock.core.model import MigrationUnit
from foreshock.errors import InputError

__all__ = ["find_alembic_config", "is_alembic_project", "load_alembic"]

_TXN_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION)\b", re.IGNORECASE)


def is_alembic_project(path: str | os.PathLike[str]) -> bool:
    """True for an alembic.ini, or a directory holding alembic.ini or an Alembic script directory."""
    p = Path(path)
    if p.is_file():
        return p.suffix == ".ini" and "script_location" in p.read_text(encoding="utf-8", errors="replace")
    return (p / "alembic.ini").is_file() or ((p / "env.py").is_file() and (p / "versions").is_dir())


def find_alembic_config(path: str | os.PathLike[str]) -> tuple[Path | None, Path]:
    """(alembic.ini or None, script directory) for an ini file, a project directory or a script directory."""
    p = Path(path).resolve()
    if p.is_file():
        return p, _script_location(p)
    if (p / "alembic.ini").is_file():
        return p / "alembic.ini", _script_location(p / "alembic.ini")
    if (p / "env.py").is_file():
        return None, p
    raise InputError("not an Alembic project: no alembic.ini and no env.py here", str(path))


def _script_location(ini: Path) -> Path:
    from alembic.config import Config

    try:
        loc = Config(str(ini)).get_main_option("script_location")
    except Exception as err:  # configparser errors: report them as bad input, one line
        raise InputError(f"cannot read Alembic config: {_first_line(err)}", str(ini)) from None
    if not loc:
        raise InputError("no script_location in the [alembic] section", str(ini))
    if ":" in loc and not Path(loc).exists():  # package resource form "myapp:migrations"
        return Path(loc)
    loc_path = Path(loc)
    return loc_path if loc_path.is_absolute() else (ini.parent / loc_path).resolve()


def _display(path: str, relative: bool) -> str:
    """Paths are reported the way the user named the project: relative to the working directory if so."""
    if not relative or not path:
        return path
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


@dataclass
class _Capture:
    """The output buffer handed to Alembic while one revision renders."""

    revision_file: str
    default_line: int
    version_table: str = "alembic_version"
    chunks: list[tuple[str, int]] = field(default_factory=list)
    # While a batch_alter_table block flushes (at the end of its `with`), the line of the batch.* call whose
    # SQL is being written; without it every statement of the block would point at the `with` line.
    override_line: int | None = None

    def write(self, text: str) -> int:
        if text.strip() and self._is_version_table(text):
            return len(text)
        self.chunks.append((text, self._caller_line()))
        return len(text)

    def flush(self) -> None:
        pass

    def _is_version_table(self, text: str) -> bool:
        if _TXN_CONTROL.match(text):
            return False
        return re.search(r"\b" + re.escape(self.version_table) + r"\b", text) is not None

    def _caller_line(self) -> int:
        if self.override_line is not None:
            return self.override_line
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            if _same_file(frame.f_code.co_filename, self.revision_file):
                return frame.f_lineno
            frame = frame.f_back
        return self.default_line

    def render(self) -> tuple[str, dict[int, int]]:
        text_parts: list[str] = []
        line_map: dict[int, int] = {}
        line = 1
        for chunk, src in self.chunks:
            text_parts.append(chunk)
            for _ in range(chunk.count("\n") + (0 if chunk.endswith("\n") else 1)):
                line_map[line] = src
                line += 1
            if not chunk.endswith("\n"):
                line -= 1  # the next chunk continues this line
        return "".join(text_parts), line_map


class _BatchList(list[Any]):
    """Replaces BatchOperationsImpl.batch: remembers the line of each batch.* call, replays it on flush."""

    def __init__(self, capture: _Capture) -> None:
        super().__init__()
        self._capture = capture
        self._lines: list[int] = []

    def append(self, item: Any) -> None:
        self._lines.append(self._capture._caller_line())
        super().append(item)

    def __iter__(self) -> Iterator[Any]:
        try:
            for i, item in enumerate(list.__iter__(self)):
                self._capture.override_line = self._lines[i] if i < len(self._lines) else None
                yield item
        finally:
            self._capture.override_line = None


@contextmanager
def _batch_lines(capture: _Capture) -> Iterator[None]:
    from alembic.operations.batch import BatchOperationsImpl

    original = BatchOperationsImpl.__init__

    def init(self: Any, *args: Any, **kw: Any) -> None:
        original(self, *args, **kw)  # type: ignore[no-untyped-call]
        self.batch = _BatchList(capture)

    BatchOperationsImpl.__init__ = init  # type: ignore[method-assign]
    try:
        yield
    finally:
        BatchOperationsImpl.__init__ = original  # type: ignore[method-assign]


def _same_file(a: str, b: str) -> bool:
    return a == b or os.path.realpath(a) == os.path.realpath(b)


def _tb_line(tb: TracebackType | None, path: str) -> int:
    line = 0
    for frame, lineno in traceback.walk_tb(tb):
        if _same_file(frame.f_code.co_filename, path):
            line = lineno
    return line


@contextmanager
def _sys_path(entries: list[str]) -> Iterator[None]:
    saved = list(sys.path)
    sys.path[:0] = [e for e in entries if e not in sys.path]
    try:
        yield
    finally:
        sys.path[:] = saved


def load_alembic(
    path: str | os.PathLike[str],
    *,
    errors: list[InputError] | None = None,
    **_opts: Any,
) -> list[MigrationUnit]:
    """Render every revision of an Alembic project, base first, in revision-graph order (merges included).

    `path` is an alembic.ini, the directory holding it, or the script directory. A revision that cannot be
    rendered offline (for example it queries through `op.get_bind()`) becomes an InputError naming the
    revision file and line; when `errors` is given such errors are appended to it and the other revisions
    are still returned, otherwise the first one is raised once all revisions were tried.
    """
    from alembic import command  # noqa: F401  (imported for its side effect of registering op/context proxies)
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    ini, script_dir = find_alembic_config(path)
    relative = not Path(path).is_absolute()
    if ini is not None:
        cfg = Config(str(ini), output_buffer=io.StringIO())
        cfg.set_main_option("script_location", str(script_dir))
    else:
        cfg = Config(output_buffer=io.StringIO())
        cfg.set_main_option("script_location", str(script_dir))
    if not cfg.get_main_option("sqlalchemy.url"):
        # Offline mode only needs a dialect; a bare script directory has no ini to name one.
        cfg.set_main_option("sqlalchemy.url", "postgresql://")
    here = str(ini.parent if ini is not None else script_dir.parent)
    prepend = [p.strip() for p in (cfg.get_main_option("prepend_sys_path") or "").replace(",", " ").split()]
    sys_entries = [os.path.join(here, p) if not os.path.isabs(p) else p for p in prepend] or [here]

    with _sys_path(sys_entries):
        try:
            script = ScriptDirectory.from_config(cfg)
            ordered = list(reversed(list(script.walk_revisions("base", "heads"))))
        except SyntaxError as err:
            raise InputError(
                f"syntax error: {err.msg}", err.filename or str(script_dir), err.lineno or 0, err.offset or 0
            ) from None
        except Exception as err:
            raise InputError(
                f"cannot load the Alembic revisions: {_first_line(err)}", str(script_dir)
            ) from None

        units: list[MigrationUnit] = []
        found: list[InputError] = []
        for sc in ordered:
            try:
                unit = _render_revision(cfg, script, sc)
                units.append(replace(unit, path=_display(unit.path, relative)) if relative else unit)
            except InputError as err:
                if relative:
                    err = InputError(err.message, _display(err.path, relative), err.line, err.column)
                found.append(err)
                if err.path.endswith("env.py"):
                    break  # env.py itself is broken: every revision would fail the same way
    if errors is not None:
        errors.extend(found)
    elif found:
        raise found[0]
    return units


def _render_revision(cfg: Any, script: Any, sc: Any) -> MigrationUnit:
    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationStep

    rev_file = str(sc.path)
    upgrade_fn = getattr(sc.module, "upgrade", None)
    if upgrade_fn is None:
        raise InputError("revision has no upgrade() function", rev_file, 1, 1)
    capture = _Capture(revision_file=rev_file, default_line=upgrade_fn.__code__.co_firstlineno)

    def steps(_heads: Any, context: Any) -> list[Any]:
        capture.version_table = getattr(context, "version_table", "alembic_version")
        return [MigrationStep.upgrade_from_script(script.revision_map, sc)]

    down = sc.down_revision
    starting: str | None = down[0] if isinstance(down, tuple | list) else down
    env_py = os.path.join(script.dir, "env.py")
    cfg.output_buffer = capture  # configure() prefers the config's buffer over one passed to the context
    try:
        with (
            _batch_lines(capture),
            EnvironmentContext(
                cfg,
                script,
                fn=steps,
                as_sql=True,
                starting_rev=starting,
                destination_rev=sc.revision,
                output_buffer=capture,
            ),
        ):
            script.run_env()
    except InputError:
        raise
    except BaseException as err:
        if isinstance(err, KeyboardInterrupt):
            raise
        line = _tb_line(err.__traceback__, rev_file)
        if line:
            raise InputError(
                f"revision {sc.revision} cannot be rendered offline "
                f"({type(err).__name__}: {_first_line(err)}); "
                "offline mode has no database to query (op.get_bind()) - express the change with op.* calls "
                "or op.execute(SQL)",
                rev_file,
                line,
                1,
            ) from None
        env_line = _tb_line(err.__traceback__, env_py)
        if env_line:
            raise InputError(
                f"env.py failed in offline mode: {type(err).__name__}: {_first_line(err)}",
                env_py,
                env_line,
                1,
            ) from None
        raise InputError(
            f"revision {sc.revision} cannot be rendered offline: {type(err).__name__}: {_first_line(err)}",
            rev_file,
            1,
            1,
        ) from None
    text, line_map = capture.render()
    return MigrationUnit(
        path=rev_file,
        text=text,
        name=sc.revision,
        line_map=line_map,
        # The rendered text carries Alembic's own BEGIN/COMMIT (and the COMMIT...BEGIN of autocommit blocks).
        transactional=False,
    )
