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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from foreshock.core.model import Layout, MigrationUnit, NotAnalysed, Note, SourceSettings
from foreshock.errors import ForeshockError, InputError
from foreshock.sources.datacode import alembic_opaque
from foreshock.sources.files import Loaded, ProjectRead

if TYPE_CHECKING:
    from foreshock.cache import Store

__all__ = ["find_alembic_config", "is_alembic_project", "load_alembic", "read_alembic"]

_TXN_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION)\b", re.IGNORECASE)


def _is_alembic_ini(p: Path) -> bool:
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "[alembic]" in text and "script_location" in text


def is_alembic_project(path: str | os.PathLike[str]) -> bool:
    """True for an Alembic ini file (any name), or a directory holding one or an Alembic script directory."""
    p = Path(path)
    if p.is_file():
        return p.suffix == ".ini" and "script_location" in p.read_text(encoding="utf-8", errors="replace")
    return _ini_in(p) is not None or ((p / "env.py").is_file() and (p / "versions").is_dir())


def _ini_in(directory: Path) -> Path | None:
    """alembic.ini, else the one ini file with an [alembic] section in the directory."""
    if (directory / "alembic.ini").is_file():
        return directory / "alembic.ini"
    try:
        candidates = sorted(p for p in directory.glob("*.ini") if _is_alembic_ini(p))
    except OSError:
        return None
    return candidates[0] if len(candidates) == 1 else None


def find_alembic_config(path: str | os.PathLike[str]) -> tuple[Path | None, Path]:
    """(ini or None, script directory) for an ini file, a project directory or a script directory."""
    p = Path(path).resolve()
    if p.is_file():
        return p, _script_location(p)
    ini = _ini_in(p)
    if ini is not None:
        return ini, _script_location(ini)
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
        if (ini.parent / "env.py").is_file():
            # Flask-Migrate writes no script_location: it hands Alembic the directory holding the ini.
            return ini.parent.resolve()
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


@dataclass
class AlembicResult(ProjectRead):
    """One Alembic project read, and the version locations its revisions were found in."""

    locations: list[str] = field(default_factory=list)


def load_alembic(
    path: str | os.PathLike[str],
    *,
    errors: list[InputError] | None = None,
    options: SourceSettings | None = None,
    **_opts: Any,
) -> list[MigrationUnit]:
    """Render every revision of an Alembic project, base first, in revision-graph order (merges included).

    `path` is an ini file (any name), the directory holding it, or the script directory. A revision that
    cannot be rendered at all becomes an InputError naming the revision file and line; when `errors` is
    given such errors are appended to it and the other revisions are still returned, otherwise the first
    one is raised once all revisions were tried. `read_alembic` gives the full accounting.
    """
    result = read_alembic_project(path, options or SourceSettings(), online=False)
    found = result.input_errors()
    if errors is not None:
        errors.extend(found)
    elif found:
        raise found[0]
    return result.units


def read_alembic(
    path: str | os.PathLike[str], options: SourceSettings, out: Loaded, *, cache: Store | None = None
) -> None:
    """Add one Alembic project to `out`: units, accounting and the layout."""
    result = read_alembic_project(path, options, cache=cache)
    source = "configured" if options.alembic_config is not None else "detected"
    shown = ", ".join(_display(p, not Path(path).is_absolute()) for p in result.locations)
    detail = f"versions: {shown}" if shown else ""
    out.add_project(result, Layout(os.fspath(path), "alembic", source, detail=detail))


def read_alembic_project(
    path: str | os.PathLike[str], options: SourceSettings, *, online: bool = True, cache: Store | None = None
) -> AlembicResult:
    """Every revision rendered offline through the project's env.py (as `alembic upgrade --sql` does);
    revisions that need a database (`op.get_bind()` data code) are then run, with every revision before
    them, on a sandbox database, and their SQL captured as it runs (`online`).

    cache: the history cache. A project none of whose files changed (the ini, the script directory and
    every revision, by size and modification time) is read whole from it, without importing Alembic; else
    each revision's offline render is kept under its key in a hash chain (the ini and env.py, then each
    revision's id, path and source in order), and only revisions after the first change are rendered."""
    kept = _KeptAlembic.find(cache, path, options, online) if cache is not None else None
    if kept is not None and kept.result is not None:
        return kept.result
    out = _read_alembic_project(path, options, online, cache)
    if kept is not None:
        kept.keep(out)
    return out


