"""Point baselines behind the ``Forecaster`` interface: persistence, drift, 5-day mean,
Ridge and gradient boosting on the RNN's windows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge

from pipeline.config import BaselineConfig
from pipeline.core.features import CLOSE, Features, to_price
from pipeline.models.base import Forecaster


def _check_horizon(horizon: int) -> None:
    """ValueError unless ``horizon`` (days ahead) is a whole number of at least 1."""
    if int(horizon) != horizon or horizon < 1:
        raise ValueError(f"horizon must be a whole number of days, at least 1, not {horizon}")


@dataclass
class Persistence:
    """Tomorrow's Close, and the Close of any later day, is today's."""

    name: str = "persistence"

    def fit(self, features: Features) -> Persistence:
        return self

    def predict(self, features: Features, ends: np.ndarray) -> np.ndarray:
        """The Close of day ``t+1`` per end day ``t``: ``predict_horizon`` at 1 day."""
        return self.predict_horizon(features, ends, 1)

    def predict_horizon(self, features: Features, ends: np.ndarray, horizon: int) -> np.ndarray:
        """The Close of day ``t + horizon`` per end day ``t``: the Close of day ``t``."""
        _check_horizon(horizon)
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
        """The Close of day ``t+1`` per end day ``t``: ``predict_horizon`` at 1 day."""
        return self.predict_horizon(features, ends, 1)

    def predict_horizon(self, features: Features, ends: np.ndarray, horizon: int) -> np.ndarray:
        """The Close of day ``t + h`` per end day ``t``: ``close[t] * exp(h * mu)``."""
        _check_horizon(horizon)
        return features.close[ends] * np.exp(horizon * self.mu)


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

    def __init__(self, alphas: tuple[float, ...] = (1.0,)) -> None:
        self.alphas = alphas

    def _choices(self) -> list[dict]:
        return [{"alpha": a} for a in self.alphas]


class BoostedWindows(_WindowRegressor):
    """Histogram gradient boosting on the same windows (a non-linear baseline)."""

    name = "hgb"

    def __init__(self, cfg: BaselineConfig, seed: int = 0) -> None:
        self.cfg, self.seed = cfg, seed

    def _make(self) -> HistGradientBoostingRegressor:
        return HistGradientBoostingRegressor(
            max_iter=self.cfg.hgb_max_iter,
            learning_rate=self.cfg.hgb_learning_rate,
            max_leaf_nodes=self.cfg.hgb_max_leaf_nodes,
            random_state=self.seed,
        )


def _flat(features: Features, ends: np.ndarray) -> np.ndarray:
    return features.batch(ends).reshape(len(ends), -1)


def baselines(cfg: BaselineConfig, seed: int = 0) -> list[Forecaster]:
    """The baseline suite, in report order."""
    return [
        Persistence(),
        Drift(),
        MovingAverage(),
        RidgeWindows(cfg.ridge_alphas),
        BoostedWindows(cfg, seed),
    ]
