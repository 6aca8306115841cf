"""Latency over time for both runs, one panel each, as a hand-written SVG (no plotting dependency).

x: seconds since the workload started; y: query latency on a log scale; one colour per query class; the
migration's span shaded, the health-check timeout drawn as a line, failed/cancelled queries as crosses.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from foreshock.core.quantities import format_duration
from foreshock.load.run import LoadComparison, RunReport
from foreshock.load.workload import CLASSES
from foreshock.report.load_report import TITLES

W, PANEL_H, PAD_L, PAD_R, PAD_T, PAD_B, GAP = 760, 260, 70, 150, 30, 40, 30
COLOURS = {"read_point": "#1f77b4", "read_range": "#2ca02c", "write": "#d62728"}


def _panel(run: RunReport, top: float, x_max: float, y_lo: float, y_hi: float, health: float) -> list[str]:
    left, right = PAD_L, W - PAD_R
    bottom = top + PANEL_H

    def x(t: float) -> float:
        return left + (right - left) * (t / x_max)

    def y(v: float) -> float:
        v = min(max(v, y_lo), y_hi)
        return bottom - (bottom - top) * (math.log10(v / y_lo) / math.log10(y_hi / y_lo))

    out = [
        f'<text x="{left}" y="{top - 8}" font-size="13" font-weight="bold">'
        f"{html.escape(TITLES.get(run.mode, run.mode))}: migration {html.escape(run.migration.outcome)}"
        f" in {run.migration.seconds:.2f} s</text>",
        f'<rect x="{x(run.migration.started):.1f}" y="{top}" '
        f'width="{max(1.0, x(run.migration.finished) - x(run.migration.started)):.1f}" height="{PANEL_H}" '
        'fill="#f3e3b0" opacity="0.6"/>',
    ]
    if run.long_transaction:
        a, b = run.long_transaction
        out.append(
            f'<line x1="{x(a):.1f}" x2="{x(b):.1f}" y1="{top + 4}" y2="{top + 4}" stroke="#7f7f7f" '
            'stroke-width="4"><title>long-running transaction</title></line>'
        )
    e = math.floor(math.log10(y_lo))
    while 10.0**e <= y_hi * 1.0001:
        v = 10.0**e
        if v >= y_lo * 0.9999:
            out.append(
                f'<line x1="{left}" x2="{right}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>'
                f'<text x="{left - 6}" y="{y(v) + 4:.1f}" font-size="10" text-anchor="end">'
                f"{format_duration(v)}</text>"
            )
        e += 1
    step = max(1, round(x_max / 10))
    t = 0
    while t <= x_max:
        out.append(f'<text x="{x(t):.1f}" y="{bottom + 14}" font-size="10" text-anchor="middle">{t}</text>')
        t += step
    out.append(
        f'<line x1="{left}" x2="{right}" y1="{y(health):.1f}" y2="{y(health):.1f}" stroke="#9467bd" '
        f'stroke-dasharray="6 3"/><text x="{right + 4}" y="{y(health) + 4:.1f}" font-size="10" '
        f'fill="#9467bd">health timeout</text>'
    )
    for r in run.records:
        cx, cy = x(r.start), y(r.latency)
        colour = COLOURS.get(r.cls, "#000")
        if r.outcome == "ok":
            out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="1.8" fill="{colour}" opacity="0.7"/>')
        elif r.outcome == "queued":
            out.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.2" fill="none" stroke="{colour}" opacity="0.7"/>'
            )
        else:
            out.append(
                f'<path d="M{cx - 3:.1f},{cy - 3:.1f}L{cx + 3:.1f},{cy + 3:.1f}M{cx - 3:.1f},{cy + 3:.1f}'
                f'L{cx + 3:.1f},{cy - 3:.1f}" stroke="{colour}" stroke-width="1.5"/>'
            )
    out.append(
        f'<rect x="{left}" y="{top}" width="{right - left}" height="{PANEL_H}" fill="none" stroke="#333"/>'
    )
    return out


def render_svg(result: LoadComparison) -> str:
    runs = list(result.runs)
    lat = [r.latency for run in runs for r in run.records if r.latency > 0]
    health = result.config.health_timeout
    y_lo = 10.0 ** math.floor(math.log10(max(min(lat, default=1e-4), 1e-5)))
    y_hi = 10.0 ** math.ceil(math.log10(max(max(lat, default=1.0), health * 1.5)))
    x_max = max(
        [r.start + r.latency for run in runs for r in run.records]
        + [run.migration.finished for run in runs]
        + [1.0]
    )
    height = PAD_T + len(runs) * (PANEL_H + PAD_B + GAP)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" '
        f'viewBox="0 0 {W} {height}" font-family="sans-serif">',
        f'<rect width="{W}" height="{height}" fill="white"/>',
    ]
    for i, run in enumerate(runs):
        top = PAD_T + i * (PANEL_H + PAD_B + GAP)
        out += _panel(run, top, x_max, y_lo, y_hi, health)
        out.append(
            f'<text x="{(PAD_L + W - PAD_R) / 2}" y="{top + PANEL_H + 30}" font-size="11" '
            'text-anchor="middle">seconds since the workload started (shaded: the migration)</text>'
        )
    for j, cls in enumerate(CLASSES):
        ly = PAD_T + 20 + j * 18
        out.append(
            f'<circle cx="{W - PAD_R + 12}" cy="{ly}" r="4" fill="{COLOURS[cls]}"/>'
            f'<text x="{W - PAD_R + 20}" y="{ly + 4}" font-size="11">{cls}</text>'
        )
    out.append(
        f'<text x="{W - PAD_R + 8}" y="{PAD_T + 20 + len(CLASSES) * 18 + 4}" font-size="10">x: failed or'
        "</text>"
        f'<text x="{W - PAD_R + 8}" y="{PAD_T + 20 + len(CLASSES) * 18 + 16}" font-size="10">cancelled</text>'
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_svg(result: LoadComparison, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(render_svg(result), encoding="utf-8")
    return p
