"""Drift: synthetic prices whose volatility doubles on a known day fire the trigger within a
bounded number of sessions; the same series left stable never does. Then the retrain job."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import SHRUNK, make_prices

from pipeline.cli import main
from pipeline.config import Config
from pipeline.evaluation.live import detect_drift, live_scores
from pipeline.store.forecasts import ForecastStore
from pipeline.tracking import registry
from pipeline.tracking.drift import reference_pct

pytestmark = pytest.mark.slow  # trains two champions, replays 120 nights, then retrains

TRAINED = 600  # days the champions are trained (and tested) on
LIVE = 120  # sessions after them, replayed and scored
MOST_SESSIONS_TO_FIRE = 30  # the bound the doubled volatility must be caught within


def doubled_after(prices: pd.DataFrame, day: int) -> pd.DataFrame:
    """``prices`` whose daily log returns (and so every price of a day) double from ``day``."""
    log_close = np.log(prices["Close"].to_numpy())
    returns = np.diff(log_close, prepend=log_close[0])
    returns[day:] *= 2.0
    factor = np.exp(np.cumsum(returns) + log_close[0] - log_close)
    out = prices.copy()
    out[["Open", "High", "Low", "Close"]] = prices[["Open", "High", "Low", "Close"]].mul(
        factor, axis=0
    )
    return out


def first_firing(url: str, ticker: str, cfg: Config) -> int | None:
    """The first live session (0: the first after training) on which drift fires."""
    with ForecastStore(url) as store:
        outcomes = store.outcomes(ticker, 0.9)
    live = live_scores(outcomes.dropna(subset=["close"]), 0.9, cfg.monitor.window)
    reference = reference_pct(registry.version_ticker_metrics(ticker, "1", ticker), 0.9)
    assert reference is not None and reference > 0
    for i in range(len(live)):
        if detect_drift(live.iloc[: i + 1], 0.9, reference, cfg.monitor).fired:
            return i
    return None


def test_doubled_volatility_fires_and_a_stable_series_does_not(mlflow_store, tmp_path, capsys):
    folder, url = tmp_path / "csv", f"sqlite:///{tmp_path / 'f.db'}"
    folder.mkdir()
    stable = make_prices(TRAINED + LIVE, seed=7)
    full = {"STABLE": stable, "DRIFT": doubled_after(stable, TRAINED)}
    for ticker, prices in full.items():
        prices.iloc[:TRAINED].to_csv(folder / f"{ticker}.csv", index_label="Date")
    data = ["--source", "csv", "--data", str(folder)]
    assert (
        main(["all", "--scope", "ticker", *data, *SHRUNK, "--data-dir", str(tmp_path / "data")])
        == 0
    )
    for ticker, prices in full.items():
        prices.to_csv(folder / f"{ticker}.csv", index_label="Date")
    as_of = str(stable.index[TRAINED - 1].date())  # the first night forecasts day TRAINED
    assert main(["backfill", "--scope", "ticker", *data, "--store-url", url, "--from", as_of]) == 0

    cfg = Config()
    fired = {ticker: first_firing(url, ticker, cfg) for ticker in full}
    print(f"sessions to fire: {fired}")
    assert fired["STABLE"] is None
    assert fired["DRIFT"] is not None and fired["DRIFT"] < MOST_SESSIONS_TO_FIRE

    # The retrain job on drift only: the stable champion is kept untrained, the other retrained.
    capsys.readouterr()
    retrain = ["retrain", "--scope", "ticker", *data, *SHRUNK, "--store-url", url,
        "--retrain-when", "drift"]  # fmt: skip
    assert main([*retrain, "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "STABLE: drift not fired: no drift:" in out
    assert "STABLE: kept the champion (version 1) without retraining" in out
    assert "DRIFT: drift fired: " in out
    assert "challenger is version 2" in out
