"""The one interval construction (rehearse and check --stats): noise floors, skew, measured spread, bounds."""

from __future__ import annotations

import pytest

from foreshock.scale.interval import RUN_NOISE_HIGH, RUN_NOISE_LOW, interval


def test_never_narrower_than_the_run_to_run_noise() -> None:
    low, high = interval(10.0)
    assert low == pytest.approx(10.0 / RUN_NOISE_LOW) and high == pytest.approx(10.0 * RUN_NOISE_HIGH)


def test_skewed_low_end_further_from_the_point_than_the_high_end() -> None:
    low, high = interval(10.0)
    assert 10.0 / low > high / 10.0


def test_model_uncertainty_and_measured_spread_widen_both_sides() -> None:
    low, high = interval(10.0, 0.6)
    assert high / 10.0 > RUN_NOISE_HIGH and 10.0 / low > RUN_NOISE_LOW
    low, high = interval(10.0, spread=2.5)
    assert high == pytest.approx(25.0) and low == pytest.approx(4.0)


def test_bounds_the_caller_can_defend_only_widen() -> None:
    low, high = interval(10.0, at_least=9.0, at_most=40.0)
    assert low == pytest.approx(10.0 / RUN_NOISE_LOW) and high == pytest.approx(40.0)
    low, high = interval(10.0, at_least=2.0, at_most=11.0)
    assert low == pytest.approx(2.0) and high == pytest.approx(10.0 * RUN_NOISE_HIGH)
