"""Django projects: each migration applied, as `migrate` applies it, to a sandbox PostgreSQL, and its SQL
captured as it runs.

Django needs a live connection even to print SQL (quoting defaults, introspecting the constraint an
AlterField or AlterUniqueTogether drops), and those introspections must see the schema everything before
them built - the earlier migrations, and the earlier operations of the same migration. So the migrations
run in dependency order in one schema editor each, exactly as `migrate` runs them on a new database, and
every statement the schema editor sends is recorded with the operation that sent it. An operation that
fails is rolled back to a savepoint and named with its reason; Django's migration state still moves on,
so every later migration is rendered and accounted for. A squashed migration (`replaces = [...]`) is applied
for the schema and read as history: production ran the migrations it replaces - present, or deleted since -
and the squash only runs on new databases.

Django is set up in a child process (`python -m foreshock.sources.django`): its settings and app registry
are process-wide, the project's code is imported, and one process can hold only one project.

RunPython is opaque: it is returned as `MigrationUnit.opaque` (with any full-table loop read from the
function's syntax tree) and marked in the text by a SQL comment at the point where it runs.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlparse

from foreshock.core.model import Layout, MigrationUnit, NotAnalysed, Note, OpaqueCode, SourceSettings
from foreshock.errors import InputError, SandboxError
from foreshock.sources.datacode import django_facts, facts_from_json, facts_to_json, resolve_django
from foreshock.sources.files import Loaded, ProjectRead

if TYPE_CHECKING:
    from foreshock.cache import Store
    from foreshock.sources.sandbox import SandboxDatabase

__all__ = ["find_django_project", "full_table_loops", "load_django", "operation_lines", "read_django"]

_SETTINGS_IN_MANAGE = re.compile(r"""DJANGO_SETTINGS_MODULE["']\s*,\s*["']([\w.]+)["']""")


def find_django_project(path: str | os.PathLike[str], settings_module: str | None = None) -> tuple[Path, str]:
    """(directory to put on sys.path, settings module) for a project dir, its manage.py or an app in it."""
    p = Path(path).resolve()
    start = p.parent if p.is_file() else p
    for d in (start, *start.parents):
        manage = d / "manage.py"
        if manage.is_file():
            if settings_module is None:
                m = _SETTINGS_IN_MANAGE.search(manage.read_text(encoding="utf-8", errors="replace"))
                if not m:
                    raise InputError(
                        "no DJANGO_SETTINGS_MODULE in manage.py; "
                        "pass the settings module (--django-settings)",
                        str(manage),
                    )
                settings_module = m.group(1)
            return d, settings_module
    if settings_module is None:
        raise InputError(
            "not a Django project: no manage.py here or above; pass the settings module (--django-settings)",
            str(path),
        )
    return start, settings_module


def operation_lines(source: str) -> list[int]:
    """Line of each element of `operations = [...]` in the Migration class (the Nth operation -> its line)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                targets: list[ast.expr] = []
                value: ast.expr | None = None
                if isinstance(stmt, ast.Assign):
                    targets, value = stmt.targets, stmt.value
                elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
                    targets, value = [stmt.target], stmt.value
                if any(isinstance(t, ast.Name) and t.id == "operations" for t in targets) and isinstance(
                    value, ast.List | ast.Tuple
                ):
                    return [elt.lineno for elt in value.elts]
    return []


def _class_line(source: str) -> int:
    m = re.search(r"^class Migration\b", source, re.MULTILINE)
    return source.count("\n", 0, m.start()) + 1 if m else 1


_ROW_WRITES = frozenset({"save", "delete"})
# QuerySet methods that keep every row: `.using(alias)` is what migrations are told to write.
_WHOLE_QUERYSET = frozenset(
    {"all", "iterator", "using", "only", "defer", "select_related", "prefetch_related", "order_by", "values"}
)
_MANAGERS = frozenset({"objects", "_default_manager", "_base_manager"})


