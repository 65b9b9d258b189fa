"""Forecasts of every model on the same target days, scored alike in price units."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core.bands import Bands
from pipeline.core.features import Features
from pipeline.evaluation.tables import band_frame, interval_table
from pipeline.metrics.point import METRICS, score
from pipeline.models.base import Forecaster, IntervalForecaster

# Said wherever a model's forecasts are persistence's own (the RNN keeps the untrained,
# persistence-equivalent network, or shrinks its forecasts to it, when validation supports
# nothing better), so that two equal rows or an invisible line do not go without a word.
IDENTICAL = "identical to persistence: the model fell back to it"


def identical_to_persistence(forecasts: pd.DataFrame, model: str) -> bool:
    """Whether ``model``'s forecasts equal persistence's (the previous Close) on every day."""
    return bool(np.allclose(forecasts[model], forecasts["previous"], rtol=1e-9, atol=0.0))


@dataclass(frozen=True)
class Evaluation:
    """Forecasts and scores of every model on the same target days."""

    table: pd.DataFrame  # rows: models; columns: METRICS
    forecasts: pd.DataFrame  # index: target dates; columns: actual, previous, one per model
    intervals: pd.DataFrame | None = None  # rows: interval models; columns: see interval_table
    bands: pd.DataFrame | None = None  # index: target dates; see bands.band_frame


def evaluate(
    features: Features,
    models: dict[str, np.ndarray],
    ends: np.ndarray,
    bands: dict[str, Bands] | None = None,
) -> Evaluation:
    """Score each model's forecasts (already made for ``ends``) against the actual next Close.

    ``bands``, interval forecasts for the same days, are scored alike (``interval_table``).
    """
    close = features.close
    actual, previous = close[ends + 1], close[ends]
    rows = {name: score(actual, pred, previous) for name, pred in models.items()}
    forecasts = pd.DataFrame(
        {"actual": actual, "previous": previous, **models},
        index=pd.DatetimeIndex(features.dates[ends + 1], name="Date"),
    )
    table = pd.DataFrame.from_dict(rows, orient="index")[list(METRICS)]
    if not bands:
        return Evaluation(table=table, forecasts=forecasts)
    frame = band_frame(bands, forecasts.index)
    levels = next(iter(bands.values())).levels
    return Evaluation(table, forecasts, interval_table(actual, previous, frame, levels), frame)


def forecast_baselines(
    features: Features, ends: np.ndarray, suite: list[Forecaster]
) -> dict[str, np.ndarray]:
    """Fit each baseline on the training days and forecast ``ends``."""
    return {model.name: model.fit(features).predict(features, ends) for model in suite}


def forecast_interval_baselines(
    features: Features, ends: np.ndarray, suite: list[IntervalForecaster]
) -> dict[str, Bands]:
    """Fit each interval baseline on the training days and forecast bands for ``ends``."""
    return {model.name: model.fit(features).bands(features, ends) for model in suite}
