import math

import numpy as np
import pytest
from arch import arch_model
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from pipeline.evaluation.intervals import (
    AdaptiveConformal,
    ConformalMultipliers,
    EWMAVolatility,
    GARCH11t,
    HistoricalSimulation,
    aci_update,
    calibrate_conformal,
    conformal_intervals,
    coverage,
    interval_score,
    mean_pinball_loss,
    mean_width,
    mean_width_pct,
    next_log_returns,
    normalised_residuals,
    parse_levels,
    pinball_loss,
    quantile_levels,
    run_aci,
)

Z95 = stats.norm.ppf(0.95)  # 1.6449: the 90% normal interval is +-Z95 sigma


def log_close_from(returns: np.ndarray) -> np.ndarray:
    """Log prices starting at 0 whose day-to-day differences are ``returns``."""
    return np.concatenate(([0.0], np.cumsum(returns)))


def iid_returns(n: int, seed: int, sigma: float = 0.01) -> np.ndarray:
    return sigma * np.random.default_rng(seed).standard_normal(n)


def garch_returns(
    n: int, seed: int, omega: float = 2e-6, alpha: float = 0.1, beta: float = 0.85
) -> np.ndarray:
    """GARCH(1,1) returns with normal innovations, started at the stationary variance."""
    shocks = np.random.default_rng(seed).standard_normal(n)
    returns, variance = np.empty(n), omega / (1 - alpha - beta)
    for i in range(n):
        returns[i] = math.sqrt(variance) * shocks[i]
        variance = omega + alpha * returns[i] ** 2 + beta * variance
    return returns


# --- Levels ---------------------------------------------------------------------------------


def test_parse_levels_sorts_and_removes_duplicates():
    assert parse_levels([0.9, 0.8, 0.9]) == (0.8, 0.9)


@pytest.mark.parametrize("levels", [[0.0], [1.0], [0.9, 1.5], [-0.1]])
def test_parse_levels_rejects_levels_outside_the_open_unit_interval(levels):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        parse_levels(levels)


def test_parse_levels_rejects_no_levels():
    with pytest.raises(ValueError, match="no interval levels"):
        parse_levels([])


def test_quantile_levels_known_answer():
    assert quantile_levels([0.9]) == (0.05, 0.5, 0.95)
    assert quantile_levels([0.9, 0.8]) == (0.05, 0.1, 0.5, 0.9, 0.95)


# --- Scores ---------------------------------------------------------------------------------


def test_coverage_counts_the_closed_interval():
    actual = np.array([0.0, 0.5, 1.0, 2.0, 2.5])
    assert coverage(actual, np.full(5, 0.5), np.full(5, 2.0)) == pytest.approx(3 / 5)


def test_widths_known_answer():
    lower, upper = np.array([98.0, 190.0]), np.array([102.0, 210.0])
    assert mean_width(lower, upper) == pytest.approx(12.0)  # widths 4 and 20
    assert mean_width_pct(lower, upper, np.array([100.0, 200.0])) == pytest.approx(7.0)  # 4%, 10%


def test_interval_score_known_answer():
    # level 0.8: alpha = 0.2, so a miss costs 2 / 0.2 = 10 per unit outside; width 2.
    actual = np.array([0.0, -2.0, 1.5, 1.0])
    scores = interval_score(actual, np.full(4, -1.0), np.full(4, 1.0), level=0.8)
    np.testing.assert_allclose(scores, [2.0, 12.0, 7.0, 2.0])


def test_interval_score_rejects_a_bad_level():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        interval_score(np.zeros(1), np.zeros(1), np.ones(1), level=90)


def test_pinball_loss_known_answer():
    actual = np.array([1.0, -1.0, 0.0])
    np.testing.assert_allclose(pinball_loss(actual, np.zeros(3), 0.9), [0.9, 0.1, 0.0])
    quantiles = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    # tau 0.9: mean (0.9 + 0.1 + 0) / 3; tau 0.5: mean (0.5 + 0.5 + 0) / 3.
    assert mean_pinball_loss(actual, quantiles, [0.9, 0.5]) == pytest.approx((1.0 + 1.0) / 6)