def full_table_loops(source: str, func_line: int) -> list[tuple[str, int, str]]:
    """Full-table passes visible in the function defined at `func_line`: (model name, line, what).

    Seen: `for row in Model.objects.all()/.iterator()/...: ... row.save()` (one UPDATE per row of the whole
    table), and `Model.objects.update(...)` / `.all().update(...)` / `.all().delete()` (one statement over the
    whole table). A `.filter()`/`.exclude()` or a slice anywhere in the chain means it is not the whole table.
    """
    tree = ast.parse(source)
    func = next(
        (
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.lineno == func_line
        ),
        None,
    )
    if func is None:
        return []
    found: list[tuple[str, int, str]] = []
    for node in ast.walk(func):
        if isinstance(node, ast.For):
            model = _whole_table_model(node.iter)
            if model and any(
                isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr in _ROW_WRITES
                for b in node.body
                for c in ast.walk(b)
            ):
                what = f"{model}: every row loaded and written back one by one (.save()/.delete() in a loop)"
                found.append((model, node.lineno, what))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("update", "delete")
        ):
            model = _whole_table_model(node.func.value, allow_manager=True)
            if model:
                found.append((model, node.lineno, f"{model}: one .{node.func.attr}() over the whole table"))
    return found


def _whole_table_model(expr: ast.expr, allow_manager: bool = False) -> str | None:
    """`Model` for `Model.objects.all()` and friends; None when filtered, sliced or not a queryset."""
    while True:
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            if expr.func.attr not in _WHOLE_QUERYSET:
                return None
            allow_manager = True
            expr = expr.func.value
        elif isinstance(expr, ast.Attribute) and expr.attr in _MANAGERS and isinstance(expr.value, ast.Name):
            return expr.value.id if allow_manager else None
        else:
            return None


def _model_names(source: str, func_line: int) -> dict[str, tuple[str, str]]:
    """Local names bound to `apps.get_model("app", "Model")` (or "app.Model") in the function."""
    tree = ast.parse(source)
    out: dict[str, tuple[str, str]] = {}
    for n in ast.walk(tree):
        if not (isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.lineno == func_line):
            continue
        for a in ast.walk(n):
            if (
                isinstance(a, ast.Assign)
                and len(a.targets) == 1
                and isinstance(a.targets[0], ast.Name)
                and isinstance(a.value, ast.Call)
                and isinstance(a.value.func, ast.Attribute)
                and a.value.func.attr == "get_model"
            ):
                args = [
                    x.value for x in a.value.args if isinstance(x, ast.Constant) and isinstance(x.value, str)
                ]
                if len(args) == 2:
                    out[a.targets[0].id] = (args[0], args[1])
                elif len(args) == 1 and "." in args[0]:
                    app, model = args[0].split(".", 1)
                    out[a.targets[0].id] = (app, model)
    return out


# ----------------------------------------------------------------------------------------------------------
# Parent side: sandbox, child process, units.


_CONNINFO_PAIR = re.compile(r"\s*(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)")


def _conninfo(dsn: str) -> dict[str, str]:
    """libpq connection parameters of a postgresql:// URI or a `key=value ...` string."""
    if dsn.startswith(("postgresql://", "postgres://")):
        u = urlparse(dsn)
        params = {k: v[-1] for k, v in parse_qs(u.query).items()}
        for key, value in (
            ("dbname", unquote(u.path.lstrip("/"))),
            ("user", unquote(u.username or "")),
            ("password", unquote(u.password or "")),
            ("host", unquote(u.hostname or "")),
            ("port", str(u.port or "")),
        ):
            if value and key not in params:
                params[key] = value
        return params
    params = {}
    pos = 0
    while pos < len(dsn.strip()):
        m = _CONNINFO_PAIR.match(dsn, pos)
        if not m or m.end() == pos:
            raise SandboxError("cannot read the sandbox connection string")
        value = m.group(2)
        if value.startswith("'"):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        params[m.group(1)] = value
        pos = m.end()
    return params


def _db_settings(dsn: str) -> dict[str, Any]:
    """Django DATABASES entry for a sandbox database (a socket directory as host works too)."""
    params = _conninfo(dsn)
    named = {"dbname", "user", "password", "host", "port"}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": params.get("dbname", "postgres"),
        "USER": params.get("user", ""),
        "PASSWORD": params.get("password", ""),
        "HOST": params.get("host", ""),
        "PORT": params.get("port", ""),
        "OPTIONS": {
            **{k: v for k, v in params.items() if k not in named},
            "application_name": "foreshock-django",
        },
    }


@dataclass
class DjangoResult(ProjectRead):
    """One Django project read, with its squashed migrations read as history and the sandbox used."""

    squashed: int = 0
    sandbox: str = ""
    # Migrations whose render came from the history cache instead of the sandbox.
    from_cache: int = 0


