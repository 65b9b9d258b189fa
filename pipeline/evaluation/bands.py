"""Interval forecasts in price units, and their scores: one table per set of test days.

A model's forecast for one day is a ``Bands`` row: the median and, per level, a
lower and an upper bound, all prices. Every model's bands for the same days go
into one frame (columns ``<model>_median``, ``<model>_lower_90``,
``<model>_upper_90``, ...), which concatenates across folds, so that fold and
pooled tables are scored by the same function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.evaluation.intervals import (
    ConformalMultipliers,
    coverage,
    interval_score,
    mean_width,
    mean_width_pct,
    pinball_loss,
)
from pipeline.evaluation.stats import diebold_mariano_losses

REFERENCE = "rnn"  # the model every other model is tested against


def level_name(level: float) -> str:
    """A level as the percent used in column and metric names: 0.9 -> '90', 0.975 -> '97.5'."""
    return f"{100.0 * level:g}"


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


def band_frame(bands: dict[str, Bands], dates: pd.DatetimeIndex) -> pd.DataFrame:
    """Every model's bands as one frame indexed by target date."""
    columns: dict[str, np.ndarray] = {}
    for name, b in bands.items():
        columns[f"{name}_median"] = b.median
        for j, level in enumerate(b.levels):
            columns[f"{name}_lower_{level_name(level)}"] = b.lower[:, j]
            columns[f"{name}_upper_{level_name(level)}"] = b.upper[:, j]
    return pd.DataFrame(columns, index=pd.DatetimeIndex(dates, name="Date"))


def frame_models(frame: pd.DataFrame) -> list[str]:
    """The models in a band frame, in column order."""
    return [c.removesuffix("_median") for c in frame.columns if c.endswith("_median")]


def daily_interval_scores(
    actual: np.ndarray, frame: pd.DataFrame, model: str, level: float
) -> np.ndarray:
    """Per-day interval score of one model's ``level`` interval."""
    p = level_name(level)
    return interval_score(
        actual,
        frame[f"{model}_lower_{p}"].to_numpy(),
        frame[f"{model}_upper_{p}"].to_numpy(),
        level,
    )


def daily_pinball(
    actual: np.ndarray, frame: pd.DataFrame, model: str, levels: Sequence[float]
) -> np.ndarray:
    """Per-day pinball loss averaged over the median and every bound's quantile level."""
    losses = [pinball_loss(actual, frame[f"{model}_median"].to_numpy(), 0.5)]
    for level in levels:
        p, tail = level_name(level), (1.0 - level) / 2
        losses.append(pinball_loss(actual, frame[f"{model}_lower_{p}"].to_numpy(), tail))
        losses.append(pinball_loss(actual, frame[f"{model}_upper_{p}"].to_numpy(), 1.0 - tail))
    return np.mean(losses, axis=0)


def interval_table(
    actual: np.ndarray, previous: np.ndarray, frame: pd.DataFrame, levels: Sequence[float]
) -> pd.DataFrame:
    """Coverage, width (price and % of Close), interval score and pinball loss per model.

    With the reference model (the RNN) in the frame, each other row also gets
    the Diebold–Mariano test (HLN) of the RNN's per-day interval score against
    that model's: a negative statistic means the RNN's intervals score better.
    """
    actual, previous = np.asarray(actual, dtype=float), np.asarray(previous, dtype=float)
    models = frame_models(frame)
    rows = {}
    for model in models:
        row: dict[str, float] = {}
        for level in levels:
            p = level_name(level)
            lower, upper = frame[f"{model}_lower_{p}"], frame[f"{model}_upper_{p}"]
            row[f"coverage_{p}"] = coverage(actual, lower, upper)
            row[f"width_{p}"] = mean_width(lower, upper)
            row[f"width_pct_{p}"] = mean_width_pct(lower, upper, previous)
            row[f"interval_score_{p}"] = float(
                np.mean(daily_interval_scores(actual, frame, model, level))
            )
        row["pinball"] = float(np.mean(daily_pinball(actual, frame, model, levels)))
        for level in levels:
            row |= _dm_columns(actual, frame, model, level, REFERENCE in models)
        rows[model] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def _dm_columns(
    actual: np.ndarray, frame: pd.DataFrame, model: str, level: float, has_reference: bool
) -> dict[str, float]:
    p = level_name(level)
    if not has_reference or model == REFERENCE or len(actual) < 2:
        return {f"dm_stat_{p}": np.nan, f"dm_pvalue_{p}": np.nan}
    dm = diebold_mariano_losses(
        daily_interval_scores(actual, frame, REFERENCE, level),
        daily_interval_scores(actual, frame, model, level),
    )
    return {f"dm_stat_{p}": dm.statistic, f"dm_pvalue_{p}": dm.pvalue}