def test_pinball_loss_rejects_bad_tau_and_shape():
    with pytest.raises(ValueError, match="tau must be strictly between 0 and 1"):
        pinball_loss(np.zeros(2), np.zeros(2), 1.0)
    with pytest.raises(ValueError, match=r"shape \(days, 2\)"):
        mean_pinball_loss(np.zeros(2), np.zeros((2, 3)), [0.1, 0.9])


# --- Split conformal ------------------------------------------------------------------------


def test_conformal_known_answer_asymmetric():
    residuals = np.random.default_rng(0).permutation(np.arange(1.0, 20.0))  # 1..19, n = 19
    m = calibrate_conformal(residuals, [0.9, 0.8])
    # level 0.8: ceil(20 * 0.9) = 18th smallest above, its mirror (the 2nd smallest) below.
    assert m == ConformalMultipliers(levels=(0.8, 0.9), lower=(2.0, 1.0), upper=(18.0, 19.0))


def test_conformal_with_too_few_residuals_gives_infinite_bounds():
    m = calibrate_conformal(np.arange(1.0, 10.0), [0.9])  # ceil(10 * 0.95) = 10 > n = 9
    assert m.lower == (-math.inf,)
    assert m.upper == (math.inf,)


def test_conformal_known_answer_symmetric():
    residuals = np.array([-5.0, 1.0, -2.0, 3.0, 4.0, -6.0, 7.0, -8.0, 9.0])
    m = calibrate_conformal(residuals, [0.8], symmetric=True)  # ceil(10 * 0.8) = 8th of |r|
    assert (m.lower, m.upper) == ((-8.0,), (8.0,))


def test_conformal_rejects_non_finite_residuals():
    with pytest.raises(ValueError, match="finite residuals"):
        calibrate_conformal(np.array([0.1, np.nan]), [0.9])


def test_conformal_intervals_known_answer():
    m = ConformalMultipliers(levels=(0.8, 0.9), lower=(-1.0, -2.0), upper=(2.0, 3.0))
    lower, upper = conformal_intervals(np.array([0.0, 1.0]), np.array([1.0, 2.0]), m)
    np.testing.assert_allclose(lower, [[-1.0, -2.0], [-1.0, -3.0]])
    np.testing.assert_allclose(upper, [[2.0, 3.0], [5.0, 7.0]])


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


# --- Adaptive conformal inference -----------------------------------------------------------


def test_aci_update_known_answer():
    assert aci_update(0.1, covered=True, level=0.9, gamma=0.01) == pytest.approx(0.101)
    assert aci_update(0.1, covered=False, level=0.9, gamma=0.01) == pytest.approx(0.091)


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


# --- Baselines ------------------------------------------------------------------------------


def test_historical_simulation_known_answer():
    log_close = log_close_from(np.array([0.03, -0.01, 0.02, 0.05, -0.04]))
    hs = HistoricalSimulation().fit(log_close, np.arange(3))  # returns 0.03, -0.01, 0.02
    q = hs.quantiles(log_close, np.array([3, 4]), [0.0 + 1e-12, 0.5, 1.0 - 1e-12])
    np.testing.assert_allclose(q, [[-0.01, 0.02, 0.03]] * 2, atol=1e-9)


def test_ewma_known_answer():
    log_close = log_close_from(np.array([0.1, -0.2]))
    ewma = EWMAVolatility().fit(log_close, np.array([0, 1]))
    assert ewma.initial_variance == pytest.approx((0.01 + 0.04) / 2)
    v1 = 0.94 * 0.025 + 0.06 * 0.1**2  # uses r[1] = 0.1
    v2 = 0.94 * v1 + 0.06 * 0.2**2  # uses r[2] = -0.2
    ends = np.array([0, 1, 2])
    np.testing.assert_allclose(ewma.sigma(log_close, ends), np.sqrt([0.025, v1, v2]))
    q = ewma.quantiles(log_close, ends, [0.05, 0.5, 0.95])
    np.testing.assert_allclose(q[:, 2], Z95 * np.sqrt([0.025, v1, v2]))
    np.testing.assert_allclose(q[:, 0], -q[:, 2])


