"""Synthetic prices: OHLC with clustered volatility and a realistic intraday range.

The one generator of synthetic prices: ``make synthetic`` writes its tickers as
CSVs (``benchmarks/synthetic.py``), and the benchmarks and the tests draw theirs
from it. Each ticker's daily variance follows a GARCH(1,1) with Student-t(5)
shocks (volatility clusters; long-run daily volatility and persistence differ
per ticker). A day is an overnight gap (a ``GAP_SHARE`` of the day's variance)
then a Brownian motion from the Open over ``STEPS`` intraday steps, whose end
is the Close. High and Low are the extremes of the continuous path: between
two grid points the path is a Brownian bridge, whose maximum has a closed
form (``_bridge_extremes``). So ``(ln High/Low)^2 / (4 ln 2)`` is an unbiased
estimate of the day's intraday variance (Parkinson 1980), and range-based
estimators have the same footing here as on real prices. There is no signal
in the centre: the series cost what real tickers cost to train, which is
also what a scaling run needs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

STEPS = 78  # intraday grid points (5-minute bars of a 6.5-hour session); the bridge fills between
GAP_SHARE = 0.3  # share of a day's variance that arrives overnight: Parkinson/close variance 0.7
NU = 5.0  # Student-t degrees of freedom of the daily shocks
DRIFT = 0.0002  # daily log drift (about 5% a year)


def _bridge_extremes(
    a: np.ndarray, b: np.ndarray, variance: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum and minimum of Brownian bridges from ``a`` to ``b`` with total ``variance``.

    ``P(max > m) = exp(-2 (m - a)(m - b) / variance)`` for ``m >= max(a, b)``;
    inverting it at a uniform draw gives the exact maximum (likewise the
    minimum, drawn independently: across many short steps the overall High and
    Low almost never come from the same step).
    """
    spread = (b - a) ** 2
    up = np.sqrt(spread - 2.0 * variance * np.log(rng.uniform(size=a.shape)))
    down = np.sqrt(spread - 2.0 * variance * np.log(rng.uniform(size=a.shape)))
    return (a + b + up) / 2.0, (a + b - down) / 2.0


def intraday_ohlc(
    log_open: np.ndarray,
    variance: np.ndarray,
    noise: np.ndarray,
    rng: np.random.Generator,
    drift: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log High, Low and Close of days that open at ``log_open`` with intraday ``variance``.

    A Brownian motion on ``STEPS`` steps (``noise``: standard normals, days x
    STEPS) with exact bridge extremes between the grid points.
    """
    step_var = np.broadcast_to(np.asarray(variance, dtype=float)[:, None] / STEPS, noise.shape)
    moves = drift / STEPS + np.sqrt(step_var) * noise
    path = np.concatenate([log_open[:, None], log_open[:, None] + np.cumsum(moves, axis=1)], 1)
    highs, lows = _bridge_extremes(path[:, :-1], path[:, 1:], step_var, rng)
    return highs.max(axis=1), lows.min(axis=1), path[:, -1]


def garch_variance(shocks: np.ndarray, daily_vol: float, persistence: float) -> np.ndarray:
    """Daily variances of a GARCH(1,1) driven by unit-variance ``shocks`` (alpha 0.08)."""
    alpha = 0.08
    beta, omega = persistence - alpha, daily_vol**2 * (1.0 - persistence)
    variance = np.empty(len(shocks))
    v = daily_vol**2
    for t, shock in enumerate(shocks):
        variance[t] = v
        v = omega + alpha * v * shock**2 + beta * v
    return variance


def synthetic_ticker(
    days: int, rng: np.random.Generator, start: str = "2000-03-01"
) -> pd.DataFrame:
    """One ticker's OHLC on business days, its volatility parameters drawn from ``rng``."""
    daily_vol = rng.uniform(0.010, 0.025)
    persistence = rng.uniform(0.95, 0.99)
    overnight = rng.standard_t(NU, days) * math.sqrt((NU - 2.0) / NU)  # unit variance
    noise = rng.standard_normal((days, STEPS))
    # The day's whole close-to-close shock (gap and session) drives the next day's variance.
    session = noise.sum(axis=1) / math.sqrt(STEPS)
    shocks = math.sqrt(GAP_SHARE) * overnight + math.sqrt(1.0 - GAP_SHARE) * session
    variance = garch_variance(shocks, daily_vol, persistence)
    gaps = np.sqrt(GAP_SHARE * variance) * overnight
    # Each day's path relative to its Open; the Opens chain through the previous Close.
    high, low, day_return = intraday_ohlc(
        np.zeros(days), (1.0 - GAP_SHARE) * variance, noise, rng, DRIFT
    )
    log_close = math.log(rng.uniform(20.0, 200.0)) + np.cumsum(gaps + day_return)
    log_open = log_close - day_return
    return pd.DataFrame(
        {
            "Open": np.exp(log_open),
            "High": np.exp(log_open + high),
            "Low": np.exp(log_open + low),
            "Close": np.exp(log_close),
            "Volume": 1_000_000,
        },
        index=pd.bdate_range(start, periods=days, name="Date"),
    ).round(6)


def synthetic_universe(n_tickers: int, days: int, seed: int) -> dict[str, pd.DataFrame]:
    """``n_tickers`` synthetic tickers (SYN000, SYN001, ...) of ``days`` business days each,
    drawn in turn from one generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    return {f"SYN{i:03d}": synthetic_ticker(days, rng) for i in range(n_tickers)}
