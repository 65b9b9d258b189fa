"""Range-based interval baselines: daily variance from Open/High/Low/Close, as ``r[t+1]`` quantiles.

A day's High-Low range measures its variance far more efficiently than its
squared close-to-close return (Parkinson 1980: about 5 times; Garman and
Klass 1980: about 7 times). Two daily estimators, from the log prices of day
``t`` (and the previous Close):

- ``parkinson``: ``(ln H/L)^2 / (4 ln 2)``;
- ``garman_klass`` with the overnight gap (the Yang-Zhang extension):
  ``(ln O/C_prev)^2 + 0.5 (ln H/L)^2 - (2 ln 2 - 1) (ln C/O)^2``.

Two forecasters of tomorrow's variance from them: an EWMA (RiskMetrics'
lambda 0.94) and HAR (Corsi 2009: daily, weekly and monthly averages, fitted
by least squares in logs). Each is scaled to close-to-close variance on the
training days (the ranges miss the overnight move, trading pauses and the
discreteness of quoted prices), and gives normal quantiles around persistence,
like ``EWMAVolatility``; for the ``h``-day return ``log_close[t+h] - log_close[t]``
the flat variance forecast is scaled to ``h`` days (``sqrt(h)`` times the
1-day standard deviation). Every model reads the full log-price array
(``features.log_prices``, columns Open, High, Low, Close) and nothing after the
end day.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Protocol

import numpy as np
from scipy import signal, stats

from pipeline.core.features import CLOSE, next_log_returns
from pipeline.data.validate import PRICE_COLUMNS

OPEN, HIGH, LOW = (PRICE_COLUMNS.index(c) for c in ("Open", "High", "Low"))
WEEK, MONTH = 5, 22  # HAR's averaging spans, in trading days
FLOOR_SHARE = 0.01  # HAR: a daily variance below this share of the training mean counts as it
MIN_ROWS = 2 * MONTH  # HAR: the fewest training end days (with a month behind them) it fits on


def parkinson_variance(log_prices: np.ndarray) -> np.ndarray:
    """Parkinson's daily variance ``(ln H/L)^2 / (4 ln 2)``, one per day."""
    return (log_prices[:, HIGH] - log_prices[:, LOW]) ** 2 / (4.0 * math.log(2.0))


def garman_klass_variance(log_prices: np.ndarray) -> np.ndarray:
    """Garman-Klass daily variance with the overnight gap, one per day.

    ``(ln O/C_prev)^2 + 0.5 (ln H/L)^2 - (2 ln 2 - 1) (ln C/O)^2``; day 0 has no
    previous Close and gets no gap term. Never negative when Open and Close lie
    inside [Low, High]; clipped at 0 for rows where they do not.
    """
    o, h, low, c = (log_prices[:, k] for k in (OPEN, HIGH, LOW, CLOSE))
    gap = np.concatenate(([0.0], o[1:] - c[:-1]))
    day = 0.5 * (h - low) ** 2 - (2.0 * math.log(2.0) - 1.0) * (c - o) ** 2
    return np.maximum(gap**2 + day, 0.0)


ESTIMATORS = {"parkinson": parkinson_variance, "garman_klass": garman_klass_variance}


class RangeBaseline(Protocol):
    """An interval baseline that reads the log Open/High/Low/Close, not only the Close."""

    reads_ohlc: ClassVar[bool]

    def fit(self, log_prices: np.ndarray, train_ends: np.ndarray) -> RangeBaseline: ...

    def quantiles(
        self, log_prices: np.ndarray, ends: np.ndarray, taus: Sequence[float], horizon: int = 1
    ) -> np.ndarray: ...


def check_horizon(horizon: int) -> None:
    """ValueError unless ``horizon`` (days ahead) is a whole number of at least 1."""
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a whole number of days, at least 1, not {horizon}")


def _daily_variance(estimator: str, log_prices: np.ndarray, last: int) -> np.ndarray:
    """The estimator's variance for days ``0..last``: slicing here keeps later days unread."""
    return ESTIMATORS[estimator](np.asarray(log_prices, dtype=float)[: last + 1])


