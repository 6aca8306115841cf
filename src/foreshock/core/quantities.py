"""Durations and byte sizes: the one way foreshock prints them, and the one way it reads a duration.

Every report, message and help text goes through format_duration / format_bytes, so the same number reads the
same in `check`, `rehearse`, `apply --dry-run` and `trace`. parse_duration reads what format_duration writes
("500 ms", "1.5 s", "2 min"), as well as the compact forms people type ("500ms", "2s", "5min").
"""

from __future__ import annotations

import re

from foreshock.errors import ConfigError

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0, "min": 60.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# Compiled when first used (re keeps it): a run without a duration to read never needs it.
_DURATION = r"(?i)^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$"


def parse_duration(text: str | float | int, what: str = "duration") -> float:
    """'500ms', '1.5 s', '2min', '3h' or a bare number of seconds -> seconds."""
    if isinstance(text, int | float):
        return float(text)
    m = re.match(_DURATION, text)
    if not m or m.group(2).lower() not in ("", *_UNITS):
        raise ConfigError(f"{what}: {text!r} is not a duration (write e.g. 500ms, 2s, 5min)")
    return float(m.group(1)) * (_UNITS[m.group(2).lower()] if m.group(2) else 1.0)


def _trim(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    return text[: -(decimals + 1)] if decimals and text.endswith("." + "0" * decimals) else text


def format_duration(seconds: float) -> str:
    """'4.2 ms', '189 ms', '1.5 s', '16.3 min', '2 h': a unit a person reads at a glance, and the precision
    that matters at that size (a tenth of a millisecond for query latencies, whole milliseconds up to a
    second)."""
    if seconds < 0.1:
        return f"{_trim(seconds * 1000, 1)} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{_trim(seconds, 1)} s"
    if seconds < 7200:
        return f"{_trim(seconds / 60, 1)} min"
    return f"{_trim(seconds / 3600, 1)} h"


def format_estimate(seconds: float, low: float, high: float) -> str:
    """'16.3 min (8.2 min–32.6 min)': an estimate with its interval, as every command prints one."""
    return f"{format_duration(seconds)} ({format_duration(low)}–{format_duration(high)})"


def format_bytes(n: float) -> str:
    """'512 B', '1.5 kB', '12.0 GB' (powers of 1024, as PostgreSQL's pg_size_pretty)."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"
