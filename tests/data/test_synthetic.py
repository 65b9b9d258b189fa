"""Synthetic OHLC: a continuous-path range (Parkinson-consistent), clustered volatility."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from pipeline.data.synthetic import (
    GAP_SHARE,
    STEPS,
    intraday_ohlc,
    synthetic_ticker,
    synthetic_universe,
)
from pipeline.data.validate import validate_prices


def test_the_range_of_the_path_gives_parkinsons_variance_without_bias():
    # A constant intraday variance: E[(ln H/L)^2] = 4 ln 2 variance for a continuous
    # Brownian path; a plain 78-step grid would miss about 7% of it.
    rng = np.random.default_rng(3)
    days, variance = 20_000, 1e-4
    high, low, close = intraday_ohlc(
        np.zeros(days), np.full(days, variance), rng.standard_normal((days, STEPS)), rng
    )
    parkinson = np.mean((high - low) ** 2) / (4.0 * math.log(2.0))
    assert abs(parkinson / variance - 1.0) < 0.03
    assert abs(np.var(close) / variance - 1.0) < 0.03
    assert np.all(high >= np.maximum(0.0, close)) and np.all(low <= np.minimum(0.0, close))


def test_a_ticker_is_valid_repeats_with_its_seed_and_its_volatility_clusters():
    frame = synthetic_ticker(3000, np.random.default_rng(5))
    validate_prices(frame, "synthetic")  # raises DataError if any row is invalid
    assert frame.equals(synthetic_ticker(3000, np.random.default_rng(5)))
    returns = np.diff(np.log(frame["Close"].to_numpy()))
    squared = returns**2
    assert np.corrcoef(squared[1:], squared[:-1])[0, 1] > 0.1  # clustering
    # The range sees the session only, not the overnight gap: its Parkinson variance is
    # about (1 - GAP_SHARE) of the close-to-close variance (0.65 to 0.72 on AAPL, GOOG, IBM, MSFT).
    parkinson = np.mean(np.log(frame["High"] / frame["Low"]) ** 2) / (4.0 * math.log(2.0))
    assert abs(parkinson / np.var(returns) - (1.0 - GAP_SHARE)) < 0.1


def test_a_universe_is_valid_and_repeats_with_the_seed():
    frames = synthetic_universe(3, 120, seed=5)
    assert list(frames) == ["SYN000", "SYN001", "SYN002"]
    assert all(len(f) == 120 for f in frames.values())
    for frame in frames.values():
        validate_prices(frame, "synthetic")  # raises DataError if any row is invalid
    assert frames["SYN000"].equals(synthetic_universe(3, 120, seed=5)["SYN000"])
    assert not frames["SYN000"].equals(frames["SYN001"])


def test_make_synthetics_tickers_stay_what_they_were_for_a_seed():
    # `make synthetic`'s defaults (1,500 days, seed 7): the series of docs/results.md.
    frames = synthetic_universe(2, 1500, seed=7)
    first, last = frames["SYN000"].iloc[0], frames["SYN001"].iloc[-1]
    assert frames["SYN001"].index[-1] == pd.Timestamp("2005-11-29")
    assert first.tolist() == [71.529193, 71.973347, 70.795236, 71.291691, 1_000_000]
    assert last.tolist() == [956.165784, 985.877874, 943.921129, 945.322895, 1_000_000]
