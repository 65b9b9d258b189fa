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
