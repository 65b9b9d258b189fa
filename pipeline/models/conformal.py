"""Adaptive conformal inference (ACI) over a backtest's days (the RNN wrapped in it:
``adaptive_rnn.py``).

The arithmetic (split-conformal multipliers, the ACI update and its floor) is
``core.calibration``'s, which the served model runs too; here it is replayed
day by day, each day's interval from the outcomes known by then.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.core.bands import parse_levels
from pipeline.core.calibration import aci_floor, aci_multipliers, aci_update, calibrate_conformal


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
            alpha = aci_floor(alpha, self.level, len(self.residuals))
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
