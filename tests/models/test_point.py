"""Point baselines h days ahead: persistence and drift."""

import numpy as np
import pytest

from pipeline.config import FeatureConfig
from pipeline.core.features import build_features
from pipeline.models.point import Drift, Persistence


@pytest.fixture
def features(prices):
    return build_features(prices, FeatureConfig(window=10))


def test_persistence_forecasts_todays_close_for_every_horizon(features, prices):
    ends = features.split.test[:5]
    close = features.close  # the prices' Close, through exp(log): equal to ~1e-16
    np.testing.assert_allclose(close, prices.Close.to_numpy(), rtol=1e-12)
    persistence = Persistence().fit(features)
    np.testing.assert_array_equal(persistence.predict(features, ends), close[ends])
    for horizon in (1, 5):
        np.testing.assert_array_equal(
            persistence.predict_horizon(features, ends, horizon), close[ends]
        )


def test_drift_grows_todays_close_by_h_mean_training_returns(features):
    drift = Drift().fit(features)
    ends = features.split.test[:5]
    close = features.close
    np.testing.assert_array_equal(
        drift.predict_horizon(features, ends, 1), drift.predict(features, ends)
    )
    np.testing.assert_allclose(
        drift.predict_horizon(features, ends, 5), close[ends] * np.exp(5 * drift.mu)
    )
    # h days of drift are h one-day steps: exp(mu)^h
    np.testing.assert_allclose(
        drift.predict_horizon(features, ends, 3), close[ends] * np.exp(drift.mu) ** 3
    )
    assert drift.mu != 0.0  # else the last two checks could not fail


@pytest.mark.parametrize("model", [Persistence(), Drift()])
def test_a_horizon_below_one_day_is_rejected(model, features):
    with pytest.raises(ValueError, match="horizon must be a whole number of days, at least 1"):
        model.fit(features).predict_horizon(features, features.split.test[:2], 0)
