"""`[tool.foreshock]` in pyproject.toml -> frozen Settings. Unknown keys and unknown rule ids are errors.

Keys (kebab-case; snake_case spellings are accepted too):

    [tool.foreshock]
    pg-version = 16               # target PostgreSQL major version, 12-17
    assume-transaction = true     # each file runs in one transaction (what most frameworks do)
    timezone-utc = true           # the migration session runs with TimeZone = UTC
    select = ["rule-id", ...]     # only these rules (default: all)
    ignore = ["rule-id", ...]     # never these rules
    format = "tty"                # default --format: tty, gcc, json, sarif, github
    layout = "goose"              # read directories as this tool's layout (default: detected per directory)
    accept-not-analysed = false   # true: migrations that cannot be analysed do not make the exit code 2
    include-down = false          # also check down/undo/rollback SQL, as a report of its own
    django-settings = "mysite.settings"   # Django settings module (default: read from manage.py)
    alembic-config = "db/alembic.ini"     # the Alembic ini file, whatever its name
    sandbox = "auto"              # server that renders Django / online Alembic: auto, embedded, initdb, dsn
    render-timeout = 1800         # seconds a Django render may take before the rest is named
    deployment = "online"         # online (zero downtime) or window (the service is down while it runs)
    window = "10min"              # the maintenance window a window deployment is judged against
    show-info = false             # list info findings in tty, gcc and github output (json, sarif: always)

    [tool.foreshock.severity]
    rule-id = "warning"           # error, warning or info

    [tool.foreshock.transaction]  # transaction mode per path glob (relative to this file; * crosses /)
    "db/migrations/nontx/*" = "none"   # each statement on its own (written BEGIN ... COMMIT still counts)
    "db/migrations/*" = "file"         # each file in one transaction

`deployment` may instead be a table of path globs (relative to the file holding it; `*` crosses `/`; the first
match wins, paths no glob matches deploy online):

    [tool.foreshock.deployment]
    "selfhosted/migrations/*" = "window"

The file is the one given with `--config`, else the nearest pyproject.toml with a [tool.foreshock] table
found walking up from the current directory. Command-line options override it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from foreshock.core.model import LAYOUTS, SEVERITIES, AnalysisSettings, Severity, SourceSettings
from foreshock.core.quantities import parse_duration
from foreshock.errors import ConfigError
from foreshock.rules.deployment import Deployment, DeploymentSettings

SUPPORTED_PG_VERSIONS = range(12, 18)
FORMATS = ("tty", "gcc", "json", "sarif", "github")

_KEYS = (
    "pg-version",
    "assume-transaction",
    "timezone-utc",
    "select",
    "ignore",
    "format",
    "severity",
    "layout",
    "accept-not-analysed",
    "include-down",
    "django-settings",
    "alembic-config",
    "sandbox",
    "render-timeout",
    "transaction",
    "deployment",
    "window",
    "show-info",
)
DEPLOYMENTS = tuple(d.value for d in Deployment)
SANDBOXES = ("auto", "embedded", "initdb", "dsn")
TRANSACTION_MODES = {"file": True, "none": False}


@dataclass(frozen=True, repr=False)
class Settings:
    """Everything a run is configured with. `analysis` is what the pure core sees."""

    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)
    enabled_rules: frozenset[str] | None = None  # None: every rule
    disabled_rules: frozenset[str] = frozenset()
    severities: Mapping[str, Severity] = field(default_factory=lambda: MappingProxyType({}))
    format: str = "tty"
    # Info-level findings (style notes, duration findings within budget) are left out of the tty, gcc and
    # github output unless asked for: they drowned the findings that matter (json and sarif keep them all).
    show_info: bool = False
    config_path: str | None = None  # where [tool.foreshock] was read from, for messages
    sources: SourceSettings = field(default_factory=SourceSettings)
    accept_not_analysed: bool = False
    deployment: DeploymentSettings = field(default_factory=DeploymentSettings)

    @property
    def pg_version(self) -> int:
        return self.analysis.pg_version

    def rule_enabled(self, rule_id: str) -> bool:
        if rule_id in self.disabled_rules:
            return False
        return self.enabled_rules is None or rule_id in self.enabled_rules


def known_rule_ids() -> frozenset[str] | None:
    """Ids of every registered rule; None when the rule registry cannot be loaded (then ids go unchecked)."""
    try:
        from foreshock.rules import rule_ids

        return rule_ids()  # from the rule index: no rule module is imported
    except ImportError:
        return None


def find_pyproject(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest pyproject.toml with a [tool.foreshock] table, walking up from `start` (default: cwd)."""
    here = Path(start or os.getcwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            # A broken pyproject.toml is not ours to judge unless it is the one we use.
            try:
                text = candidate.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if not _may_configure(text):
                continue
            import tomllib

            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError:
                continue
            if isinstance(data.get("tool"), dict) and "foreshock" in data["tool"]:
                return candidate
    return None


# A line whose key path starts with `tool` and then `foreshock` (a [tool.foreshock...] header, a dotted
# `tool.foreshock.x = ...` key), or is `tool` itself (a [tool] table, `tool = {...}`), in any quoting TOML
# allows. Only such a line can give a document a tool.foreshock table; \u or \U escapes in a quoted key
# could spell it otherwise, so a file holding either is parsed too.
_MAY_CONFIGURE = (
    r"""^[ \t]*(?:\[\[?[ \t]*)?(?:tool|"tool"|'tool')[ \t]*"""
    r"""(?:=|\]|\.[ \t]*(?:foreshock|"foreshock"|'foreshock')[ \t]*[.=\]])"""
)


def _may_configure(text: str) -> bool:
    """False when `text` cannot hold a [tool.foreshock] table: most pyproject.toml files configure other
    tools only, and such a file is then neither parsed nor tomllib imported (a few ms of every run)."""
    import re

    return "\\u" in text or "\\U" in text or re.search(_MAY_CONFIGURE, text, re.MULTILINE) is not None


def check_pg_version(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"{where}: PostgreSQL version must be a number 12-17, got {value!r}")
    try:
        version = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{where}: PostgreSQL version must be a number 12-17, got {value!r}") from None
    if version not in SUPPORTED_PG_VERSIONS:
        raise ConfigError(f"{where}: PostgreSQL {version} is not supported; use a major version 12-17")
    return version


def check_rule_ids(ids: Iterable[str], where: str) -> frozenset[str]:
    chosen = frozenset(ids)
    known = known_rule_ids()
    if known is not None:
        unknown = sorted(chosen - known)
        if unknown:
            # An id with white space or control characters is quoted: the message stays one line.
            shown = ", ".join(u if u.isprintable() and u.strip() == u and u else repr(u) for u in unknown)
            raise ConfigError(f"{where}: unknown rule {shown} (see `foreshock rules`)")
    return chosen


def _str_list(value: object, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise ConfigError(f"{where}: expected a list of rule ids, got {value!r}")


def check_deployment(value: object, where: str) -> Deployment:
    if value not in DEPLOYMENTS:
        raise ConfigError(f"{where}: unknown deployment {value!r}; use one of {', '.join(DEPLOYMENTS)}")
    return Deployment(str(value))


def check_window(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where}: expected a duration such as \"10min\", got {value!r}")
    seconds = parse_duration(value, where)
    if not seconds > 0:
        raise ConfigError(f"{where}: the maintenance window must be longer than 0 s, got {value!r}")
    return seconds


def _deployment(value: object, where: str, source: str) -> DeploymentSettings:
    """`deployment = "window"`, or a table of "glob" = "online" | "window" (first match wins)."""
    if not isinstance(value, dict):
        return DeploymentSettings(default=check_deployment(value, where))
    globs = tuple(
        (str(pattern), check_deployment(mode, f"{where}.{pattern!r}")) for pattern, mode in value.items()
    )
    return DeploymentSettings(globs=globs, root=str(Path(source).resolve().parent))


def _bool(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def settings_from_table(table: Mapping[str, Any], source: str) -> Settings:
    """Validate one [tool.foreshock] table; every error names the file and the key."""
    values: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("_", "-")
        where = f"{source}: [tool.foreshock] {raw_key}"
        if key not in _KEYS:
            raise ConfigError(f"{where}: unknown key (known keys: {', '.join(_KEYS)})")
        if key in values:
            raise ConfigError(f"{where}: given twice")
        values[key] = (value, where)

    analysis = AnalysisSettings()
    settings = Settings(config_path=source)
    if "pg-version" in values:
        value, where = values["pg-version"]
        analysis = replace(analysis, pg_version=check_pg_version(value, where))
    if "assume-transaction" in values:
        analysis = replace(analysis, assume_transaction=_bool(*values["assume-transaction"]))
    if "timezone-utc" in values:
        analysis = replace(analysis, timezone_utc=_bool(*values["timezone-utc"]))
    settings = replace(settings, analysis=analysis)
    if "select" in values:
        value, where = values["select"]
        settings = replace(settings, enabled_rules=check_rule_ids(_str_list(value, where), where))
    if "ignore" in values:
        value, where = values["ignore"]
        settings = replace(settings, disabled_rules=check_rule_ids(_str_list(value, where), where))
    if "show-info" in values:
        settings = replace(settings, show_info=_bool(*values["show-info"]))
    if "format" in values:
        value, where = values["format"]
        if value not in FORMATS:
            raise ConfigError(f"{where}: unknown format {value!r}; use one of {', '.join(FORMATS)}")
        settings = replace(settings, format=value)
    if "severity" in values:
        value, where = values["severity"]
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table of rule-id = \"error\" | \"warning\" | \"info\"")
        check_rule_ids(value, where)
        severities: dict[str, Severity] = {}
        for rule_id, level in value.items():
            if level not in SEVERITIES:
                raise ConfigError(f"{where}.{rule_id}: must be error, warning or info, not {level!r}")
            severities[rule_id] = level
        settings = replace(settings, severities=MappingProxyType(severities))
    if "deployment" in values:
        value, where = values["deployment"]
        settings = replace(settings, deployment=_deployment(value, where, source))
    if "window" in values:
        window = check_window(*values["window"])
        settings = replace(settings, deployment=replace(settings.deployment, window=window))
    return _source_keys(settings, values, source)


def _choice(value: object, where: str, what: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(f"{where}: unknown {what} {value!r}; use one of {', '.join(choices)}")
    return str(value)


def check_layout(value: object, where: str) -> str:
    return _choice(value, where, "layout", LAYOUTS)


def check_sandbox(value: object, where: str) -> str:
    return _choice(value, where, "sandbox", SANDBOXES)


def check_timeout(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where}: expected a number of seconds, got {value!r}")
    try:
        seconds = float(str(value).strip().removesuffix("s"))
    except ValueError:
        raise ConfigError(f"{where}: expected a number of seconds, got {value!r}") from None
    if not seconds > 0:
        raise ConfigError(f"{where}: must be more than 0 seconds, got {value!r}")
    return seconds


def _str(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return value.strip()


def _source_keys(settings: Settings, values: Mapping[str, tuple[Any, str]], source: str) -> Settings:
    src = settings.sources
    checks: tuple[tuple[str, str, Callable[[Any, str], Any]], ...] = (
        ("layout", "layout", check_layout),
        ("include-down", "include_down", _bool),
        ("django-settings", "django_settings", _str),
        ("sandbox", "sandbox", check_sandbox),
        ("render-timeout", "render_timeout", check_timeout),
    )
    for key, attr, check in checks:
        if key in values:
            src = replace(src, **{attr: check(*values[key])})
    if "alembic-config" in values:
        value, where = values["alembic-config"]
        path = Path(_str(value, where))
        src = replace(src, alembic_config=str(path if path.is_absolute() else Path(source).parent / path))
    if "transaction" in values:
        value, where = values["transaction"]
        if not isinstance(value, dict):
            raise ConfigError(f'{where}: expected a table of "glob" = "file" | "none"')
        globs: list[tuple[str, bool]] = []
        for pattern, mode in value.items():
            if mode not in TRANSACTION_MODES:
                raise ConfigError(f"{where}.{pattern!r}: must be \"file\" or \"none\", not {mode!r}")
            globs.append((pattern, TRANSACTION_MODES[mode]))
        src = replace(src, transaction_globs=tuple(globs), glob_root=str(Path(source).resolve().parent))
    out = replace(settings, sources=src)
    if "accept-not-analysed" in values:
        out = replace(out, accept_not_analysed=_bool(*values["accept-not-analysed"]))
    return out


def load_config(path: str | os.PathLike[str] | None = None, *, cwd: str | None = None) -> Settings:
    """Settings from `path` (a TOML file with [tool.foreshock]), else from the nearest pyproject.toml.

    No config anywhere -> defaults. A file given explicitly must exist and parse.
    """
    if path is None:
        found = find_pyproject(cwd)
        if found is None:
            return Settings()
        path = found
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source}: config file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{source}: cannot read config file ({err})") from None
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: invalid TOML: {err}") from None
    tool = data.get("tool", {})
    table = tool.get("foreshock") if isinstance(tool, dict) else None
    if table is None:
        return Settings(config_path=source)
    if not isinstance(table, dict):
        raise ConfigError(f"{source}: [tool.foreshock] must be a table")
    return settings_from_table(table, source)


def with_overrides(
    settings: Settings,
    *,
    pg_version: int | str | None = None,
    assume_transaction: bool | None = None,
    select: Iterable[str] = (),
    ignore: Iterable[str] = (),
    format: str | None = None,
    layout: str | None = None,
    accept_not_analysed: bool | None = None,
    include_down: bool | None = None,
    django_settings: str | None = None,
    alembic_config: str | None = None,
    sandbox: str | None = None,
    sandbox_dsn: str | None = None,
    render_timeout: float | str | None = None,
    deployment: str | None = None,
    window: str | float | None = None,
    show_info: bool | None = None,
) -> Settings:
    """Command-line options over the file: a given option replaces the configured value (`--deployment` sets
    every path's, whatever globs the file holds)."""
    analysis = settings.analysis
    if pg_version is not None:
        analysis = replace(analysis, pg_version=check_pg_version(pg_version, "--pg-version"))
    if assume_transaction is not None:
        analysis = replace(analysis, assume_transaction=assume_transaction)
    out = replace(settings, analysis=analysis)
    selected = list(select)
    if selected:
        out = replace(out, enabled_rules=check_rule_ids(selected, "--select"))
    ignored = list(ignore)
    if ignored:
        out = replace(out, disabled_rules=out.disabled_rules | check_rule_ids(ignored, "--ignore"))
    if format is not None:
        if format not in FORMATS:
            raise ConfigError(f"--format: unknown format {format!r}; use one of {', '.join(FORMATS)}")
        out = replace(out, format=format)
    src = out.sources
    if layout is not None:
        src = replace(src, layout=check_layout(layout, "--layout"))
    if include_down is not None:
        src = replace(src, include_down=include_down)
    if django_settings is not None:
        src = replace(src, django_settings=_str(django_settings, "--django-settings"))
    if alembic_config is not None:
        src = replace(src, alembic_config=_str(alembic_config, "--alembic-config"))
    if sandbox is not None:
        src = replace(src, sandbox=check_sandbox(sandbox, "--sandbox"))
    if sandbox_dsn is not None:
        src = replace(src, sandbox_dsn=_str(sandbox_dsn, "--sandbox-dsn"))
    if render_timeout is not None:
        src = replace(src, render_timeout=check_timeout(render_timeout, "--render-timeout"))
    out = replace(out, sources=src)
    if accept_not_analysed is not None:
        out = replace(out, accept_not_analysed=accept_not_analysed)
    if deployment is not None:
        chosen = check_deployment(deployment, "--deployment")
        out = replace(out, deployment=DeploymentSettings(default=chosen, window=out.deployment.window))
    if window is not None:
        if not out.deployment.any_window:
            raise ConfigError(
                "--window: only window deployments have a maintenance window; add --deployment window"
            )
        out = replace(out, deployment=replace(out.deployment, window=check_window(window, "--window")))
    if show_info is not None:
        out = replace(out, show_info=show_info)
    return out
