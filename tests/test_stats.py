"""The --stats file: the minimal hand-written form, the snapshot superset, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from foreshock.errors import InputError
from foreshock.scale.stats import (
    DEFAULT_ROW_BYTES,
    load_stats,
    normalize_table_name,
    parse_memory,
    parse_stats,
)


def test_minimal_file_from_the_issue(tmp_path: Path) -> None:
    f = tmp_path / "sizes.json"
    f.write_text('{"tables": {"public.orders": {"rows": 80000000, "bytes": 12884901888}}}')
    stats = load_stats(f)
    t = stats.table("public.orders")
    assert t is not None and t.rows == 80_000_000 and t.bytes == 12_884_901_888
    assert stats.table("orders") is t  # bare names resolve to public
    assert stats.table("ORDERS") is t  # unquoted identifiers fold to lower case
    assert stats.table("other") is None


def test_one_of_rows_or_bytes_is_derived() -> None:
    stats = parse_stats('{"tables": {"a": {"rows": 1000}, "b": {"bytes": 1200000}}}')
    a, b = stats.table("a"), stats.table("b")
    assert a is not None and a.bytes == 1000 * DEFAULT_ROW_BYTES and a.derived == "bytes"
    assert b is not None and b.rows == 1_200_000 // DEFAULT_ROW_BYTES and b.derived == "rows"


def test_json_syntax_error_points_at_line_and_column(tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_text('{"tables": {\n  "orders": {"rows": 10,}\n}}')
    with pytest.raises(InputError) as info:
        load_stats(f)
    err = info.value
    assert (err.path, err.line) == (str(f), 2)
    assert err.column > 1 and "invalid JSON" in err.one_line() and "\n" not in err.one_line()


@pytest.mark.parametrize(
    ("text", "needle", "line"),
    [
        ('{"tables": {"orders": {"rows": -5}}}', "zero or more", 1),
        ('{"tables": {\n"orders": {"rows": "many"}}}', "whole number", 2),
        ('{"tables": {\n"orders": {}}}', 'needs "rows" or "bytes"', 2),
        ('{"tables": {\n "orders": {"rows": 1, "rowz": 2}}}', "unknown field 'rowz'", 2),
        ('{"version": 99, "tables": {}}', "not supported", 1),
        ('{"tabls": {}}', 'missing "tables"', 1),
        ("[1, 2]", "must be a JSON object", 1),
    ],
)
def test_structural_errors_are_one_line_with_position(text: str, needle: str, line: int) -> None:
    with pytest.raises(InputError) as info:
        parse_stats(text, "s.json")
    assert needle in info.value.message
    assert info.value.line == line
    assert info.value.one_line().startswith(f"s.json:{line}:")


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_stats(tmp_path / "nope.json")
    assert "--stats" in info.value.message


def test_snapshot_superset_round_trips() -> None:
    doc = {
        "format": "foreshock-stats",
        "version": 1,
        "taken_at": "2026-01-01T00:00:00Z",
        "server": {
            "version_num": 160002,
            "version": "16.2",
            "settings": {"maintenance_work_mem": 67108864, "shared_buffers": "128MB"},
        },
        "tables": {
            "public.orders": {
                "rows": 1000,
                "bytes": 73728,
                "index_bytes": 40960,
                "toast_bytes": 8192,
                "columns": {
                    "id": {
                        "type": "bigint",
                        "not_null": True,
                        "n_distinct": -1.0,
                        "avg_width": 8,
                        "histogram_bounds": [1, 500, 1000],
                        "correlation": 1.0,
                    }
                },
                "indexes": {
                    "orders_pkey": {
                        "bytes": 40960,
                        "columns": ["id"],
                        "unique": True,
                        "definition": "CREATE UNIQUE INDEX orders_pkey ON public.orders (id)",
                    }
                },
                "activity": {
                    "seq_scan": 4,
                    "idx_scan": 6,
                    "n_tup_ins": 1000,
                    "n_tup_upd": 0,
                    "n_tup_del": 0,
                    "seconds": 100.0,
                },
            }
        },
        "schema": "CREATE TABLE public.orders (id bigint NOT NULL);",
    }
    stats = parse_stats(json.dumps(doc))
    t = stats.table("orders")
    assert t is not None
    assert t.total_bytes == 73728 + 40960 + 8192
    assert t.columns["id"].distinct_count(t.rows) == 1000
    assert t.activity is not None and t.activity.writes_per_second == pytest.approx(10.0)
    assert stats.server.major == 16
    assert stats.server.setting_bytes("shared_buffers") == 128 * 1024**2
    again = parse_stats(stats.dumps())
    assert again.to_json() == stats.to_json()


def test_names_and_memory_units() -> None:
    assert normalize_table_name('"Sales"."Orders"') == "Sales.Orders"
    assert normalize_table_name("App.Orders") == "app.orders"
    assert parse_memory("65536kB") == 64 * 1024**2
    assert parse_memory("4GB") == 4 * 1024**3
    assert parse_memory("on") is None
