"""Forecasts of every model on the same target days, scored alike in price units."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.core.features import Features
from pipeline.evaluation.baselines import Forecaster
from pipeline.evaluation.metrics import METRICS, score


@dataclass(frozen=True)
class Evaluation:
    """Forecasts and scores of every model on the same target days."""

    table: pd.DataFrame  # rows: models; columns: METRICS
    forecasts: pd.DataFrame  # index: target dates; columns: actual, previous, one per model


def evaluate(features: Features, models: dict[str, np.ndarray], ends: np.ndarray) -> Evaluation:
    """Score each model's forecasts (already made for ``ends``) against the actual next Close."""
    close = features.close
    actual, previous = close[ends + 1], close[ends]
    rows = {name: score(actual, pred, previous) for name, pred in models.items()}
    forecasts = pd.DataFrame(
        {"actual": actual, "previous": previous, **models},
        index=pd.DatetimeIndex(features.dates[ends + 1], name="Date"),
    )
    return Evaluation(
        table=pd.DataFrame.from_dict(rows, orient="index")[list(METRICS)], forecasts=forecasts
    )


def forecast_baselines(
    features: Features, ends: np.ndarray, suite: list[Forecaster]
) -> dict[str, np.ndarray]:
    """Fit each baseline on the training days and forecast ``ends``."""
    return {model.name: model.fit(features).predict(features, ends) for model in suite}
