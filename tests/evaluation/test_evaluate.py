import numpy as np
import pandas as pd
import pytest

from pipeline.config import BaselineConfig, FeatureConfig
from pipeline.core.features import build_features
from pipeline.evaluation.evaluate import evaluate, forecast_baselines
from pipeline.metrics.point import score
from pipeline.models.point import Drift, MovingAverage, Persistence, RidgeWindows, baselines


def test_score_known_answer():
    actual = np.array([10.0, 12.0, 9.0, 10.0])
    previous = np.array([11.0, 10.0, 12.0, 9.0])
    forecast = np.array([10.0, 11.0, 10.0, 12.0])
    s = score(actual, forecast, previous)
    # errors 0, -1, 1, 2: RMSE sqrt(6/4), MAE 1, MAPE mean(0, 1/12, 1/9, 2/10) * 100
    assert s["rmse"] == pytest.approx(np.sqrt(1.5))
    assert s["mae"] == pytest.approx(1.0)
    assert s["mape"] == pytest.approx((0 + 1 / 12 + 1 / 9 + 2 / 10) / 4 * 100)
    # forecast moves -1, +1, -2, +3 vs actual moves -1, +2, -3, +1: all four signs agree
    assert s["direction_acc"] == 1.0
    # persistence errors 1, -2, 3, -1: RMSE sqrt(15/4)
    assert s["theil_u"] == pytest.approx(np.sqrt(1.5) / np.sqrt(15 / 4))


def test_direction_counts_wrong_signs_and_no_change():
    actual, previous = np.array([11.0, 9.0, 10.0]), np.array([10.0, 10.0, 10.0])
    s = score(actual, np.array([9.0, 9.5, 10.0]), previous)
    # first wrong sign, second right, third: no move forecast and no move happened
    assert s["direction_acc"] == pytest.approx(2 / 3)


def test_persistence_scores_theil_u_of_one():
    actual, previous = np.array([3.0, 5.0, 4.0]), np.array([2.0, 3.0, 5.0])
    assert score(actual, previous, previous)["theil_u"] == pytest.approx(1.0)


@pytest.fixture
def features(prices):
    return build_features(prices, FeatureConfig(window=10))


def test_persistence_and_ma_known_answers(features, prices):
    ends = np.array([20, 21])
    close = prices.Close.to_numpy()
    np.testing.assert_allclose(Persistence().fit(features).predict(features, ends), close[ends])
    np.testing.assert_allclose(
        MovingAverage(days=5).fit(features).predict(features, ends),
        [close[16:21].mean(), close[17:22].mean()],
    )


def test_drift_uses_training_returns_only(features, prices):
    drift = Drift().fit(features)
    returns = np.diff(np.log(prices.Close.to_numpy()))
    assert drift.mu == pytest.approx(returns[features.split.train].mean())
    ends = features.split.test[:3]
    np.testing.assert_allclose(
        drift.predict(features, ends), prices.Close.to_numpy()[ends] * np.exp(drift.mu)
    )


def test_ridge_recovers_a_linear_rule():
    # Close follows an exact AR rule on close-relative log prices; Ridge should nail it.
    rng = np.random.default_rng(3)
    n = 400
    log_close = np.zeros(n)
    shocks = rng.normal(0, 0.01, n)
    for t in range(2, n):
        log_close[t] = log_close[t - 1] - 0.5 * (log_close[t - 1] - log_close[t - 2]) + shocks[t]
    close = 100 * np.exp(log_close)
    frame = pd.DataFrame(
        {"Open": close, "High": close * 1.01, "Low": close * 0.99, "Close": close},
        index=pd.bdate_range("2020-01-01", periods=n, name="Date"),
    )
    f = build_features(frame, FeatureConfig(window=5))
    ridge = RidgeWindows().fit(f)
    ends = f.split.test
    actual = close[ends + 1]
    u = score(actual, ridge.predict(f, ends), close[ends])["theil_u"]
    assert u < 0.95  # persistence ignores the mean reversion that Ridge learns


def test_every_model_scores_on_the_same_days(features):
    ends = features.split.test
    preds = forecast_baselines(features, ends, baselines(BaselineConfig()))
    ev = evaluate(features, preds, ends)
    assert list(ev.table.index) == ["persistence", "drift", "ma5", "ridge", "hgb"]
    assert len(ev.forecasts) == len(ends)
    assert ev.forecasts.index[0] == features.dates[ends[0] + 1]
    assert ev.table.loc["persistence", "theil_u"] == pytest.approx(1.0)
