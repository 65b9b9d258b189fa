"""The RNN's intervals: a scale head chosen and calibrated on the validation days only.

``fit_intervals`` trains the scale head on each trunk asked for
(``models/scale_head.py``), scores each candidate on the validation days by the
interval score of its split-conformal intervals, keeps the best, and
calibrates the final multipliers on the normalised residuals of those same
validation days (``(y - centre) / scale``). The EWMA baseline is scored the
same way, so a run records plainly whether the network's scale beat it on days
it did not train on. Test days are never read: only ``split.train`` and
``split.val`` end days (and their next-day targets) enter here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pipeline.config import IntervalConfig, RuntimeConfig, TrainConfig
from pipeline.core.bands import ConformalMultipliers, conformal_intervals, parse_levels
from pipeline.core.features import CLOSE, Features, next_log_returns
from pipeline.core.network import StockRNN
from pipeline.errors import DataError
from pipeline.metrics.intervals import interval_score
from pipeline.models.conformal import calibrate_conformal, normalised_residuals
from pipeline.models.scale_head import TRUNKS, ScaleEpoch, ScaleResult, fit_scale, forecast_spread
from pipeline.models.volatility import EWMAVolatility

EWMA = "ewma"  # the validation yardstick's name among the candidates' scores


@dataclass
class IntervalFit:
    """The chosen scale head and its conformal calibration."""

    model: StockRNN  # the point model's centre, with the chosen trained scale head
    trunk: str  # "frozen" or "finetune"
    multipliers: ConformalMultipliers  # per level, from the validation residuals
    residuals: np.ndarray  # normalised validation residuals (the calibration set, for ACI)
    scale: ScaleResult  # the chosen head's training record
    val_scores: dict[str, float] = field(default_factory=dict)  # candidates and EWMA


def fit_intervals(
    model: StockRNN,
    features: Features,
    cfg: IntervalConfig,
    train_cfg: TrainConfig,
    on_epoch: Callable[[ScaleEpoch], None] | None = None,
    runtime: RuntimeConfig | None = None,
) -> IntervalFit:
    """Train the scale head(s), keep the best on validation, calibrate on validation."""
    runtime = runtime or RuntimeConfig()
    levels = parse_levels(cfg.levels)
    val = features.split.val
    check_calibration_days(len(val), levels)
    log_close = features.log_prices[:, CLOSE]
    actual = next_log_returns(log_close, val)
    trunks = TRUNKS if cfg.scale_trunk == "auto" else (cfg.scale_trunk,)
    candidates: dict[str, ScaleResult] = {}
    spreads: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    scores: dict[str, float] = {}
    for trunk in trunks:
        candidates[trunk] = fit_scale(model, features, trunk, cfg, train_cfg, on_epoch, runtime)
        spreads[trunk] = forecast_spread(candidates[trunk].model, features, val, runtime.eval_batch)
        scores[trunk] = validation_score(actual, *spreads[trunk], levels)
    ewma = EWMAVolatility().fit(log_close, features.split.train)
    scores[EWMA] = validation_score(actual, np.zeros(len(val)), ewma.sigma(log_close, val), levels)
    best = min(trunks, key=lambda t: scores[t])
    residuals = normalised_residuals(actual, *spreads[best])
    return IntervalFit(
        model=candidates[best].model,
        trunk=best,
        multipliers=calibrate_conformal(residuals, levels),
        residuals=residuals,
        scale=candidates[best],
        val_scores=scores,
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


def check_calibration_days(n: int, levels: tuple[float, ...]) -> None:
    """DataError unless ``n`` validation days give finite conformal bounds at every level."""
    # The upper bound is the ceil((n + 1)(1 - a/2))-th of n residuals: finite when n >= 2/a - 1.
    need = max(math.ceil(2.0 / (1.0 - level) - 1.0 - 1e-9) for level in levels)
    if n < need:
        raise DataError(
            f"{n} validation days are too few to calibrate a {max(levels):g} interval "
            f"(at least {need} are needed); lower --levels or give more history"
        )