def load_django(
    path: str | os.PathLike[str],
    settings_module: str | None = None,
    *,
    sandbox: str = "auto",
    dsn: str | None = None,
    sandbox_allow_existing: bool = False,
    errors: list[InputError] | None = None,
    include_history: bool = True,
    timeout: float = 1800.0,
    **_opts: Any,
) -> list[MigrationUnit]:
    """Render every migration of a Django project in dependency order, one unit per migration.

    `path` is the project directory, its manage.py, or a directory inside the project (an app); only
    migrations whose file lies under `path` are reported, the others (installed apps such as
    django.contrib.auth) come back as `history=True` units when `include_history`. The migrations are
    applied, as `migrate` applies them, to a new database on a sandbox server (`sandbox`: auto, embedded,
    initdb, or the server at `dsn`), never the project's own database. A migration that cannot be
    rendered becomes an InputError naming its file and operation; with `errors` given, errors are appended
    and every other migration is still returned. `read_django` gives the full accounting.
    """
    options = SourceSettings(
        django_settings=settings_module,
        sandbox="auto" if sandbox in ("auto", "dsn") else sandbox,
        sandbox_dsn=dsn,
        render_timeout=timeout,
    )
    result = read_django_project(path, options, allow_existing=sandbox_allow_existing)
    found = result.input_errors()
    if errors is not None:
        errors.extend(found)
    elif found:
        raise found[0]
    return [u for u in result.units if include_history or not u.history]


def read_django(
    path: str | os.PathLike[str], options: SourceSettings, out: Loaded, *, cache: Store | None = None
) -> None:
    """Add one Django project to `out`: units, accounting and the layout."""
    result = read_django_project(path, options, cache=cache)
    skipped = (("squashed-as-history", result.squashed),) if result.squashed else ()
    source = "configured" if options.django_settings else "detected"
    out.add_project(result, Layout(os.fspath(path), "django", source, skipped, f"sandbox: {result.sandbox}"))


def read_django_project(
    path: str | os.PathLike[str],
    options: SourceSettings,
    *,
    allow_existing: bool = False,
    cache: Store | None = None,
) -> DjangoResult:
    from foreshock.sources.sandbox import sandbox_kind, sandbox_session

    root, settings = find_django_project(path, options.django_settings)
    scope = Path(path).resolve()
    if scope.is_file():
        scope = scope.parent
    relative = not Path(path).is_absolute()
    sandbox = sandbox_kind(options)
    out = DjangoResult(sandbox=sandbox)
    timeout = options.render_timeout
    kept = _KeptProject.find(cache, root, settings, sandbox) if cache is not None else None
    if kept is not None and kept.records is not None:
        # Nothing a render depends on changed since the last run: no sandbox, no Django.
        _read_records(kept.records, "", False, out, scope, relative, timeout, settings, path)
        out.from_cache = sum(r.get("kind") == "migration" for r in kept.records)
        return out
    with (
        sandbox_session(options, "django", allow_existing=allow_existing) as session,
        tempfile.TemporaryDirectory(prefix="foreshock-django-") as tmp,
    ):
        request = Path(tmp) / "request.json"
        result = Path(tmp) / "result.jsonl"
        req: dict[str, Any] = {"root": str(root), "settings": settings, "database": _db_settings(session.dsn)}
        if cache is not None:
            req["cache"] = _cache_request(cache, root, settings, sandbox, session)
        request.write_text(json.dumps(req), encoding="utf-8")
        env = dict(os.environ)
        env.pop("DJANGO_SETTINGS_MODULE", None)
        timed_out, stderr = _run_child(
            [sys.executable, "-m", "foreshock.sources.django", str(request), str(result)],
            cwd=str(root), env=env, timeout=timeout, result=result, tmp=Path(tmp),
        )
        records = _records(result)
    if kept is not None and records and not timed_out and any(r.get("kind") == "plan" for r in records):
        kept.keep(records)
    _read_records(records, stderr, timed_out, out, scope, relative, timeout, settings, path)
    return out


