"""Synthetic log Open/High/Low/Close arrays (days x 4) for the range-based interval tests."""

import math

import numpy as np


def garch_ohlc(
    n: int,
    seed: int,
    omega: float = 2e-6,
    alpha: float = 0.1,
    beta: float = 0.85,
    overnight: float = 0.3,
    ticks: int = 78,
) -> np.ndarray:
    """A GARCH(1,1) close path whose days have an overnight gap and an intraday range.

    Day t's return ``sigma[t] z[t]`` (``z`` standard normal) is an overnight gap
    carrying ``overnight`` of the variance, then a Brownian path from Open to
    Close on ``ticks`` steps (a 5-minute grid); High and Low are that path's
    extremes, so the range is a little narrower than a continuous path's, as in
    real quotes.
    """
    rng = np.random.default_rng(seed)
    gap_z = rng.standard_normal(n)
    path = np.cumsum(rng.standard_normal((n, ticks)), axis=1) / math.sqrt(ticks)  # unit variance
    z = math.sqrt(overnight) * gap_z + math.sqrt(1.0 - overnight) * path[:, -1]
    sigma, variance = np.empty(n), omega / (1.0 - alpha - beta)
    for t in range(n):
        sigma[t] = math.sqrt(variance)
        variance = omega + alpha * (sigma[t] * z[t]) ** 2 + beta * variance
    close = np.cumsum(sigma * z)
    open_ = np.concatenate(([0.0], close[:-1])) + sigma * math.sqrt(overnight) * gap_z
    intraday = sigma[:, None] * math.sqrt(1.0 - overnight) * path
    high = open_ + np.maximum(intraday.max(axis=1), 0.0)
    low = open_ + np.minimum(intraday.min(axis=1), 0.0)
    return np.column_stack([open_, high, low, close])


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
