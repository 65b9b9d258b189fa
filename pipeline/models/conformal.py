"""Conformal calibration of interval forecasts: split conformal and adaptive (ACI).

Residuals are normalised by the forecast's scale, ``(y - centre) / scale``; the
multipliers that turn a centre and a scale into bounds are order statistics of
those residuals on calibration (validation) days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pipeline.core.bands import (
    ConformalMultipliers,
    aci_multipliers,
    conformal_quantile,
    parse_levels,
)


def normalised_residuals(actual: np.ndarray, centre: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Signed residuals in units of the forecast's scale: ``(actual - centre) / scale``."""
    return (np.asarray(actual, dtype=float) - np.asarray(centre, dtype=float)) / np.asarray(
        scale, dtype=float
    )


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
            half = conformal_quantile(np.abs(scores), 1.0 - alpha)
            lower.append(-half)
            upper.append(half)
        else:
            lower.append(-conformal_quantile(-scores, 1.0 - alpha / 2))
            upper.append(conformal_quantile(scores, 1.0 - alpha / 2))
    return ConformalMultipliers(levels=parsed, lower=tuple(lower), upper=tuple(upper))


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
    ``alpha_t`` falls below what the residuals can cut (``2 / (n + 1)``; at or
    below 0 in particular) the interval is infinite, unless ``capped``, which
    stops it at the widest one they give, as the served model does; if
    ``alpha_t >= 1`` it is the point ``centre`` (width 0, standing in for the
    theory's empty set).
    """

    residuals: np.ndarray  # normalised validation residuals (signed)
    level: float  # target central coverage
    gamma: float = 0.005  # step size; Gibbs & Candès use 0.005
    capped: bool = False  # never wider than the widest calibrated interval
    alpha_t: float = field(init=False)  # miss rate for the next interval

    def __post_init__(self) -> None:
        (self.level,) = parse_levels([self.level])
        self.residuals = np.array(self.residuals, dtype=float)  # a copy: updates never alias
        calibrate_conformal(self.residuals, [self.level])  # validates the residuals
        self.alpha_t = 1.0 - self.level

    def multipliers(self) -> tuple[float, float]:
        """Lower and upper multipliers of scale for the next day's interval."""
        alpha = self.alpha_t
        if self.capped:
            alpha = max(alpha, min(2.0 / (len(self.residuals) + 1), 1.0 - self.level))
        return aci_multipliers(self.residuals, alpha)

    def update(self, covered: bool) -> float:
        """Record whether the latest interval covered; return the next ``alpha_t``."""
        self.alpha_t = aci_update(self.alpha_t, covered, self.level, self.gamma)
        return self.alpha_t


def run_aci(
    calibration: np.ndarray,
    realised: np.ndarray,
    level: float,
    gamma: float = 0.005,
    delay: int = 1,
    capped: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """ACI multipliers for days in time order, each from the outcomes known by then.

    The outcome of day ``j``'s interval is known ``delay`` days later (``h`` for an
    ``h``-day forecast), so day ``i``'s multipliers use the coverage of days
    ``j <= i - delay`` only, applied in time order: they depend on
    ``realised[: i - delay + 1]`` alone. ``delay=1`` is plain online ACI, where day
    ``i``'s depend on ``realised[:i]``.
    """
    if int(delay) != delay or delay < 1:
        raise ValueError(f"delay must be a whole number of days, at least 1, not {delay}")
    aci = AdaptiveConformal(calibration, level, gamma, capped)
    realised = np.asarray(realised, dtype=float)
    lower, upper = np.empty(len(realised)), np.empty(len(realised))
    covered = np.empty(len(realised), dtype=bool)
    for i, residual in enumerate(realised):
        if i >= delay:  # day i - delay's outcome has just become known
            aci.update(bool(covered[i - delay]))
        lower[i], upper[i] = aci.multipliers()
        covered[i] = lower[i] <= residual <= upper[i]
    return lower, upper
