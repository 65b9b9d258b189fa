"""Split and adaptive conformal calibration over many days: the guarantees (and ACI's steps)."""

import math

import numpy as np
import pytest
from helpers.returns import garch_returns, iid_returns, log_close_from
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from pipeline.core.bands import (
    ConformalMultipliers,
    conformal_intervals,
)
from pipeline.core.calibration import calibrate_conformal, normalised_residuals
from pipeline.core.features import next_log_returns
from pipeline.metrics.intervals import (
    coverage,
)
from pipeline.models.conformal import AdaptiveConformal, run_aci
from pipeline.models.volatility import EWMAVolatility

Z95 = stats.norm.ppf(0.95)  # 1.6449: the 90% normal interval is +-Z95 sigma


def split_conformal_coverage(returns: np.ndarray, scale_factor: float) -> tuple[float, float]:
    """90% coverage on test days, (calibrated, naive): EWMA scale times ``scale_factor``.

    Days 0-999 train the EWMA, 1000-1999 calibrate, the rest are test days. The
    naive interval is +-Z95 of the same (deliberately mis-sized) scale.
    """
    log_close = log_close_from(returns)
    train, val = np.arange(1000), np.arange(1000, 2000)
    test = np.arange(2000, len(log_close) - 1)
    ewma = EWMAVolatility().fit(log_close, train)
    val_scale = scale_factor * ewma.sigma(log_close, val)
    val_resid = normalised_residuals(next_log_returns(log_close, val), 0.0, val_scale)
    m = calibrate_conformal(val_resid, [0.9])
    scale, actual = scale_factor * ewma.sigma(log_close, test), next_log_returns(log_close, test)
    lower, upper = conformal_intervals(np.zeros(len(test)), scale, m)
    return coverage(actual, lower[:, 0], upper[:, 0]), coverage(actual, -Z95 * scale, Z95 * scale)


def test_split_conformal_fixes_an_undersized_scale_on_iid_fat_tailed_returns():
    returns = 0.01 * np.random.default_rng(1).standard_t(5, size=5000)
    calibrated, naive = split_conformal_coverage(returns, scale_factor=0.6)
    assert 0.87 <= calibrated <= 0.93  # observed 0.8993
    assert naive < 0.80  # observed 0.7180


def test_split_conformal_fixes_an_oversized_scale_on_garch_returns():
    calibrated, naive = split_conformal_coverage(garch_returns(5000, seed=2), scale_factor=1.5)
    assert 0.87 <= calibrated <= 0.93  # observed 0.9033
    assert naive > 0.96  # observed 0.9827


@settings(max_examples=25, deadline=None)
@given(tail=hnp.arrays(float, 300, elements=st.floats(-0.2, 0.2)))
def test_calibration_never_reads_a_day_after_the_validation_block(tail):
    # Train ends 0-299, validation ends 300-499: the last target is log_close[500].
    log_close = log_close_from(iid_returns(800, seed=3))
    train, val = np.arange(300), np.arange(300, 500)

    def calibrate(series: np.ndarray) -> ConformalMultipliers:
        ewma = EWMAVolatility().fit(series, train)
        resid = normalised_residuals(next_log_returns(series, val), 0.0, ewma.sigma(series, val))
        return calibrate_conformal(resid, [0.8, 0.9])

    perturbed = log_close.copy()
    perturbed[501:] += tail
    assert calibrate(perturbed) == calibrate(log_close)


def test_aci_bounds_become_infinite_after_a_miss_and_a_point_after_many_hits():
    residuals = np.linspace(-2.0, 2.0, 99)
    aci = AdaptiveConformal(residuals, level=0.9, gamma=0.2)
    # ceil(100 * 0.95) = 95th smallest above, the 5th smallest below (grid step 4 / 98).
    assert aci.multipliers() == pytest.approx((-2.0 + 4 * 4 / 98, 2.0 - 4 * 4 / 98))
    assert aci.update(covered=False) == pytest.approx(0.1 + 0.2 * (0.1 - 1.0))  # -0.08
    assert aci.multipliers() == (-math.inf, math.inf)
    for _ in range(60):  # each hit adds 0.2 * 0.1 = 0.02
        aci.update(covered=True)
    assert aci.alpha_t >= 1.0
    assert aci.multipliers() == (0.0, 0.0)


