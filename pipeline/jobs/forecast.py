"""The ``forecast`` and ``predict`` jobs: the champion's forecast of the next session, stored.

A forecast is stored before it is printed: a printed forecast is always in the
store, and a job that dies in between prints nothing and leaves the store as it
was (the night's row is written in one transaction). Running the night again
replaces that row.
"""

from __future__ import annotations

import pandas as pd

from pipeline.config import Config
from pipeline.core.bands import level_name
from pipeline.data.calendar import next_session
from pipeline.jobs.common import Summary
from pipeline.serving.forecaster import OUTPUT_COLUMN
from pipeline.store.forecasts import Forecast, ForecastStore
from pipeline.tracking import registry
from pipeline.tracking.registry import Champion


def issue_forecast(cfg: Config, ticker: str, prices: pd.DataFrame, champion: Champion) -> Forecast:
    """The champion's forecast for the session after the last row of ``prices``."""
    forecaster = champion.forecaster
    answer = forecaster.answer(prices.iloc[-forecaster.window :]).iloc[0]
    levels = forecaster.multipliers.levels if forecaster.multipliers else ()
    bounds = {
        level: (
            float(answer[f"lower_{level_name(level)}"]),
            float(answer[f"upper_{level_name(level)}"]),
        )
        for level in levels
    }
    last_day = prices.index[-1]
    return Forecast(
        ticker=ticker,
        as_of=last_day.date(),
        target=next_session(last_day, cfg.data.calendar).date(),
        model_name=registry.model_name(ticker),
        model_version=champion.version,
        median=float(answer[OUTPUT_COLUMN]),
        last_close=float(prices["Close"].iloc[-1]),
        bounds=bounds,
    )


def run_forecast(cfg: Config, ticker: str, prices: pd.DataFrame, store: ForecastStore) -> Summary:
    """Record the realised Closes the store waits for, then forecast, store and describe."""
    record_outcomes(store, ticker, prices)
    champion = registry.load_champion(ticker)
    issued = issue_forecast(cfg, ticker, prices, champion)
    store.save_forecasts([issued])
    return Summary(ticker, forecast_text(issued), champion.run_id, facts={"forecast": issued})


def record_outcomes(store: ForecastStore, ticker: str, prices: pd.DataFrame) -> int:
    """Store the Closes in ``prices`` of sessions that stored forecasts target."""
    targets = pd.DatetimeIndex([pd.Timestamp(f.target) for f in store.forecasts(ticker)])
    return store.save_closes(ticker, prices["Close"][prices.index.isin(targets)])


def forecast_text(issued: Forecast) -> str:
    """``AAPL: 56.20 (90%: 54.80 to 57.60) for 2013-03-04 (last Close ...)``."""
    return (
        f"{issued.ticker}: {issued.median:.2f} {interval_text(issued.bounds)}for {issued.target} "
        f"(last Close {issued.last_close:.2f} on {issued.as_of}; "
        f"model {issued.model_name} version {issued.model_version}, champion; stored)"
    )


def interval_text(bounds: dict[float, tuple[float, float]]) -> str:
    """``(90%: 54.80 to 57.60) `` from a forecast's bounds; a note for a point-only model."""
    if not bounds:
        return "(no interval: the model predates them; retrain it) "
    parts = [f"{level_name(lv)}%: {lo:.2f} to {hi:.2f}" for lv, (lo, hi) in bounds.items()]
    return f"({'; '.join(parts)}) "
