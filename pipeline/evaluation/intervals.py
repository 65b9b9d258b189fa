"""Forecast intervals for the next day's log return: scores, conformal calibration, baselines.

Conventions: ``r[t+1] = log(Close[t+1] / Close[t])``; a sample is named by its
end day ``t`` (array ``ends``), and its forecast may use ``Close[: t + 1]`` only.
A central interval of coverage ``level`` spans the quantiles ``(1 - level) / 2``
and ``(1 + level) / 2``. Everything here works on plain numpy arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
from arch import arch_model
from scipy import signal, stats


def parse_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """Sorted, de-duplicated interval levels; ValueError unless each is strictly in (0, 1)."""
    parsed = tuple(sorted({float(level) for level in levels}))
    if not parsed:
        raise ValueError("no interval levels given: pass e.g. (0.8, 0.9)")
    bad = [level for level in parsed if not 0.0 < level < 1.0]
    if bad:
        raise ValueError(f"interval levels must be strictly between 0 and 1, got {bad}")
    return parsed


def quantile_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """Sorted quantile levels (taus) for central intervals at ``levels``, median included."""
    taus = {0.5}
    for level in parse_levels(levels):
        taus.update((round((1.0 - level) / 2, 12), round((1.0 + level) / 2, 12)))
    return tuple(sorted(taus))


# --- Scores -------------------------------------------------------------------------------


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of ``actual`` inside the closed interval ``[lower, upper]``."""
    y, lo, hi = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (actual, lower, upper)))
    return float(np.mean((y >= lo) & (y <= hi)))


def mean_width(lower: np.ndarray, upper: np.ndarray) -> float:
    """Mean interval width, in the units of the bounds."""
    return float(np.mean(np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)))


def mean_width_pct(lower: np.ndarray, upper: np.ndarray, reference: np.ndarray) -> float:
    """Mean width of price intervals as a percentage of a reference price (e.g. ``Close[t]``)."""
    width = np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)
    return float(np.mean(100.0 * width / np.asarray(reference, dtype=float)))


def interval_score(
    actual: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: float
) -> np.ndarray:
    """Per-day interval score of a central ``level`` interval; lower is better.

    ``(u - l) + (2 / a) (l - y) 1{y < l} + (2 / a) (y - u) 1{y > u}`` with
    ``a = 1 - level`` (Winkler 1972; Gneiting & Raftery 2007, JASA). The score of
    a forecast is the mean over days; per-day values are returned so that two
    forecasts can be compared with a Diebold–Mariano test.
    """
    (level,) = parse_levels([level])
    y, lo, hi = (np.asarray(a, dtype=float) for a in (actual, lower, upper))
    alpha = 1.0 - level
    below = (2.0 / alpha) * np.maximum(lo - y, 0.0)
    above = (2.0 / alpha) * np.maximum(y - hi, 0.0)
    return (hi - lo) + below + above


def pinball_loss(actual: np.ndarray, q: np.ndarray, tau: float) -> np.ndarray:
    """Per-day pinball (quantile) loss of the forecast ``q`` of the ``tau`` quantile."""
    if not 0.0 < tau < 1.0:
        raise ValueError(f"quantile level tau must be strictly between 0 and 1, got {tau}")
    diff = np.asarray(actual, dtype=float) - np.asarray(q, dtype=float)
    return np.maximum(tau * diff, (tau - 1.0) * diff)


def mean_pinball_loss(actual: np.ndarray, quantiles: np.ndarray, taus: Sequence[float]) -> float:
    """Pinball loss averaged over days and over ``taus`` (``quantiles``: days x taus)."""
    quantiles = np.asarray(quantiles, dtype=float)
    if quantiles.ndim != 2 or quantiles.shape[1] != len(taus):
        raise ValueError(f"quantiles must have shape (days, {len(taus)}), got {quantiles.shape}")
    return float(
        np.mean([pinball_loss(actual, quantiles[:, j], tau) for j, tau in enumerate(taus)])
    )


# --- Conformal calibration ----------------------------------------------------------------


