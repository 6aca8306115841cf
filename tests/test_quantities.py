"""The one formatter for durations and bytes, and the duration parser that reads what it writes."""

from __future__ import annotations

import pytest

from foreshock.core.quantities import format_bytes, format_duration, parse_duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0042, "4.2 ms"),
        (0.0104, "10.4 ms"),
        (0.01, "10 ms"),
        (0.189, "189 ms"),
        (0.5, "500 ms"),
        (1.5, "1.5 s"),
        (2.0, "2 s"),
        (28.5, "28.5 s"),
        (978, "16.3 min"),
        (120, "2 min"),
        (5400, "90 min"),
        (14400, "4 h"),
    ],
)
def test_format_duration_picks_the_unit_and_precision_that_matter(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("seconds", [0.0042, 0.5, 1.5, 30.0, 600.0, 3 * 3600.0])
def test_what_format_duration_writes_parse_duration_reads(seconds: float) -> None:
    # Help texts print defaults with format_duration; a user copying one back must get the same value.
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=0.01)


@pytest.mark.parametrize(
    ("n", "text"), [(512, "512 B"), (1536, "1.5 kB"), (12884901888, "12.0 GB"), (2 * 1024**4, "2.0 TB")]
)
def test_format_bytes_counts_in_powers_of_1024(n: int, text: str) -> None:
    assert format_bytes(n) == text
