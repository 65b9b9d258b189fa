"""The ``forecast`` and ``predict`` jobs: a group's champion forecasts the next H sessions of
each of its tickers, stored.

The champion (``stockcast-<GROUP>@champion``, loaded once per group) answers
for a ticker with the ticker's own calibration, or, for a ticker it never
trained on, calibrated on the ticker's last sessions up to the night (as-of
data only, so a replayed night recalibrates on its own past;
``calibrate.for_ticker``). Its rows are stored under its registered model's
name and version, so a ticker's own model's nights and the global model's lie
side by side in the store.

Each night stores one forecast per horizon 1..H (the model's ``horizon``): the
Close of the h-th session after the last one seen, its target date from the
exchange calendar (``--calendar``). A model saved before horizons stores one.

A forecast is stored before it is printed: a printed forecast is always in the
store, and a job that dies in between prints nothing and leaves the store as it
was (the night's rows are written in one transaction). Running the night again
replaces those rows.

With online ACI (``monitor.aci``, on by default) each horizon's and level's
interval is cut at the miss rate that the champion's own stored outcomes of
that horizon since its calibration lead to (``core.calibration.aci_alpha``); an
h-day forecast's outcome counts once its target session's Close is known, so
a night sees only the outcomes of targets up to its as-of session. A champion
with no outcomes in the store yet gives its calibrated split-conformal interval.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pandas as pd

from pipeline.config import Config
from pipeline.core.bands import level_name
from pipeline.core.calibration import aci_alpha
from pipeline.data.calendar import sessions_after
from pipeline.evaluation.live import realised_misses
from pipeline.jobs.calibrate import for_ticker
from pipeline.runtime.common import Group, Summary, each_ticker
from pipeline.serving.forecaster import OUTPUT_COLUMN
from pipeline.store.forecasts import Forecast, ForecastStore
from pipeline.tracking import registry
from pipeline.tracking.registry import Champion


def issue_forecast(
    cfg: Config,
    ticker: str,
    prices: pd.DataFrame,
    champion: Champion,
    alphas: dict[int, dict[float, float]] | None = None,
) -> list[Forecast]:
    """The champion's forecasts of the sessions 1..H after the last row of ``prices``.

    ``alphas``: online ACI's miss rate per horizon and level (``aci_alphas``).
    """
    forecaster = champion.forecaster
    alphas = alphas or {}
    answer = forecaster.answer(prices.iloc[-forecaster.window :], alphas)
    levels = forecaster.multipliers.levels if forecaster.multipliers else ()
    last_day = prices.index[-1]
    targets = sessions_after(last_day, forecaster.horizon, cfg.data.calendar)
    issued = []
    for h, target in enumerate(targets, start=1):
        row = answer.iloc[h - 1]
        bounds = row_bounds(row, levels)
        issued.append(
            Forecast(
                ticker=ticker,
                as_of=last_day.date(),
                target=target.date(),
                model_name=champion.name,
                model_version=champion.version,
                median=float(row[OUTPUT_COLUMN]),
                last_close=float(prices["Close"].iloc[-1]),
                bounds=bounds,
                horizon=h,
                aci_alphas=dict(alphas.get(h, {})),
            )
        )
    return issued


def row_bounds(row: pd.Series, levels: tuple[float, ...]) -> dict[float, tuple[float, float]]:
    """Each level's ``(lower, upper)`` from one row of a served answer."""
    return {
        level: (float(row[f"lower_{level_name(level)}"]), float(row[f"upper_{level_name(level)}"]))
        for level in levels
    }


def aci_alphas(
    cfg: Config, store: ForecastStore, ticker: str, champion: Champion, as_of: pd.Timestamp
) -> dict[int, dict[float, float]]:
    """Online ACI's miss rate per horizon and level from the champion's outcomes (its
    registered model's, its version's) of that horizon whose targets are known by
    ``as_of``; empty when ACI is off or the model predates its calibration state."""
    forecaster = champion.forecaster
    if not cfg.monitor.aci:
        return {}
    return {
        h: {
            level: aci_alpha(
                level,
                cfg.monitor.aci_gamma,
                realised_misses(
                    store.outcomes(ticker, level, h, champion.name), champion.version, as_of
                ),
            )
            for level in forecaster.multipliers.levels
        }
        for h in range(1, forecaster.adaptable_horizons() + 1)
    }


