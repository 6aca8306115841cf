"""The parser front: exact positions, DO blocks, directives, and errors that never stop the rest."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foreshock.core.sql import LineIndex, parse, parse_directive
from foreshock.errors import InputError


def positions(text: str) -> list[tuple[int, int, str]]:
    return [(s.line, s.column, s.kind) for s in parse(text, "m.sql").statements]


def test_positions_are_one_based_lines_and_columns() -> None:
    text = "SELECT 1;\n  CREATE TABLE t (a int);\nALTER TABLE t\n  ADD COLUMN b int;"
    assert positions(text) == [(1, 1, "SelectStmt"), (2, 3, "CreateStmt"), (3, 1, "AlterTableStmt")]


def test_positions_count_characters_not_bytes_after_non_ascii() -> None:
    # Each of 'é', 'ö', '日' is 2-3 bytes in UTF-8; libpg_query counts bytes, foreshock must count characters.
    text = "-- héllo wörld 日本\nSELECT 'ü日本'; ALTER TABLE \"tä\" ADD COLUMN \"ß\" int;\n"
    stmts = parse(text, "m.sql").statements
    assert [(s.line, s.column) for s in stmts] == [(2, 1), (2, 15)]
    assert stmts[1].text == 'ALTER TABLE "tä" ADD COLUMN "ß" int'
    assert stmts[1].end_line == 2 and stmts[1].end_column == 14 + len(stmts[1].text)


def test_statement_text_excludes_leading_comments_and_semicolon() -> None:
    stmts = parse("/* a */ -- b\n  UPDATE t SET a = 1 ;\n", "m.sql").statements
    assert stmts[0].text == "UPDATE t SET a = 1"
    assert (stmts[0].line, stmts[0].column) == (2, 3)


def test_syntax_error_is_positioned_and_other_statements_survive() -> None:
    text = "SELECT 1;\nALTER TABLE t ADD COLUMN ;\n\nCREATE INDEX i ON t (a);\n"
    parsed = parse(text, "m.sql")
    assert [s.kind for s in parsed.statements] == ["SelectStmt", "IndexStmt"]
    assert len(parsed.errors) == 1
    err = parsed.errors[0]
    assert (err.path, err.line, err.column) == ("m.sql", 2, 26)
    assert str(err).startswith("m.sql:2:26: syntax error at or near \";\"")


def test_syntax_error_after_non_ascii_points_at_the_right_column() -> None:
    parsed = parse("SELECT 'ääää';\nSELECT 'ü', FROM x;", "m.sql")
    assert [(e.line, e.column) for e in parsed.errors] == [(2, 13)]


@pytest.mark.parametrize(
    ("text", "where", "needle"),
    [
        ("SELECT 1;\nSELECT 'abc", (2, 8), "unterminated quoted string"),
        ("SELECT 1;\nDO $body$ BEGIN NULL; END", (2, 4), "unterminated dollar-quoted string"),
        ("SELECT 1; /* never closed", (1, 11), "unterminated /* comment"),
    ],
)
def test_unterminated_tokens(text: str, where: tuple[int, int], needle: str) -> None:
    parsed = parse(text, "m.sql")
    assert len(parsed.errors) == 1
    assert (parsed.errors[0].line, parsed.errors[0].column) == where
    assert needle in parsed.errors[0].message
    assert "(close the" in parsed.errors[0].message


def test_empty_and_comment_only_files_have_no_statements_and_no_errors() -> None:
    for text in ("", "   \n\n", "-- nothing here\n/* nor here */\n"):
        parsed = parse(text, "m.sql")
        assert parsed.statements == () and parsed.errors == ()


def test_do_block_statements_are_seen_with_positions() -> None:
    text = (
        "SELECT 1;\n"
        "DO $$\n"
        "BEGIN\n"
        "  UPDATE orders SET total = 0;\n"
        "  IF true THEN\n"
        "    ALTER TABLE orders ADD COLUMN note text;\n"
        "  END IF;\n"
        "  EXECUTE 'DROP TABLE x';\n"
        "END $$;\n"
    )
    stmts = parse(text, "m.sql").statements
    inner = [s for s in stmts if s.in_do_block]
    assert [(s.kind, s.line, s.column) for s in inner] == [("UpdateStmt", 4, 3), ("AlterTableStmt", 6, 5)]
    assert inner[1].text == "ALTER TABLE orders ADD COLUMN note text"
    assert [s.index for s in stmts] == list(range(len(stmts)))


def test_do_block_in_other_languages_is_left_alone() -> None:
    stmts = parse("DO LANGUAGE plpython3u $$ print(1) $$;", "m.sql").statements
    assert [s.kind for s in stmts] == ["DoStmt"]


def test_begin_atomic_function_bodies_stay_whole_when_recovering_from_errors() -> None:
    text = (
        "SELEC 1;\n"
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql\n"
        "BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;\n"
        "SELECT 3;"
    )
    parsed = parse(text, "m.sql")
    assert [s.kind for s in parsed.statements] == ["CreateFunctionStmt", "SelectStmt"]
    assert [(e.line, e.column) for e in parsed.errors] == [(1, 1)]


def test_directives_attach_to_the_next_statement_or_the_file() -> None:
    text = (
        "-- foreshock: ignore-file prefer-text-field -- legacy schema\n"
        "SELECT 1;\n"
        "-- a plain comment\n"
        "-- foreshock: ignore set-not-null, add-index -- table is empty in every environment\n"
        "ALTER TABLE t ALTER COLUMN a SET NOT NULL;\n"
        "-- foreshock:backfill batch_size=500 batch_time=0.2s\n"
        "UPDATE t SET a = 0;\n"
    )
    parsed = parse(text, "m.sql")
    assert [d.rules for d in parsed.file_directives] == [("prefer-text-field",)]
    assert parsed.file_directives[0].reason == "legacy schema"
    first, alter, update = parsed.statements
    assert first.directives == ()
    assert alter.ignored_rules == {"set-not-null", "add-index"}
    assert alter.directives[0].reason == "table is empty in every environment"
    assert (alter.directives[0].line, alter.directives[0].column) == (4, 1)
    assert update.directives[0].kind == "backfill"
    assert dict(update.directives[0].options) == {"batch_size": "500", "batch_time": "0.2s"}


def test_bad_directives_are_errors_with_positions_and_do_not_stop_parsing() -> None:
    text = "SELECT 1;\n  -- foreshock: ignore\nSELECT 2;\n/* foreshock: frobnicate */ SELECT 3;"
    parsed = parse(text, "m.sql")
    assert [s.kind for s in parsed.statements] == ["SelectStmt"] * 3
    assert [(e.line, e.column) for e in parsed.errors] == [(2, 3), (4, 1)]
    assert "needs at least one rule id" in parsed.errors[0].message
    assert "unknown foreshock directive 'frobnicate'" in parsed.errors[1].message


def test_parse_directive_ignores_ordinary_comments() -> None:
    assert parse_directive("-- just a note about foreshock", 1, 1, "m.sql") is None
    with pytest.raises(InputError):
        parse_directive("-- foreshock: backfill batch_size", 1, 1, "m.sql")


def test_line_index_round_trip() -> None:
    text = "ab\ncdé\n\nf"
    idx = LineIndex(text)
    for offset in range(len(text)):
        line, col = idx.position(offset)
        assert idx.offset(line, col) == offset


MIGRATION_PIECES = [
    "ALTER TABLE orders ADD COLUMN note text DEFAULT 'x';",
    "CREATE INDEX CONCURRENTLY i ON orders (created_at);",
    "UPDATE orders SET total = total * 2;",
    "DO $$ BEGIN UPDATE orders SET a = 1; END $$;",
    "COMMENT ON TABLE orders IS 'über';",
    "SELECT $tag$ body ; $tag$;",
    "-- foreshock: ignore add-index -- why\nSELECT 1;",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;",
]


@settings(max_examples=400, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(MIGRATION_PIECES), min_size=1, max_size=6),
    cut=st.integers(min_value=0, max_value=400),
    insert=st.text(max_size=4),
    at=st.integers(min_value=0, max_value=400),
)
def test_parser_front_never_raises_on_corrupted_input(
    pieces: list[str], cut: int, insert: str, at: int
) -> None:
    text = "\n".join(pieces)
    text = text[:at] + insert + text[at:]
    text = text[: len(text) - cut % (len(text) + 1)]
    parsed = parse(text, "fuzz.sql")
    lines = text.count("\n") + 1
    for s in parsed.statements:
        assert 1 <= s.line <= lines and s.column >= 1
    for e in parsed.errors:
        assert e.path == "fuzz.sql" and 1 <= e.line <= lines and e.column >= 1
        assert "\n" not in str(e)


@pytest.mark.parametrize(
    ("text", "relation", "persistence", "if_not_exists"),
    [
        ("CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT);", (None, "users"), "p", False),
        ('CREATE TEMP TABLE IF NOT EXISTS "My".t (a int autoincrement);', ("My", "t"), "t", True),
        ("/* old */ CREATE UNLOGGED TABLE s.cache (k text) ENGINE=InnoDB;", ("s", "cache"), "u", False),
    ],
)
def test_a_create_table_the_parser_rejects_still_names_its_table(
    text: str, relation: tuple[str | None, str], persistence: str, if_not_exists: bool
) -> None:
    """Regression: a CREATE TABLE in another dialect (SQLite's AUTOINCREMENT) was dropped whole, so the table
    it creates was unknown to the rest of the file."""
    parsed = parse(text + "\nSELECT 1;", "old.sql")
    assert len(parsed.errors) == 1
    create, select = parsed.statements
    assert (create.kind, select.kind) == ("CreateStmt", "SelectStmt")
    assert create.unparsed.startswith("syntax error at or near")
    rv = create.node.relation
    assert ((rv.schemaname, rv.relname), rv.relpersistence, bool(create.node.if_not_exists)) == (
        relation,
        persistence,
        if_not_exists,
    )
    assert not create.node.tableElts


@pytest.mark.parametrize("text", ["CREATE INDEX ON t (a,);", "CREATE TABLE (a int);", "ALTER TABL t;"])
def test_only_a_create_table_is_recovered(text: str) -> None:
    parsed = parse(text, "m.sql")
    assert parsed.statements == () and len(parsed.errors) == 1