def test_aci_keeps_long_run_coverage_where_split_conformal_under_covers():
    # Calibrated at unit volatility; the test days switch to 1.6 and then to 0.8.
    rng = np.random.default_rng(4)
    calibration = rng.standard_normal(500)
    realised = np.concatenate((1.6 * rng.standard_normal(2000), 0.8 * rng.standard_normal(2000)))
    gamma = 0.01
    lower, upper = run_aci(calibration, realised, level=0.9, gamma=gamma)
    aci_coverage = coverage(realised, lower, upper)
    m = calibrate_conformal(calibration, [0.9])
    split_coverage = coverage(realised, m.lower[0], m.upper[0])
    # Gibbs & Candès (2021), Prop. 4.1, for any sequence:
    # |miss rate - alpha| <= (max(alpha_1, 1 - alpha_1) + gamma) / (gamma T).
    assert abs(aci_coverage - 0.9) <= (0.9 + gamma) / (gamma * len(realised))
    assert abs(aci_coverage - 0.9) < 0.01  # observed 0.9013
    assert split_coverage < 0.86  # observed 0.8308


def test_run_aci_days_depend_only_on_earlier_days():
    rng = np.random.default_rng(5)
    calibration, realised = rng.standard_normal(100), rng.standard_normal(50)
    changed = realised.copy()
    changed[30:] *= 10.0
    a, b = run_aci(calibration, realised, 0.9, 0.05), run_aci(calibration, changed, 0.9, 0.05)
    np.testing.assert_array_equal(a[0][:31], b[0][:31])  # day 30's bounds precede its outcome
    assert not np.array_equal(a[0], b[0])  # and the change does reach later days


def online_aci(calibration, realised, level, gamma):
    """Plain online ACI as a reference: bounds for a day, then that day's outcome."""
    aci = AdaptiveConformal(calibration, level, gamma)
    bounds = []
    for residual in realised:
        lower, upper = aci.multipliers()
        bounds.append((lower, upper))
        aci.update(bool(lower <= residual <= upper))
    return tuple(np.array(side) for side in zip(*bounds, strict=True))


def test_run_aci_with_delay_one_is_plain_online_aci():
    rng = np.random.default_rng(6)
    calibration, realised = rng.standard_normal(200), 1.5 * rng.standard_normal(300)
    expected = online_aci(calibration, realised, 0.9, 0.02)
    for got in (
        run_aci(calibration, realised, 0.9, 0.02),
        run_aci(calibration, realised, 0.9, 0.02, 1),
    ):
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])


def test_run_aci_with_a_delay_waits_for_the_outcome_known_answer():
    residuals = np.linspace(-2.0, 2.0, 99)
    realised = np.array([10.0, 0.0, 0.0, 0.0])  # day 0 misses, the others are covered
    nominal = -2.0 + 4 * 4 / 98  # the lower multiplier at alpha 0.1 (as in the test above)
    lower, _ = run_aci(residuals, realised, level=0.9, gamma=0.2, delay=1)
    np.testing.assert_allclose(lower[:2], [nominal, -math.inf])  # the miss counts on day 1
    lower, _ = run_aci(residuals, realised, level=0.9, gamma=0.2, delay=3)
    np.testing.assert_allclose(lower, [nominal, nominal, nominal, -math.inf])  # and on day 3


@pytest.mark.parametrize("delay", [2, 5])
def test_run_aci_days_depend_only_on_outcomes_known_delay_days_later(delay):
    rng = np.random.default_rng(7)
    calibration, realised = rng.standard_normal(100), rng.standard_normal(60)
    changed = realised.copy()
    changed[30:] *= 10.0
    a = run_aci(calibration, realised, 0.9, 0.05, delay)
    b = run_aci(calibration, changed, 0.9, 0.05, delay)
    last = 30 + delay - 1  # the last day whose bounds precede the outcome of day 30
    np.testing.assert_array_equal(a[0][: last + 1], b[0][: last + 1])
    np.testing.assert_array_equal(a[1][: last + 1], b[1][: last + 1])
    assert not np.array_equal(a[0], b[0])  # the change does reach later days


def test_run_aci_rejects_a_delay_below_one_day():
    with pytest.raises(ValueError, match="delay must be a whole number of days, at least 1"):
        run_aci(np.zeros(10), np.zeros(3), 0.9, delay=0)


def test_capped_aci_stops_at_the_widest_calibrated_interval_instead_of_infinity():
    residuals = np.linspace(-1.0, 1.0, 19)  # 19 residuals: the 90% bound is the largest
    misses = np.full(60, 5.0)  # every day far outside: the miss rate falls below 0
    lower, upper = run_aci(residuals, misses, 0.9, gamma=0.05)
    assert np.isinf(upper[-1])  # the theory's infinite interval
    lower, upper = run_aci(residuals, misses, 0.9, gamma=0.05, capped=True)
    assert np.isfinite(upper).all() and upper[-1] == residuals.max()
    assert lower[-1] == residuals.min()
