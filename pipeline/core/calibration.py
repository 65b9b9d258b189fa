"""One series' interval calibration as a value, and the conformal arithmetic behind it.

Residuals are normalised by the forecast's scale, ``(y - centre) / scale``; the
multipliers that turn a centre and a scale into bounds are order statistics of
those residuals on calibration days (split conformal). Online ACI (Gibbs &
Candès 2021, "Adaptive conformal inference under distribution shift") moves
each level's miss rate after every realised outcome and re-cuts the bounds from
the same residuals at that rate. Plain numpy: the served model carries this.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.core.bands import ConformalMultipliers, conformal_quantile, parse_levels
from pipeline.errors import DataError


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


def check_calibration_days(n: int, levels: tuple[float, ...]) -> None:
    """DataError unless ``n`` calibration days give finite conformal bounds at every level."""
    # The upper bound is the ceil((n + 1)(1 - a/2))-th of n residuals: finite when n >= 2/a - 1.
    need = max(math.ceil(2.0 / (1.0 - level) - 1.0 - 1e-9) for level in levels)
    if n < need:
        raise DataError(
            f"{n} validation days are too few to calibrate a {max(levels):g} interval "
            f"(at least {need} are needed); lower --levels or give more history"
        )


def aci_update(alpha_t: float, covered: bool, level: float, gamma: float) -> float:
    """One step of adaptive conformal inference: ``alpha_t + gamma * (alpha - err_t)``.

    ``err_t`` is 1 when day t's interval missed; a miss shrinks the next day's
    miss rate ``alpha_t`` (a wider interval), a hit grows it.
    """
    return alpha_t + gamma * ((1.0 - level) - (0.0 if covered else 1.0))


def aci_alpha(level: float, gamma: float, misses: Iterable[bool]) -> float:
    """The miss rate online ACI aims at after ``misses`` (oldest first; True: outside):
    ``aci_update`` from ``1 - level``, so a model without outcomes keeps its calibrated
    interval."""
    alpha = 1.0 - level
    for miss in misses:
        alpha = aci_update(alpha, not miss, level, gamma)
    return alpha


def aci_floor(alpha: float, level: float, n: int) -> float:
    """``alpha`` no lower than the smallest miss rate ``n`` residuals can cut, ``2 / (n + 1)``
    (or ``1 - level``, if smaller), so the interval stops at the widest calibrated one."""
    # Below that rate the theory's interval is infinite; a served one should not be.
    return max(alpha, min(2.0 / (n + 1), 1.0 - level))


def aci_multipliers(residuals: np.ndarray, alpha: float) -> tuple[float, float]:
    """Lower and upper multipliers of scale for miss rate ``alpha`` from calibration residuals.

    The split-conformal order statistics at ``alpha`` (each tail ``alpha / 2``): at
    ``alpha = 1 - level`` exactly the calibrated multipliers. ``alpha <= 0`` gives an
    infinite interval; ``alpha >= 1`` the point ``centre`` (the theory's empty set).
    """
    if alpha >= 1.0:
        return 0.0, 0.0
    scores = np.asarray(residuals, dtype=float)
    p = 1.0 - alpha / 2  # above 1 when alpha <= 0: infinite bounds
    return -conformal_quantile(-scores, p), conformal_quantile(scores, p)


@dataclass(frozen=True)
class Calibration:
    """One series' interval calibration: per horizon 1..H (index ``h - 1``) its conformal
    multipliers and the residuals they came from, and online ACI's current miss rates.

    Never changed in place: ``with_alphas`` and the constructors give new values.
    """

    multipliers: tuple[ConformalMultipliers, ...]  # per horizon, all at the same levels
    # Normalised calibration residuals of horizons 1..len (fewer than ``multipliers``, or
    # none, for a model saved before it kept them: those horizons cannot adapt online).
    residuals: tuple[np.ndarray, ...] = ()
    # Online ACI's miss rate per horizon and level (none: the calibrated bounds).
    alphas: Mapping[int, Mapping[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.multipliers:
            raise ValueError("a calibration needs the multipliers of at least one horizon")
        if any(m.levels != self.levels for m in self.multipliers):
            raise ValueError("every horizon of a calibration must have the same levels")
        if len(self.residuals) > len(self.multipliers):
            raise ValueError("a calibration has more horizons of residuals than of multipliers")
        arrays = tuple(np.asarray(r, dtype=float) for r in self.residuals)
        object.__setattr__(self, "multipliers", tuple(self.multipliers))
        object.__setattr__(self, "residuals", arrays)

    def __eq__(self, other: object) -> bool:
        # The residuals are arrays: equal when every value is.
        if not isinstance(other, Calibration):
            return NotImplemented
        return (
            self.multipliers == other.multipliers
            and len(self.residuals) == len(other.residuals)
            and all(map(np.array_equal, self.residuals, other.residuals))
            and self.alphas == other.alphas
        )

    @classmethod
    def from_residuals(
        cls, residuals: Sequence[np.ndarray], levels: Sequence[float]
    ) -> Calibration:
        """Each horizon's split-conformal multipliers calibrated on its own ``residuals``."""
        residuals = tuple(residuals)
        return cls(tuple(calibrate_conformal(r, levels) for r in residuals), residuals)

    @property
    def levels(self) -> tuple[float, ...]:
        """The central coverages of the intervals, ascending."""
        return self.multipliers[0].levels

    @property
    def horizons(self) -> int:
        """How many horizons (1..n) are calibrated."""
        return len(self.multipliers)

    @property
    def adaptable(self) -> int:
        """How many horizons (1..n) online ACI can re-cut: those whose residuals it has."""
        return len(self.residuals)

    def with_alphas(self, alphas: Mapping[int, Mapping[float, float]]) -> Calibration:
        """The same calibration with online ACI's miss rates ``{horizon: {level: rate}}``."""
        return replace(self, alphas={int(h): dict(a) for h, a in alphas.items()})

    def at(self, horizon: int) -> ConformalMultipliers:
        """The multipliers ``horizon`` days ahead: re-cut at the online miss rates when it
        has some for that horizon (``adapted``), else the calibrated ones."""
        alphas = self.alphas.get(horizon)
        return self.adapted(alphas, horizon) if alphas else self.multipliers[horizon - 1]

    def adapted(self, alphas: Mapping[float, float], horizon: int = 1) -> ConformalMultipliers:
        """The ``horizon``-day multipliers with each level in ``alphas`` re-cut at that miss
        rate (floored by ``aci_floor``); the other levels keep their calibrated ones."""
        if not self.residuals:
            raise ValueError("this model has no calibration residuals for online ACI; retrain it")
        if horizon > len(self.residuals):
            raise ValueError(f"this model has no calibration residuals for {horizon} days ahead")
        calibrated = self.multipliers[horizon - 1]
        residuals = self.residuals[horizon - 1]
        lower, upper = list(calibrated.lower), list(calibrated.upper)
        for j, level in enumerate(calibrated.levels):
            if level in alphas:
                alpha = aci_floor(alphas[level], level, len(residuals))
                lower[j], upper[j] = aci_multipliers(residuals, alpha)
        return ConformalMultipliers(calibrated.levels, tuple(lower), tuple(upper))

    def to_dict(self) -> dict:
        """Plain JSON values (``from_dict`` reads them back to the last digit)."""
        horizons = []
        for h, m in enumerate(self.multipliers):
            block: dict = {"lower": list(m.lower), "upper": list(m.upper)}
            if h < len(self.residuals):
                block["residuals"] = self.residuals[h].tolist()
            horizons.append(block)
        out: dict = {"levels": list(self.levels), "horizons": horizons}
        if self.alphas:  # JSON keys are text: the horizon and the level's repr
            out["alphas"] = {
                str(h): {repr(level): rate for level, rate in a.items()}
                for h, a in self.alphas.items()
            }
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> Calibration:
        """The calibration ``to_dict`` wrote."""
        levels = tuple(float(level) for level in data["levels"])
        blocks = data["horizons"]
        multipliers = tuple(
            ConformalMultipliers(levels, tuple(b["lower"]), tuple(b["upper"])) for b in blocks
        )
        residuals = []
        for b in blocks:  # the horizons from 1 that carry residuals
            if "residuals" not in b:
                break
            residuals.append(np.asarray(b["residuals"], dtype=float))
        alphas = {
            int(h): {float(level): float(rate) for level, rate in a.items()}
            for h, a in data.get("alphas", {}).items()
        }
        return cls(multipliers, tuple(residuals), alphas)