def _training_returns_squared(log_prices: np.ndarray, train_ends: np.ndarray) -> np.ndarray:
    return next_log_returns(np.asarray(log_prices, dtype=float)[:, CLOSE], train_ends) ** 2


def _check_fitted(model: object, value: object) -> None:
    if value is None:
        name = type(model).__name__
        raise ValueError(f"{name} is not fitted: call .fit(log_prices, train_ends) first")


def _normal_quantiles(sigma: np.ndarray, taus: Sequence[float]) -> np.ndarray:
    """Quantiles (days x taus) of a zero-centred normal: ``sigma * z_tau``."""
    return sigma[:, None] * stats.norm.ppf(np.asarray(taus, dtype=float))


def _scaled_to_days(sigma: np.ndarray, horizon: int) -> np.ndarray:
    """A flat 1-day variance forecast's ``horizon``-day standard deviation: ``sqrt(h) sigma``."""
    check_horizon(horizon)
    return math.sqrt(horizon) * sigma


@dataclass(frozen=True)
class RangeEWMA:
    """``s2[t+1] = lam s2[t] + (1 - lam) k v[t]``: an EWMA of day t's range variance ``v``.

    ``k``, the mean squared training return over the mean range variance of the
    same days, turns range variance into close-to-close variance.
    """

    estimator: str = "parkinson"  # a key of ESTIMATORS
    lam: float = 0.94  # decay; RiskMetrics' value for daily data
    scale: float | None = None  # set by fit: k
    initial_variance: float | None = None  # set by fit: mean squared training return
    reads_ohlc: ClassVar[bool] = True

    def fit(self, log_prices: np.ndarray, train_ends: np.ndarray) -> RangeEWMA:
        """A fitted copy; reads the training target days ``train_ends + 1`` and before only."""
        train_ends = np.asarray(train_ends, dtype=int)
        squared = _training_returns_squared(log_prices, train_ends)
        daily = _daily_variance(self.estimator, log_prices, int(train_ends.max()) + 1)
        scale = float(np.mean(squared) / np.mean(daily[train_ends + 1]))
        return replace(self, scale=scale, initial_variance=float(np.mean(squared)))

    def sigma(self, log_prices: np.ndarray, ends: np.ndarray, horizon: int = 1) -> np.ndarray:
        """Forecast standard deviation of the ``horizon``-day return per end day, from days up to t.

        The EWMA's forecast is flat, so ``h`` days get ``sqrt(h)`` times the 1-day one.
        """
        _check_fitted(self, self.scale)
        ends = np.asarray(ends, dtype=int)
        daily = _daily_variance(self.estimator, log_prices, int(ends.max()))
        # v[0] = initial; v[t] = lam v[t-1] + (1 - lam) k daily[t] from day 1, as EWMAVolatility.
        first = self.initial_variance
        inputs = (1.0 - self.lam) * self.scale * daily[1:]
        return _scaled_to_days(np.sqrt(variance_path(first, inputs, self.lam)[ends]), horizon)

    def quantiles(
        self, log_prices: np.ndarray, ends: np.ndarray, taus: Sequence[float], horizon: int = 1
    ) -> np.ndarray:
        """Quantiles (days x taus): ``sigma * z_tau``."""
        return _normal_quantiles(self.sigma(log_prices, ends, horizon), taus)


def _trailing_mean(values: np.ndarray, span: int) -> np.ndarray:
    """Mean of ``values[t - span + 1 .. t]`` per day t (of fewer days at the start)."""
    sums = np.concatenate(([0.0], np.cumsum(values)))
    stop = np.arange(1, len(values) + 1)
    start = np.maximum(stop - span, 0)
    return (sums[stop] - sums[start]) / (stop - start)


def har_regressors(daily: np.ndarray) -> np.ndarray:
    """HAR's design per day t: ``1, ln v[t], ln mean(v[t-4..t]), ln mean(v[t-21..t])``."""
    return np.column_stack(
        [
            np.ones(len(daily)),
            np.log(daily),
            np.log(_trailing_mean(daily, WEEK)),
            np.log(_trailing_mean(daily, MONTH)),
        ]
    )


