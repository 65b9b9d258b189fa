"""The scale head: it learns the spread, and it never moves the point forecast."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from pipeline.config import FeatureConfig, IntervalConfig, ModelConfig, TrainConfig
from pipeline.core.features import build_features
from pipeline.core.network import StockRNN
from pipeline.models.rnn import RNNForecaster
from pipeline.models.scale_head import fit_scale, forecast_spread
from pipeline.models.training import DeviceData, fit, forecast_log_returns, predict_scaled

MODEL = ModelConfig(hidden_size=8)
TRAIN = TrainConfig(epochs=3, lr=0.01, patience=5, seed=7)
SCALE = IntervalConfig(scale_epochs=15, scale_lr=0.01, scale_patience=15)


def volatility_regimes(days: int = 600, seed: int = 0) -> pd.DataFrame:
    """Prices whose daily moves switch between calm (0.5%) and wild (4%) blocks of 40 days.

    Day ``d`` is wild when ``(d // 40) % 2 == 1``.

    The day's High-Low range grows with the regime too, so a window shows which one it is in.
    """
    rng = np.random.default_rng(seed)
    sigma = np.where((np.arange(days) // 40) % 2 == 0, 0.005, 0.04)
    close = 50.0 * np.exp(np.cumsum(sigma * rng.standard_normal(days)))
    open_ = close * np.exp(0.3 * sigma * rng.standard_normal(days))
    high = np.maximum(open_, close) * np.exp(sigma * np.abs(rng.standard_normal(days)))
    low = np.minimum(open_, close) * np.exp(-sigma * np.abs(rng.standard_normal(days)))
    index = pd.bdate_range("2015-01-01", periods=days, name="Date")
    return pd.DataFrame({"Open": open_, "High": high, "Low": low, "Close": close}, index=index)


@pytest.fixture(scope="module")
def regimes():
    features = build_features(volatility_regimes(), FeatureConfig(window=10, horizon=1))
    # Unshrunk, so that the centre really depends on the recurrent layers.
    point = dataclasses.replace(TRAIN, shrink=False, min_delta=0.0)
    return features, fit(features, MODEL, point)


def test_untrained_scale_head_gives_the_training_spread():
    model = StockRNN(MODEL, n_features=4)
    assert torch.equal(model.log_scale(torch.randn(5, 10, 4)), torch.zeros(5, 1))


def test_adding_the_scale_head_changes_no_initial_weight_and_no_later_draw():
    # The network as it was before the scale head existed, built from the same seed.
    torch.manual_seed(3)
    rnn = nn.RNN(4, 8, num_layers=2, bidirectional=True, batch_first=True)
    head = nn.Linear(16, 1)
    after_old = torch.rand(3)
    torch.manual_seed(3)
    model = StockRNN(MODEL, n_features=4)
    after_new = torch.rand(3)
    assert torch.equal(after_old, after_new)
    for a, b in zip(rnn.parameters(), model.rnn.parameters(), strict=True):
        assert torch.equal(a, b)
    assert head.weight.shape == model.head.weight.shape


# How much wider the wild regime's forecast spread must come out than the calm one's (the
# truth is 8 times; a constant spread gives 1). The frozen head only reads features that a
# tiny, barely trained network made for the centre, so it is held to less.
@pytest.mark.parametrize(("trunk", "ratio"), [("frozen", 1.2), ("finetune", 3.0)])
def test_scale_head_learns_the_regimes_and_leaves_the_centre_alone(regimes, trunk, ratio):
    features, result = regimes
    assert result.best_epoch > 0 and result.model.head.weight.abs().sum() > 0
    before = {k: v.clone() for k, v in result.model.state_dict().items()}
    scaled = fit_scale(result.model, features, trunk, SCALE, TRAIN)
    # The validation NLL fell below the untrained head's (a constant spread).
    assert scaled.best_epoch > 0
    best = scaled.history[scaled.best_epoch]
    assert best.val_nll < scaled.history[0].val_nll - 0.1
    assert best.train_nll < scaled.history[0].train_nll
    # The point model is untouched, and the copy forecasts exactly the same centre.
    for key, value in result.model.state_dict().items():
        assert torch.equal(value, before[key]), key
    data = DeviceData(features, torch.device("cpu"))
    ends = data.ends(features.split.test)
    assert torch.equal(
        predict_scaled(scaled.model, data, ends, 64), predict_scaled(result.model, data, ends, 64)
    )
    assert (scaled.model.scale_rnn is not None) == (trunk == "finetune")
    # Days in the wild regime get the wider forecast spread.
    test = features.split.test
    _, scale = forecast_spread(scaled.model, features, test, 64)
    wild = ((test + 1) // 40) % 2 == 1  # the next day's regime
    assert scale[wild, 0].mean() > ratio * scale[~wild, 0].mean()


def test_zero_scale_epochs_keep_the_untrained_head(regimes):
    features, result = regimes
    scaled = fit_scale(
        result.model, features, "frozen", dataclasses.replace(SCALE, scale_epochs=0), TRAIN
    )
    assert scaled.best_epoch == 0 and len(scaled.history) == 1
    assert torch.equal(
        scaled.model.scale_head.weight, torch.zeros_like(scaled.model.scale_head.weight)
    )


def test_point_forecasts_are_identical_with_and_without_the_scale_head_step(prices):
    features = build_features(prices, FeatureConfig(window=10, horizon=1))
    ends = features.split.test
    point = dataclasses.replace(TRAIN, shrink=False, min_delta=0.0)  # a centre that moves
    finetune = dataclasses.replace(SCALE, scale_trunk="finetune")
    plain = RNNForecaster(MODEL, point).fit(features)
    with_intervals = RNNForecaster(MODEL, point, finetune).fit(features)
    assert plain.intervals is None and with_intervals.intervals is not None
    assert np.abs(plain.predict(features, ends) / features.close[ends] - 1).max() > 1e-4
    np.testing.assert_array_equal(
        plain.predict(features, ends), with_intervals.predict(features, ends)
    )
    # The network that is served (centre and scale head in one) forecasts the same centre.
    served = forecast_log_returns(with_intervals.intervals.model, features, ends, 64)
    np.testing.assert_array_equal(
        served, forecast_log_returns(plain.result.model, features, ends, 64)
    )
    bands = with_intervals.bands(features, ends)
    np.testing.assert_array_equal(bands.median, plain.predict(features, ends))
    assert (bands.lower[:, 0] < bands.median).all() and (bands.median < bands.upper[:, 0]).all()


def test_a_range_start_gives_the_windows_range_spread_before_any_training():
    features = build_features(volatility_regimes(), FeatureConfig(window=10, horizon=3))
    model = StockRNN(MODEL, n_features=4, horizon=3)
    start = dataclasses.replace(SCALE, scale_start="range", scale_epochs=0)
    scaled = fit_scale(model, features, "frozen", start, TRAIN)
    assert torch.equal(model.scale_base_on, torch.zeros(()))  # the point model is untouched
    ends = features.split.test
    _, scale = forecast_spread(scaled.model, features, ends, 64)
    # By hand: an EWMA (0.94) of the window's Parkinson variances, times the training days'
    # squared return over their Parkinson variance, grown as sqrt(h).
    logp, train = features.log_prices, features.split.train
    parkinson = (logp[:, 1] - logp[:, 2]) ** 2 / (4 * np.log(2))
    factor = np.mean(np.diff(logp[:, 3])[train] ** 2) / np.mean(parkinson[train + 1])
    weights = 0.94 ** np.arange(9, -1, -1)
    ewma = np.array([parkinson[t - 9 : t + 1] @ weights / weights.sum() for t in ends])
    expected = np.sqrt(factor * ewma)[:, None] * np.sqrt([1.0, 2.0, 3.0])
    np.testing.assert_allclose(scale, expected, rtol=1e-4)
    # The range ranks the regimes before any training: the wild days' spread is wider.
    wild = ((ends + 1) // 40) % 2 == 1
    assert scale[wild, 0].mean() > 3 * scale[~wild, 0].mean()


def test_prices_without_a_range_keep_the_constant_start():
    prices = volatility_regimes()
    prices["High"] = prices["Low"] = prices["Open"] = prices["Close"]
    features = build_features(prices, FeatureConfig(window=10, horizon=1))
    start = dataclasses.replace(SCALE, scale_start="range", scale_epochs=0)
    scaled = fit_scale(StockRNN(MODEL, 4), features, "frozen", start, TRAIN)
    assert not bool(scaled.model.scale_base_on)
