"""``forecast``, ``score`` and ``backfill`` with ``--scope global``: the global champion's
nights in the forecast store.

The global champion (``stockcast-global@champion``) forecasts each ticker as
``predict --scope global`` does (``global_model.for_ticker``): with the
ticker's own multipliers when it was trained on it, else calibrated on the
ticker's last ``RECENT_DAYS`` sessions up to the night (as-of data only, so a
replayed night recalibrates on its own past). Its rows are stored under
``stockcast-global`` and its version; online ACI adapts each ticker's and
horizon's interval to that ticker's stored outcomes of that version alone,
and ``score`` scores them per ticker in a monitoring run tagged
``scope=global``. The nightly steps are the per-ticker job's
(``forecast.forecast_night``, ``score.run_score``, ``backfill.replay``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pandas as pd

from pipeline.config import Config
from pipeline.jobs.backfill import backfill_sessions, replay
from pipeline.jobs.common import Summary
from pipeline.jobs.forecast import forecast_night, forecast_text
from pipeline.jobs.global_model import GLOBAL, for_ticker
from pipeline.jobs.score import run_score
from pipeline.store.forecasts import Forecast, ForecastStore
from pipeline.tracking.registry import Champion


def global_night(
    cfg: Config, ticker: str, prices: pd.DataFrame, store: ForecastStore, champion: Champion
) -> list[Forecast]:
    """One night of the global champion for ``ticker`` as of the last row of ``prices``."""
    forecaster, _ = for_ticker(champion.forecaster, ticker, prices)
    return forecast_night(
        cfg, ticker, prices, store, dataclasses.replace(champion, forecaster=forecaster)
    )


def run_global_forecast(
    cfg: Config, ticker: str, prices: pd.DataFrame, store: ForecastStore, champion: Champion
) -> Summary:
    """Tonight's forecasts of ``ticker`` with the global champion, stored, then described."""
    forecaster, how = for_ticker(champion.forecaster, ticker, prices)
    own = dataclasses.replace(champion, forecaster=forecaster)
    issued = forecast_night(cfg, ticker, prices, store, own)
    text = f"{forecast_text(issued)}; {how}"
    return Summary(ticker, text, champion.run_id, facts={"forecast": issued})


def run_global_score(
    cfg: Config,
    ticker: str,
    prices: pd.DataFrame,
    store: ForecastStore,
    experiment_id: str,
    *,
    tags: Mapping[str, str] | None = None,
) -> Summary:
    """Score the global champion's stored forecasts of ``ticker`` (a monitoring run)."""
    tags = {**(tags or {}), "scope": GLOBAL}
    return run_score(cfg, ticker, prices, store, experiment_id, tags=tags, model=GLOBAL)


def run_global_backfill(
    cfg: Config,
    ticker: str,
    prices: pd.DataFrame,
    store: ForecastStore,
    experiment_id: str,
    *,
    champion: Champion,
    tags: Mapping[str, str] | None = None,
) -> Summary:
    """Replay the nights of ``ticker`` with the global champion, then score them."""
    sessions = backfill_sessions(cfg, prices, champion.forecaster.window)
    replayed = replay(cfg, ticker, prices, store, champion, sessions, night=global_night)
    scored = run_global_score(cfg, ticker, prices, store, experiment_id, tags=tags)
    text = (
        f"{ticker}: replayed {len(sessions)} nights ({len(replayed)} forecasts) as of "
        f"{sessions[0].date()} to {sessions[-1].date()} with {champion.name} version "
        f"{champion.version}\n{scored.text}"
    )
    return Summary(ticker, text, scored.run_id, facts={**scored.facts, "replayed": replayed})
