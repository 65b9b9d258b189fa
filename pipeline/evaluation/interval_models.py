"""Interval forecasters behind one interface: ``fit(features)``, ``bands(features, ends)``.

The baselines (historical simulation, EWMA, GARCH(1,1)-t) are fitted on the
training end days only and forecast log-return quantiles around persistence;
``AdaptiveRNN`` runs adaptive conformal inference on the RNN's intervals,
updating after each realised test day (it reads day ``t``'s outcome only to set
the intervals of the days after ``t``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from pipeline.core.features import CLOSE, Features
from pipeline.evaluation.bands import Bands, price_bands
from pipeline.evaluation.baselines import RNNForecaster
from pipeline.evaluation.intervals import (
    EWMAVolatility,
    GARCH11t,
    HistoricalSimulation,
    IntervalBaseline,
    next_log_returns,
    normalised_residuals,
    parse_levels,
    run_aci,
)


@runtime_checkable
class IntervalForecaster(Protocol):
    name: str

    def fit(self, features: Features) -> IntervalForecaster: ...

    def bands(self, features: Features, ends: np.ndarray) -> Bands: ...


@dataclass
class BaselineBands:
    """A volatility baseline's quantiles of the next log return, as price bands."""

    name: str
    model: IntervalBaseline
    levels: tuple[float, ...]
    fitted: IntervalBaseline | None = None

    def fit(self, features: Features) -> BaselineBands:
        self.fitted = self.model.fit(features.log_prices[:, CLOSE], features.split.train)
        return self

    def bands(self, features: Features, ends: np.ndarray) -> Bands:
        levels = parse_levels(self.levels)
        tails = [(1.0 - level) / 2 for level in levels]
        taus = [0.5, *tails, *(1.0 - t for t in tails)]
        log_close = features.log_prices[:, CLOSE]
        q = self.fitted.quantiles(log_close, ends, taus)
        k = len(levels)
        return price_bands(log_close[ends], q[:, 0], q[:, 1 : 1 + k], q[:, 1 + k :], levels)


def interval_baselines(levels: Sequence[float]) -> list[BaselineBands]:
    """The interval baselines, in report order."""
    levels = parse_levels(levels)
    return [
        BaselineBands("hist", HistoricalSimulation(), levels),
        BaselineBands("ewma", EWMAVolatility(lam=0.94), levels),
        BaselineBands("garch", GARCH11t(), levels),
    ]


@dataclass
class AdaptiveRNN:
    """Adaptive conformal inference (Gibbs & Candès 2021) on an already fitted RNN.

    Starts each block of days from the validation residuals at the nominal miss
    rate and moves it by ``gamma`` after each day: wider after a miss,
    narrower after a hit. Must come after the RNN in a model list.
    """

    rnn: RNNForecaster
    gamma: float = 0.005
    name: str = "rnn_aci"

    def fit(self, features: Features) -> AdaptiveRNN:
        if self.rnn.intervals is None:
            raise ValueError("AdaptiveRNN needs the RNN fitted with intervals first")
        return self

    def bands(self, features: Features, ends: np.ndarray) -> Bands:
        fit = self.rnn.intervals
        centre, scale = self.rnn.spread(features, ends)
        log_close = features.log_prices[:, CLOSE]
        realised = normalised_residuals(next_log_returns(log_close, ends), centre, scale)
        levels = fit.multipliers.levels
        lower, upper = np.empty((len(ends), len(levels))), np.empty((len(ends), len(levels)))
        for j, level in enumerate(levels):
            lower[:, j], upper[:, j] = run_aci(fit.residuals, realised, level, self.gamma)
        return price_bands(
            log_close[ends],
            centre,
            centre[:, None] + lower * scale[:, None],
            centre[:, None] + upper * scale[:, None],
            levels,
            median=self.rnn.predict(features, ends),
        )
