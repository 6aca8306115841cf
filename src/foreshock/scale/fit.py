"""Extrapolating rehearsal timings to production size.

Per statement a model is chosen among linear (a + b·n), n·log n and power law (c·n^k) by how well each, fitted
on the smaller scales, predicts the largest one; it is refitted on all points and extrapolated to production
rows. When the two largest scales grow faster than the model (a regime change: spill, cache), the local power
law between them is used and the change is flagged. The interval spans the candidate models and the hold-out
error, never narrower than the run-to-run noise (NOISE).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Prediction:
    seconds: float
    low: float
    high: float
    rows: int
    model: str
    regime: str = ""  # non-empty: a non-linear regime, explained

    def to_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "low": self.low, "high": self.high, "rows": self.rows}


def _lstsq(xs: Sequence[float], ts: Sequence[float]) -> tuple[float, float]:
    """t = a + b·x minimising relative error (each residual divided by t); a, b clamped at >= 0."""
    w = [1.0 / max(t, 1e-6) for t in ts]
    s00 = sum(wi * wi for wi in w)
    s01 = sum(wi * wi * x for wi, x in zip(w, xs, strict=True))
    s11 = sum(wi * wi * x * x for wi, x in zip(w, xs, strict=True))
    t0 = sum(wi * wi * t for wi, t in zip(w, ts, strict=True))
    t1 = sum(wi * wi * x * t for wi, x, t in zip(w, xs, ts, strict=True))
    det = s00 * s11 - s01 * s01
    if det > 0:
        a = (t0 * s11 - t1 * s01) / det
        b = (t1 * s00 - t0 * s01) / det
        if a >= 0 and b >= 0:
            return a, b
    b = t1 / s11 if s11 else 0.0  # through the origin
    return 0.0, max(b, 0.0)


Model = Callable[[float], float]


def _fit(kind: str, ns: Sequence[float], ts: Sequence[float]) -> Model:
    if kind == "linear":
        a, b = _lstsq(ns, ts)
        return lambda n: a + b * n
    if kind == "n log n":
        a, b = _lstsq([n * math.log2(max(n, 2)) for n in ns], ts)
        return lambda n: a + b * n * math.log2(max(n, 2))
    # power law in log space
    lx = [math.log(n) for n in ns]
    ly = [math.log(max(t, 1e-6)) for t in ts]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    var = sum((x - mx) ** 2 for x in lx)
    k = sum((x - mx) * (y - my) for x, y in zip(lx, ly, strict=True)) / var if var else 1.0
    k = min(max(k, 0.5), 2.5)
    c = math.exp(my - k * mx)
    return lambda n: c * n**k


MODELS = ("linear", "n log n", "power")
NOISE = 1.4


def fit_and_extrapolate(
    points: Sequence[tuple[int, float]], target_rows: int, evidence: str = ""
) -> Prediction | None:
    """Choose a model by hold-out on the largest scale, refit on all, predict at target_rows.

    evidence: what the work metrics saw change between the two largest scales (a sort starting to spill, the
    table outgrowing shared_buffers). Without it, faster-than-n·log·n growth is taken for noise (a busy
    machine
    easily doubles one timing) and the power law and local extrapolation are not used.
    """
    pts = sorted((n, t) for n, t in points if n > 0)
    if not pts:
        return None
    ns = [float(n) for n, _ in pts]
    ts = [max(t, 1e-6) for _, t in pts]
    if len(pts) == 1:
        seconds = ts[0] * target_rows / ns[0]
        return Prediction(seconds, seconds / 2, seconds * 2, target_rows, "linear (one scale)")
    errors: dict[str, float] = {}
    models = MODELS if evidence else ("linear", "n log n")
    if len(pts) >= 3:
        for kind in models:
            model = _fit(kind, ns[:-1], ts[:-1])
            errors[kind] = abs(model(ns[-1]) - ts[-1]) / ts[-1]
        chosen = min(errors, key=lambda k: errors[k])
    else:
        chosen = "linear"
        errors = {"linear": 0.25}
    preds = {kind: _fit(kind, ns, ts)(target_rows) for kind in models}
    seconds = preds[chosen]
    model_name = chosen
    regime = ""
    # Local growth between the two largest scales vs the chosen model's: a regime change shows up there.
    n1, n2, t1, t2 = ns[-2], ns[-1], ts[-2], ts[-1]
    # Only trusted well above timer and scheduling noise (a busy shared machine adds tens of ms).
    if evidence and t2 > 0.3 and t1 > 0.1 and n2 > n1:
        k_local = math.log(t2 / t1) / math.log(n2 / n1)
        model_growth = math.log(max(_fit(chosen, ns, ts)(n2), 1e-6) / max(_fit(chosen, ns, ts)(n1), 1e-6))
        k_model = model_growth / math.log(n2 / n1)
        if k_local > 1.15 and k_local > k_model + 0.1:
            local = t2 * (target_rows / n2) ** min(k_local, 2.5)
            regime = (
                f"time grows as rows^{k_local:.2f} between the two largest scales (faster than {chosen}) "
                f"because {evidence}: production is past that threshold too, so the local growth is "
                f"extrapolated"
            )

            preds["local"] = local
            seconds, model_name = local, f"local power law (rows^{k_local:.2f})"
    if not regime and chosen == "power":
        k = (
            math.log(max(preds["power"], 1e-9) / ts[-1]) / math.log(target_rows / ns[-1])
            if target_rows != ns[-1]
            else 1.0
        )
        if k > 1.15:
            regime = f"super-linear growth (rows^{k:.2f}) measured across the scales"
    err = errors.get(chosen, 0.25)
    spread = [p for p in preds.values() if p > 0]
    low = min([*spread, seconds]) / (1 + err)
    high = max([*spread, seconds]) * (1 + err)
    # Never narrower than the run-to-run noise measured on a shared 2-core host: the same full-table UPDATE
    # on the same 2M-row table took 11 s to 24 s across four benchmark runs (benchmarks/rehearse_accuracy.py).
    low, high = min(low, seconds / NOISE), max(high, seconds * NOISE)
    return Prediction(seconds, low, high, target_rows, model_name, regime)
