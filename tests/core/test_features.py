import numpy as np
import pandas as pd
import pytest

from pipeline.config import FeatureConfig
from pipeline.core.features import (
    CLOSE,
    build_features,
    fit_x_scaler,
    make_batch,
    scaler_from_state,
    scaler_state,
    to_price,
    window_view,
)
from pipeline.errors import DataError


def test_window_view_is_a_view_with_known_values():
    log_prices = np.arange(24, dtype=float).reshape(6, 4)
    w = window_view(log_prices, 3)
    assert w.shape == (4, 3, 4)
    assert np.shares_memory(w, log_prices)
    np.testing.assert_array_equal(w[1], log_prices[1:4])


def test_make_batch_is_relative_to_the_last_close_known_answer():
    log_prices = np.log(np.array([[1, 2, 0.5, 1], [2, 2, 1, 2], [4, 8, 2, 4], [1, 1, 1, 1.0]]))
    w = window_view(log_prices, 2)
    x = make_batch(w, log_prices[:, CLOSE], np.array([2]), 2, np.zeros(4), np.ones(4))
    # Window = days 1..2, last Close = 4.
    expected = np.log(np.array([[[2, 2, 1, 2], [4, 8, 2, 4]]]) / 4)
    np.testing.assert_allclose(x, expected)
    assert x[0, -1, CLOSE] == 0.0


def test_make_batch_applies_the_scaler():
    log_prices = np.log(np.arange(1, 41, dtype=float)).reshape(10, 4)
    w = window_view(log_prices, 3)
    mean, scale = np.array([0.1, 0.2, 0.3, 0.4]), np.array([2.0, 2.0, 4.0, 4.0])
    raw = make_batch(w, log_prices[:, CLOSE], np.array([5, 7]), 3, 0.0, 1.0)
    scaled = make_batch(w, log_prices[:, CLOSE], np.array([5, 7]), 3, mean, scale)
    np.testing.assert_allclose(scaled, (raw - mean) / scale)


def test_x_scaler_equals_a_scaler_fitted_on_materialised_training_windows(prices):
    f = build_features(prices, FeatureConfig(window=10))
    rows = f.batch(f.split.train) * f.x_scaler.scale_ + f.x_scaler.mean_  # undo scaling
    np.testing.assert_allclose(f.x_scaler.mean_, rows.reshape(-1, 4).mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(f.x_scaler.scale_, rows.reshape(-1, 4).std(axis=0), rtol=1e-9)


def test_targets_are_scaled_next_day_log_returns(prices):
    f = build_features(prices, FeatureConfig(window=10))
    t = 50
    expected = np.log(prices.Close.iloc[t + 1] / prices.Close.iloc[t]) / f.y_scaler.scale_[0]
    assert f.targets[t] == pytest.approx(expected)
    assert np.isnan(f.targets[-1])
    # The y scaler does not centre: a zero forecast maps back to today's Close.
    close_today = np.log(prices.Close.to_numpy()[[t]])
    assert to_price(close_today, np.zeros(1), f.y_scaler)[0] == pytest.approx(prices.Close.iloc[t])


def test_scalers_ignore_everything_after_the_training_days(prices):
    base = build_features(prices, FeatureConfig(window=10))
    changed = prices.copy()
    last_train_day = base.split.train[-1] + 1
    changed.iloc[last_train_day + 1 :, :4] *= 3.0  # every later day moves
    other = build_features(changed, FeatureConfig(window=10))
    np.testing.assert_array_equal(base.x_scaler.scale_, other.x_scaler.scale_)
    np.testing.assert_array_equal(base.x_scaler.mean_, other.x_scaler.mean_)
    np.testing.assert_array_equal(base.y_scaler.scale_, other.y_scaler.scale_)


def test_scaler_state_round_trips(prices):
    f = build_features(prices, FeatureConfig(window=10))
    back = scaler_from_state(scaler_state(f.x_scaler))
    x = np.random.default_rng(0).normal(size=(5, 4))
    np.testing.assert_array_equal(back.transform(x), f.x_scaler.transform(x))


def test_fit_x_scaler_touches_only_training_windows():
    log_prices = np.log(np.random.default_rng(1).uniform(10, 20, (100, 4)))
    ends = np.arange(9, 40)
    poisoned = log_prices.copy()
    poisoned[41:] = np.nan  # any read past day 40 would poison the fit
    a, b = fit_x_scaler(log_prices, ends, 10), fit_x_scaler(poisoned, ends, 10)
    np.testing.assert_array_equal(a.scale_, b.scale_)


def test_build_features_rejects_short_series(prices):
    with pytest.raises(DataError, match="too little history"):
        build_features(prices.iloc[:40], FeatureConfig(window=30), "XYZ")


def test_features_keep_dates(prices):
    f = build_features(prices, FeatureConfig(window=10))
    assert isinstance(f.dates, pd.DatetimeIndex) and len(f.dates) == len(prices)


def test_pooled_features_keep_each_sample_inside_its_ticker():
    from helpers import make_prices

    from pipeline.core.features import features_for_split, pool_features, with_scalers
    from pipeline.core.splits import default_split

    cfg = FeatureConfig(window=5)
    parts = [
        features_for_split(p, default_split(len(p), cfg), 5)
        for p in (make_prices(120, seed=1), make_prices(80, seed=2))
    ]
    pooled = pool_features(parts)
    assert len(pooled.log_prices) == 200
    np.testing.assert_array_equal(
        pooled.split.val, np.concatenate([parts[0].split.val, parts[1].split.val + 120])
    )
    # A pooled sample is its ticker's sample: the same window and target.
    for ends, offset, part in (
        (parts[0].split.train, 0, parts[0]),
        (parts[1].split.test, 120, parts[1]),
    ):
        np.testing.assert_array_equal(pooled.windows()[ends + offset - 4], part.windows()[ends - 4])
        np.testing.assert_allclose(
            pooled.targets[ends + offset] * pooled.y_scaler.scale_[0],
            part.targets[ends] * part.y_scaler.scale_[0],
        )
    # The pooled scalers are fitted on both tickers' training samples, and on nothing else.
    returns = np.concatenate([np.diff(p.log_prices[:, CLOSE])[p.split.train] for p in parts])
    assert pooled.y_scaler.scale_[0] == pytest.approx(np.std(returns))
    own = with_scalers(parts[1], pooled)
    np.testing.assert_array_equal(own.log_prices, parts[1].log_prices)
    assert own.x_scaler is pooled.x_scaler and own.y_scaler is pooled.y_scaler
    with pytest.raises(ValueError, match="same window"):
        pool_features([parts[0], features_for_split(make_prices(100), parts[0].split, 6)])


def test_a_ticker_pools_to_itself_bit_for_bit(prices):
    """One training path: a ticker's own group pools its features to exactly its own, so its
    network is trained on the same arrays and scalers as before pooling."""
    from pipeline.core.features import pool_features

    own = build_features(prices, FeatureConfig(window=10, horizon=3))
    pooled = pool_features([own])
    np.testing.assert_array_equal(pooled.log_prices, own.log_prices)
    np.testing.assert_array_equal(pooled.dates, own.dates)
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(pooled.split, part), getattr(own.split, part))
    for scaler in ("x_scaler", "y_scaler"):
        a, b = getattr(pooled, scaler), getattr(own, scaler)
        assert np.array_equal(a.scale_, b.scale_) and np.array_equal(a.var_, b.var_)
        assert (a.mean_ is None and b.mean_ is None) or np.array_equal(a.mean_, b.mean_)
    np.testing.assert_array_equal(pooled.batch(own.split.train), own.batch(own.split.train))
