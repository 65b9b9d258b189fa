"""The ``predict`` job: the champion's forecast of the next Close, with its intervals."""

from __future__ import annotations

import pandas as pd

from pipeline.config import Config
from pipeline.data.calendar import next_session
from pipeline.jobs.common import Summary
from pipeline.serving.forecaster import OUTPUT_COLUMN, Forecaster
from pipeline.tracking import registry


def run_predict(cfg: Config, ticker: str, prices: pd.DataFrame) -> Summary:
    """Forecast the Close of the trading day after the last row with the champion model."""
    champion = registry.load_champion(ticker)
    return prediction(cfg, ticker, prices, champion, champion.forecaster, ticker)


def prediction(
    cfg: Config,
    ticker: str,
    prices: pd.DataFrame,
    champion: registry.Champion,
    forecaster: Forecaster,
    model: str,
    note: str = "",
) -> Summary:
    """``forecaster``'s answer for the day after the last row, as one line naming the model."""
    answer = forecaster.answer(prices.iloc[-forecaster.window :]).iloc[0]
    forecast = float(answer[OUTPUT_COLUMN])
    last_day = prices.index[-1]
    next_day = next_session(last_day, cfg.data.calendar).date()
    text = (
        f"{ticker}: {forecast:.2f} {interval_text(answer)}for {next_day} "
        f"(last Close {prices['Close'].iloc[-1]:.2f} on {last_day.date()}; "
        f"model {registry.model_name(model)} version {champion.version}, champion"
        f"{f'; {note}' if note else ''})"
    )
    facts = {"forecast": forecast, **answer.drop(OUTPUT_COLUMN).to_dict()}
    return Summary(ticker, text, champion.run_id, facts=facts)


def interval_text(answer: pd.Series) -> str:
    """``(90%: 54.80 to 57.60) `` from an answer's bounds; a note for a point-only model."""
    levels = [c.removeprefix("lower_") for c in answer.index if c.startswith("lower_")]
    if not levels:
        return "(no interval: the model predates them; retrain it) "
    parts = [f"{p}%: {answer[f'lower_{p}']:.2f} to {answer[f'upper_{p}']:.2f}" for p in levels]
    return f"({'; '.join(parts)}) "
