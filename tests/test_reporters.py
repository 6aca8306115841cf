"""Every reporter on hand-built results: golden files, the JSON contract, SARIF structure, escaping."""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foreshock.core.locks import LockMode
from foreshock.core.model import CheckResult, Effect, FileAnalysis, Finding, Statement, StatementAnalysis
from foreshock.errors import InputError
from foreshock.report import FORMATS, render
from foreshock.report.github_report import escape_data, escape_property
from reporting_data import RUNAWAY, clean_result, runaway_result


def _render(result: CheckResult, fmt: str) -> str:
    out = io.StringIO()
    render(result, fmt, out)
    return out.getvalue()


@pytest.fixture(autouse=True)
def _no_forced_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    monkeypatch.setenv("COLUMNS", "100")


@pytest.mark.parametrize("fmt", FORMATS)
def test_golden(fmt: str, golden: Any) -> None:
    ext = {"json": "json", "sarif": "sarif"}.get(fmt, "txt")
    golden.check(f"runaway.{fmt}.{ext}", _render(runaway_result(), fmt))


def test_gcc_is_one_line_per_finding() -> None:
    lines = _render(runaway_result(), "gcc").splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(
        f"{RUNAWAY}:4:1: error: [runaway-transaction] AccessExclusiveLock on public.orders"
    )
    assert (
        lines[1] == f"{RUNAWAY}:5:1: warning: [set-not-null] SET NOT NULL scans public.orders under "
        "AccessExclusiveLock"
    )
    # info is gcc's "note"; embedded newlines never split a finding over two lines
    assert lines[2] == f"{RUNAWAY}:1:1: note: [no-lock-timeout] no lock_timeout: 50%, a,b: c next"
    assert _render(clean_result(), "gcc") == ""


def test_json_contract() -> None:
    data = json.loads(_render(runaway_result(), "json"))
    assert data["version"] == 1
    assert {"files", "transactions", "errors", "summary"} <= set(data)
    assert data["transactions"] == [{"path": RUNAWAY, **t} for t in data["files"][0]["transactions"]]
    f = data["files"][0]
    assert f["path"] == RUNAWAY
    st2 = f["statements"][2]
    assert (st2["line"], st2["column"]) == (4, 1)
    assert st2["effects"] == [
        {
            "table": "public.orders",
            "lock": "RowExclusiveLock",
            "rewrite": False,
            "scan": True,
            "blocks": [],
            "reason": "UPDATE without WHERE",
            "unknown": None,
        }
    ]
    (finding,) = st2["findings"]
    assert {k: finding[k] for k in ("rule", "severity", "line", "column")} == {
        "rule": "runaway-transaction",
        "severity": "error",
        "line": 4,
        "column": 1,
    }
    assert finding["message"].startswith("AccessExclusiveLock on public.orders")
    # File-level findings (statement -1) sit on the file, not on a statement
    assert [x["rule"] for x in f["findings"]] == ["no-lock-timeout"]
    tx = f["transactions"][0]
    assert tx["explicit"] is True
    assert tx["locks"][0] | {} == {
        "table": "public.orders",
        "lock": "AccessExclusiveLock",
        "sql_lock": "ACCESS EXCLUSIVE",
        "blocks": ["reads", "writes", "ddl"],
        "acquired_by": 1,
        "longest_holder": 2,
        "reason": "full-table UPDATE",
    }
    assert data["errors"] == [
        {
            "path": "migrations/005_bad.sql",
            "line": 2,
            "column": 8,
            "message": 'syntax error at or near "TABL" (fix the SQL; PostgreSQL\'s parser rejects it)',
        },
        {"path": "migrations/missing.sql", "line": 0, "column": 0, "message": "no such file or directory"},
    ]
    assert data["summary"] == {
        "files": 2,
        "statements": 6,
        "findings": 3,
        "error": 1,
        "warning": 1,
        "info": 1,
        "input_errors": 2,
        "migrations": {"found": 2, "analysed": 2, "not_analysed": 0},
        "exit_code": 2,
        "hidden_info": 0,
        "within_budget": 0,
    }
    assert data["not_analysed"] == [] and data["layouts"] == [] and data["notes"] == []
    for fl in data["files"]:
        for s in fl["statements"]:
            for sev in (x["severity"] for x in s["findings"]):
                assert sev in ("error", "warning", "info")


