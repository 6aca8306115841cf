"""benchmarks/peer_suites.py keeps reading the peers' layouts: small squawk- and eugene-shaped trees."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "peer_suites.py"

RULE_FILE = """
pub(crate) fn require_concurrent_index_creation() {}

#[cfg(test)]
mod test {
    use crate::{Rule, test_utils::{lint_errors, lint_ok}};

    #[test]
    fn plain_index_err() {
        let sql = r#"
CREATE INDEX "field_name_idx" ON "table_name" ("field_name");
        "#;
        assert_snapshot!(lint_errors(sql, Rule::RequireConcurrentIndexCreation));
    }

    #[test]
    fn inline_string_err() {
        assert_snapshot!(lint_errors("CREATE INDEX i ON t (c);\\
            ", Rule::RequireConcurrentIndexCreation), @"
        warning[require-concurrent-index-creation]: ...
        ");
    }

    #[test]
    fn empty_snapshot_is_not_must_flag() {
        assert_snapshot!(lint_errors("CREATE TABLE t (c int); CREATE INDEX i ON t (c);",
            Rule::RequireConcurrentIndexCreation), @"");
    }

    #[test]
    fn concurrently_ok() {
        let sql = "CREATE INDEX CONCURRENTLY i ON t (c);";
        lint_ok(sql, Rule::RequireConcurrentIndexCreation);
    }
}
"""


def _trees(tmp_path: Path) -> tuple[Path, Path]:
    squawk = tmp_path / "squawk"
    rules = squawk / "crates" / "squawk_linter" / "src" / "rules"
    (rules / "snapshots").mkdir(parents=True)
    (rules / "require_concurrent_index_creation.rs").write_text(RULE_FILE, encoding="utf-8")
    (
        rules
        / "snapshots"
        / "squawk_linter__rules__require_concurrent_index_creation__test__plain_index_err.snap"
    ).write_text("---\nsource: x\n---\nwarning[require-concurrent-index-creation]: ...\n", encoding="utf-8")
    eugene = tmp_path / "eugene"
    ex = eugene / "eugene" / "examples" / "E6"
    ex.mkdir(parents=True)
    setup = "-- 1.sql\ncreate table books (id int primary key, title text);\n\n"
    (ex / "bad.sql").write_text(
        setup + "-- 2.sql\ncreate index books_title_idx on books (title);\n", encoding="utf-8"
    )
    (ex / "good.sql").write_text(
        setup + "-- 2.sql\ncreate index concurrently books_title_idx on books (title);\n", encoding="utf-8"
    )
    return squawk, eugene


def test_reads_both_suites_and_judges_each_case(tmp_path: Path) -> None:
    squawk, eugene = _trees(tmp_path)
    out = tmp_path / "peers.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--squawk", str(squawk), "--eugene", str(eugene), "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    cases = {c["case"]: c for c in json.loads(out.read_text(encoding="utf-8"))}
    # lint_ok and the case whose snapshot records no error are not must-flag cases
    assert set(cases) == {
        "require_concurrent_index_creation::plain_index_err",
        "require_concurrent_index_creation::inline_string_err",
        "E6",
    }
    plain = cases["require_concurrent_index_creation::plain_index_err"]
    assert plain["peer_rule"] == "require-concurrent-index-creation" and plain["category"] == "lock"
    assert 'CREATE INDEX "field_name_idx"' in plain["scripts"][0]
    assert plain["options"] == ["--no-assume-transaction"]
    assert (
        cases["require_concurrent_index_creation::inline_string_err"]["scripts"][0]
        == "CREATE INDEX i ON t (c);"
    )
    e6 = cases["E6"]
    assert len(e6["scripts"]) == 2 and e6["judged_from"] == 1
    assert e6["flagged"] and "creating-index-non-concurrently" in e6["flagged_by"]
    assert "creating-index-non-concurrently" not in e6["also_on_good"]
    assert "eugene: flagged per category" in proc.stdout and "squawk: flagged per category" in proc.stdout
