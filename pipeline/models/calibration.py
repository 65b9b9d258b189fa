"""The RNN's intervals: a scale head chosen and calibrated on the validation days only.

``fit_intervals`` trains the scale head on each trunk asked for
(``models/scale_head.py``), scores each candidate on the validation days by the
interval score of its split-conformal intervals, keeps the best, and
calibrates the final multipliers on the normalised residuals of those same
validation days (``(y - centre) / scale``), once per horizon: the h-day
multipliers come from the validation end days whose h-day target is itself a
validation day (``core.features.usable_ends``). The EWMA baseline is scored the
same way (at day 1), so a run records plainly whether the network's scale beat it on days
it did not train on. Test days are never read: only ``split.train`` and
``split.val`` end days (and their next-day targets) enter here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pipeline.config import IntervalConfig, RuntimeConfig, TrainConfig
from pipeline.core.bands import ConformalMultipliers, conformal_intervals, parse_levels
from pipeline.core.calibration import (
    Calibration,
    calibrate_conformal,
    check_calibration_days,
    normalised_residuals,
)
from pipeline.core.features import CLOSE, Features, next_log_returns, usable_ends
from pipeline.core.network import StockRNN
from pipeline.metrics.intervals import interval_score
from pipeline.models.scale_head import TRUNKS, ScaleEpoch, ScaleResult, fit_scale, forecast_spread
from pipeline.models.volatility import EWMAVolatility

EWMA = "ewma"  # the validation yardstick's name among the candidates' scores


@dataclass
class IntervalFit:
    """The chosen scale head and its conformal calibration."""

    model: StockRNN  # the point model's centre, with the chosen trained scale head
    trunk: str  # "frozen" or "finetune"
    multipliers: ConformalMultipliers  # per level, from the validation residuals (day 1)
    residuals: np.ndarray  # normalised validation residuals (the calibration set, for ACI)
    scale: ScaleResult  # the chosen head's training record
    val_scores: dict[str, float] = field(default_factory=dict)  # candidates and EWMA
    # Per horizon 1..H (index h - 1; the first are ``multipliers`` and ``residuals``).
    horizon_multipliers: tuple[ConformalMultipliers, ...] = ()
    horizon_residuals: tuple[np.ndarray, ...] = ()

    @property
    def calibration(self) -> Calibration:
        """Every horizon's multipliers and residuals, as the served model keeps them."""
        return Calibration(self.horizon_multipliers, self.horizon_residuals)


def by_horizon(
    features: Features, ends: np.ndarray, centre: np.ndarray, scale: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per horizon h, ``(actual, centre, scale)`` of the h-day log return for ``(n, H)``
    spreads made on ``ends`` (one part's end days); horizon h keeps the end days
    whose h-day target lies in the same part."""
    log_close = features.log_prices[:, CLOSE]
    out = []
    for h in range(1, centre.shape[1] + 1):
        keep = np.isin(ends, usable_ends(ends, h))
        actual = next_log_returns(log_close, ends[keep], h)
        out.append((actual, centre[keep, h - 1], scale[keep, h - 1]))
    return out


def horizon_residuals(
    features: Features, ends: np.ndarray, centre: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Normalised residuals per horizon of ``(n, H)`` spreads made on ``ends`` (``by_horizon``)."""
    return tuple(normalised_residuals(*part) for part in by_horizon(features, ends, centre, scale))


def calibrate_horizons(
    fit: IntervalFit, residuals: tuple[np.ndarray, ...], levels: tuple[float, ...]
) -> IntervalFit:
    """``fit`` with every horizon's multipliers calibrated on its ``residuals``."""
    multipliers = tuple(calibrate_conformal(r, levels) for r in residuals)
    return dataclasses.replace(
        fit,
        multipliers=multipliers[0],
        residuals=residuals[0],
        horizon_multipliers=multipliers,
        horizon_residuals=residuals,
    )


def fit_intervals(
    model: StockRNN,
    features: Features,
    cfg: IntervalConfig,
    train_cfg: TrainConfig,
    on_epoch: Callable[[ScaleEpoch], None] | None = None,
    runtime: RuntimeConfig | None = None,
) -> IntervalFit:
    """Train the scale head(s), keep the best on validation, calibrate on validation.

    A candidate's validation score is the mean over horizons of its interval
    score at h divided by ``sqrt(h)`` (so every horizon weighs about alike).
    """
    runtime = runtime or RuntimeConfig()
    levels = parse_levels(cfg.levels)
    val = features.split.val
    check_calibration_days(len(usable_ends(val, features.horizon)), levels)
    log_close = features.log_prices[:, CLOSE]
    trunks = TRUNKS if cfg.scale_trunk == "auto" else (cfg.scale_trunk,)
    candidates: dict[str, ScaleResult] = {}
    residuals: dict[str, tuple[np.ndarray, ...]] = {}
    scores: dict[str, float] = {}
    for trunk in trunks:
        candidates[trunk] = fit_scale(model, features, trunk, cfg, train_cfg, on_epoch, runtime)
        spread = forecast_spread(candidates[trunk].model, features, val, runtime.eval_batch)
        parts = by_horizon(features, val, *spread)
        residuals[trunk] = tuple(normalised_residuals(*part) for part in parts)
        scores[trunk] = float(
            np.mean(
                [
                    validation_score(*part, levels) / math.sqrt(h)
                    for h, part in enumerate(parts, start=1)
                ]
            )
        )
    actual = next_log_returns(log_close, val)
    ewma = EWMAVolatility().fit(log_close, features.split.train)
    scores[EWMA] = validation_score(actual, np.zeros(len(val)), ewma.sigma(log_close, val), levels)
    best = min(trunks, key=lambda t: scores[t])
    multipliers = tuple(calibrate_conformal(r, levels) for r in residuals[best])
    return IntervalFit(
        model=candidates[best].model,
        trunk=best,
        multipliers=multipliers[0],
        residuals=residuals[best][0],
        scale=candidates[best],
        val_scores=scores,
        horizon_multipliers=multipliers,
        horizon_residuals=residuals[best],
    )


def validation_score(
    actual: np.ndarray, centre: np.ndarray, scale: np.ndarray, levels: tuple[float, ...]
) -> float:
    """Mean interval score (log-return units, averaged over levels) of split-conformal intervals.

    Calibrated on the very days it scores, so each candidate reaches about the
    nominal coverage there and the score compares how tight the intervals are.
    """
    residuals = normalised_residuals(actual, centre, scale)
    lower, upper = conformal_intervals(centre, scale, calibrate_conformal(residuals, levels))
    return float(
        np.mean(
            [
                np.mean(interval_score(actual, lower[:, j], upper[:, j], level))
                for j, level in enumerate(levels)
            ]
        )
    )