def test_info_findings_hidden_from_human_formats_by_default() -> None:
    """Info notes drowned the findings that matter on real projects: tty, gcc and github leave them out
    unless asked, and say how many; json and sarif list every finding."""
    hidden = dataclasses.replace(runaway_result(), show_info=False)
    assert hidden.hidden_info == 1
    for fmt in ("tty", "gcc", "github"):
        text = _render(hidden, fmt)
        assert "no-lock-timeout" not in text, fmt
        assert "runaway-transaction" in text, fmt
    assert "1 info not listed (--show-info lists them)" in _render(hidden, "tty")
    data = json.loads(_render(hidden, "json"))
    assert data["summary"]["hidden_info"] == 1 and data["summary"]["info"] == 1
    assert [x["rule"] for x in data["files"][0]["findings"]] == ["no-lock-timeout"]
    assert "no-lock-timeout" in _render(hidden, "sarif")


def _check_sarif(doc: dict[str, Any]) -> None:
    """The parts of the SARIF 2.1.0 schema that consumers (GitHub code scanning) rely on."""
    assert doc["version"] == "2.1.0"
    assert doc["$schema"].endswith("sarif-2.1.0.json")
    assert isinstance(doc["runs"], list) and doc["runs"]
    for run in doc["runs"]:
        driver = run["tool"]["driver"]
        assert isinstance(driver["name"], str) and driver["name"]
        rules = driver.get("rules", [])
        ids = [r["id"] for r in rules]
        assert len(ids) == len(set(ids))
        for r in rules:
            assert isinstance(r["id"], str)
            assert isinstance(r["shortDescription"]["text"], str)
            assert r["defaultConfiguration"]["level"] in ("none", "note", "warning", "error")
        for res in run["results"]:
            assert isinstance(res["message"]["text"], str) and res["message"]["text"]
            assert res["level"] in ("none", "note", "warning", "error")
            assert ids[res["ruleIndex"]] == res["ruleId"]
            for loc in res["locations"]:
                phys = loc["physicalLocation"]
                assert isinstance(phys["artifactLocation"]["uri"], str)
                assert " " not in phys["artifactLocation"]["uri"]
                region = phys["region"]
                assert isinstance(region["startLine"], int) and region["startLine"] >= 1
                assert isinstance(region["startColumn"], int) and region["startColumn"] >= 1
        for inv in run.get("invocations", []):
            assert isinstance(inv["executionSuccessful"], bool)
            for note in inv.get("toolExecutionNotifications", []):
                assert isinstance(note["message"]["text"], str)


