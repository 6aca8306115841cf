"""Extrapolating rehearsal timings to production size (pure).

A rehearsal at a fraction f of production runs with production's settings scaled by f (rehearsal_db), so its
largest scale runs in production's regime and its time per row is production's. Per statement
(fit_and_extrapolate): the cost per row of the largest scale, the fixed cost told apart by the smaller
scales, extrapolated linearly to production rows; the interval (interval.py) from the measured noise and
spread, widened where growth could be faster (a sort's log factor, a cost per row still rising). Where a
floor or this machine's memory kept the largest scale out of production's regime (regime.py), the runner
turns the prediction into a lower bound ("at least").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from foreshock.scale.interval import interval


@dataclass(frozen=True)
class Prediction:
    seconds: float
    low: float
    high: float
    rows: int
    model: str
    regime: str = ""  # non-empty: a non-linear regime, or production's regime not reached, explained
    # "at least": the rehearsal could not reach production's regime under the cap (regime.py); `seconds` is
    # then a lower bound, not a point.
    bound: str = ""
    # The largest scale's time that grows with rows was within its noise: a fixed cost (a foreign key
    # hashing a referenced table kept at production size) hid the cost per row, which the extrapolation then
    # multiplies from noise. The runner takes that part from the size model instead.
    unresolved: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "low": self.low,
            "high": self.high,
            "rows": self.rows,
            "bound": self.bound or None,
        }


# A timing's noise on the rehearsal machine: ABS_NOISE seconds or REL_NOISE of the time, whichever is larger
# (scheduling, the timer, the catalog work of a short statement). It weights the fit: the largest scales, with
# the least relative noise and nearest production's size, count most; a 20 ms run counts little.
ABS_NOISE = 0.02
REL_NOISE = 0.15
# The least noise a repeated largest scale is credited with, however close its runs came.
MIN_NOISE = 0.002
# Local growth exponent above which two successive steps of the ladder count as super-linear growth.
SUPER_LINEAR = 1.15
MAX_EXPONENT = 2.0


@dataclass(frozen=True)
class LinearFit:
    """t = a + b·n, weighted by the noise model, with the covariance of (a, b) scaled by the misfit."""

    a: float
    b: float
    var_a: float
    var_b: float
    cov_ab: float

    def at(self, n: float) -> float:
        return self.a + self.b * n

    def rel_sd(self, n: float) -> float:
        value = self.at(n)
        var = self.var_a + n * n * self.var_b + 2 * n * self.cov_ab
        return math.sqrt(max(var, 0.0)) / value if value > 0 else 1.0


def _sigma(t: float) -> float:
    return max(ABS_NOISE, REL_NOISE * t)


def linear_fit(ns: Sequence[float], ts: Sequence[float], *, constrained: bool = True) -> LinearFit:
    """Weighted least squares of t = a + b·n. constrained: 0 <= a <= the smallest time (a fixed cost cannot
    exceed the quickest run) and b >= 0; unconstrained is for a line through a new regime's points."""
    w = [1.0 / _sigma(t) ** 2 for t in ts]
    s0 = sum(w)
    sx = sum(wi * n for wi, n in zip(w, ns, strict=True))
    sxx = sum(wi * n * n for wi, n in zip(w, ns, strict=True))
    sy = sum(wi * t for wi, t in zip(w, ts, strict=True))
    sxy = sum(wi * n * t for wi, n, t in zip(w, ns, ts, strict=True))
    det = s0 * sxx - sx * sx
    distinct = len(set(ns))
    if det > 0 and distinct >= 2:
        b = (s0 * sxy - sx * sy) / det
        a = (sy - b * sx) / s0
        var_a, var_b, cov = sxx / det, s0 / det, -sx / det
    else:
        a, b, var_a, var_b, cov = 0.0, sxy / sxx if sxx else 0.0, 0.0, 1.0 / sxx if sxx else 0.0, 0.0
    if constrained and a < 0:
        # Growing faster than a line (or a noisy largest scale): the line through the origin and the largest
        # scale, whose cost per row is the highest measured, rather than a slope averaged with cheaper rows.
        top = max(ns)
        tw = [(wi, n, t) for wi, n, t in zip(w, ns, ts, strict=True) if n == top]
        a, b = 0.0, sum(wi * n * t for wi, n, t in tw) / sum(wi * n * n for wi, n, _ in tw)
        var_a, var_b, cov = 0.0, 1.0 / sum(wi * n * n for wi, n, _ in tw), 0.0
    elif constrained and (a > min(ts) or b < 0):
        a = min(max(a, 0.0), min(ts))
        b = max(sum(wi * n * (t - a) for wi, n, t in zip(w, ns, ts, strict=True)) / sxx, 0.0) if sxx else 0.0
        var_a, var_b, cov = 0.0, 1.0 / sxx if sxx else 0.0, 0.0
    chi2 = sum(wi * (t - a - b * n) ** 2 for wi, n, t in zip(w, ns, ts, strict=True))
    dof = len(ts) - (2 if distinct >= 2 else 1)
    scale = max(1.0, chi2 / dof) if dof > 0 else 1.0
    return LinearFit(a, b, var_a * scale, var_b * scale, cov * scale)


