"""What a served forecast is made of: interval levels, conformal multipliers, price bands.

A model's forecast for one day is a ``Bands`` row: the median and, per level, a
lower and an upper bound, all prices, built from quantiles of the next log
return around today's log Close. Plain numpy: the served model needs nothing
more (no scoring code, no SciPy, no arch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


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


def level_name(level: float) -> str:
    """A level as the percent used in column and metric names: 0.9 -> '90', 0.975 -> '97.5'."""
    return f"{100.0 * level:g}"


def conformal_quantile(scores: np.ndarray, p: float) -> float:
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


def conformal_intervals(
    centre: np.ndarray, scale: np.ndarray, multipliers: ConformalMultipliers
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds, each of shape (days, levels): ``centre + multiplier * scale``."""
    c = np.asarray(centre, dtype=float)[:, None]
    s = np.asarray(scale, dtype=float)[:, None]
    return c + np.asarray(multipliers.lower) * s, c + np.asarray(multipliers.upper) * s


@dataclass(frozen=True)
class Bands:
    """A model's interval forecasts for some days, in price units."""

    levels: tuple[float, ...]  # ascending central coverages
    median: np.ndarray  # (days,)
    lower: np.ndarray  # (days, levels)
    upper: np.ndarray  # (days, levels)


def price_bands(
    log_close: np.ndarray,
    centre: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    levels: Sequence[float],
    median: np.ndarray | None = None,
) -> Bands:
    """Bands from log-return quantiles around today's log Close: ``Close * exp(q)``.

    ``centre`` is the median log return; ``median`` (prices), when given, is
    used instead, so that the RNN's median is exactly its point forecast.
    """
    base = np.asarray(log_close, dtype=float)
    return Bands(
        levels=tuple(levels),
        median=np.exp(base + centre) if median is None else np.asarray(median, dtype=float),
        lower=np.exp(base[:, None] + lower),
        upper=np.exp(base[:, None] + upper),
    )


def conformal_bands(
    log_close: np.ndarray,
    centre: np.ndarray,
    scale: np.ndarray,
    multipliers: ConformalMultipliers,
    median: np.ndarray | None = None,
) -> Bands:
    """Bands ``centre + multiplier * scale`` in log returns, as prices (see ``price_bands``)."""
    c, s = np.asarray(centre, dtype=float), np.asarray(scale, dtype=float)
    lower = c[:, None] + np.asarray(multipliers.lower) * s[:, None]
    upper = c[:, None] + np.asarray(multipliers.upper) * s[:, None]
    return price_bands(log_close, c, lower, upper, multipliers.levels, median)