def _read_alembic_project(
    path: str | os.PathLike[str], options: SourceSettings, online: bool, cache: Store | None
) -> AlembicResult:
    from alembic import command  # noqa: F401  (imported for its side effect of registering op/context proxies)
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    out = AlembicResult()
    ini, script_dir = find_alembic_config(path)
    relative = not Path(path).is_absolute()
    if ini is not None:
        cfg = Config(str(ini), output_buffer=io.StringIO())
    else:
        cfg = Config(output_buffer=io.StringIO())
    cfg.set_main_option("script_location", str(script_dir))
    if not cfg.get_main_option("sqlalchemy.url"):
        # Offline mode only needs a dialect; a bare script directory has no ini to name one.
        cfg.set_main_option("sqlalchemy.url", "postgresql://")
    here = str(ini.parent if ini is not None else script_dir.parent)
    prepend = [p.strip() for p in (cfg.get_main_option("prepend_sys_path") or "").replace(",", " ").split()]
    # Alembic puts prepend_sys_path entries on sys.path as written (relative ones from the directory it runs
    # in, usually the project root); foreshock may run elsewhere, so the ini's directory counts too. Without
    # any, the project root is usually the ini's directory or (Flask-Migrate: migrations/alembic.ini) above.
    sys_entries = [
        *(p if os.path.isabs(p) else os.path.abspath(p) for p in prepend),
        *(os.path.join(here, p) for p in prepend if not os.path.isabs(p)),
    ] or [here, os.path.dirname(here)]

    with _sys_path(sys_entries):
        try:
            script = ScriptDirectory.from_config(cfg)
            env_py = os.path.join(script.dir, "env.py")
            default_env = False
            try:
                locations = _env_version_locations(cfg, script)
            except InputError as err:
                # env.py cannot run here (a Flask app context, a settings object): Alembic's own default
                # configuration renders the same op.* calls; say so rather than analyse nothing.
                default_env, locations = True, None
                out.notes.append(Note(_display(err.path, relative), f"{err.message}; revisions rendered with "
                                      "Alembic's default configuration instead", err.line))
            script = ScriptDirectory.from_config(cfg)
            if locations:
                locations = _postgresql_locations(locations, out.notes, relative)
                script.version_locations = locations
            ordered = list(reversed(list(script.walk_revisions("base", "heads"))))
        except SyntaxError as err:
            raise InputError(
                f"syntax error: {err.msg}", err.filename or str(script_dir), err.lineno or 0, err.offset or 0
            ) from None
        except InputError:
            raise
        except Exception as err:
            raise InputError(
                f"cannot load the Alembic revisions: {_first_line(err)}", str(script_dir)
            ) from None
        out.locations = [str(p) for p in script._version_locations]
        out.found = len(ordered)
        if not ordered:
            out.errors.append(InputError(
                "no revisions found in " + ", ".join(out.locations or [str(script_dir)]) + " (if env.py sets "
                "version_locations from settings, set the environment it reads as for `alembic upgrade`)",
                _display(str(ini or script_dir), relative),
            ))
            return out
        offline: dict[str, MigrationUnit | InputError] = {}
        renders = _KeptRenders(cache, ini, script, ordered) if cache is not None else None
        for i, sc in enumerate(ordered):
            if renders is not None:
                done = renders.get(i, default_env)
                if done is not None:
                    offline[sc.revision] = done
                    continue
            try:
                offline[sc.revision] = _render_revision(cfg, script, sc, default_env)
            except InputError as err:
                offline[sc.revision] = err
                if err.path.endswith("env.py") and not default_env:
                    # env.py runs but fails on this revision: every revision would fail the same way.
                    default_env = True
                    out.notes.append(Note(_display(env_py, relative), f"{err.message}; revisions rendered "
                                          "with Alembic's default configuration instead", err.line))
                    try:
                        offline[sc.revision] = _render_revision(cfg, script, sc, default_env)
                    except InputError as again:
                        offline[sc.revision] = again
            if renders is not None:
                renders.keep(i, default_env, offline[sc.revision])
        failed = [sc for sc in ordered if isinstance(offline[sc.revision], InputError)]
        online_units: dict[str, MigrationUnit | str] = {}
        if failed and online:
            online_units = _render_online(cfg, script, ordered, {sc.revision for sc in failed}, options)
        for sc in ordered:
            got = offline[sc.revision]
            if isinstance(got, InputError):
                live = online_units.get(sc.revision)
                if isinstance(live, MigrationUnit):
                    got = live
                    out.notes.append(Note(_display(got.path, relative), f"revision {sc.revision} needs a "
                                          "database: its SQL was captured running on a sandbox"))
                else:
                    reason = got.message if live is None else f"{got.message}; on a sandbox: {live}"
                    out.not_analysed.append(
                        NotAnalysed(_display(got.path, relative), reason, got.line, kind="render-failed")
                    )
                    continue
            out.units.append(replace(got, path=_display(got.path, relative)) if relative else got)
    return out