def normalised_residuals(actual: np.ndarray, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Signed residuals in units of the forecast's scale: ``(actual - centre) / scale``."""
    return (np.asarray(actual, dtype=float) - np.asarray(centre, dtype=float)) / np.asarray(
        scale, dtype=float
    )


def _conformal_quantile(scores: np.ndarray, p: float) -> float:
    """The ``ceil((n + 1) p)``-th smallest score: +inf when that exceeds ``n``."""
    # The small slack keeps e.g. (19 + 1) * 0.9 = 18.000000000000004 from rounding up to 19.
    k = math.ceil((len(scores) + 1) * p - 1e-9)
    if k > len(scores):
        return math.inf
    return float(np.partition(scores, k - 1)[k - 1])


@dataclass(frozen=True)
class ConformalMultipliers:
    """Calibrated interval ``[centre + lower * scale, centre + upper * scale]`` per level."""

    levels: tuple[float, ...]  # central coverages, ascending
    lower: tuple[float, ...]  # multiplier of scale for each lower bound (usually negative)
    upper: tuple[float, ...]  # multiplier of scale for each upper bound


def calibrate_conformal(
    residuals: np.ndarray, levels: Sequence[float], symmetric: bool = False
) -> ConformalMultipliers:
    """Split-conformal multipliers from normalised validation residuals.

    Asymmetric (default): the upper multiplier is the ``ceil((n+1)(1 - a/2))``-th
    smallest residual and the lower one its mirror image (minus that order
    statistic of the negated residuals), so each tail misses at most ``a/2`` of
    exchangeable new days (``a = 1 - level``); with too few residuals the bound is
    infinite. Symmetric: ``+-`` the ``ceil((n+1)(1 - a))``-th smallest absolute
    residual. References: Lei, G'Sell, Rinaldo, Tibshirani & Wasserman (2018),
    "Distribution-free predictive inference for regression", JASA; Romano,
    Patterson & Candès (2019), "Conformalized quantile regression", NeurIPS.
    """
    parsed = parse_levels(levels)
    scores = np.asarray(residuals, dtype=float)
    if scores.ndim != 1 or scores.size == 0 or not np.all(np.isfinite(scores)):
        raise ValueError("calibration needs a non-empty 1-D array of finite residuals")
    lower, upper = [], []
    for level in parsed:
        alpha = 1.0 - level
        if symmetric:
            half = _conformal_quantile(np.abs(scores), 1.0 - alpha)
            lower.append(-half)
            upper.append(half)
        else:
            lower.append(-_conformal_quantile(-scores, 1.0 - alpha / 2))
            upper.append(_conformal_quantile(scores, 1.0 - alpha / 2))
    return ConformalMultipliers(levels=parsed, lower=tuple(lower), upper=tuple(upper))


def conformal_intervals(
    centre: np.ndarray, scale: np.ndarray, multipliers: ConformalMultipliers
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds, each of shape (days, levels): ``centre + multiplier * scale``."""
    c = np.asarray(centre, dtype=float)[:, None]
    s = np.asarray(scale, dtype=float)[:, None]
    return c + np.asarray(multipliers.lower) * s, c + np.asarray(multipliers.upper) * s


def aci_update(alpha_t: float, covered: bool, level: float, gamma: float) -> float:
    """One step of adaptive conformal inference: ``alpha_t + gamma * (alpha - err_t)``.

    ``err_t`` is 1 when day t's interval missed; a miss shrinks the next day's
    miss rate ``alpha_t`` (a wider interval). Gibbs & Candès (2021), "Adaptive
    conformal inference under distribution shift", NeurIPS.
    """
    return alpha_t + gamma * ((1.0 - level) - (0.0 if covered else 1.0))


@dataclass
class AdaptiveConformal:
    """Online ACI: multipliers for the next day, updated after each realised day.

    Uses the fixed calibration residuals at the moving miss rate ``alpha_t``. If
    ``alpha_t <= 0`` the interval is infinite; if ``alpha_t >= 1`` it is the point
    ``centre`` (width 0, standing in for the theory's empty set).
    """

    residuals: np.ndarray  # normalised validation residuals (signed)
    level: float  # target central coverage
    gamma: float = 0.005  # step size; Gibbs & Candès use 0.005
    alpha_t: float = field(init=False)  # miss rate for the next interval

    def __post_init__(self) -> None:
        (self.level,) = parse_levels([self.level])
        self.residuals = np.array(self.residuals, dtype=float)  # a copy: updates never alias
        calibrate_conformal(self.residuals, [self.level])  # validates the residuals
        self.alpha_t = 1.0 - self.level

    def multipliers(self) -> tuple[float, float]:
        """Lower and upper multipliers of scale for the next day's interval."""
        if self.alpha_t >= 1.0:
            return 0.0, 0.0
        p = 1.0 - self.alpha_t / 2  # above 1 when alpha_t <= 0: infinite bounds
        return -_conformal_quantile(-self.residuals, p), _conformal_quantile(self.residuals, p)

    def update(self, covered: bool) -> float:
        """Record whether the latest interval covered; return the next ``alpha_t``."""
        self.alpha_t = aci_update(self.alpha_t, covered, self.level, self.gamma)
        return self.alpha_t


def run_aci(
    calibration: np.ndarray, realised: np.ndarray, level: float, gamma: float = 0.005
) -> tuple[np.ndarray, np.ndarray]:
    """ACI multipliers for days in time order; day i's depend only on ``realised[:i]``."""
    aci = AdaptiveConformal(calibration, level, gamma)
    realised = np.asarray(realised, dtype=float)
    lower, upper = np.empty(len(realised)), np.empty(len(realised))
    for i, residual in enumerate(realised):
        lower[i], upper[i] = aci.multipliers()
        aci.update(bool(lower[i] <= residual <= upper[i]))
    return lower, upper


# --- Interval baselines in log-return space ------------------------------------------------


def next_log_returns(log_close: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The targets ``r[t+1] = log_close[t+1] - log_close[t]`` for each end day ``t``."""
    log_close, ends = np.asarray(log_close, dtype=float), np.asarray(ends, dtype=int)
    if ends.size and (ends.min() < 0 or ends.max() + 1 >= len(log_close)):
        raise ValueError("every end day t needs a next day t + 1 inside log_close")
    return log_close[ends + 1] - log_close[ends]


def _past_returns(log_close: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """``r[1..T]`` for ``T = max(ends)``: slicing here is what keeps later days unread."""
    ends = np.asarray(ends, dtype=int)
    return np.diff(np.asarray(log_close, dtype=float)[: int(ends.max()) + 1])


def _variance_path(first: float, inputs: np.ndarray, decay: float) -> np.ndarray:
    """``v[0] = first``, ``v[t] = decay * v[t-1] + inputs[t-1]``: a first-order linear filter."""
    if inputs.size == 0:
        return np.array([first])
    rest, _ = signal.lfilter([1.0], [1.0, -decay], inputs, zi=[decay * first])
    return np.concatenate(([first], rest))


class IntervalBaseline(Protocol):
    """Fitted on training end days; forecasts quantiles of ``r[t+1]`` for any end days."""

    def fit(self, log_close: np.ndarray, train_ends: np.ndarray) -> IntervalBaseline: ...

    def quantiles(
        self, log_close: np.ndarray, ends: np.ndarray, taus: Sequence[float]
    ) -> np.ndarray: ...


def _require_fitted(value: object, name: str) -> None:
    if value is None:
        raise ValueError(f"{name} is not fitted: call .fit(log_close, train_ends) first")


@dataclass(frozen=True)
class HistoricalSimulation:
    """Empirical quantiles of the training returns, the same for every day."""

    train_returns: np.ndarray | None = None  # set by fit

    def fit(self, log_close: np.ndarray, train_ends: np.ndarray) -> HistoricalSimulation:
        """A fitted copy holding ``r[t+1]`` for the training end days."""
        return replace(self, train_returns=next_log_returns(log_close, train_ends))

    def quantiles(
        self, log_close: np.ndarray, ends: np.ndarray, taus: Sequence[float]
    ) -> np.ndarray:
        """Quantiles (days x taus); linear interpolation between order statistics."""
        _require_fitted(self.train_returns, "HistoricalSimulation")
        row = np.quantile(self.train_returns, np.asarray(taus, dtype=float))
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

    def sigma(self, log_close: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Forecast standard deviation of ``r[t+1]`` for each end day, from returns up to t."""
        _require_fitted(self.initial_variance, "EWMAVolatility")
        inputs = (1.0 - self.lam) * _past_returns(log_close, ends) ** 2
        path = _variance_path(float(self.initial_variance), inputs, self.lam)
        return np.sqrt(path[np.asarray(ends, dtype=int)])

    def quantiles(
        self, log_close: np.ndarray, ends: np.ndarray, taus: Sequence[float]
    ) -> np.ndarray:
        """Quantiles (days x taus): ``sigma * z_tau``."""
        z = stats.norm.ppf(np.asarray(taus, dtype=float))
        return self.sigma(log_close, ends)[:, None] * z


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

    def sigma(self, log_close: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """One-step standard deviation of ``r[t+1]`` per end day, from returns up to t.

        The fitted recursion ``s2[t+1] = omega + alpha e[t]^2 + beta s2[t]`` runs
        from day 0 with arch's start (``e^2`` and ``s2`` before the sample equal the
        backcast), so inside a training window that starts at day 0 it reproduces
        arch's conditional volatility.
        """
        _require_fitted(self.params, "GARCH11t")
        omega, alpha, beta, _ = self.params
        scaled = 100.0 * _past_returns(log_close, ends)
        first = omega + (alpha + beta) * float(self.backcast)
        path = _variance_path(first, omega + alpha * scaled**2, beta)
        return np.sqrt(path[np.asarray(ends, dtype=int)]) / 100.0

    def quantiles(
        self, log_close: np.ndarray, ends: np.ndarray, taus: Sequence[float]
    ) -> np.ndarray:
        """Quantiles (days x taus): ``sigma * t_nu(tau) * sqrt((nu - 2) / nu)`` (unit variance)."""
        _require_fitted(self.params, "GARCH11t")
        nu = self.params[3]
        z = stats.t.ppf(np.asarray(taus, dtype=float), nu) * math.sqrt((nu - 2.0) / nu)
        return self.sigma(log_close, ends)[:, None] * z
