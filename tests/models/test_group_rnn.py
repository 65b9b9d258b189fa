"""A group's RNN: one network for a group's tickers (one, or several), intervals calibrated
on each one's days."""

import numpy as np
import pandas as pd
import torch
from helpers import make_prices

from pipeline.config import BacktestConfig, FeatureConfig, IntervalConfig, ModelConfig, TrainConfig
from pipeline.core.calibration import calibrate_conformal, normalised_residuals
from pipeline.core.features import CLOSE, build_features, next_log_returns, with_scalers
from pipeline.evaluation.backtest import backtest
from pipeline.models.group_rnn import GroupRNN, train_group
from pipeline.models.point import Persistence
from pipeline.models.rnn import RNNForecaster, train_forecaster
from pipeline.models.scale_head import forecast_spread
from pipeline.models.training import forecast_log_returns

MODEL = ModelConfig(hidden_size=8)
TRAIN = TrainConfig(epochs=1, lr=0.01, patience=5, seed=5)
INTERVALS = IntervalConfig(levels=(0.8, 0.9), scale_trunk="frozen", scale_epochs=3)
PRICES = {
    "AAA": make_prices(360, seed=1),
    "BBB": make_prices(300, seed=2, start="2020-03-02") * 3.0,  # another level, later start
}


def test_one_network_learns_from_every_ticker_and_each_keeps_its_own_calibration():
    trained = {}

    def make_models(fold, features):
        trained[fold] = (train_group(features, MODEL, TRAIN, INTERVALS), features)
        return {t: [GroupRNN(MODEL, TRAIN, INTERVALS, trained=trained[fold][0])] for t in features}

    folds = BacktestConfig(folds=2)
    results = backtest(PRICES, FeatureConfig(window=10), folds, make_models)
    model, features = trained[2]
    pooled = model.features
    # The pool holds every ticker's training samples, and no target on or after the first test day.
    assert len(pooled.split.train) == sum(len(f.split.train) for f in features.values())
    first_test = min(r.forecasts.index[0] for rs in results.values() for r in rs if r.fold == 2)
    assert pooled.dates[pooled.split.train + 1].max() < first_test
    assert pooled.dates[pooled.split.val + 1].max() < first_test
    for ticker, own in features.items():
        scaled = with_scalers(own, pooled)
        rnn = GroupRNN(MODEL, TRAIN, INTERVALS, trained=model).fit(own)
        assert rnn.result.model is model.result.model  # one network for all
        # The multipliers are split-conformal on this ticker's own validation residuals.
        val = own.split.val
        centre, scale = forecast_spread(model.intervals.model, scaled, val, 4096)
        actual = next_log_returns(own.log_prices[:, CLOSE], val)
        residuals = normalised_residuals(actual, centre[:, 0], scale[:, 0])
        assert rnn.intervals.multipliers == calibrate_conformal(residuals, (0.8, 0.9))
        # Forecasts read the ticker's windows through the pooled scalers.
        test = own.split.test
        expected = np.exp(
            own.log_prices[test, CLOSE]
            + forecast_log_returns(model.result.model, scaled, test, 64)[:, 0]
            * pooled.y_scaler.scale_[0]
        )
        np.testing.assert_allclose(rnn.predict(own, test), expected)
        bands = rnn.bands(own, test)
        assert (bands.lower[:, 1] <= bands.lower[:, 0]).all()
        assert results[ticker][-1].bands is not None
    # The two tickers were calibrated apart: their multipliers differ.
    fitted = [GroupRNN(MODEL, TRAIN, INTERVALS, trained=model).fit(f) for f in features.values()]
    assert fitted[0].intervals.multipliers != fitted[1].intervals.multipliers


def test_the_global_network_never_reads_a_day_after_the_first_test_date():
    def trained_on(prices):
        seen = {}

        def make_models(fold, features):
            seen[fold] = train_group(features, MODEL, TRAIN, None).result.model.state_dict()
            return {t: [Persistence()] for t in features}

        backtest(prices, FeatureConfig(window=10), BacktestConfig(folds=2), make_models)
        return seen

    first = trained_on(PRICES)
    # Change every day of one ticker from the first fold's first test date on.
    cut = pd.Timestamp(PRICES["AAA"].index[360 - int(360 * 0.3)])
    changed = {t: p.copy() for t, p in PRICES.items()}
    later = changed["BBB"].index >= cut
    changed["BBB"].loc[later, ["Open", "High", "Low", "Close"]] *= 1.5
    second = trained_on(changed)
    for key, value in first[1].items():
        np.testing.assert_array_equal(value.numpy(), second[1][key].numpy(), err_msg=key)


def test_a_group_of_one_is_its_tickers_own_model_bit_for_bit():
    """One training path: a ticker's group trains exactly the network its own features do,
    and calibrating it on the ticker's validation days gives the same intervals."""
    train = TrainConfig(epochs=3, lr=0.01, patience=5, seed=5)
    features = build_features(PRICES["AAA"], FeatureConfig(window=10, horizon=2))
    own = train_forecaster(features, MODEL, train, INTERVALS)
    group = train_group({"AAA": features}, MODEL, train, INTERVALS)
    assert (
        group.result.best_epoch == own.result.best_epoch > 0
        and group.result.shrink == own.result.shrink
    )
    mine, theirs = group.intervals.model.state_dict(), own.intervals.model.state_dict()
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    assert group.intervals.horizon_multipliers == own.intervals.horizon_multipliers
    rnn = GroupRNN(MODEL, train, INTERVALS, trained=group).fit(features)
    alone = RNNForecaster(MODEL, train, INTERVALS).fit(features)
    assert rnn.intervals.horizon_multipliers == alone.intervals.horizon_multipliers
    test = features.split.test
    np.testing.assert_array_equal(rnn.predict(features, test), alone.predict(features, test))
    mine, theirs = rnn.bands(features, test), alone.bands(features, test)
    for part in ("median", "lower", "upper"):
        np.testing.assert_array_equal(getattr(mine, part), getattr(theirs, part))
