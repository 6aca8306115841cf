"""Per-statement pictures: measured points and the extrapolated curve up to production size, as SVG.

Written by hand (no plotting dependency): log-log axes, the measured points, the chosen model's curve from
the smallest scale to production, and the prediction with its low–high interval at production rows.
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path
from typing import Any

from foreshock.core.quantities import format_duration

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 640, 400, 70, 20, 40, 50


def _log_ticks(lo: float, hi: float) -> list[float]:
    start, stop = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    return [10.0**e for e in range(start, stop + 1)]


def _fmt(v: float, unit: str) -> str:
    if unit == "s":
        return format_duration(v)
    for suffix, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= div:
            return f"{v / div:g}{suffix}"
    return f"{v:g}"


def statement_svg(stmt: Any) -> str:
    """SVG for one StatementRehearsal (points + prediction)."""
    pts = [(p.rows, p.seconds) for p in stmt.points if p.rows > 0 and p.seconds > 0]
    pred = stmt.prediction
    xs = [r for r, _ in pts] + ([pred.rows] if pred else [])
    ys = [s for _, s in pts] + ([pred.low, pred.high] if pred else [])
    if not xs or not ys:
        return ""
    x_lo, x_hi = min(xs) / 1.5, max(xs) * 1.5
    y_lo, y_hi = max(min(ys) / 2, 1e-4), max(ys) * 2

    def px(x: float) -> float:
        return PAD_L + (math.log10(x) - math.log10(x_lo)) / (math.log10(x_hi) - math.log10(x_lo)) * (
            W - PAD_L - PAD_R
        )

    def py(y: float) -> float:
        return (
            H
            - PAD_B
            - (math.log10(y) - math.log10(y_lo)) / (math.log10(y_hi) - math.log10(y_lo)) * (H - PAD_T - PAD_B)
        )

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
        'font-size="11">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
    ]
    title = html.escape(" ".join(stmt.text.split())[:90])
    out.append(f'<text x="{PAD_L}" y="18" font-size="12" font-weight="bold">{title}</text>')
    for t in _log_ticks(x_lo, x_hi):
        if x_lo <= t <= x_hi:
            out.append(
                f'<line x1="{px(t):.1f}" y1="{PAD_T}" x2="{px(t):.1f}" y2="{H - PAD_B}" stroke="#eee"/>'
            )
            out.append(
                f'<text x="{px(t):.1f}" y="{H - PAD_B + 15}" text-anchor="middle">{_fmt(t, "")}</text>'
            )
    for t in _log_ticks(y_lo, y_hi):
        if y_lo <= t <= y_hi:
            out.append(
                f'<line x1="{PAD_L}" y1="{py(t):.1f}" x2="{W - PAD_R}" y2="{py(t):.1f}" stroke="#eee"/>'
            )
            out.append(f'<text x="{PAD_L - 5}" y="{py(t) + 4:.1f}" text-anchor="end">{_fmt(t, "s")}</text>')
    out.append(
        f'<text x="{(W + PAD_L) / 2}" y="{H - 12}" text-anchor="middle">rows ({html.escape(stmt.table or "")}'
        ")</text>"
    )
    out.append(
        f'<text x="14" y="{H / 2}" transform="rotate(-90 14 {H / 2})" text-anchor="middle">seconds</text>'
    )
    if pred and pts:
        # The extrapolation: a straight segment in log-log space from the largest measured point to the
        # prediction (what the chosen model does beyond the data), dashed.
        last_r, last_s = max(pts)
        out.append(
            f'<line x1="{px(last_r):.1f}" y1="{py(last_s):.1f}" x2="{px(pred.rows):.1f}" '
            f'y2="{py(pred.seconds):.1f}" stroke="#c33" stroke-dasharray="5,4"/>'
        )
        out.append(
            f'<line x1="{px(pred.rows):.1f}" y1="{py(pred.low):.1f}" x2="{px(pred.rows):.1f}" '
            f'y2="{py(pred.high):.1f}" stroke="#c33" stroke-width="3" opacity="0.5"/>'
        )
        out.append(f'<circle cx="{px(pred.rows):.1f}" cy="{py(pred.seconds):.1f}" r="5" fill="#c33"/>')
        label = html.escape(
            f"production: {_fmt(pred.seconds, 's')} ({_fmt(pred.low, 's')}–"
            f"{_fmt(pred.high, 's')}), {pred.model}"
        )
        out.append(
            f'<text x="{px(pred.rows) - 6:.1f}" y="{py(pred.seconds) - 10:.1f}" text-anchor="end" '
            f'fill="#c33">{label}</text>'
        )
    if len(pts) > 1:
        path = " ".join(f"{px(r):.1f},{py(s):.1f}" for r, s in sorted(pts))
        out.append(f'<polyline points="{path}" fill="none" stroke="#36c"/>')
    for r, s in pts:
        out.append(
            f'<circle cx="{px(r):.1f}" cy="{py(s):.1f}" r="4" fill="#36c"><title>{r} rows: '
            f"{s:.4f} s</title></circle>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_plots(result: Any, report_dir: str) -> list[str]:
    """One SVG per rehearsed statement into report_dir; sets each statement's `plot` path. Returns the
    paths."""
    directory = Path(report_dir)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for i, stmt in enumerate(result.statements):
        svg = statement_svg(stmt)
        if not svg or stmt.prediction is None:
            continue
        slug = re.sub(r"[^a-z0-9]+", "-", " ".join(stmt.text.lower().split()[:4])).strip("-")[:40]
        path = directory / f"statement-{stmt.line:04d}-{slug or 'stmt'}.svg"
        path.write_text(svg, encoding="utf-8")
        result.statements[i] = type(stmt)(**{**stmt.__dict__, "plot": str(path)})
        written.append(str(path))
    return written
