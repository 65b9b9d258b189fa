"""ACI on the RNN: the backtest's adaptive intervals from an RNN fitted with intervals.

Kept apart from ``conformal.py`` (the arithmetic, which knows no model) so
that ``models/`` has no import cycle: the RNN's calibration imports the
arithmetic, and this wrapper imports the RNN.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.core.bands import Bands, price_bands
from pipeline.core.calibration import normalised_residuals
from pipeline.core.features import CLOSE, Features, next_log_returns
from pipeline.models.conformal import run_aci
from pipeline.models.rnn import RNNForecaster


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
        return self.horizon_bands(features, ends, 1)

    def horizon_bands(self, features: Features, ends: np.ndarray, horizon: int) -> Bands:
        """Bands ``horizon`` days ahead for consecutive end days ``ends``.

        An h-day interval's miss is known h days after it was issued, so the
        miss rate moves with a delay of h days (``run_aci``'s ``delay``), from
        the RNN's h-day calibration residuals. Misses of overlapping h-day
        forecasts come in runs, which can push the miss rate below what the
        residuals can cut: the interval then stays at the widest calibrated
        one (``capped``), as the served model's does, rather than infinite.
        """
        fit = self.rnn.intervals
        centre, scale = self.rnn.spread(features, ends, horizon)
        log_close = features.log_prices[:, CLOSE]
        actual = next_log_returns(log_close, ends, horizon)
        realised = normalised_residuals(actual, centre, scale)
        residuals = fit.horizon_residuals[horizon - 1]
        levels = fit.multipliers.levels
        lower, upper = np.empty((len(ends), len(levels))), np.empty((len(ends), len(levels)))
        for j, level in enumerate(levels):
            lower[:, j], upper[:, j] = run_aci(
                residuals, realised, level, self.gamma, delay=horizon, capped=True
            )
        return price_bands(
            log_close[ends],
            centre,
            centre[:, None] + lower * scale[:, None],
            centre[:, None] + upper * scale[:, None],
            levels,
            median=self.rnn.predict_horizon(features, ends, horizon),
        )
