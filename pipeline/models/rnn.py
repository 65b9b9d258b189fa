"""The RNN: the one path that trains a Forecaster, and the RNN behind the baselines' interface.

``train_forecaster`` is the only code that trains the network: the point model
(``training.fit``), then, with an interval config, the scale head and its
conformal calibration on the validation days (``calibration.fit_intervals``),
and it returns the deployable ``Forecaster``. ``all``, the stage commands,
``retrain``, the backtest (through ``RNNForecaster``) and the sweep's objective
all call it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from pipeline.config import IntervalConfig, ModelConfig, RuntimeConfig, TrainConfig
from pipeline.core.bands import Bands, conformal_bands
from pipeline.core.features import CLOSE, Features, to_price
from pipeline.models.calibration import IntervalFit, fit_intervals
from pipeline.models.scale_head import ScaleEpoch, forecast_spread
from pipeline.models.training import Epoch, TrainResult, fit, forecast_log_returns
from pipeline.serving.forecaster import Forecaster

RNN = "rnn"  # our model's name in every table and metric key


@dataclass(frozen=True)
class Hooks:
    """What the caller wants told while training (tracking, progress); all optional."""

    on_epoch: Callable[[Epoch], None] | None = None  # each point-model epoch
    on_trained: Callable[[TrainResult], None] | None = None  # the point model is done
    on_scale_epoch: Callable[[ScaleEpoch], None] | None = None  # each scale-head epoch
    on_calibrated: Callable[[IntervalFit], None] | None = None  # the intervals are calibrated


@dataclass
class Trained:
    """A trained network and the records of how it was trained; ``forecaster`` deploys it."""

    features: Features  # what it was trained on (its scalers and window go with the model)
    result: TrainResult  # the point model's training record
    intervals: IntervalFit | None  # None without an interval config
    meta: dict = field(default_factory=dict)  # saved with the Forecaster
    calibrations: dict = field(default_factory=dict)  # ticker -> its own Calibration

    @cached_property
    def forecaster(self) -> Forecaster:
        """The deployable model: network (with the chosen scale head), scalers, multipliers.

        Built on first use, since a Forecaster moves its network to the CPU.
        """
        f, fit = self.features, self.intervals
        if fit is None:
            return Forecaster(self.result.model, f.x_scaler, f.y_scaler, f.window, self.meta)
        return Forecaster(
            fit.model, f.x_scaler, f.y_scaler, f.window, self.meta, fit.calibration,
            self.calibrations,
        )  # fmt: skip


def train_forecaster(
    features: Features,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    interval_cfg: IntervalConfig | None = None,
    runtime: RuntimeConfig | None = None,
    *,
    label: str = "",
    meta: dict | None = None,
    hooks: Hooks = Hooks(),
    watch_test: bool = False,
) -> Trained:
    """Train the point model, then (with ``interval_cfg``) the scale head and its calibration.

    ``meta`` is saved with the Forecaster (ticker, run id, config, ...);
    ``watch_test`` passes through to ``fit`` (the sweep's folds score their block).
    """
    result = fit(
        features, model_cfg, train_cfg, runtime,
        name=label, on_epoch=hooks.on_epoch, watch_test=watch_test,
    )  # fmt: skip
    if hooks.on_trained:
        hooks.on_trained(result)
    intervals = None
    if interval_cfg is not None:
        intervals = fit_intervals(
            result.model, features, interval_cfg, train_cfg, hooks.on_scale_epoch, runtime
        )
        if hooks.on_calibrated:
            hooks.on_calibrated(intervals)
    return Trained(features, result, intervals, meta or {})


@dataclass
class RNNForecaster:
    """The RNN behind the same fit/predict interface as the baselines (the backtest's view).

    With an ``interval_cfg`` it also trains the scale head and calibrates it on
    the validation days after the point model is done (``bands``).
    """

    model_cfg: ModelConfig
    train_cfg: TrainConfig
    interval_cfg: IntervalConfig | None = None
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    label: str = ""  # shown on the progress bar
    hooks: Hooks = field(default_factory=Hooks)
    name: str = RNN
    result: TrainResult | None = None
    intervals: IntervalFit | None = None

    def fit(self, features: Features) -> RNNForecaster:
        trained = train_forecaster(
            features, self.model_cfg, self.train_cfg, self.interval_cfg, self.runtime,
            label=self.label, hooks=self.hooks,
        )  # fmt: skip
        self.result, self.intervals = trained.result, trained.intervals
        return self

    def _own(self, features: Features) -> Features:
        """The features as this model reads them (a global model: through its own scalers)."""
        return features

    def predict(self, features: Features, ends: np.ndarray) -> np.ndarray:
        """The next Close after each end day (horizon 1)."""
        return self.predict_horizon(features, ends, 1)

    def predict_horizon(self, features: Features, ends: np.ndarray, horizon: int) -> np.ndarray:
        """The Close ``horizon`` trading days after each end day."""
        features = self._own(features)
        scaled = forecast_log_returns(self.result.model, features, ends, self.runtime.eval_batch)
        log_close = features.log_prices[ends, CLOSE]
        return to_price(log_close, scaled[:, horizon - 1], features.y_scaler)

    def spread(
        self, features: Features, ends: np.ndarray, horizon: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Centre and scale of the ``horizon``-day log return for ``ends`` (needs intervals)."""
        if self.intervals is None:
            raise ValueError("no intervals: give RNNForecaster an interval_cfg before fit")
        centre, scale = forecast_spread(
            self.intervals.model, self._own(features), ends, self.runtime.eval_batch
        )
        return centre[:, horizon - 1], scale[:, horizon - 1]

    def bands(self, features: Features, ends: np.ndarray) -> Bands | None:
        """Calibrated intervals for ``ends`` in price units (None without ``interval_cfg``).

        The median is ``predict``'s forecast, exactly.
        """
        return self.horizon_bands(features, ends, 1)

    def horizon_bands(self, features: Features, ends: np.ndarray, horizon: int) -> Bands | None:
        """``bands`` for the Close ``horizon`` trading days after each end day."""
        if self.intervals is None:
            return None
        centre, scale = self.spread(features, ends, horizon)
        return conformal_bands(
            features.log_prices[ends, CLOSE],
            centre,
            scale,
            self.intervals.horizon_multipliers[horizon - 1],
            median=self.predict_horizon(features, ends, horizon),
        )
