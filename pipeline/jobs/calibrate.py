"""A model's calibration for each ticker: the one place the jobs pick it.

A group's network (one ticker's own, or the universe's) is calibrated on each
of its tickers' own validation days; the model keeps every ticker's
multipliers and residuals in its meta (``calibration_meta``), and its default
calibration is that of the pooled validation days. ``for_ticker`` gives the
model as it should answer for a ticker: with the ticker's own calibration when
it was trained on it, else calibrated on the ticker's last ``RECENT_DAYS``
sessions (a ticker new to a global model), and says which.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from pipeline.core.bands import ConformalMultipliers
from pipeline.models.calibration import IntervalFit, check_calibration_days
from pipeline.models.conformal import calibrate_conformal, normalised_residuals
from pipeline.serving.forecaster import Forecaster

RECENT_DAYS = 250  # a new ticker's sessions (about a year) that calibrate its interval
OWN = "calibrated on its validation days"


def calibration_meta(fit: IntervalFit) -> dict:
    """A ticker's calibration as the model's meta keeps it (``ticker_forecaster`` reads it):
    horizon 1's multipliers and residuals (so that online ACI can re-cut the ticker's own
    intervals), then every later horizon's."""
    residuals = [r.tolist() for r in fit.horizon_residuals]
    return {
        **dataclasses.asdict(fit.multipliers),
        "residuals": residuals[0],
        "later_horizons": [
            {"lower": list(m.lower), "upper": list(m.upper), "residuals": r}
            for m, r in zip(fit.horizon_multipliers[1:], residuals[1:], strict=True)
        ],
    }


def ticker_forecaster(forecaster: Forecaster, ticker: str) -> Forecaster:
    """The model with ``ticker``'s own multipliers at every horizon (KeyError if it has
    none), and the residuals they came from for online ACI (a model saved before it kept
    them has none: its intervals stay as calibrated)."""
    own = forecaster.meta["calibration"][ticker]
    levels = tuple(own["levels"])
    blocks = [own, *own.get("later_horizons", [])]
    multipliers = tuple(
        ConformalMultipliers(levels, tuple(b["lower"]), tuple(b["upper"])) for b in blocks
    )
    kept = all("residuals" in b for b in blocks)
    residuals = tuple(np.asarray(b["residuals"], dtype=float) for b in blocks) if kept else ()
    return forecaster.with_calibration(multipliers, residuals)


def recent_calibration(
    forecaster: Forecaster, prices: pd.DataFrame, days: int = RECENT_DAYS
) -> tuple[Forecaster, int]:
    """The model calibrated on a new ticker's last ``days`` sessions; how many it used.

    The residuals at horizon h are those of each of those sessions' Close
    against the forecast made h sessions before, in units of the forecast's
    scale; every horizon is calibrated on its own.
    """
    levels = forecaster.multipliers.levels
    rows = prices[["Open", "High", "Low", "Close"]].iloc[-(days + forecaster.window) :]
    log_close, centre, scale = forecaster.spread(rows)
    check_calibration_days(len(log_close) - forecaster.horizon, levels)
    residuals = tuple(
        normalised_residuals(log_close[h:] - log_close[:-h], centre[:-h, h - 1], scale[:-h, h - 1])
        for h in range(1, forecaster.horizon + 1)
    )
    calibrated = tuple(calibrate_conformal(r, levels) for r in residuals)
    return forecaster.with_calibration(calibrated, residuals), len(log_close) - 1


def for_ticker(forecaster: Forecaster, ticker: str, prices: pd.DataFrame) -> tuple[Forecaster, str]:
    """The model calibrated for ``ticker``, and how: with its own multipliers when it was
    trained on it (a ticker's own model saved before models kept them per ticker: as it
    is), else on its last ``RECENT_DAYS`` sessions of ``prices``."""
    if ticker in forecaster.meta.get("calibration", {}):
        return ticker_forecaster(forecaster, ticker), OWN
    if forecaster.multipliers is None or forecaster.meta.get("ticker") == ticker:
        return forecaster, OWN
    forecaster, days = recent_calibration(forecaster, prices)
    return forecaster, f"never trained on {ticker}: interval calibrated on its last {days} sessions"


def own_calibration(forecaster: Forecaster, ticker: str) -> Forecaster:
    """The model with ``ticker``'s own multipliers, or its default (pooled) ones if it has
    none: how a champion is scored on days no calibration may read."""
    if ticker in forecaster.meta.get("calibration", {}):
        return ticker_forecaster(forecaster, ticker)
    return forecaster
