"""A group's RNN: one network trained on the windows of every ticker of a group, calibrated
per ticker.

A group is one ticker (``--scope ticker``: a network per ticker) or the whole
universe (``--scope global``). The inputs are window-relative log prices and the
target a log return, so a window means the same for every ticker whatever its
price level, and one network can learn from all of them (a global model, as in
Montero-Manso and Hyndman 2021). ``train_group`` trains it through the one
training path (``rnn.train_forecaster``) on the pooled samples (a ticker's own
features pool to themselves, bit for bit); the conformal multipliers that turn
its centre and scale into intervals are then fitted for each ticker on that
ticker's own validation days (``calibrate_ticker``), since how far a ticker's
days stray from the network's scale is the ticker's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from pipeline.config import IntervalConfig, ModelConfig, RuntimeConfig, TrainConfig
from pipeline.core.features import Features, pool_features, usable_ends, with_scalers
from pipeline.models.calibration import (
    IntervalFit,
    calibrate_horizons,
    check_calibration_days,
    horizon_residuals,
)
from pipeline.models.rnn import Hooks, RNNForecaster, Trained, train_forecaster
from pipeline.models.scale_head import forecast_spread


def train_group(
    features: Mapping[str, Features],
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    interval_cfg: IntervalConfig | None = None,
    runtime: RuntimeConfig | None = None,
    *,
    label: str = "",
    meta: dict | None = None,
    hooks: Hooks | None = None,
) -> Trained:
    """Train one network (and scale head) on every ticker's training samples together.

    Early stopping, shrinkage and the scale head's choice use the pooled
    validation samples; ``Trained.features`` is the pool (its scalers go with
    the model). Per-ticker multipliers come from ``calibrate_ticker``.
    """
    pooled = pool_features([features[t] for t in sorted(features)])
    return train_forecaster(
        pooled, model_cfg, train_cfg, interval_cfg, runtime,
        label=label, meta=meta, hooks=hooks or Hooks(),
    )  # fmt: skip


def calibrate_ticker(
    fit: IntervalFit, features: Features, ends: np.ndarray, runtime: RuntimeConfig | None = None
) -> IntervalFit:
    """The same network and scale head, with multipliers from one ticker's days ``ends``.

    ``features`` must be read through the group's scalers (``with_scalers``).
    """
    runtime = runtime or RuntimeConfig()
    levels = fit.multipliers.levels
    check_calibration_days(len(usable_ends(ends, features.horizon)), levels)
    spread = forecast_spread(fit.model, features, ends, runtime.eval_batch)
    return calibrate_horizons(fit, horizon_residuals(features, ends, *spread), levels)


@dataclass
class GroupRNN(RNNForecaster):
    """A group's network already trained, behind one ticker's fit/predict/bands interface.

    ``fit`` trains nothing: it calibrates the intervals on the ticker's own
    validation days. Forecasts read the ticker's windows through the group's scalers.
    """

    trained: Trained | None = None

    def _own(self, features: Features) -> Features:
        return with_scalers(features, self.trained.features)

    def fit(self, features: Features) -> GroupRNN:
        self.result = self.trained.result
        if self.trained.intervals is not None:
            self.intervals = calibrate_ticker(
                self.trained.intervals, self._own(features), features.split.val, self.runtime
            )
        return self
