"""A model's calibration for each ticker: the one place the jobs pick it.

A group's network (one ticker's own, or the universe's) is calibrated on each
of its tickers' own validation days; the Forecaster keeps every ticker's
``Calibration`` (``Forecaster.calibrations``), and its default calibration is
that of the pooled validation days. ``for_ticker`` gives the model as it should
answer for a ticker: with the ticker's own calibration when it was trained on
it, else calibrated on the ticker's last ``RECENT_DAYS`` sessions (a ticker new
to a global model), and says which.
"""

from __future__ import annotations

import pandas as pd

from pipeline.serving.forecaster import RECENT_DAYS, Forecaster

OWN = "calibrated on its validation days"


def for_ticker(forecaster: Forecaster, ticker: str, prices: pd.DataFrame) -> tuple[Forecaster, str]:
    """The model calibrated for ``ticker``, and how: with its own calibration when it was
    trained on it (a ticker's own model saved before models kept them per ticker: as it
    is), else on its last ``RECENT_DAYS`` sessions of ``prices``."""
    own_model = ticker not in forecaster.calibrations and forecaster.meta.get("ticker") == ticker
    if forecaster.calibration is None or own_model:
        return forecaster, OWN
    forecaster, days = forecaster.calibrated_for(ticker, prices, RECENT_DAYS)
    if days is None:
        return forecaster, OWN
    return forecaster, f"never trained on {ticker}: interval calibrated on its last {days} sessions"


def own_calibration(forecaster: Forecaster, ticker: str) -> Forecaster:
    """The model with ``ticker``'s own calibration, or its default (pooled) one if it has
    none: how a champion is scored on days no calibration may read."""
    if ticker in forecaster.calibrations:
        return forecaster.for_ticker(ticker)
    return forecaster