class _KeptRenders:
    """Offline renders in the history cache, one per revision under its key in the chain: the ini and env.py
    (and whether Alembic's default configuration stood in for env.py), then each revision's id, path and
    source in order."""

    KIND = "alembic-render"

    def __init__(self, cache: Store, ini: Path | None, script: Any, ordered: list[Any]) -> None:
        from foreshock.cache.keys import code_fingerprint, digest

        self.cache = cache
        key = digest(self.KIND, code_fingerprint(), _read(ini), _read(Path(script.dir) / "env.py"),
                     _package_stamp("alembic"), _package_stamp("sqlalchemy"))
        self.keys: list[str] = []
        for sc in ordered:
            key = digest(key, sc.revision, str(sc.path), _read(Path(sc.path)))
            self.keys.append(key)

    def _key(self, index: int, default_env: bool) -> str:
        return f"{self.keys[index]}{int(default_env)}"

    def get(self, index: int, default_env: bool) -> MigrationUnit | InputError | None:
        found: MigrationUnit | InputError | None = self.cache.load(self.KIND, self._key(index, default_env))
        return found

    def keep(self, index: int, default_env: bool, render: MigrationUnit | InputError) -> None:
        self.cache.save(self.KIND, self._key(index, default_env), render)


class _KeptAlembic:
    """A whole project read, kept in the history cache while none of the files it was read from changed:
    the ini file, everything in the script directory and in every version location (by size and
    modification time), Alembic's and SQLAlchemy's installs, and how it was read."""

    KIND = "alembic-project"

    def __init__(self, cache: Store, key: str, result: AlembicResult | None) -> None:
        self.cache, self.key, self.result = cache, key, result

    @classmethod
    def find(cls, cache: Store, path: str | os.PathLike[str], options: SourceSettings, online: bool
             ) -> _KeptAlembic:
        from foreshock.cache.keys import code_fingerprint, digest

        ini, script_dir = find_alembic_config(path)
        key = digest(cls.KIND, code_fingerprint(), os.fspath(path), os.getcwd(), str(ini), str(script_dir),
                     repr((options, online)), _package_stamp("alembic"), _package_stamp("sqlalchemy"),
                     *_tree_stamps([script_dir] + ([ini] if ini is not None else [])))
        kept = cache.load(cls.KIND, key)
        result = None
        if kept is not None:
            locations, stamps, result = kept
            if _tree_stamps([Path(p) for p in locations]) != stamps:
                result = None
        return cls(cache, key, result)

    def keep(self, result: AlembicResult) -> None:
        locations = [Path(p) for p in result.locations]
        self.cache.save(self.KIND, self.key, (result.locations, _tree_stamps(locations), result))


def _read(path: Path | None) -> bytes:
    if path is None:
        return b""
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _package_stamp(name: str) -> str:
    import importlib.util

    spec = importlib.util.find_spec(name)
    if spec is None or not spec.origin:
        return "-"
    return "".join(_tree_stamps([Path(spec.origin)]))


def _tree_stamps(paths: list[Path]) -> list[str]:
    """Size and modification time of each file, and of every file under each directory (caches aside)."""
    out: list[str] = []
    for top in paths:
        if top.is_file():
            st = top.stat()
            out.append(f"{top}:{st.st_size}:{st.st_mtime_ns}")
            continue
        for directory, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
            for name in sorted(files):
                full = os.path.join(directory, name)
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                out.append(f"{full}:{st.st_size}:{st.st_mtime_ns}")
    return out


