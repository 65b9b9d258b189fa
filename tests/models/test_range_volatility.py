"""Range-based interval baselines: known answers, no look-ahead, training days only, coverage."""

import math

import numpy as np
import pytest
from helpers import make_prices
from helpers.ohlc import garch_ohlc, ohlc_with_parkinson_variance
from scipy import stats

from pipeline.config import FeatureConfig
from pipeline.core.features import CLOSE, build_features, next_log_returns
from pipeline.metrics.intervals import coverage
from pipeline.models.range_volatility import (
    MONTH,
    HARRange,
    RangeEWMA,
    garman_klass_variance,
    har_regressors,
    parkinson_variance,
)
from pipeline.models.volatility import BaselineBands, interval_baselines

LN2 = math.log(2.0)
Z95 = stats.norm.ppf(0.95)
# Log Open, High, Low, Close of three days, chosen to be easy to follow by hand.
TINY = np.array(
    [
        [0.00, 0.02, -0.01, 0.01],
        [0.02, 0.05, 0.01, 0.04],  # gap 0.01, range 0.04, open-to-close 0.02
        [0.03, 0.04, 0.00, 0.01],  # gap -0.01, range 0.04, open-to-close -0.02
    ]
)
MODELS = [RangeEWMA("parkinson"), RangeEWMA("garman_klass"), HARRange("garman_klass")]


def test_parkinson_variance_known_answer():
    np.testing.assert_allclose(
        parkinson_variance(TINY), np.array([0.03, 0.04, 0.04]) ** 2 / (4 * LN2)
    )


def test_garman_klass_variance_with_the_overnight_gap_known_answer():
    day0 = 0.5 * 0.03**2 - (2 * LN2 - 1) * 0.01**2  # no previous Close: no gap term
    day1 = 0.01**2 + 0.5 * 0.04**2 - (2 * LN2 - 1) * 0.02**2
    day2 = 0.01**2 + 0.5 * 0.04**2 - (2 * LN2 - 1) * 0.02**2
    np.testing.assert_allclose(garman_klass_variance(TINY), [day0, day1, day2])


def test_garman_klass_variance_is_clipped_at_zero_when_the_close_lies_outside_the_range():
    bad = np.array([[0.0, 0.001, 0.0, 0.05]])  # Close far above High: bad data
    assert garman_klass_variance(bad)[0] == 0.0


def test_range_ewma_known_answer():
    # Trained on end days 0 and 1: returns r[1] = 0.03, r[2] = -0.03; Parkinson on days 1, 2.
    ewma = RangeEWMA("parkinson", lam=0.9).fit(TINY, np.array([0, 1]))
    mean_squared = (0.03**2 + 0.03**2) / 2
    park = 0.04**2 / (4 * LN2)
    assert ewma.initial_variance == pytest.approx(mean_squared)
    assert ewma.scale == pytest.approx(mean_squared / park)
    v1 = 0.9 * mean_squared + 0.1 * ewma.scale * park  # after day 1's range
    v2 = 0.9 * v1 + 0.1 * ewma.scale * park
    ends = np.array([0, 1, 2])
    np.testing.assert_allclose(ewma.sigma(TINY, ends), np.sqrt([mean_squared, v1, v2]))
    q = ewma.quantiles(TINY, ends, [0.05, 0.5, 0.95])
    np.testing.assert_allclose(q[:, 2], Z95 * np.sqrt([mean_squared, v1, v2]))
    np.testing.assert_allclose(q[:, 0], -q[:, 2])
    np.testing.assert_allclose(q[:, 1], 0.0, atol=1e-15)


def test_har_regressors_average_the_last_day_week_and_month():
    daily = np.arange(1.0, 31.0)  # 1, 2, ..., 30
    x = har_regressors(daily)
    np.testing.assert_allclose(x[29], [1.0, math.log(30), math.log(28), math.log(19.5)])
    np.testing.assert_allclose(x[1], [1.0, math.log(2), math.log(1.5), math.log(1.5)])


def test_har_recovers_the_coefficients_of_a_known_har_process():
    b = np.array([-0.9, 0.3, 0.3, 0.3])  # in logs; mean log variance about -9
    rng = np.random.default_rng(31)
    n, log_v = 4000, np.full(4000, -9.0)
    for t in range(MONTH, n - 1):
        v = np.exp(log_v[: t + 1])
        x = [1.0, log_v[t], math.log(v[-5:].mean()), math.log(v[-MONTH:].mean())]
        log_v[t + 1] = b @ x + 0.4 * rng.standard_normal()
    log_prices = ohlc_with_parkinson_variance(np.exp(log_v), seed=32)
    b0, *slopes = HARRange("parkinson").fit(log_prices, np.arange(3000)).coefficients
    # observed: slopes 0.336, 0.274, 0.276; the intercept -1.02 carries the slopes' error
    # times the mean log variance, so it is checked through the long-run mean it implies.
    np.testing.assert_allclose(slopes, b[1:], atol=0.05)
    assert b0 / (1.0 - sum(slopes)) == pytest.approx(-9.0, abs=0.2)  # observed -8.92


def test_har_says_when_there_are_too_few_training_days():
    log_prices = garch_ohlc(100, seed=33)
    with pytest.raises(ValueError, match="HARRange needs at least 44 training end days"):
        HARRange().fit(log_prices, np.arange(50))


