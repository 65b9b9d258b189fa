"""The two small interfaces every model family implements.

``fit(features)`` uses the training samples (and, for the few choices, the
validation samples); ``predict(features, ends)`` returns the forecast Close for
the day after each end day, ``bands(features, ends)`` its interval forecasts.
No model ever sees a test day while fitting.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from pipeline.core.bands import Bands
from pipeline.core.features import Features


class Forecaster(Protocol):
    name: str

    def fit(self, features: Features) -> Forecaster: ...

    def predict(self, features: Features, ends: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class IntervalForecaster(Protocol):
    name: str

    def fit(self, features: Features) -> IntervalForecaster: ...

    def bands(self, features: Features, ends: np.ndarray) -> Bands: ...
