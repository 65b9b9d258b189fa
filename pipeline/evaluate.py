"""Stage 4: forecasts of every model on the same target days, scored in price units.

Every forecaster shares one interface: ``fit(features)`` on the training (and,
for choices, validation) samples, then ``predict(features, ends)`` returning
the forecast Close for the day after each end day. The metrics compare those
with the actual next Close.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge

from pipeline.features import CLOSE, Features, to_price

RNN = "rnn"  # our model's name in every table and metric key
METRICS = ("rmse", "mae", "mape", "direction_acc", "theil_u")
RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0)  # chosen on validation days, never on test


class Forecaster(Protocol):
    name: str

    def fit(self, features: Features) -> Forecaster: ...

    def predict(self, features: Features, ends: np.ndarray) -> np.ndarray: ...


# --------------------------------------------------------------------------- metrics


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


# --------------------------------------------------------------------------- baselines


@dataclass
class Persistence:
    """Tomorrow's Close is today's."""

    name: str = "persistence"

    def fit(self, features: Features) -> Persistence:
        return self

    def predict(self, features: Features, ends: np.ndarray) -> np.ndarray:
        return features.close[ends]


@dataclass
class Drift:
    """Random walk with drift: today's Close grown by the mean training log return."""

    name: str = "drift"
    mu: float = 0.0

    def fit(self, features: Features) -> Drift:
        log_close = np.log(features.close)
        self.mu = float(np.mean(np.diff(log_close)[features.split.train]))
        return self

    def predict(self, features: Features, ends: np.ndarray) -> np.ndarray:
        return features.close[ends] * np.exp(self.mu)


@dataclass
class MovingAverage:
    """Mean Close of the last ``days`` days."""

    days: int = 5
    name: str = "ma5"

    def fit(self, features: Features) -> MovingAverage:
        return self

    def predict(self, features: Features, ends: np.ndarray) -> np.ndarray:
        close = features.close
        return np.stack([close[ends - k] for k in range(self.days)]).mean(axis=0)


class _WindowRegressor:
    """A scikit-learn regressor on the flattened, scaled windows, predicting the scaled return."""

    name = "window-regressor"

    def _make(self, **params):  # pragma: no cover - overridden
        raise NotImplementedError

    def _choices(self) -> list[dict]:
        return [{}]

    def fit(self, features: Features) -> _WindowRegressor:
        y = features.targets
        x_train = _flat(features, features.split.train)
        x_val = _flat(features, features.split.val)
        best = None
        for params in self._choices():
            model = self._make(**params).fit(x_train, y[features.split.train])
            val_mse = float(np.mean((model.predict(x_val) - y[features.split.val]) ** 2))
            if best is None or val_mse < best[0]:
                best = (val_mse, model)
        self.model = best[1]
        return self

    def predict(self, features: Features, ends: np.ndarray) -> np.ndarray:
        scaled = self.model.predict(_flat(features, ends))
        return to_price(features.log_prices[ends, CLOSE], scaled, features.y_scaler)


class RidgeWindows(_WindowRegressor):
    """Ridge regression on the same windows; alpha picked on the validation days."""

    name = "ridge"

    def _make(self, alpha: float = 1.0) -> Ridge:
        return Ridge(alpha=alpha)

    def _choices(self) -> list[dict]:
        return [{"alpha": a} for a in RIDGE_ALPHAS]


class BoostedWindows(_WindowRegressor):
    """Histogram gradient boosting on the same windows (a non-linear baseline)."""

    name = "hgb"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def _make(self) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=self.seed
        )


def _flat(features: Features, ends: np.ndarray) -> np.ndarray:
    return features.batch(ends).reshape(len(ends), -1)


def baselines(seed: int = 0) -> list[Forecaster]:
    """The baseline suite, in report order."""
    return [Persistence(), Drift(), MovingAverage(), RidgeWindows(), BoostedWindows(seed)]


# --------------------------------------------------------------------------- evaluation


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
