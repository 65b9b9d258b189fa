"""Volatility interval baselines: known answers, no look-ahead, coverage."""

import math

import numpy as np
import pytest
from arch import arch_model
from helpers.returns import garch_returns, iid_returns, log_close_from
from scipy import stats

from pipeline.core.features import next_log_returns
from pipeline.metrics.intervals import (
    coverage,
    interval_score,
)
from pipeline.models.volatility import EWMAVolatility, GARCH11t, HistoricalSimulation

Z95 = stats.norm.ppf(0.95)  # 1.6449: the 90% normal interval is +-Z95 sigma


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


# Forecasts h days ahead: the quantiles of log_close[t+h] - log_close[t].

BASELINES = [HistoricalSimulation(), EWMAVolatility(), GARCH11t()]


@pytest.mark.parametrize("baseline", BASELINES)
def test_horizon_one_is_the_one_day_forecast(baseline):
    log_close = log_close_from(garch_returns(700, seed=13))
    fitted, ends, taus = baseline.fit(log_close, np.arange(400)), np.arange(400, 699), [0.05, 0.95]
    one_day = fitted.quantiles(log_close, ends, taus)
    np.testing.assert_array_equal(fitted.quantiles(log_close, ends, taus, horizon=1), one_day)
    assert not np.array_equal(fitted.quantiles(log_close, ends, taus, horizon=5), one_day)
    with pytest.raises(ValueError, match="horizon must be a whole number of days, at least 1"):
        fitted.quantiles(log_close, ends, taus, horizon=0)


def test_ewma_scales_its_flat_forecast_to_h_days():
    log_close = log_close_from(garch_returns(700, seed=14))
    ewma, ends = EWMAVolatility().fit(log_close, np.arange(400)), np.arange(400, 699)
    one_day = ewma.sigma(log_close, ends)
    np.testing.assert_allclose(ewma.sigma(log_close, ends, horizon=5), math.sqrt(5) * one_day)
    q = ewma.quantiles(log_close, ends, [0.05, 0.95], horizon=5)
    np.testing.assert_allclose(q[:, 1], Z95 * math.sqrt(5) * one_day)


def test_garch_h_step_variance_is_archs_forecast_summed_over_the_h_days():
    log_close = log_close_from(garch_returns(1200, seed=6))
    train = np.arange(1000)
    garch = GARCH11t().fit(log_close, train)
    omega, alpha, beta, nu = garch.params
    fixed = arch_model(
        100 * next_log_returns(log_close, train), mean="Zero", vol="GARCH", dist="t"
    ).fix([omega, alpha, beta, nu])
    variance = fixed.forecast(horizon=5, reindex=False).variance.to_numpy()[-1]  # made on day 1000
    h_day = garch.sigma(log_close, np.array([1000]), horizon=5)[0]
    assert (100 * h_day) ** 2 == pytest.approx(variance.sum(), rel=1e-6)


def test_garch_h_step_variance_by_hand_recursion_after_the_training_days():
    log_close = log_close_from(garch_returns(1200, seed=15))
    garch = GARCH11t().fit(log_close, np.arange(1000))
    omega, alpha, beta, nu = garch.params
    ends = np.array([1050, 1100, 1198])
    step = (100 * garch.sigma(log_close, ends)) ** 2  # E[s2[t+1]], in arch's units
    expected = step.copy()
    for _ in range(2):  # k = 2, 3
        step = omega + (alpha + beta) * step
        expected += step
    np.testing.assert_allclose(100 * garch.sigma(log_close, ends, horizon=3), np.sqrt(expected))
    q = garch.quantiles(log_close, ends, [0.05, 0.95], horizon=3)
    t95 = stats.t.ppf(0.95, nu) * math.sqrt((nu - 2) / nu)  # still the fitted t: an approximation
    np.testing.assert_allclose(q[:, 1], t95 * np.sqrt(expected) / 100)


def test_historical_simulation_h_day_known_answer():
    log_close = log_close_from(np.array([0.03, -0.01, 0.02, 0.05, -0.04]))
    hs = HistoricalSimulation().fit(log_close, np.arange(4))  # returns 0.03, -0.01, 0.02, 0.05
    # 2-day returns of end days 0, 1, 2 (end day 3's would need day 5, after the training days):
    # 0.02, 0.01, 0.07.
    np.testing.assert_allclose(hs.horizon_returns(2), [0.02, 0.01, 0.07], atol=1e-12)
    q = hs.quantiles(log_close, np.array([4]), [0.0, 0.5, 1.0], horizon=2)
    np.testing.assert_allclose(q, [[0.01, 0.02, 0.07]], atol=1e-12)
    with pytest.raises(ValueError, match="no 5-day return inside the training days"):
        hs.quantiles(log_close, np.array([4]), [0.5], horizon=5)


def test_historical_simulation_h_day_returns_stay_inside_the_training_days():
    log_close = log_close_from(garch_returns(700, seed=16))
    train, horizon = np.arange(400), 5  # the last training target day is 400
    hs = HistoricalSimulation().fit(log_close, train)
    expected = next_log_returns(log_close, train[: -(horizon - 1)], horizon)  # t + 4 <= 399
    np.testing.assert_allclose(hs.horizon_returns(horizon), expected, atol=1e-12)
    changed = log_close.copy()
    changed[401:] += np.random.default_rng(17).normal(0.0, 0.1, size=len(log_close) - 401)
    ends, taus = np.arange(400, 690), [0.05, 0.5, 0.95]
    np.testing.assert_array_equal(
        hs.quantiles(log_close, ends, taus, horizon=horizon),
        HistoricalSimulation().fit(changed, train).quantiles(changed, ends, taus, horizon=horizon),
    )


def test_historical_simulation_h_day_returns_never_span_a_gap_in_the_training_days():
    log_close = log_close_from(iid_returns(20, seed=18))
    hs = HistoricalSimulation().fit(log_close, np.r_[0:3, 5:9])
    # 2-day windows inside the runs 0-2 and 5-8 only: end days 0, 1, 5, 6, 7.
    expected = next_log_returns(log_close, np.array([0, 1, 5, 6, 7]), 2)
    np.testing.assert_allclose(hs.horizon_returns(2), expected, atol=1e-12)


@pytest.mark.parametrize("baseline", BASELINES)
def test_h_day_baselines_reach_nominal_coverage_on_iid_normal_returns(baseline):
    log_close = log_close_from(iid_returns(3000, seed=11))
    test = np.arange(1500, 2995)
    q = baseline.fit(log_close, np.arange(1500)).quantiles(log_close, test, [0.05, 0.95], horizon=5)
    actual = next_log_returns(log_close, test, 5)
    # observed: historical 0.8983, EWMA 0.8849, GARCH 0.8930; overlapping 5-day returns
    # make this noisier than one day, hence the wider tolerance
    assert abs(coverage(actual, q[:, 0], q[:, 1]) - 0.9) < 0.04
