"""Synthetic OHLC: a continuous-path range (Parkinson-consistent), clustered volatility."""

from __future__ import annotations

import math

import numpy as np

from benchmarks.synthetic import GAP_SHARE, STEPS, intraday_ohlc, synthetic_ticker, write_synthetic
from pipeline.data.validate import read_price_csv, validate_prices


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


def test_write_synthetic_writes_csvs_the_csv_source_reads(tmp_path):
    folder = write_synthetic(tmp_path / "syn", n_tickers=2, days=60, seed=1)
    frames = [read_price_csv(folder / f"SYN00{i}.csv") for i in range(2)]
    assert [len(f) for f in frames] == [60, 60]
    assert not frames[0]["Close"].equals(frames[1]["Close"])
