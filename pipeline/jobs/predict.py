"""The ``predict`` job: the champion's forecast of the next Close."""

from __future__ import annotations

import pandas as pd

from pipeline.config import Config
from pipeline.jobs.common import Summary
from pipeline.tracking import registry


def run_predict(cfg: Config, ticker: str, prices: pd.DataFrame) -> Summary:
    """Forecast the Close of the trading day after the last row with the champion model."""
    champion = registry.load_champion(ticker)
    window = champion.forecaster.window
    forecast = float(champion.forecaster.forecast(prices.iloc[-window:])[-1])
    last_day = prices.index[-1]
    next_day = (last_day + pd.offsets.BDay(1)).date()
    text = (
        f"{ticker}: forecast Close {forecast:.2f} for {next_day} "
        f"(last Close {prices['Close'].iloc[-1]:.2f} on {last_day.date()}; "
        f"model {registry.model_name(ticker)} version {champion.version}, champion)"
    )
    return Summary(ticker, text, champion.run_id, facts={"forecast": forecast})