def _env_version_locations(cfg: Any, script: Any) -> list[str] | None:
    """Run env.py once in offline mode, migrating nothing, and return the version locations it set at run
    time (`context.script.version_locations = [...]`), or None when it set none."""
    from alembic.runtime.environment import EnvironmentContext

    before = list(script.version_locations or [])
    capture = _Capture(revision_file="", default_line=0)
    cfg.output_buffer = capture
    env_py = os.path.join(script.dir, "env.py")
    try:
        with EnvironmentContext(
            cfg, script, fn=lambda _heads, _ctx: [], as_sql=True, output_buffer=capture
        ) as ctx:
            _render_for_postgresql(ctx)
            script.run_env()
    except BaseException as err:
        if isinstance(err, KeyboardInterrupt):
            raise
        line = _tb_line(err.__traceback__, env_py)
        raise InputError(
            f"env.py cannot run in offline mode ({type(err).__name__}: {_first_line(err)})", env_py, line, 1
        ) from None
    after = list(script.version_locations or [])
    return [str(p) for p in after] if after != before else None


_OTHER_DIALECTS = frozenset({"sqlite", "mysql", "mariadb", "mssql", "oracle"})
_PG_DIRS = ("postgresql", "postgres", "pg")


def _postgresql_locations(locations: list[str], notes: list[Note], relative: bool) -> list[str]:
    """env.py chose its revisions by the database it is configured for (Prefect: versions/<dialect>).
    foreshock reads a PostgreSQL project: where env.py chose another dialect's directory and a PostgreSQL
    one stands beside it, the PostgreSQL one is read, and the note says so."""
    out: list[str] = []
    for loc in locations:
        p = Path(loc)
        sibling = next((p.parent / d for d in _PG_DIRS if (p.parent / d).is_dir()), None)
        if p.name.lower() in _OTHER_DIALECTS and sibling is not None:
            notes.append(Note(
                _display(str(sibling), relative),
                f"env.py chose the {p.name} revisions (the database it is configured for); read the "
                f"PostgreSQL ones beside them instead (configure env.py for PostgreSQL to silence this)",
            ))
            out.append(str(sibling))
        else:
            out.append(loc)
    return out


def _render_for_postgresql(ctx: Any) -> None:
    """env.py names the database it is configured for (a development SQLite URL, say); foreshock reads
    the migrations for PostgreSQL, so the offline render always uses PostgreSQL's dialect."""
    configure = ctx.configure

    def for_postgresql(*args: Any, url: Any = None, dialect_name: str | None = None, **kw: Any) -> None:
        if url is not None and str(url).split(":", 1)[0].split("+", 1)[0] not in ("postgresql", "postgres"):
            url = "postgresql://"
        if dialect_name is not None and dialect_name != "postgresql":
            dialect_name = "postgresql"
        configure(*args, url=url, dialect_name=dialect_name, **kw)

    ctx.configure = for_postgresql


def _default_env(ctx: Any, capture: _Capture) -> None:
    """What `alembic init`'s env.py does offline, for projects whose env.py cannot run here."""
    ctx.configure(
        url=ctx.config.get_main_option("sqlalchemy.url") or "postgresql://",
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        output_buffer=capture,
    )
    with ctx.begin_transaction():
        ctx.run_migrations()


def _render_revision(cfg: Any, script: Any, sc: Any, default_env: bool = False) -> MigrationUnit:
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
            ) as ctx,
        ):
            if default_env:
                _default_env(ctx, capture)
            else:
                _render_for_postgresql(ctx)
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
                "offline mode has no database to query (op.get_bind())",
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
    source = Path(rev_file).read_text(encoding="utf-8", errors="replace")
    return MigrationUnit(
        path=rev_file,
        text=text,
        name=sc.revision,
        line_map=line_map,
        # The rendered text carries Alembic's own BEGIN/COMMIT (and the COMMIT...BEGIN of autocommit blocks).
        transactional=False,
        opaque=alembic_opaque(source, upgrade_fn.__code__.co_firstlineno),
    )


# ----------------------------------------------------------------------------------------------------------
# Online: revisions whose upgrade() queries the database run on a sandbox, with every revision before them.

_CATALOG_READ = re.compile(r"^\s*SELECT\b.*\b(pg_catalog|information_schema)\.", re.IGNORECASE | re.DOTALL)


