"""Point-forecast scores in price units, shared by every model and every report."""

from __future__ import annotations

import numpy as np

METRICS = ("rmse", "mae", "mape", "direction_acc", "theil_u")


def score(actual: np.ndarray, forecast: np.ndarray, previous: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, MAPE (%), directional accuracy and Theil's U of one forecast.

    ``previous`` is the last known Close before each target day: the direction
    of a forecast is the sign of ``forecast - previous``, and Theil's U divides
    the RMSE by that of the persistence forecast ``previous``. A no-change
    forecast has no direction and only scores on days that did not move.
    """
    actual, forecast, previous = (np.asarray(a, dtype=float) for a in (actual, forecast, previous))
    error = forecast - actual
    rmse = float(np.sqrt(np.mean(error**2)))
    persistence_rmse = float(np.sqrt(np.mean((previous - actual) ** 2)))
    return {
        "rmse": rmse,
        "mae": float(np.mean(np.abs(error))),
        "mape": float(np.mean(np.abs(error / actual)) * 100.0),
        "direction_acc": float(np.mean(np.sign(forecast - previous) == np.sign(actual - previous))),
        "theil_u": rmse / persistence_rmse if persistence_rmse > 0 else float("nan"),
    }