@dataclass(frozen=True)
class HARRange:
    """HAR-RV (Corsi 2009) on a daily range variance, in logs, scaled to close-to-close variance.

    ``ln v[t+1] = b0 + bd ln v[t] + bw ln v_w[t] + bm ln v_m[t] + e`` by least
    squares on the training end days that have a full month behind them.
    Logs, not levels: a few crash days, tens of times the median variance,
    would set the coefficients of a least-squares fit in levels and can drive
    its forecasts negative; in logs the errors are closer to Gaussian and every
    forecast is positive. ``exp`` of the fitted log is a median, below the mean;
    the scale ``k`` (mean squared training return over the mean forecast on
    the same days) corrects that together with the range's bias.
    """

    estimator: str = "garman_klass"  # a key of ESTIMATORS
    coefficients: tuple[float, float, float, float] | None = None  # b0, bd, bw, bm (set by fit)
    floor: float | None = None  # set by fit: FLOOR_SHARE of the mean training daily variance
    scale: float | None = None  # set by fit: k
    reads_ohlc: ClassVar[bool] = True

    def fit(self, log_prices: np.ndarray, train_ends: np.ndarray) -> HARRange:
        """A fitted copy; reads the training target days ``train_ends + 1`` and before only."""
        train_ends = np.asarray(train_ends, dtype=int)
        raw = _daily_variance(self.estimator, log_prices, int(train_ends.max()) + 1)
        floor = FLOOR_SHARE * float(np.mean(raw[train_ends + 1]))
        daily = np.maximum(raw, floor)
        rows = train_ends[train_ends >= MONTH - 1]
        if len(rows) < MIN_ROWS:
            raise ValueError(
                f"HARRange needs at least {MIN_ROWS} training end days from day {MONTH - 1} on, "
                f"got {len(rows)}"
            )
        design = har_regressors(daily)
        coefficients, *_ = np.linalg.lstsq(design[rows], np.log(daily[rows + 1]), rcond=None)
        forecast = np.exp(design[train_ends] @ coefficients)
        squared = _training_returns_squared(log_prices, train_ends)
        return replace(
            self,
            coefficients=tuple(float(b) for b in coefficients),
            floor=floor,
            scale=float(np.mean(squared) / np.mean(forecast)),
        )

    def sigma(self, log_prices: np.ndarray, ends: np.ndarray, horizon: int = 1) -> np.ndarray:
        """Forecast standard deviation of the ``horizon``-day return per end day, from days up to t.

        Tomorrow's variance forecast is held flat, so ``h`` days get ``sqrt(h)``
        times the 1-day one (HAR's own multi-step recursion is not used).
        """
        _check_fitted(self, self.coefficients)
        ends = np.asarray(ends, dtype=int)
        daily = np.maximum(_daily_variance(self.estimator, log_prices, int(ends.max())), self.floor)
        log_forecast = har_regressors(daily)[ends] @ np.asarray(self.coefficients)
        return _scaled_to_days(np.sqrt(self.scale * np.exp(log_forecast)), horizon)

    def quantiles(
        self, log_prices: np.ndarray, ends: np.ndarray, taus: Sequence[float], horizon: int = 1
    ) -> np.ndarray:
        """Quantiles (days x taus): ``sigma * z_tau``."""
        return _normal_quantiles(self.sigma(log_prices, ends, horizon), taus)


def variance_path(first: float, inputs: np.ndarray, decay: float) -> np.ndarray:
    """``v[0] = first``, ``v[t] = decay * v[t-1] + inputs[t-1]``: a first-order linear filter.

    The recursion of every EWMA and GARCH variance here (``volatility.py`` too).
    """
    if inputs.size == 0:
        return np.array([first])
    rest, _ = signal.lfilter([1.0], [1.0, -decay], inputs, zi=[decay * first])
    return np.concatenate(([first], rest))
