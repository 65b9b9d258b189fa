"""Interval baselines: volatility models fitted on training end days, as price bands.

Historical simulation, EWMA (RiskMetrics) and GARCH(1,1)-t forecast quantiles
of the next log return ``r[t+1]``, or of the ``h``-day log return
``log_close[t+h] - log_close[t]`` (``horizon=h``), around persistence, from
returns up to day ``t`` only; ``BaselineBands`` turns them, and the range-based
models of ``range_volatility.py``, into price bands for any end days.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
from arch import arch_model
from scipy import stats

from pipeline.core.bands import Bands, parse_levels, price_bands
from pipeline.core.features import CLOSE, Features, next_log_returns
from pipeline.models.range_volatility import (
    HARRange,
    RangeBaseline,
    RangeEWMA,
    check_horizon,
    variance_path,
)


def _past_returns(log_close: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``r[1..T]`` for ``T = max(ends)``: slicing here is what keeps later days unread."""
    ends = np.asarray(ends, dtype=int)
    return np.diff(np.asarray(log_close, dtype=float)[: int(ends.max()) + 1])


class IntervalBaseline(Protocol):
    """Fitted on training end days; forecasts quantiles of the ``horizon``-day log return."""

    def fit(self, log_close: np.ndarray, train_ends: np.ndarray) -> IntervalBaseline: ...

    def quantiles(
        self, log_close: np.ndarray, ends: np.ndarray, taus: Sequence[float], horizon: int = 1
    ) -> np.ndarray: ...


def _require_fitted(value: object, name: str) -> None:
    if value is None:
        raise ValueError(f"{name} is not fitted: call .fit(log_close, train_ends) first")


@dataclass(frozen=True)
class HistoricalSimulation:
    """Empirical quantiles of the training returns, the same for every day."""

    train_returns: np.ndarray | None = None  # set by fit: r[t+1] per training end day
    train_ends: np.ndarray | None = None  # set by fit: the training end days, sorted

    def fit(self, log_close: np.ndarray, train_ends: np.ndarray) -> HistoricalSimulation:
        """A fitted copy holding ``r[t+1]`` for the training end days (and those days)."""
        train_ends = np.sort(np.asarray(train_ends, dtype=int))
        return replace(
            self, train_returns=next_log_returns(log_close, train_ends), train_ends=train_ends
        )

    def horizon_returns(self, horizon: int = 1) -> np.ndarray:
        """The overlapping ``horizon``-day training returns ``log_close[t+h] - log_close[t]``.

        Each is the sum of the 1-day returns of end days ``t .. t+h-1``, kept only
        where all of those are training end days, so its target day ``t+h`` is a
        training target day too (for consecutive training days, as for one ticker:
        every ``t`` whose ``t+h-1`` is a training end day).
        """
        _require_fitted(self.train_returns, "HistoricalSimulation")
        check_horizon(horizon)
        if horizon == 1:
            return self.train_returns
        first = int(self.train_ends[0])
        by_day = np.full(int(self.train_ends[-1]) - first + 1, np.nan)  # NaN: not a training day
        by_day[self.train_ends - first] = self.train_returns
        if len(by_day) < horizon:
            sums = np.empty(0)
        else:
            sums = np.lib.stride_tricks.sliding_window_view(by_day, horizon).sum(axis=1)
        sums = sums[np.isfinite(sums)]
        if sums.size == 0:
            raise ValueError(
                f"HistoricalSimulation has no {horizon}-day return inside the training days: "
                "use a shorter horizon or more training days"
            )
        return sums

    def quantiles(
        self, log_close: np.ndarray, ends: np.ndarray, taus: Sequence[float], horizon: int = 1
    ) -> np.ndarray:
        """Quantiles (days x taus) of the ``horizon``-day training returns; linear interpolation."""
        row = np.quantile(self.horizon_returns(horizon), np.asarray(taus, dtype=float))
        return np.tile(row, (len(ends), 1))


@dataclass(frozen=True)
class EWMAVolatility:
    """RiskMetrics: ``s2[t+1] = lam s2[t] + (1 - lam) r[t]^2``; normal quantiles, centre 0."""

    lam: float = 0.94  # decay; RiskMetrics' value for daily data
    initial_variance: float | None = None  # set by fit: mean squared training return

    def fit(self, log_close: np.ndarray, train_ends: np.ndarray) -> EWMAVolatility:
        """A fitted copy; the mean of squares, not the variance, matches the zero-mean recursion."""
        variance = float(np.mean(next_log_returns(log_close, train_ends) ** 2))
        return replace(self, initial_variance=variance)

    def sigma(self, log_close: np.ndarray, ends: np.ndarray, horizon: int = 1) -> np.ndarray:
        """Standard deviation of the ``horizon``-day return per end day, from returns up to t.

        The EWMA's variance forecast is the same for every day ahead, so the
        ``h``-day one is ``sqrt(h)`` times the 1-day one (scaled to ``h`` days).
        """
        _require_fitted(self.initial_variance, "EWMAVolatility")
        check_horizon(horizon)
        inputs = (1.0 - self.lam) * _past_returns(log_close, ends) ** 2
        path = variance_path(float(self.initial_variance), inputs, self.lam)
        return math.sqrt(horizon) * np.sqrt(path[np.asarray(ends, dtype=int)])

    def quantiles(
        self, log_close: np.ndarray, ends: np.ndarray, taus: Sequence[float], horizon: int = 1
    ) -> np.ndarray:
        """Quantiles (days x taus): ``sigma * z_tau``."""
        z = stats.norm.ppf(np.asarray(taus, dtype=float))
        return self.sigma(log_close, ends, horizon)[:, None] * z