def forecast_night(
    cfg: Config, ticker: str, prices: pd.DataFrame, store: ForecastStore, champion: Champion
) -> tuple[list[Forecast], str]:
    """One night as of the last row of ``prices``: record the Closes the store waits for,
    calibrate the champion for ``ticker``, adapt its intervals to the outcomes, forecast
    every horizon and store; the forecasts and how the champion was calibrated."""
    forecaster, how = for_ticker(champion.forecaster, ticker, prices)
    champion = dataclasses.replace(champion, forecaster=forecaster)
    record_outcomes(store, ticker, prices)
    alphas = aci_alphas(cfg, store, ticker, champion, prices.index[-1])
    issued = issue_forecast(cfg, ticker, prices, champion, alphas)
    store.save_forecasts(issued)
    return issued, how


def run_forecast(
    cfg: Config,
    group: Group,
    experiment_id: str | None = None,
    *,
    tags: Mapping[str, str] | None = None,
) -> list[Summary]:
    """Tonight's forecasts of each of the group's tickers with its champion, stored, then
    described (a ticker that fails does so alone)."""
    champion = registry.load_champion(group.name)

    with ForecastStore(cfg.store.url) as store:

        def one(ticker: str) -> Summary:
            issued, how = forecast_night(cfg, ticker, group.prices[ticker], store, champion)
            text = f"{forecast_text(issued)}; {how}"
            return Summary(ticker, text, champion.run_id, facts={"forecast": issued})

        return each_ticker(group.tickers, one)


def record_outcomes(store: ForecastStore, ticker: str, prices: pd.DataFrame) -> int:
    """Store the Closes in ``prices`` of sessions that stored forecasts wait for."""
    waiting = store.waiting_targets(ticker)
    return store.save_closes(ticker, prices["Close"][prices.index.isin(waiting)])


def forecast_text(issued: list[Forecast]) -> str:
    """A night's forecasts, a line per horizon, then where they come from::

    AAPL: 1 day ahead (Mon 2013-03-04): 56.20 (90%: 54.80 to 57.60)
    AAPL: 2 days ahead (Tue 2013-03-05): 56.31 (90%: 54.12 to 58.47)
    AAPL: last Close 56.00 on Fri 2013-03-01; model stockcast-AAPL version 1, champion; stored
    """
    first = issued[0]
    lines = [
        horizon_text(first.ticker, f.horizon, pd.Timestamp(f.target), f.median, f.bounds)
        for f in issued
    ]
    lines.append(
        f"{first.ticker}: last Close {first.last_close:.2f} on "
        f"{pd.Timestamp(first.as_of):%a %Y-%m-%d}; model {first.model_name} version "
        f"{first.model_version}, champion; stored"
    )
    return "\n".join(lines)


def horizon_text(
    ticker: str,
    horizon: int,
    target: pd.Timestamp,
    median: float,
    bounds: dict[float, tuple[float, float]],
) -> str:
    """``AAPL: 2 days ahead (Tue 2013-03-05): 56.31 (90%: 54.12 to 58.47)``."""
    ahead = f"{horizon} day{'s' if horizon > 1 else ''} ahead"
    return (
        f"{ticker}: {ahead} ({target:%a %Y-%m-%d}): {median:.2f} {interval_text(bounds)}".rstrip()
    )


def interval_text(bounds: dict[float, tuple[float, float]]) -> str:
    """``(90%: 54.80 to 57.60) `` from a forecast's bounds; a note for a point-only model."""
    if not bounds:
        return "(no interval: the model predates them; retrain it) "
    parts = [f"{level_name(lv)}%: {lo:.2f} to {hi:.2f}" for lv, (lo, hi) in bounds.items()]
    return f"({'; '.join(parts)}) "
