"""Interval scores: coverage, width, the interval (Winkler) score and the pinball loss.

Plain functions on arrays; per-day values where a Diebold–Mariano test needs them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.core.bands import parse_levels


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