def _local_exponents(ns: Sequence[float], ts: Sequence[float]) -> list[float]:
    """Growth exponents between successive distinct sizes (times averaged per size)."""
    by_size: dict[float, list[float]] = {}
    for n, t in zip(ns, ts, strict=True):
        by_size.setdefault(n, []).append(t)
    sizes = sorted(by_size)
    means = [sum(by_size[n]) / len(by_size[n]) for n in sizes]
    return [
        math.log(means[i + 1] / means[i]) / math.log(sizes[i + 1] / sizes[i])
        for i in range(len(sizes) - 1)
        if means[i] > 0 and means[i + 1] > 0
    ]


def fit_and_extrapolate(
    points: Sequence[tuple[int, float]], target_rows: int, evidence: str = "", sorts: bool = False
) -> Prediction | None:
    """Extrapolate measured (rows, seconds) points to target_rows, with an interval (interval.py).

    The rehearsal scales production's memory, WAL and checkpoint settings with the data, so a scale runs in
    production's regime and its time per row is production's: measured from 167,000 to 5,000,000 rows, index
    builds, validation scans and rewrites grew as rows^0.94-1.06, and a foreign key's validation as a fixed
    cost (hashing the referenced table) plus a cost per row. The smaller scales reach that regime less well
    (settings held at their floors, data that fits a CPU cache), so the cost per row is taken from the
    largest scale (the mean of its runs), and the smaller ones only tell the fixed cost apart: the weighted
    line a + b·rows through all points gives a, production's time is a + (largest − a) · rows / its rows.

    The interval: the largest scale's noise and measured spread, how far the other scales stray from that
    line, and two bounds on the high end, each flagged in `regime` when it applies:
    * sorts (an index build, or a rewrite rebuilding indexes): a comparison sort does log2(rows) comparisons
      per row, which did not show next to the rest of the per-row work at 10x but grows with the distance
      extrapolated; the high end covers the largest scale grown as rows·log2(rows).
    * the time per row still grew over the last two steps of the ladder (faster than rows^1.15 each): the
      high end covers the last step's growth continued to production (rows^k, k at most 2).
    evidence (what the work metrics saw change between the two largest scales, e.g. a sort starting to
    spill): only the largest scale is in production's regime, so its marginal cost per row (the line through
    the two largest scales) is extrapolated instead.
    """
    pts = sorted((n, t) for n, t in points if n > 0)
    if not pts:
        return None
    ns = [float(n) for n, _ in pts]
    ts = [max(t, 1e-6) for _, t in pts]
    top_n = ns[-1]
    tops = [t for n, t in zip(ns, ts, strict=True) if n == top_n]
    top = sum(tops) / len(tops)
    spread = max(tops) / min(tops)
    reach = max(target_rows / top_n, 1.0)
    bounds: list[float] = []
    if sorts:
        bounds.append(top * reach * math.log2(max(target_rows, 2)) / math.log2(max(top_n, 2)))
    if len(set(ns)) == 1:
        seconds = top * target_rows / top_n
        low, high = interval(seconds, 0.5, spread=spread, at_most=max(bounds, default=None))
        return Prediction(seconds, low, high, target_rows, "linear (one scale)")
    exponents = _local_exponents(ns, ts)
    notes: list[str] = []
    unresolved = False
    if evidence and exponents[-1] > SUPER_LINEAR:
        sizes = sorted(set(ns))[-2:]
        sub = [(n, t) for n, t in zip(ns, ts, strict=True) if n in sizes]
        fit = linear_fit([n for n, _ in sub], [t for _, t in sub], constrained=False)
        seconds, rel_sd = max(fit.at(target_rows), top * reach), fit.rel_sd(target_rows)
        model = "linear through the two largest scales"
        notes.append(
            f"time per row grew between the two largest scales ({sizes[0]:,.0f} and {sizes[1]:,.0f} rows) "
            f"because {evidence}: production is past that threshold too, so the cost per row of the "
            "largest step is extrapolated"
        )
    else:
        a = linear_fit(ns, ts).a
        seconds = a + (top - a) * reach
        line = [a + (top - a) * n / top_n for n in ns]
        stray = [(t - y) / y for n, t, y in zip(ns, ts, line, strict=True) if n != top_n and y > 0]
        misfit = math.sqrt(sum(r * r for r in stray) / len(stray)) if stray else 0.0
        # The largest scale's noise shrinks with its runs; the stray of the smaller scales counts at half:
        # they ran further from production's regime than the largest.
        rel_sd = math.sqrt(REL_NOISE**2 / len(tops) + (misfit / 2) ** 2)
        model = "linear (a + b·rows)"
        # Within the noise, the cost per row is not resolved: the timer's and scheduler's (ABS_NOISE), or,
        # when the largest scale ran twice, the noise measured then: a validation growing by 18 ms over
        # 200,000 rows, repeated within 1.3 ms, resolved production's 0.18 s where the size model said 0.25.
        noise = _sigma(top) if len(tops) < 2 else max(REL_NOISE * top, max(tops) - min(tops), MIN_NOISE)
        unresolved = top - a < noise
        # Two steps in a row, well above timer and scheduling noise: one slow run is not a trend.
        if len(exponents) >= 2 and min(exponents[-2:]) > SUPER_LINEAR and ts[-1] > 0.3:
            k = min(exponents[-1], MAX_EXPONENT)
            bounds.append(top * reach**k)
            notes.append(
                f"time per row still grew over the last two steps of the ladder (rows^{k:.2f}): if it "
                "keeps growing, production takes up to the high end"
            )
    low, high = interval(seconds, rel_sd, spread=spread, at_most=max(bounds, default=None))
    return Prediction(seconds, low, high, target_rows, model, "; ".join(notes), unresolved=unresolved)
