"""[tool.foreshock] -> Settings: every key, every error naming the file and the key, CLI overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foreshock.config import (
    Settings,
    find_pyproject,
    known_rule_ids,
    load_config,
    settings_from_table,
    with_overrides,
)
from foreshock.errors import ConfigError


def _pyproject(directory: Path, body: str) -> Path:
    p = directory / "pyproject.toml"
    p.write_text(body, encoding="utf-8")
    return p


def _some_rule() -> str:
    ids = known_rule_ids()
    if not ids:
        pytest.skip("rule registry not available")
    return sorted(ids)[0]


def test_defaults_without_any_config(tmp_path: Path) -> None:
    s = load_config(cwd=str(tmp_path))
    assert s == Settings()
    assert (s.analysis.pg_version, s.analysis.assume_transaction, s.analysis.timezone_utc) == (16, True, True)
    assert s.format == "tty"
    assert s.rule_enabled("anything")


def test_every_key_is_read(tmp_path: Path) -> None:
    rule = _some_rule()
    p = _pyproject(
        tmp_path,
        f"""
[tool.foreshock]
pg-version = 13
assume-transaction = false
timezone_utc = false
ignore = ["{rule}"]
format = "gcc"
show-info = true

[tool.foreshock.severity]
{rule} = "info"
""",
    )
    s = load_config(p)
    assert s.analysis.pg_version == 13
    assert s.analysis.assume_transaction is False
    assert s.analysis.timezone_utc is False
    assert s.disabled_rules == frozenset({rule})
    assert not s.rule_enabled(rule)
    assert s.format == "gcc"
    assert s.show_info is True
    assert dict(s.severities) == {rule: "info"}
    assert s.config_path == str(p)


def test_nearest_pyproject_with_a_foreshock_table_is_found_walking_up(tmp_path: Path) -> None:
    _pyproject(tmp_path, "[tool.foreshock]\npg-version = 14\n")
    inner = tmp_path / "a" / "b"
    inner.mkdir(parents=True)
    # A pyproject.toml without [tool.foreshock] in between does not stop the search.
    _pyproject(tmp_path / "a", "[project]\nname = 'x'\n")
    assert find_pyproject(inner) == tmp_path / "pyproject.toml"
    assert load_config(cwd=str(inner)).analysis.pg_version == 14


# Every way TOML can write a tool.foreshock table: a pyproject.toml is screened line by line before it is
# parsed, and none of these may be screened out.
_FORESHOCK_TABLES = [
    "[tool.foreshock]\npg-version = 15\n",
    "[tool.foreshock.severity]\nprefer-text = 'error'\n",
    '[ tool . "foreshock" ]\n',
    "[tool.'foreshock']  # ours\n",
    "\t[tool.foreshock]\r\npg-version = 15\r\n",
    "[tool]\nforeshock = {pg-version = 15}\n",
    "[tool]\nforeshock.pg-version = 15\n",
    "tool.foreshock.pg-version = 15\n",
    "tool = {foreshock = {pg-version = 15}}\n",
    '"tool".foreshock = {}\n',
    '[tool."fore\\u0073hock"]\n',
    '["\\u0074ool".foreshock]\n',
]
_OTHER_TOOLS = [
    "[project]\nname = 'foreshock'\n[project.scripts]\nforeshock = 'foreshock.__main__:main'\n",
    "[tool.ruff]\nline-length = 110\n[tool.foreshocks]\nx = 1\n[tool.ruff.foreshock]\nx = 1\n",
    "x = [\n  {tool = 1},\n]\n",
]


@pytest.mark.parametrize("body", _FORESHOCK_TABLES)
def test_every_spelling_of_a_foreshock_table_is_found(tmp_path: Path, body: str) -> None:
    path = _pyproject(tmp_path, body)
    assert find_pyproject(tmp_path) == path


@pytest.mark.parametrize("body", _OTHER_TOOLS)
def test_a_pyproject_of_other_tools_is_passed_over(tmp_path: Path, body: str) -> None:
    _pyproject(tmp_path, body)
    assert find_pyproject(tmp_path) is None


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from([*_FORESHOCK_TABLES, *_OTHER_TOOLS, "[tool]\n", "[tool.ruff]\n", "a = 1\n",
                                 "foreshock = 1\n", "[a.tool]\n"]), max_size=4))
def test_screening_a_pyproject_finds_what_parsing_it_finds(tmp_path_factory: pytest.TempPathFactory,
                                                           parts: list[str]) -> None:
    import tomllib

    directory = tmp_path_factory.mktemp("pyproject")
    path = _pyproject(directory, "".join(parts))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError:
        data = {}  # a broken file is passed over
    ours = isinstance(data.get("tool"), dict) and "foreshock" in data["tool"]
    assert find_pyproject(directory) == (path if ours else None)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "pg-version = 11",
            "[tool.foreshock] pg-version: PostgreSQL 11 is not supported; use a major version 12-17",
        ),
        ("pg-version = 18", "[tool.foreshock] pg-version: PostgreSQL 18 is not supported"),
        ("pg_version = 'sixteen'", "[tool.foreshock] pg_version: PostgreSQL version must be a number 12-17"),
        ("pg-version = true", "[tool.foreshock] pg-version: PostgreSQL version must be a number 12-17"),
        ("lock-budget = 3", "[tool.foreshock] lock-budget: unknown key"),
        ("assume-transaction = 'yes'", "[tool.foreshock] assume-transaction: expected true or false"),
        ("format = 'xml'", "[tool.foreshock] format: unknown format 'xml'"),
        ("ignore = 3", "[tool.foreshock] ignore: expected a list of rule ids"),
        ("ignore = ['no-such-rule']", "[tool.foreshock] ignore: unknown rule no-such-rule"),
        ("select = ['no-such-rule']", "[tool.foreshock] select: unknown rule no-such-rule"),
        ("severity = 'error'", "[tool.foreshock] severity: expected a table"),
        (
            "[tool.foreshock.severity]\nno-such-rule = 'info'",
            "[tool.foreshock] severity: unknown rule no-such-rule",
        ),
        ("pg-version = 14\npg_version = 15", "given twice"),
    ],
)
def test_bad_config_names_the_file_and_the_key(tmp_path: Path, body: str, message: str) -> None:
    if "unknown rule" in message and known_rule_ids() is None:
        pytest.skip("rule registry not available")
    p = _pyproject(tmp_path, "[tool.foreshock]\n" + body + "\n")
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    text = str(exc.value)
    assert text.startswith(f"{p}: ")
    assert message in text
    assert "\n" not in text


def test_bad_severity_value(tmp_path: Path) -> None:
    rule = _some_rule()
    p = _pyproject(tmp_path, f"[tool.foreshock.severity]\n{rule} = 'fatal'\n")
    with pytest.raises(ConfigError, match=rf"severity\.{rule}: must be error, warning or info, not 'fatal'"):
        load_config(p)


def test_invalid_toml_and_missing_config_file(tmp_path: Path) -> None:
    p = _pyproject(tmp_path, "[tool.foreshock\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(p)
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_explicit_file_without_table_gives_defaults(tmp_path: Path) -> None:
    p = _pyproject(tmp_path, "[project]\nname = 'x'\n")
    assert load_config(p).analysis == Settings().analysis


def test_cli_overrides_replace_configured_values(tmp_path: Path) -> None:
    p = _pyproject(tmp_path, "[tool.foreshock]\npg-version = 13\nformat = 'json'\n")
    s = with_overrides(load_config(p), pg_version="15", assume_transaction=False, format="sarif")
    assert (s.analysis.pg_version, s.analysis.assume_transaction, s.format) == (15, False, "sarif")
    # Not given on the command line: the file's value stays.
    assert with_overrides(load_config(p)).analysis.pg_version == 13
    assert with_overrides(load_config(p), show_info=True).show_info is True
    assert load_config(p).show_info is False  # info findings hidden from tty/gcc/github by default


def test_cli_override_errors_name_the_option() -> None:
    with pytest.raises(ConfigError, match=r"^--pg-version: PostgreSQL 11 is not supported"):
        with_overrides(Settings(), pg_version="11")
    with pytest.raises(ConfigError, match=r"^--pg-version: PostgreSQL version must be a number"):
        with_overrides(Settings(), pg_version="latest")
    if known_rule_ids() is not None:
        with pytest.raises(ConfigError, match=r"^--select: unknown rule bogus"):
            with_overrides(Settings(), select=["bogus"])


def test_select_and_ignore_combine() -> None:
    ids = sorted(known_rule_ids() or ())
    if len(ids) < 2:
        pytest.skip("needs two rules")
    s = with_overrides(Settings(), select=ids[:2], ignore=[ids[1]])
    assert s.rule_enabled(ids[0])
    assert not s.rule_enabled(ids[1])
    assert not s.rule_enabled(ids[2]) if len(ids) > 2 else True


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.format = "json"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.severities["x"] = "info"  # type: ignore[index]


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 40) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3)
    ),
    max_leaves=6,
)
_keys = st.sampled_from(
    [
        "pg-version",
        "pg_version",
        "assume-transaction",
        "timezone-utc",
        "select",
        "ignore",
        "format",
        "severity",
        "deployment",
        "window",
        "bogus",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=4))
def test_any_table_gives_settings_or_a_one_line_config_error(table: dict[str, object]) -> None:
    try:
        s = settings_from_table({k: v for k, v in table.items() if v is not None}, "pyproject.toml")
    except ConfigError as err:
        assert str(err).startswith("pyproject.toml: [tool.foreshock] ")
        assert "\n" not in str(err)
    else:
        assert 12 <= s.analysis.pg_version <= 17
        assert s.format in ("tty", "gcc", "json", "sarif", "github")