def _read_records(
    records: list[dict[str, Any]],
    stderr: str,
    timed_out: bool,
    out: DjangoResult,
    scope: Path,
    relative: bool,
    timeout: float,
    settings: str,
    path: str | os.PathLike[str],
) -> None:
    """The render child's records -> units and the accounting of every migration planned."""
    if not records:
        tail = (stderr.strip().splitlines() or ["no output"])[-1]
        if timed_out:
            raise InputError(f"setting up Django ({settings}) took more than {timeout:.0f}s", str(path))
        raise InputError(f"cannot load the Django project ({settings}): {tail}", str(path))

    rendered: set[tuple[str, str]] = set()
    plan: list[dict[str, Any]] = []
    for rec in records:
        kind = rec.get("kind")
        if kind == "error":
            out.errors.append(InputError(rec["message"], _display(rec["path"], relative), rec["line"], 1))
        elif kind == "plan":
            plan = rec["migrations"]
        elif kind == "migration":
            rendered.add((rec["app"], rec["name"]))
            out.from_cache += bool(rec.get("cached"))
            mine = _is_under(Path(rec["path"]), scope)
            shown = _display(rec["path"], relative)
            history = not mine or bool(rec.get("squashed"))
            if mine:
                out.found += 1
            if mine and rec.get("squashed"):
                out.squashed += 1
                n, present = rec["squashed"], rec.get("replaced_present", 0)
                which = "present here" if present == n else (
                    "no longer here" if not present else f"{present} of them still here")
                out.notes.append(Note(shown, f"squashed migration read as history: it stands for the {n} "
                                      f"migrations it replaces ({which}), which production ran; it runs only "
                                      "on new databases"))
            out.units.append(_unit(rec, shown, history=history))
            for failure in rec.get("failures", ()):
                if not history:
                    out.not_analysed.append(
                        NotAnalysed(shown, failure["reason"], failure["line"], kind=failure["kind"])
                    )
                else:
                    # Not reported, but what it failed to build may be why a later migration fails.
                    out.notes.append(Note(shown, f"history migration not fully applied on the sandbox: "
                                          f"{failure['reason']}", failure["line"]))
    for m in plan:
        if (m["app"], m["name"]) in rendered or not _is_under(Path(m["path"]), scope):
            continue
        out.found += 1
        last = (stderr.strip().splitlines() or ["?"])[-1]
        reason = (
            f"rendering stopped at the render timeout ({timeout:.0f}s; raise --render-timeout)"
            if timed_out
            else f"not rendered: the render process ended early ({last})"
        )
        out.not_analysed.append(NotAnalysed(
            _display(m["path"], relative), reason, kind="render-timeout" if timed_out else "render-stopped"
        ))


class _KeptProject:
    """A whole render kept in the history cache, valid while none of the files it was made from changed:
    every migration module planned (by size and modification time), the migration modules under the
    project (one added or removed), the settings module, Django, foreshock and the sandbox's binaries."""

    KIND = "django-project"

    def __init__(self, cache: Store, key: str, root: Path, records: list[dict[str, Any]] | None) -> None:
        self.cache, self.key, self.root, self.records = cache, key, root, records

    @classmethod
    def find(cls, cache: Store, root: Path, settings: str, sandbox: str) -> _KeptProject | None:
        from foreshock.cache.keys import code_fingerprint, digest

        binaries = _sandbox_fingerprint(sandbox)
        if binaries is None:
            return None  # a handed-over server: its state is not ours to vouch for
        module = root / settings.replace(".", "/")
        key = digest(cls.KIND, code_fingerprint(), str(root), settings, sandbox, binaries,
                     _stat(module.with_suffix(".py")), _stat(module / "__init__.py"),
                     _package_fingerprint("django"), *_migration_modules(root))
        kept = cache.load(cls.KIND, key)
        records = None
        if kept is not None:
            files, records = kept
            if any(_stat(Path(f)) != fingerprint for f, fingerprint in files):
                records = None
        return cls(cache, key, root, records)

    def keep(self, records: list[dict[str, Any]]) -> None:
        plan = next(r for r in records if r.get("kind") == "plan")
        files = sorted({m["path"] for m in plan["migrations"] if m.get("path")})
        self.cache.save(self.KIND, self.key, ([(f, _stat(Path(f))) for f in files], records))


