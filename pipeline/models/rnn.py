"""The RNN behind the same interface as the baselines."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipeline.config import IntervalConfig, ModelConfig, TrainConfig
from pipeline.core.bands import Bands, conformal_bands
from pipeline.core.features import CLOSE, Features, to_price
from pipeline.models.calibration import IntervalFit, fit_intervals
from pipeline.models.scale_head import ScaleEpoch, forecast_spread
from pipeline.models.training import Epoch, TrainResult, fit, forecast_log_returns

RNN = "rnn"  # our model's name in every table and metric key


@dataclass
class RNNForecaster:
    """The RNN behind the same fit/predict interface as the baselines.

    With an ``interval_cfg`` it also trains the scale head and calibrates it on
    the validation days after the point model is done (``bands``).
    """

    model_cfg: ModelConfig
    train_cfg: TrainConfig
    interval_cfg: IntervalConfig | None = None
    label: str = ""  # shown on the progress bar
    on_epoch: Callable[[Epoch], None] | None = None
    on_trained: Callable[[TrainResult], None] | None = None
    on_scale_epoch: Callable[[ScaleEpoch], None] | None = None
    on_calibrated: Callable[[IntervalFit], None] | None = None
    name: str = RNN
    result: TrainResult | None = None
    intervals: IntervalFit | None = None

    def fit(self, features: Features) -> RNNForecaster:
        self.result = fit(
            features, self.model_cfg, self.train_cfg, name=self.label, on_epoch=self.on_epoch
        )
        if self.on_trained:
            self.on_trained(self.result)
        if self.interval_cfg is not None:
            self.intervals = fit_intervals(
                self.result.model, features, self.interval_cfg, self.train_cfg, self.on_scale_epoch
            )
            if self.on_calibrated:
                self.on_calibrated(self.intervals)
        return self

    def predict(self, features: Features, ends: np.ndarray) -> np.ndarray:
        scaled = forecast_log_returns(self.result.model, features, ends, self.train_cfg.eval_batch)
        return to_price(features.log_prices[ends, CLOSE], scaled, features.y_scaler)

    def spread(self, features: Features, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Centre and scale of the next log return for ``ends`` (needs ``interval_cfg``)."""
        if self.intervals is None:
            raise ValueError("no intervals: give RNNForecaster an interval_cfg before fit")
        return forecast_spread(self.intervals.model, features, ends, self.train_cfg.eval_batch)

    def bands(self, features: Features, ends: np.ndarray) -> Bands | None:
        """Calibrated intervals for ``ends`` in price units (None without ``interval_cfg``).

        The median is ``predict``'s forecast, exactly.
        """
        if self.intervals is None:
            return None
        centre, scale = self.spread(features, ends)
        return conformal_bands(
            features.log_prices[ends, CLOSE],
            centre,
            scale,
            self.intervals.multipliers,
            median=self.predict(features, ends),
        )
