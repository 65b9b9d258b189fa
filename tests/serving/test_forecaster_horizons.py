"""The served Forecaster at every horizon, with the scale head started from the range."""

import dataclasses

import numpy as np
import pytest
import torch
from helpers import make_prices

from pipeline.config import FeatureConfig, IntervalConfig, ModelConfig, TrainConfig
from pipeline.core.features import build_features
from pipeline.models.rnn import RNNForecaster
from pipeline.serving.forecaster import WEIGHTS, Forecaster

TRAIN = TrainConfig(epochs=2, lr=0.01, seed=3)
INTERVALS = IntervalConfig(levels=(0.8, 0.9), scale_trunk="frozen", scale_epochs=3)


@pytest.fixture(scope="module")
def fitted():
    prices = make_prices(300)
    features = build_features(prices, FeatureConfig(window=10, horizon=3))
    start = dataclasses.replace(INTERVALS, scale_start="range")
    rnn = RNNForecaster(ModelConfig(hidden_size=8), TRAIN, start).fit(features)
    return prices, features, rnn


def forecaster_of(rnn, features) -> Forecaster:
    fit = rnn.intervals
    return Forecaster(
        fit.model, features.x_scaler, features.y_scaler, features.window,
        calibration=fit.calibration,
    )  # fmt: skip


def test_raw_rows_give_every_horizons_bands_of_the_training_path(fitted):
    prices, features, rnn = fitted
    assert bool(rnn.intervals.model.scale_base_on)  # the range start is on
    forecaster = forecaster_of(rnn, features)
    ends = features.split.test
    rows = prices.iloc[ends[0] - 9 : ends[-1] + 1]
    for h in (1, 2, 3):
        served, trained = (
            forecaster.forecast_bands(rows, horizon=h),
            rnn.horizon_bands(features, ends, h),
        )
        np.testing.assert_allclose(served.median, trained.median, rtol=1e-5)
        np.testing.assert_allclose(served.lower, trained.lower, rtol=1e-5)
        np.testing.assert_allclose(served.upper, trained.upper, rtol=1e-5)
    with pytest.raises(ValueError, match="1 to 3 days ahead"):
        forecaster.forecast_bands(rows, horizon=4)


def test_every_horizon_and_the_range_start_survive_save_and_load(fitted, tmp_path):
    prices, features, rnn = fitted
    forecaster = forecaster_of(rnn, features)
    forecaster.save(tmp_path / "f")
    back = Forecaster.load(tmp_path / "f")
    assert back.horizon == 3 and back.calibration == forecaster.calibration
    assert back.calibration.horizons == back.calibration.adaptable == 3
    rows = prices.tail(20)
    for h in (1, 2, 3):
        np.testing.assert_array_equal(
            back.forecast_bands(rows, horizon=h).upper,
            forecaster.forecast_bands(rows, horizon=h).upper,
        )


def test_a_model_saved_before_the_range_start_loads_with_it_off(fitted, tmp_path):
    prices, features, rnn = fitted
    forecaster = forecaster_of(rnn, features)
    forecaster.save(tmp_path / "old")
    state = {
        k: v for k, v in forecaster.model.state_dict().items() if not k.startswith("scale_base_")
    }
    torch.save(state, tmp_path / "old" / WEIGHTS)
    old = Forecaster.load(tmp_path / "old")
    assert not bool(old.model.scale_base_on)
    np.testing.assert_array_equal(
        old.forecast(prices.tail(20)), forecaster.forecast(prices.tail(20))
    )