def _stat(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "-"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _package_fingerprint(name: str) -> str:
    import importlib.util

    spec = importlib.util.find_spec(name)
    return f"{spec.origin}:{_stat(Path(spec.origin))}" if spec is not None and spec.origin else "-"


def _sandbox_fingerprint(sandbox: str) -> str | None:
    if sandbox == "initdb":
        from foreshock.sandbox.local import system_binaries

        found = system_binaries()
        return f"{found.bindir}:{found.version}:{_stat(found.postgres)}"
    if sandbox == "embedded":
        return _package_fingerprint("pgserver")
    return None


def _migration_modules(root: Path) -> list[str]:
    """Every migrations/*.py module under the project, with its size and modification time."""
    out: list[str] = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__", "node_modules")))
        if os.path.basename(directory) == "migrations":
            for name in sorted(files):
                if name.endswith(".py"):
                    full = Path(directory, name)
                    out.append(f"{full.relative_to(root)}:{_stat(full)}")
    return out


def _cache_request(
    cache: Store, root: Path, settings: str, kind: str, session: SandboxDatabase
) -> dict[str, Any]:
    """What the render child needs to read and keep renders in the history cache: the store, the start of
    the hash chain (foreshock's code, the project and its settings module, the sandbox and its version), and
    for a sandbox foreshock started, the client programs that snapshot its database."""
    from foreshock.cache.keys import code_fingerprint, digest

    base = digest("django", code_fingerprint(), str(root), settings, kind, str(session.version))
    return {"dir": str(cache.directory), "base": base, "bindir": session.bindir, "dsn": session.dsn}


def _run_child(
    args: list[str], *, cwd: str, env: dict[str, str], timeout: float, result: Path, tmp: Path
) -> tuple[bool, str]:
    """Run the render child; (timed out?, its stderr). On a terminal, say how far rendering got: a large
    project takes minutes, as `migrate` does."""
    progress = sys.stderr.isatty()
    started = time.monotonic()
    with open(tmp / "stderr.txt", "w+b") as err:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=err)
        timed_out = False
        try:
            while True:
                try:
                    proc.wait(timeout=1.0)
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() - started > timeout:
                        timed_out = True
                        break
                    if progress:
                        done, total = _progress(result)
                        shown = f"{done}/{total or '?'}"
                        sys.stderr.write(f"\rrendering Django migrations on the sandbox: {shown}")
                        sys.stderr.flush()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            if progress:
                sys.stderr.write("\r\x1b[K")
                sys.stderr.flush()
        err.seek(0)
        return timed_out, err.read().decode("utf-8", "replace")


def _progress(result: Path) -> tuple[int, int]:
    """(migrations rendered, migrations planned) so far: the plan is the first record, one line each after."""
    try:
        with open(result, "rb") as fh:
            first = fh.readline()
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
    except OSError:
        return 0, 0
    try:
        plan = json.loads(first)
    except json.JSONDecodeError:
        return 0, 0
    return lines, len(plan.get("migrations", ())) if plan.get("kind") == "plan" else 0


def _records(result: Path) -> list[dict[str, Any]]:
    """The JSON lines the child wrote (a line cut short by a killed child is dropped)."""
    if not result.is_file():
        return []
    out: list[dict[str, Any]] = []
    for line in result.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _is_under(p: Path, scope: Path) -> bool:
    try:
        p.resolve().relative_to(scope)
    except ValueError:
        return False
    return True


def _display(path: str, relative: bool) -> str:
    if not relative or not path:
        return path
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path


def _unit(m: dict[str, Any], path: str, history: bool) -> MigrationUnit:
    lines: list[str] = []
    line_map: dict[int, int] = {}
    opaque: list[OpaqueCode] = []
    for item in m["items"]:
        src = int(item["line"])
        if item["kind"] == "sql":
            chunk = item["sql"].rstrip().splitlines() or [""]
            if chunk and not chunk[-1].rstrip().endswith(";"):
                chunk[-1] = chunk[-1] + ";"
        else:
            chunk = [f"-- RunPython {item['name']}: opaque Python, not analysed as SQL"]
            opaque.append(
                OpaqueCode(
                    kind="runpython",
                    name=item["name"],
                    line=src,
                    text_line=len(lines) + 1,
                    full_table=tuple(item.get("full_table", ())),
                    detail="; ".join(item.get("details", ())),
                    facts=facts_from_json(item.get("facts"), m["path"]),
                )
            )
        for text_line in chunk:
            lines.append(text_line)
            line_map[len(lines)] = src
    return MigrationUnit(
        path=path,
        text="\n".join(lines) + ("\n" if lines else ""),
        name=f"{m['app']}.{m['name']}",
        line_map=line_map,
        transactional=bool(m["atomic"]),
        history=history,
        opaque=tuple(opaque),
    )


