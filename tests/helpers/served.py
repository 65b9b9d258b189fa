"""The served model's test settings: a Forecaster with intervals, trained in seconds."""

from __future__ import annotations

from pipeline.config import IntervalConfig, TrainConfig
from pipeline.core.features import Features
from pipeline.models.rnn import RNNForecaster
from pipeline.serving.forecaster import Forecaster

TRAIN = TrainConfig(epochs=3, lr=0.01, patience=5)
INTERVALS = IntervalConfig(levels=(0.8, 0.9), scale_trunk="finetune", scale_epochs=3)


def served(rnn: RNNForecaster, features: Features) -> Forecaster:
    """The Forecaster of a fitted RNN, with its calibration for every horizon."""
    fit = rnn.intervals
    return Forecaster(
        fit.model, features.x_scaler, features.y_scaler, features.window,
        calibration=fit.calibration,
    )  # fmt: skip
