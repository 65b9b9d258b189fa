"""Synthetic log Open/High/Low/Close arrays (days x 4) for the range-based interval tests."""

import math

import numpy as np

from pipeline.data.synthetic import synthetic_ticker
from pipeline.data.validate import PRICE_COLUMNS


def garch_ohlc(n: int, seed: int) -> np.ndarray:
    """Log OHLC of ``n`` days of one synthetic ticker (``pipeline.data.synthetic``).

    Its variance follows a GARCH(1,1) with Student-t shocks; a day is an
    overnight gap then a Brownian path from Open to Close, whose extremes are
    High and Low.
    """
    frame = synthetic_ticker(n, np.random.default_rng(seed))
    return np.log(frame[list(PRICE_COLUMNS)].to_numpy())


def ohlc_with_parkinson_variance(variance: np.ndarray, seed: int) -> np.ndarray:
    """Log OHLC whose Parkinson variance ``(ln H/L)^2 / (4 ln 2)`` is exactly ``variance``.

    No overnight gap; each day moves a normal amount (at most its range), and
    the range is placed around the Open and the Close.
    """
    rng = np.random.default_rng(seed)
    width = np.sqrt(4.0 * math.log(2.0) * np.asarray(variance, dtype=float))
    move = np.clip(np.sqrt(variance) * rng.standard_normal(len(width)), -width, width)
    close = np.cumsum(move)
    open_ = close - move
    low = np.minimum(open_, close) - (width - np.abs(move)) / 2
    return np.column_stack([open_, low + width, low, close])