# ----------------------------------------------------------------------------------------------------------
# Child side: runs inside `python -m foreshock.sources.django REQUEST RESULT` with the project importable.
# Each record is one JSON line, written as soon as it is known: a render stopped by the timeout keeps
# everything done before it.


class _Out:
    def __init__(self, path: str) -> None:
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in _child

    def write(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _child(request_path: str, result_path: str) -> int:
    req = json.loads(Path(request_path).read_text(encoding="utf-8"))
    sys.path.insert(0, req["root"])
    os.environ["DJANGO_SETTINGS_MODULE"] = req["settings"]
    out = _Out(result_path)
    try:
        _render_all(req, out)
    finally:
        out.close()
    return 0


def _render_all(req: dict[str, Any], out: _Out) -> None:
    import django
    from django.conf import settings

    try:
        # Every alias the project configures (a read replica, say) points at the sandbox database: data
        # migrations may read through any of them, and none may reach a real database.
        aliases = [a for a in (getattr(settings, "DATABASES", None) or {}) if a != "default"]
        settings.DATABASES = {alias: dict(req["database"]) for alias in ["default", *aliases]}
        django.setup()
    except Exception as err:
        out.write({"kind": "error", "path": req["root"], "line": 0,
                   "message": f"cannot set up Django ({req['settings']}): {_one(err)}"})
        return

    from django.db import connections
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.state import ProjectState

    connection = connections["default"]
    # No connection: nothing is applied yet, as on a new database - so a squashed migration stands in for
    # the migrations it replaces, exactly as `migrate` plans a new database.
    loader = MigrationLoader(None, ignore_no_migrations=True)
    conflicts = loader.detect_conflicts()
    if conflicts:
        app, names = next(iter(conflicts.items()))
        message = f"conflicting migrations in {app}: {', '.join(names)}; run makemigrations --merge"
        out.write({"kind": "error", "path": req["root"], "line": 0, "message": message})
        return
    plan: list[Any] = []
    seen: set[tuple[str, str]] = set()
    # Where each leaf's part of the plan ends: a new migration lands inside one part (in the app's own), so
    # the database as the parts before it left it is where a later run resumes.
    part_ends: set[int] = set()
    for leaf in sorted(loader.graph.leaf_nodes()):
        for key in loader.graph.forwards_plan(leaf):
            if key not in seen:
                seen.add(key)
                plan.append(loader.graph.nodes[key])
        part_ends.add(len(plan) - 1)
    out.write({"kind": "plan", "migrations": [
        {"app": m.app_label, "name": m.name, "path": _migration_path(m)} for m in plan
    ]})
    state = ProjectState(real_apps=loader.unmigrated_apps)
    cache = _RenderCache.open(req.get("cache"), plan, django.__version__)
    start = 0
    if cache is not None:
        # The migrations whose renders are kept, up to a snapshot of the database they built: their
        # records come from the cache, the snapshot is restored, and Django's state moves past them
        # without touching the database.
        start = cache.resume(connection)
        for migration, record in zip(plan[:start], cache.records, strict=False):
            migration.mutate_state(state, preserve=False)
            out.write({**_squash_record(record, migration, loader), "cached": True})
    state.apps  # noqa: B018 - render the models once; each migration then clones the rendered state
    last_snapshot = start
    for i in range(start, len(plan)):
        record, state = _apply_one(connection, plan[i], state)
        if cache is not None:
            cache.keep(i, record)
            if i in part_ends and i - last_snapshot >= _SNAPSHOT_EVERY and i < len(plan) - 1:
                connection.close()
                cache.snapshot(i)
                last_snapshot = i
        out.write(_squash_record(record, plan[i], loader))
    if cache is not None and start < len(plan):
        connection.close()
        cache.snapshot(len(plan) - 1)


def _squash_record(record: dict[str, Any], migration: Any, loader: Any) -> dict[str, Any]:
    if migration.replaces:
        # A squashed migration stands for the ones it replaces, which production ran (and which may since
        # have been deleted); the squash itself runs only on new databases. Applied for the schema, read as
        # history.
        record = {**record, "squashed": len(migration.replaces)}
        record["replaced_present"] = sum(r in loader.disk_migrations for r in migration.replaces)
    return record


# A database snapshot is also kept where a part of the plan ends (see _render_all) once this many
# migrations were rendered since the last one: a pg_dump costs about as much as rendering a few migrations.
_SNAPSHOT_EVERY = 10


class _RenderCache:
    """Renders kept in the history cache, one per migration under its key in the hash chain (the chain's
    start, then each migration's app, name, path and source in plan order), and snapshots of the sandbox
    database after the last migration rendered and where parts of the plan end (pg_dump's archive, restored
    with pg_restore)."""

    RECORD, DATABASE = "django-render", "django-db"

    def __init__(self, request: dict[str, Any], plan: list[Any], django_version: str) -> None:
        from foreshock.cache import Store
        from foreshock.cache.keys import digest

        self.store = Store(request["dir"])
        self.bindir: str | None = request.get("bindir")
        self.dsn = str(request.get("dsn", ""))
        key = digest(request["base"], django_version)
        self.keys: list[str] = []
        for migration in plan:
            path = _migration_path(migration)
            try:
                source = Path(path).read_bytes()
            except OSError:
                source = b""
            key = digest(key, migration.app_label, migration.name, path, source)
            self.keys.append(key)
        self.records: list[dict[str, Any]] = []

    @classmethod
    def open(
        cls, request: dict[str, Any] | None, plan: list[Any], django_version: str
    ) -> _RenderCache | None:
        return cls(request, plan, django_version) if request else None

    def resume(self, connection: Any) -> int:
        """How many migrations (from the first) come from the cache, their database restored."""
        for key in self.keys:
            record = self.store.load(self.RECORD, key)
            if record is None:
                break
            self.records.append(record)
        if len(self.records) == len(self.keys):
            return len(self.keys)  # nothing to render: the database is never needed
        if self.bindir is None:
            return 0
        for i in range(len(self.records) - 1, -1, -1):
            dump = self.store.read(self.DATABASE, self.keys[i])
            if dump is not None:
                connection.close()
                if self._restore(dump):
                    return i + 1
                return 0
        return 0

    def keep(self, index: int, record: dict[str, Any]) -> None:
        self.store.save(self.RECORD, self.keys[index], record)

    def snapshot(self, index: int) -> None:
        """Keep the database as migration `index` left it, for a later run to start from."""
        if self.bindir is None or not self.keys:
            return
        proc = subprocess.run(
            [os.path.join(self.bindir, "pg_dump"), "--format=custom", "--no-owner", "--no-acl",
             f"--dbname={self.dsn}"],
            capture_output=True, check=False,
        )
        if proc.returncode == 0:
            self.store.write(self.DATABASE, self.keys[index], proc.stdout)

    def _restore(self, dump: bytes) -> bool:
        # One transaction: a restore that fails leaves the database empty, and everything is rendered.
        proc = subprocess.run(
            [os.path.join(self.bindir or "", "pg_restore"), "--no-owner", "--no-acl", "--single-transaction",
             "--exit-on-error", f"--dbname={self.dsn}"],
            input=dump, capture_output=True, check=False,
        )
        return proc.returncode == 0


def _migration_path(migration: Any) -> str:
    module = sys.modules.get(type(migration).__module__)
    return str(Path(getattr(module, "__file__", "") or "").resolve())


def _one(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


_NO_EXTENSION = re.compile(
    r'extension "(?P<name>[^"]+)" is not available'
    r"|could not open extension control file.*/(?P<file>[^/]+)\.control"
)


def _reason(err: BaseException) -> tuple[str, str]:
    """(kind, why) an operation failed, with what to do when the sandbox is the cause."""
    text = _one(err)
    m = _NO_EXTENSION.search(str(err))
    if m:
        name = m.group("name") or m.group("file")
        return "missing-extension", (
            f"the sandbox server has no {name} extension ({text}); render with a server that has it "
            "(--sandbox initdb with PostgreSQL's contrib package, or --sandbox-dsn)"
        )
    return "render-failed", text


def _apply_one(connection: Any, migration: Any, state: Any) -> tuple[dict[str, Any], Any]:
    """Apply one migration as `migrate` does (one schema editor, atomic as the migration says), capturing
    each statement as it is sent. An operation that fails is rolled back to a savepoint and recorded; the
    migration state still moves forward, so the next operations and migrations are rendered against the
    models Django expects."""
    from django.db import DatabaseError, transaction

    path = _migration_path(migration)
    try:
        source = Path(path).read_text(encoding="utf-8")
        op_lines = operation_lines(source)
        default_line = _class_line(source)
    except (OSError, SyntaxError, UnicodeDecodeError):
        op_lines, default_line = [], 1

    def line_of(i: int | None) -> int:
        return op_lines[i] if i is not None and i < len(op_lines) else default_line

    app = migration.app_label
    items: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    current: list[int | None] = [None]

    def guarded(i: int | None, work: Any) -> None:
        """Run `work`; on failure roll back to a savepoint (inside a transaction) and record why."""
        try:
            if connection.in_atomic_block:
                with transaction.atomic(savepoint=True):
                    work()
            else:
                work()
        except (Exception, DatabaseError) as err:  # the project's own code: any failure is a reason
            where = f"operation {i + 1}" if i is not None else "deferred SQL"
            kind, why = _reason(err)
            failures.append(
                {"line": line_of(i), "kind": kind, "reason": f"{app}.{migration.name} {where}: {why}"}
            )

    with connection.schema_editor(atomic=migration.atomic) as editor:
        original = editor.execute
        owners: dict[str, int] = {}

        def execute(sql: Any, params: Any = ()) -> Any:
            # Bound as the backend binds it; a parameter it cannot bind fails here, with the reason the
            # operation is named for, and no half-bound statement is kept.
            text = str(sql) if params is None else connection.ops.compose_sql(str(sql), params)
            owner = current[0] if current[0] is not None else owners.get(str(sql))
            items.append({"kind": "sql", "sql": text, "line": line_of(owner)})
            return original(sql, params)

        editor.execute = execute
        for i, op in enumerate(migration.operations):
            current[0] = i
            known = {id(d) for d in editor.deferred_sql}
            old_state = state.clone()
            op.state_forwards(app, state)
            if not op.reduces_to_sql:
                items.append(_opaque_item(op, line_of(i), state))
            guarded(i, lambda op=op, old_state=old_state: op.database_forwards(app, editor, old_state, state))
            for d in editor.deferred_sql:
                if id(d) not in known:
                    owners[str(d)] = i
        current[0] = None
        # Deferred SQL (foreign keys, indexes) runs when the schema editor closes; run it here, each
        # statement on its own, so that one failing does not take the migration's other statements with it.
        deferred, editor.deferred_sql = list(editor.deferred_sql), []
        for d in deferred:
            guarded(owners.get(str(d)), lambda d=d: editor.execute(d, None))
    record = {
        "kind": "migration",
        "app": app,
        "name": migration.name,
        "path": path,
        "atomic": bool(migration.atomic),
        "items": items,
        "failures": failures,
    }
    return record, state


def _opaque_item(op: Any, line: int, state: Any) -> dict[str, Any]:
    code = getattr(op, "code", None)
    name = type(op).__name__
    full: list[str] = []
    details: list[str] = []
    facts: list[dict[str, Any]] = []
    if code is not None and hasattr(code, "__code__"):
        name = f"{code.__module__}.{code.__qualname__}"
        try:
            source = Path(code.__code__.co_filename).read_text(encoding="utf-8")
            first = code.__code__.co_firstlineno
            models = _model_names(source, first)
            found = resolve_django(django_facts(source, first), models, state.apps)
            facts = facts_to_json(found, str(Path(code.__code__.co_filename).resolve()))
            for model, loop_line, what in full_table_loops(source, first):
                table = model
                if model in models:
                    app_label, model_name = models[model]
                    try:
                        table = state.apps.get_model(app_label, model_name)._meta.db_table
                    except LookupError:
                        table = model
                if table not in full:
                    full.append(table)
                details.append(f"line {loop_line}: {what} (table {table})")
        except (OSError, SyntaxError):
            pass
    return {
        "kind": "opaque",
        "name": name,
        "line": line,
        "full_table": full,
        "details": details,
        "facts": facts,
    }


if __name__ == "__main__":
    raise SystemExit(_child(sys.argv[1], sys.argv[2]))