def _render_online(
    cfg: Any, script: Any, ordered: list[Any], wanted: set[str], options: SourceSettings
) -> dict[str, MigrationUnit | str]:
    """Apply the revisions in order on a new sandbox database up to the last wanted one, capturing the SQL
    each wanted revision sends; a revision that fails there is returned as the reason (str).

    Alembic's default configuration connects to the sandbox itself: the project's env.py is not run
    online, so its own database settings can never be reached.
    """
    from foreshock.pg.render import literal_sql
    from foreshock.sources.sandbox import sandbox_database

    results: dict[str, MigrationUnit | str] = {}
    last = max(i for i, sc in enumerate(ordered) if sc.revision in wanted)
    try:
        with sandbox_database(options, "alembic") as dsn:
            try:
                engine = _engine(dsn, f"{int(options.render_timeout)}s")
            except Exception as err:  # the project's own SQLAlchemy, whatever version it is
                for rev in wanted:
                    results[rev] = f"no database driver for the sandbox: {_one(err)}"
                return results
            with engine.connect() as conn:
                failure = ""
                for sc in ordered[: last + 1]:
                    if failure:
                        if sc.revision in wanted:
                            results[sc.revision] = f"an earlier revision failed there ({failure})"
                        continue
                    upgrade_fn = getattr(sc.module, "upgrade", None)
                    first = upgrade_fn.__code__.co_firstlineno if upgrade_fn is not None else 1
                    capture = _Capture(revision_file=str(sc.path), default_line=first)
                    try:
                        with _listening(conn, capture, literal_sql):
                            _run_online(cfg, script, sc, conn, capture)
                    except Exception as err:  # the project's own revision code: any failure is a reason
                        line = _tb_line(err.__traceback__, str(sc.path))
                        failure = f"revision {sc.revision}{f' line {line}' if line else ''}: " + _one(err)
                        if conn.in_transaction():
                            conn.rollback()
                        if sc.revision in wanted:
                            results[sc.revision] = failure
                        continue
                    if sc.revision in wanted:
                        text, line_map = capture.render()
                        source = Path(sc.path).read_text(encoding="utf-8", errors="replace")
                        results[sc.revision] = MigrationUnit(
                            path=str(sc.path), text=text, name=sc.revision, line_map=line_map,
                            transactional=False, opaque=alembic_opaque(source, first),
                        )
            engine.dispose()
    except ForeshockError as err:
        for rev in wanted:
            results.setdefault(rev, f"no sandbox to run it on: {err}")
    return results


@contextmanager
def _listening(conn: Any, capture: _Capture, literal_sql: Callable[[Any, str, Any], str]) -> Iterator[None]:
    """Every statement the connection sends, and where its transactions begin and end, into `capture`."""
    from sqlalchemy import event

    def before(_conn: Any, cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if _CATALOG_READ.match(statement):
            return  # reflection, not the migration's own SQL
        capture.write(literal_sql(cursor.connection, statement, parameters).rstrip("; \n") + ";\n\n")

    def marker(text: str) -> Callable[[Any], None]:
        def write(_conn: Any) -> None:
            capture.write(text)

        return write

    listeners: list[tuple[str, Callable[..., Any]]] = [
        ("before_cursor_execute", before),
        ("begin", marker("BEGIN;\n\n")),
        ("commit", marker("COMMIT;\n\n")),
        ("rollback", marker("ROLLBACK;\n\n")),
    ]
    for name, fn in listeners:
        event.listen(conn, name, fn)
    try:
        yield
    finally:
        for name, fn in listeners:
            event.remove(conn, name, fn)


def _engine(dsn: str, statement_timeout: str) -> Any:
    """A SQLAlchemy engine on the sandbox database: psycopg 3 (SQLAlchemy 2), else psycopg2 where the
    project's SQLAlchemy predates psycopg 3 support."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import NoSuchModuleError
    from sqlalchemy.pool import NullPool

    from foreshock.pg.render import render_connection, render_connection_psycopg2

    try:
        return create_engine(
            "postgresql+psycopg://",
            creator=lambda: render_connection(dsn, statement_timeout=statement_timeout),
            poolclass=NullPool,
        )
    except NoSuchModuleError:
        return create_engine(
            "postgresql+psycopg2://",
            creator=lambda: render_connection_psycopg2(dsn, statement_timeout=statement_timeout),
            poolclass=NullPool,
        )


def _run_online(cfg: Any, script: Any, sc: Any, conn: Any, capture: _Capture) -> None:
    from alembic.runtime.environment import EnvironmentContext
    from alembic.runtime.migration import MigrationStep

    def steps(_heads: Any, _context: Any) -> list[Any]:
        return [MigrationStep.upgrade_from_script(script.revision_map, sc)]

    with _batch_lines(capture), EnvironmentContext(cfg, script, fn=steps) as ctx:
        ctx.configure(connection=conn, transaction_per_migration=True)
        with ctx.begin_transaction():
            ctx.run_migrations()
    if conn.in_transaction():
        conn.commit()


def _one(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text[:300]}" if text else type(err).__name__