@pytest.mark.parametrize("model", MODELS)
def test_an_unfitted_range_baseline_says_so(model):
    with pytest.raises(ValueError, match=r"is not fitted: call \.fit\(log_prices"):
        model.quantiles(TINY, np.array([1]), [0.5])


@pytest.mark.parametrize("model", MODELS)
def test_a_range_baseline_never_reads_prices_after_the_end_day(model):
    log_prices = garch_ohlc(700, seed=34)
    train, ends, taus = np.arange(400), np.arange(400, 699), [0.05, 0.5, 0.95]
    changed = log_prices.copy()
    changed[600:] += np.random.default_rng(35).normal(0.0, 0.05, size=(100, 4))  # days 600-699
    a = model.fit(log_prices, train).quantiles(log_prices, ends, taus)
    b = model.fit(changed, train).quantiles(changed, ends, taus)
    np.testing.assert_array_equal(a[ends < 600], b[ends < 600])
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("model", MODELS)
def test_a_range_baseline_fits_on_training_days_only(model):
    log_prices = garch_ohlc(700, seed=36)
    train = np.arange(400)  # reads the training targets' days, up to day 400
    changed = log_prices.copy()
    changed[401:] *= 1.5  # validation and test days
    assert model.fit(log_prices, train) == model.fit(changed, train)
    assert model.fit(log_prices, train) != model.fit(changed, np.arange(500))


@pytest.mark.parametrize("model", MODELS)
def test_range_baselines_reach_nominal_coverage_on_a_garch_path_with_intraday_ranges(model):
    log_prices = garch_ohlc(3000, seed=23)
    test = np.arange(1500, 2999)
    q = model.fit(log_prices, np.arange(1500)).quantiles(log_prices, test, [0.05, 0.95])
    actual = next_log_returns(log_prices[:, CLOSE], test)
    # observed: parkinson 0.9046, garman_klass 0.9053, har 0.9166 (EWMA on closes 0.8893)
    assert abs(coverage(actual, q[:, 0], q[:, 1]) - 0.9) < 0.03


def test_baseline_bands_give_a_range_model_the_open_high_low_and_close():
    features = build_features(make_prices(400, seed=37), FeatureConfig(window=10))
    ends = features.split.test
    bands = BaselineBands("parkinson", RangeEWMA("parkinson"), (0.9,)).fit(features)
    direct = RangeEWMA("parkinson").fit(features.log_prices, features.split.train)
    q = direct.quantiles(features.log_prices, ends, [0.05, 0.95])
    close = features.close[ends]
    got = bands.bands(features, ends)
    np.testing.assert_allclose(got.lower[:, 0], close * np.exp(q[:, 0]))
    np.testing.assert_allclose(got.upper[:, 0], close * np.exp(q[:, 1]))
    np.testing.assert_allclose(got.median, close)  # centred on persistence


def test_the_range_baselines_are_among_the_interval_baselines():
    names = [b.name for b in interval_baselines([0.9])]
    assert names == ["hist", "ewma", "garch", "parkinson", "garman_klass", "har"]


@pytest.mark.parametrize("model", MODELS)
def test_a_range_baseline_scales_its_flat_forecast_to_h_days(model):
    log_prices = garch_ohlc(700, seed=38)
    fitted, ends, taus = model.fit(log_prices, np.arange(400)), np.arange(400, 699), [0.05, 0.95]
    one_day = fitted.sigma(log_prices, ends)
    np.testing.assert_array_equal(fitted.sigma(log_prices, ends, horizon=1), one_day)
    np.testing.assert_array_equal(
        fitted.quantiles(log_prices, ends, taus, horizon=1),
        fitted.quantiles(log_prices, ends, taus),
    )
    np.testing.assert_allclose(fitted.sigma(log_prices, ends, horizon=5), math.sqrt(5) * one_day)
    q = fitted.quantiles(log_prices, ends, taus, horizon=5)
    np.testing.assert_allclose(q[:, 1], Z95 * math.sqrt(5) * one_day)
    with pytest.raises(ValueError, match="horizon must be a whole number of days, at least 1"):
        fitted.quantiles(log_prices, ends, taus, horizon=0)


@pytest.mark.parametrize("index", range(6))
def test_baseline_bands_for_h_days_centre_on_todays_close(index):
    features = build_features(make_prices(400, seed=39), FeatureConfig(window=10))
    ends = features.split.test[:-5]
    bands = interval_baselines([0.8, 0.9])[index].fit(features)
    one_day = bands.bands(features, ends)
    same = bands.horizon_bands(features, ends, 1)
    for field in ("median", "lower", "upper"):
        np.testing.assert_array_equal(getattr(same, field), getattr(one_day, field))
    five = bands.horizon_bands(features, ends, 5)
    q = bands.fitted.quantiles(bands._inputs(features), ends, [0.05, 0.95], horizon=5)
    close = features.close[ends]
    np.testing.assert_allclose(five.lower[:, 1], close * np.exp(q[:, 0]))
    np.testing.assert_allclose(five.upper[:, 1], close * np.exp(q[:, 1]))
    assert np.all(five.upper[:, 1] - five.lower[:, 1] > one_day.upper[:, 1] - one_day.lower[:, 1])