@dataclass(frozen=True)
class GARCH11t:
    """Zero-mean GARCH(1,1) with standardised Student-t innovations, fitted by ``arch``.

    Parameters are in the units arch fits (returns times 100, for numerical
    stability); the forecasts are in log-return units.
    """

    params: tuple[float, float, float, float] | None = None  # omega, alpha, beta, nu
    backcast: float | None = None  # arch's pre-sample variance, from the training returns

    def fit(self, log_close: np.ndarray, train_ends: np.ndarray) -> GARCH11t:
        """A fitted copy; the training end days must be consecutive (one unbroken series)."""
        train_ends = np.asarray(train_ends, dtype=int)
        if not np.all(np.diff(train_ends) == 1):
            raise ValueError("GARCH11t needs consecutive training end days (no gaps)")
        model = arch_model(
            100.0 * next_log_returns(log_close, train_ends), mean="Zero", vol="GARCH", dist="t"
        )
        result = model.fit(disp="off")
        omega, alpha, beta, nu = (
            float(result.params[k]) for k in ("omega", "alpha[1]", "beta[1]", "nu")
        )
        backcast = model.volatility.backcast(np.asarray(result.resid))
        return replace(self, params=(omega, alpha, beta, nu), backcast=float(backcast))

    def sigma(self, log_close: np.ndarray, ends: np.ndarray, horizon: int = 1) -> np.ndarray:
        """Standard deviation of the ``horizon``-day return per end day, from returns up to t.

        The fitted recursion ``s2[t+1] = omega + alpha e[t]^2 + beta s2[t]`` runs
        from day 0 with arch's start (``e^2`` and ``s2`` before the sample equal the
        backcast), so inside a training window that starts at day 0 it reproduces
        arch's conditional volatility. For ``h > 1`` the variance of the sum of the
        next ``h`` returns is ``sum_{k=1..h} E[s2[t+k]]`` (zero mean, uncorrelated
        returns), with ``E[s2[t+k]] = omega + (alpha + beta) E[s2[t+k-1]]``: arch's
        own ``h``-step variance forecast, summed.
        """
        _require_fitted(self.params, "GARCH11t")
        check_horizon(horizon)
        omega, alpha, beta, _ = self.params
        scaled = 100.0 * _past_returns(log_close, ends)
        first = omega + (alpha + beta) * float(self.backcast)
        path = variance_path(first, omega + alpha * scaled**2, beta)
        step = path[np.asarray(ends, dtype=int)]  # E[s2[t+1]]
        total = step
        for _ in range(horizon - 1):
            step = omega + (alpha + beta) * step  # E[s2[t+k]] from E[s2[t+k-1]]
            total = total + step
        return np.sqrt(total) / 100.0

    def quantiles(
        self, log_close: np.ndarray, ends: np.ndarray, taus: Sequence[float], horizon: int = 1
    ) -> np.ndarray:
        """Quantiles (days x taus): ``sigma * t_nu(tau) * sqrt((nu - 2) / nu)`` (unit variance).

        For ``h > 1`` this is an approximation: the sum of ``h`` Student-t
        innovations is not Student-t (its tails are thinner), but the fitted
        ``nu`` is kept with the ``h``-day standard deviation.
        """
        _require_fitted(self.params, "GARCH11t")
        nu = self.params[3]
        z = stats.t.ppf(np.asarray(taus, dtype=float), nu) * math.sqrt((nu - 2.0) / nu)
        return self.sigma(log_close, ends, horizon)[:, None] * z


@dataclass
class BaselineBands:
    """A volatility baseline's quantiles of the next (or ``h``-day) log return, as price bands."""

    name: str
    model: IntervalBaseline | RangeBaseline
    levels: tuple[float, ...]
    fitted: IntervalBaseline | RangeBaseline | None = None

    def _inputs(self, features: Features) -> np.ndarray:
        """The log Open/High/Low/Close for a model that reads them, else the log Close."""
        if getattr(self.model, "reads_ohlc", False):
            return features.log_prices
        return features.log_prices[:, CLOSE]

    def fit(self, features: Features) -> BaselineBands:
        self.fitted = self.model.fit(self._inputs(features), features.split.train)
        return self

    def bands(self, features: Features, ends: np.ndarray) -> Bands:
        """Bands for the Close of day ``t+1`` per end day ``t``: ``horizon_bands`` at 1 day."""
        return self.horizon_bands(features, ends, 1)

    def horizon_bands(self, features: Features, ends: np.ndarray, horizon: int) -> Bands:
        """Bands for the Close of day ``t + horizon`` around the Close of each end day ``t``."""
        levels = parse_levels(self.levels)
        tails = [(1.0 - level) / 2 for level in levels]
        taus = [0.5, *tails, *(1.0 - t for t in tails)]
        log_close = features.log_prices[:, CLOSE]
        q = self.fitted.quantiles(self._inputs(features), ends, taus, horizon=horizon)
        k = len(levels)
        return price_bands(log_close[ends], q[:, 0], q[:, 1 : 1 + k], q[:, 1 + k :], levels)


def interval_baselines(levels: Sequence[float]) -> list[BaselineBands]:
    """The interval baselines, in report order."""
    levels = parse_levels(levels)
    return [
        BaselineBands("hist", HistoricalSimulation(), levels),
        BaselineBands("ewma", EWMAVolatility(lam=0.94), levels),
        BaselineBands("garch", GARCH11t(), levels),
        BaselineBands("parkinson", RangeEWMA("parkinson", lam=0.94), levels),
        BaselineBands("garman_klass", RangeEWMA("garman_klass", lam=0.94), levels),
        BaselineBands("har", HARRange("garman_klass"), levels),
    ]