def test_garch_recursion_matches_arch_inside_and_just_after_the_training_window():
    log_close = log_close_from(garch_returns(1200, seed=6))
    train = np.arange(1000)
    garch = GARCH11t().fit(log_close, train)
    omega, alpha, beta, nu = garch.params
    assert 0.0 < alpha < 0.3 and 0.6 < beta < 1.0 and nu > 2.0
    scaled = 100 * next_log_returns(log_close, train)
    model = arch_model(scaled, mean="Zero", vol="GARCH", dist="t")
    fixed = model.fix([omega, alpha, beta, nu])
    np.testing.assert_allclose(garch.sigma(log_close, train), fixed.conditional_volatility / 100)
    next_var = fixed.forecast(horizon=1, reindex=False).variance.to_numpy()[-1, 0]
    assert garch.sigma(log_close, np.array([1000]))[0] == pytest.approx(math.sqrt(next_var) / 100)


def test_garch_quantiles_use_the_unit_variance_student_t():
    log_close = log_close_from(garch_returns(600, seed=7))
    garch = GARCH11t().fit(log_close, np.arange(500))
    nu, ends = garch.params[3], np.arange(500, 599)
    q = garch.quantiles(log_close, ends, [0.05, 0.95])
    t95 = stats.t.ppf(0.95, nu) * math.sqrt((nu - 2) / nu)
    np.testing.assert_allclose(q[:, 1], t95 * garch.sigma(log_close, ends))
    np.testing.assert_allclose(q[:, 0], -q[:, 1])


def test_garch_rejects_training_days_with_gaps():
    log_close = log_close_from(iid_returns(100, seed=8))
    with pytest.raises(ValueError, match="consecutive training end days"):
        GARCH11t().fit(log_close, np.r_[0:40, 50:90])


@pytest.mark.parametrize("baseline", [HistoricalSimulation(), EWMAVolatility(), GARCH11t()])
def test_an_unfitted_baseline_says_so(baseline):
    with pytest.raises(ValueError, match=r"is not fitted: call \.fit"):
        baseline.quantiles(np.zeros(5), np.array([1]), [0.5])


@pytest.mark.parametrize("baseline", [HistoricalSimulation(), EWMAVolatility(), GARCH11t()])
def test_a_baseline_never_reads_returns_after_the_end_day(baseline):
    log_close = log_close_from(garch_returns(700, seed=9))
    train, ends, taus = np.arange(400), np.arange(400, 699), [0.05, 0.5, 0.95]
    changed = log_close.copy()
    changed[600:] += np.random.default_rng(10).normal(0.0, 0.1, size=101)  # days 600-700
    a = baseline.fit(log_close, train).quantiles(log_close, ends, taus)
    b = baseline.fit(changed, train).quantiles(changed, ends, taus)
    np.testing.assert_array_equal(a[ends < 600], b[ends < 600])
    if not isinstance(baseline, HistoricalSimulation):  # its quantiles are the same every day
        assert not np.array_equal(a, b)


@pytest.mark.parametrize("baseline", [HistoricalSimulation(), EWMAVolatility(), GARCH11t()])
def test_baselines_reach_nominal_coverage_on_iid_normal_returns(baseline):
    log_close = log_close_from(iid_returns(3000, seed=11))
    test = np.arange(1500, 3000)
    q = baseline.fit(log_close, np.arange(1500)).quantiles(log_close, test, [0.05, 0.95])
    # observed: historical 0.8907, EWMA 0.8880, GARCH 0.9020
    assert abs(coverage(next_log_returns(log_close, test), q[:, 0], q[:, 1]) - 0.9) < 0.03


def test_volatility_models_beat_historical_simulation_on_garch_returns():
    log_close = log_close_from(garch_returns(3000, seed=12))
    train, test = np.arange(1500), np.arange(1500, 3000)
    actual = next_log_returns(log_close, test)
    scores = {}
    for baseline in (HistoricalSimulation(), EWMAVolatility(), GARCH11t()):
        q = baseline.fit(log_close, train).quantiles(log_close, test, [0.05, 0.95])
        scores[type(baseline).__name__] = interval_score(actual, q[:, 0], q[:, 1], 0.9).mean()
    # observed (x 100): historical 2.57, EWMA 2.44, GARCH 2.43
    assert scores["EWMAVolatility"] < 0.98 * scores["HistoricalSimulation"]
    assert scores["GARCH11t"] < 0.98 * scores["HistoricalSimulation"]
