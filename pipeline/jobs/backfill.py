"""The ``backfill`` job for one group: the nightly forecast of each of its tickers replayed
over past sessions with the group's champion, then scored, so that a new store shows
live-style scores at once.

Each replayed night sees only the prices up to its as-of session (``prices.loc[:day]``)
and the outcomes known by then (targets up to that session), exactly as the
``forecast`` job would have that night, and stores a forecast per horizon; the
champion is loaded once and never retrained. Replayed nights replace what the
store held for the same sessions.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pipeline.config import Config
from pipeline.errors import ConfigError, DataError
from pipeline.jobs.forecast import forecast_night
from pipeline.jobs.score import score_ticker
from pipeline.runtime.common import Group, Summary, each_ticker
from pipeline.store.forecasts import Forecast, ForecastStore
from pipeline.tracking import registry
from pipeline.tracking.registry import Champion

YEAR = 252  # sessions replayed when --from is not given


def backfill_sessions(cfg: Config, prices: pd.DataFrame, window: int) -> pd.DatetimeIndex:
    """The as-of sessions to replay: ``--from``..``--to`` among the days of ``prices``.

    By default the last ``YEAR`` sessions whose next Close is known. Each needs
    ``window`` days of prices up to it.
    """
    days = prices.index
    first = _day(cfg.backfill.first, "--from") if cfg.backfill.first else days[-YEAR - 1]
    last = _day(cfg.backfill.last, "--to") if cfg.backfill.last else days[-2]
    if first > last:
        raise ConfigError(f"--from {first.date()} is after --to {last.date()}")
    sessions = days[(days >= max(first, days[window - 1])) & (days <= last)]
    if sessions.empty:
        raise DataError(
            f"no session with {window} days of prices before it between {first.date()} and "
            f"{last.date()} (the prices run {days[0].date()} to {days[-1].date()})"
        )
    return sessions


def replay(
    cfg: Config,
    ticker: str,
    prices: pd.DataFrame,
    store: ForecastStore,
    champion: Champion,
    sessions: pd.DatetimeIndex,
) -> list[Forecast]:
    """Forecast and store each night as of ``sessions``, oldest first, from as-of data only:
    every horizon's forecasts, night after night."""
    return [
        issued
        for day in sessions
        for issued in forecast_night(cfg, ticker, prices.loc[:day], store, champion)[0]
    ]


def run_backfill(
    cfg: Config,
    group: Group,
    experiment_id: str,
    *,
    tags: Mapping[str, str] | None = None,
) -> list[Summary]:
    """Replay each ticker's nights with the group's current champion, then score them (a
    monitoring run each; a ticker that fails does so alone)."""
    champion = registry.load_champion(group.name)

    with ForecastStore(cfg.store.url) as store:

        def one(ticker: str) -> Summary:
            prices = group.prices[ticker]
            sessions = backfill_sessions(cfg, prices, champion.forecaster.window)
            replayed = replay(cfg, ticker, prices, store, champion, sessions)
            scored = score_ticker(
                cfg, ticker, prices, store, experiment_id, tags=tags, model=group.name
            )
            text = (
                f"{ticker}: replayed {len(sessions)} nights ({len(replayed)} forecasts) as of "
                f"{sessions[0].date()} to {sessions[-1].date()} with {champion.name} version "
                f"{champion.version}\n{scored.text}"
            )
            facts = {**scored.facts, "replayed": replayed}
            return Summary(ticker, text, scored.run_id, facts=facts)

        return each_ticker(group.tickers, one)


def _day(text: str, flag: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(text).normalize()
    except ValueError:
        raise ConfigError(f"{flag} {text!r} is not a date (YYYY-MM-DD)") from None
