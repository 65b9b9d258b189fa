"""The ``forecast`` and ``predict`` jobs: the champion's forecast of the next session, stored.

A forecast is stored before it is printed: a printed forecast is always in the
store, and a job that dies in between prints nothing and leaves the store as it
was (the night's row is written in one transaction). Running the night again
replaces that row.

With online ACI (``monitor.aci``, on by default) each level's interval is cut at
the miss rate that the champion's own stored outcomes since its calibration
lead to (``core.bands.aci_alpha``); a champion with no outcomes in the store yet
gives its calibrated split-conformal interval.
"""

from __future__ import annotations

import pandas as pd

from pipeline.config import Config
from pipeline.core.bands import aci_alpha, level_name
from pipeline.data.calendar import next_session
from pipeline.evaluation.live import realised_misses
from pipeline.jobs.common import Summary
from pipeline.serving.forecaster import OUTPUT_COLUMN
from pipeline.store.forecasts import Forecast, ForecastStore
from pipeline.tracking import registry
from pipeline.tracking.registry import Champion


def issue_forecast(
    cfg: Config,
    ticker: str,
    prices: pd.DataFrame,
    champion: Champion,
    alphas: dict[float, float] | None = None,
    target: pd.Timestamp | None = None,
) -> Forecast:
    """The champion's forecast for the session after the last row of ``prices``.

    ``alphas``: online ACI's miss rate per level (``aci_alphas``); ``target``: the
    next session, when the caller has it already (the backfill computes them at once).
    """
    forecaster = champion.forecaster
    answer = forecaster.answer(prices.iloc[-forecaster.window :], alphas).iloc[0]
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
        target=(target or next_session(last_day, cfg.data.calendar)).date(),
        model_name=registry.model_name(ticker),
        model_version=champion.version,
        median=float(answer[OUTPUT_COLUMN]),
        last_close=float(prices["Close"].iloc[-1]),
        bounds=bounds,
        aci_alphas=dict(alphas or {}),
    )


def aci_alphas(
    cfg: Config, store: ForecastStore, ticker: str, champion: Champion, as_of: pd.Timestamp
) -> dict[float, float]:
    """Online ACI's miss rate per level from the champion's outcomes known by ``as_of``;
    empty when ACI is off or the model predates its calibration state."""
    forecaster = champion.forecaster
    if not cfg.monitor.aci or forecaster.multipliers is None or forecaster.residuals is None:
        return {}
    return {
        level: aci_alpha(
            level,
            cfg.monitor.aci_gamma,
            realised_misses(store.outcomes(ticker, level), champion.version, as_of),
        )
        for level in forecaster.multipliers.levels
    }


def forecast_night(
    cfg: Config,
    ticker: str,
    prices: pd.DataFrame,
    store: ForecastStore,
    champion: Champion,
    target: pd.Timestamp | None = None,
) -> Forecast:
    """One night as of the last row of ``prices``: record the Closes the store waits for,
    adapt the intervals to the outcomes, forecast and store."""
    record_outcomes(store, ticker, prices)
    alphas = aci_alphas(cfg, store, ticker, champion, prices.index[-1])
    issued = issue_forecast(cfg, ticker, prices, champion, alphas, target)
    store.save_forecasts([issued])
    return issued


def run_forecast(cfg: Config, ticker: str, prices: pd.DataFrame, store: ForecastStore) -> Summary:
    """Tonight's forecast with the champion, stored, then described."""
    champion = registry.load_champion(ticker)
    issued = forecast_night(cfg, ticker, prices, store, champion)
    return Summary(ticker, forecast_text(issued), champion.run_id, facts={"forecast": issued})


def record_outcomes(store: ForecastStore, ticker: str, prices: pd.DataFrame) -> int:
    """Store the Closes in ``prices`` of sessions that stored forecasts wait for."""
    waiting = store.waiting_targets(ticker)
    return store.save_closes(ticker, prices["Close"][prices.index.isin(waiting)])


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
