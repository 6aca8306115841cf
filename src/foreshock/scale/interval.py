"""The interval around a duration prediction: one construction for `rehearse` and for `check --stats`.

A prediction's interval has three sources of width, and takes the widest of each side:

* the run-to-run noise of the machine the durations were measured on: the same statement on the same data,
  run again, does not take the same time. `RUN_NOISE_LOW` / `RUN_NOISE_HIGH` are the floors, measured by
  benchmarks/rehearse_accuracy.py (production runs repeated, and the ratio of each prediction to the median
  of those runs). A rehearsal that repeated its largest scale widens both sides to that measured spread too.
* the uncertainty of the extrapolation itself (the fit's standard error at production size, or for a model
  without measurements the spread of its calibration), as a relative standard deviation turned into a
  one-sided 90% bound (z = 1.28) on each side.
* an explicit bound: when the rehearsal could not reach production's regime (`regime.py`), the side it cannot
  vouch for is pushed out to what it can defend.

The interval is skewed: the low end sits further below the point than the high end sits above it. A duration
measured on a shared machine is inflated by whatever else runs there, never deflated, so a prediction more
often lands above the real duration than below it; the low end is placed so that a real duration falling
below it is rarer than one rising above the high end, and the high end is kept tight enough that, when it is
exceeded, it is by little (the benchmark prints how far).
"""

from __future__ import annotations

import math

# Measured by benchmarks/rehearse_accuracy.py on the 2-core development machine while other jobs ran
# (2026-11-28): three production shapes, production runs repeated three times.
RUN_NOISE_LOW = 1.6
RUN_NOISE_HIGH = 1.4
# One-sided 90%: a normal deviate, applied to the relative (log-scale) standard deviation of the model.
Z = 1.2816


def interval(
    seconds: float,
    rel_sd: float = 0.0,
    *,
    spread: float = 1.0,
    noise_low: float = RUN_NOISE_LOW,
    noise_high: float = RUN_NOISE_HIGH,
    at_least: float | None = None,
    at_most: float | None = None,
) -> tuple[float, float]:
    """(low, high) around `seconds`.

    rel_sd: the model's own relative standard deviation at this size. spread: the max/min ratio of repeated
    measurements (1.0 when not repeated). at_least / at_most: bounds the caller can defend beyond the
    statistics (the low end never rises above at_least, the high end never falls below at_most).
    """
    model = math.exp(Z * max(rel_sd, 0.0))
    low = seconds / max(noise_low, model, spread)
    high = seconds * max(noise_high, model, spread)
    if at_least is not None:
        low = min(low, at_least)
    if at_most is not None:
        high = max(high, at_most)
    return low, high