def test_sarif_structure() -> None:
    doc = json.loads(_render(runaway_result(), "sarif"))
    _check_sarif(doc)
    run = doc["runs"][0]
    assert [r["ruleId"] for r in run["results"]] == ["runaway-transaction", "set-not-null", "no-lock-timeout"]
    loc = run["results"][0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": RUNAWAY, "uriBaseId": "%SRCROOT%"}
    assert loc["region"] == {"startLine": 4, "startColumn": 1}
    assert run["invocations"][0]["executionSuccessful"] is False
    _check_sarif(json.loads(_render(clean_result(), "sarif")))


def test_github_annotations_are_escaped() -> None:
    lines = _render(runaway_result(), "github").splitlines()
    assert len(lines) == 5  # 3 findings + 2 input errors, each exactly one line
    assert lines[0].startswith(
        f"::error file={RUNAWAY.replace(':', '%3A')},line=4,col=1,title=foreshock runaway-transaction::"
    )
    assert "%0ASafer%3A" not in lines[0] and "%0A%0ASafer:%0A-- 1%0AALTER TABLE" in lines[0]
    assert lines[2] == (
        f"::notice file={RUNAWAY},line=1,col=1,title=foreshock no-lock-timeout::"
        "no lock_timeout: 50%25, a,b: c%0D%0Anext"
    )
    assert (
        lines[4]
        == "::error file=migrations/missing.sql,title=foreshock could not analyse::no such file or directory"
    )
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert escape_data("a:b,c") == "a:b,c"


def test_tty_report_names_lock_holder_fix_and_summary() -> None:
    text = _render(runaway_result(), "tty")
    assert "\x1b[" not in text  # not a terminal: no escape codes
    assert "transaction 1: BEGIN … COMMIT at 1:1" in text
    assert (
        "public.orders AccessExclusiveLock (ACCESS EXCLUSIVE) blocks reads, writes, ddl; taken at 3:1, "
        "held longest by 4:1 UPDATE orders SET status = 'paid';" in text
    )
    assert "error [runaway-transaction]" in text
    assert "safer:" in text and "UPDATE orders SET status = 'paid' WHERE id BETWEEN $1 AND $2;" in text
    assert "could not analyse: migrations/005_bad.sql:2:8: syntax error" in text
    assert text.rstrip().endswith(
        "foreshock (PostgreSQL 16): 2 files, 6 statements, 1 error, 1 warning, 1 info, "
        "2 inputs could not be analysed"
    )
    assert "(1 statement with no effect on existing tables)" in text
    assert "estimated hold: ~90 min (30 min–4 h), from stats.json" in text
    blind = _render(dataclasses.replace(runaway_result(), size_blind=True), "tty")
    assert blind.rstrip().endswith("(table sizes unknown: verdicts do not depend on production size)")


# --- property: any result, every reporter, no exception, structure holds --------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_lock = st.sampled_from(list(LockMode))


@st.composite
def _results(draw: st.DrawFn) -> CheckResult:
    files = []
    findings = []
    for fi in range(draw(st.integers(0, 3))):
        path = draw(_text) or f"f{fi}.sql"
        # One FileAnalysis per path, as check produces (a path named twice is read once).
        if any(f.path == path for f in files):
            path = f"{path}#{fi}"
        stmts = []
        for i in range(draw(st.integers(0, 4))):
            line = draw(st.integers(1, 10_000))
            s = Statement(path, i, line, draw(st.integers(1, 200)), line, 1, draw(_text), "X")
            effects = tuple(
                Effect(draw(_text), draw(_lock), draw(st.booleans()), draw(st.booleans()), draw(_text))
                for _ in range(draw(st.integers(0, 2)))
            )
            stmts.append(StatementAnalysis(s, effects, None))
            for _ in range(draw(st.integers(0, 2))):
                findings.append(
                    Finding(
                        draw(st.from_regex(r"[a-z][a-z-]{0,20}", fullmatch=True)),
                        draw(st.sampled_from(["error", "warning", "info"])),
                        draw(_text),
                        draw(st.sampled_from([path, path, "elsewhere.sql"])),
                        line,
                        1,
                        draw(st.sampled_from([i, -1, 99])),
                        fix=draw(st.none() | _text),
                        lock=draw(st.none() | _lock),
                    )
                )
        files.append(FileAnalysis(path, tuple(stmts), ()))
    errors = tuple(
        InputError(draw(_text), draw(_text), draw(st.integers(0, 5)), draw(st.integers(0, 5)))
        for _ in range(draw(st.integers(0, 2)))
    )
    return CheckResult(tuple(files), tuple(findings), errors, 16)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_results())
def test_every_reporter_handles_any_result(result: CheckResult) -> None:
    for fmt in FORMATS:
        out = _render(result, fmt)
        if fmt == "json":
            data = json.loads(out)
            assert len(data["files"]) == len(result.files)
            # Every finding appears exactly once: on its statement, its file, or at the top level.
            placed = len(data["findings"]) + sum(
                len(f["findings"]) + sum(len(s["findings"]) for s in f["statements"]) for f in data["files"]
            )
            assert placed == len(result.findings)
        elif fmt == "sarif":
            _check_sarif(json.loads(out))
        elif fmt == "gcc":
            assert out.count("\n") == len(result.findings)
        elif fmt == "github":
            assert out.count("\n") == len(result.findings) + len(result.errors)
            assert "\r" not in out


def test_tty_colours_on_a_terminal_carry_the_same_text(monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    plain = _render(runaway_result(), "tty")
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = _render(runaway_result(), "tty")
    assert "\x1b[" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == plain


def test_tty_never_passes_control_characters_from_migrations_to_the_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result = runaway_result()
    evil = dataclasses.replace(result.findings[0], message="see \x1b]0;pwned\x07 and \x1b[2J here")
    evil_result = dataclasses.replace(result, findings=(evil, *result.findings[1:]))
    text = _render(evil_result, "tty")
    assert "\x1b" not in text and "\x07" not in text
    assert "see ]0;pwned and [2J here" in text
    monkeypatch.setenv("FORCE_COLOR", "1")
    coloured = _render(evil_result, "tty")
    assert "\x1b]0;pwned" not in coloured and "\x1b[2J" not in coloured and "\x07" not in coloured
