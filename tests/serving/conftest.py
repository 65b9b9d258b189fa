"""The served model's fixtures: a point-only Forecaster and one with intervals, trained once."""

import pytest
from helpers import make_prices
from helpers.served import INTERVALS, TRAIN, served

from pipeline.config import FeatureConfig, ModelConfig
from pipeline.core.features import build_features
from pipeline.models.rnn import RNNForecaster
from pipeline.models.training import fit
from pipeline.serving.forecaster import Forecaster


@pytest.fixture(scope="session")
def trained():
    """Prices, their features and a point-only Forecaster (no calibration)."""
    prices = make_prices(300)
    features = build_features(prices, FeatureConfig(window=10))
    result = fit(features, ModelConfig(hidden_size=8), TRAIN)
    return prices, features, Forecaster(result.model, features.x_scaler, features.y_scaler, 10)


@pytest.fixture(scope="session")
def with_intervals():
    """Prices, their features, a fitted RNN with intervals and its Forecaster (5 horizons)."""
    prices = make_prices(300)
    features = build_features(prices, FeatureConfig(window=10))
    rnn = RNNForecaster(ModelConfig(hidden_size=8), TRAIN, INTERVALS).fit(features)
    return prices, features, rnn, served(rnn, features)
