"""The ``score`` job: nights forecast from a price file that grows, then scored for real."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from helpers import SAMPLE_DIR
from mlflow.tracking import MlflowClient

from pipeline.cli import main
from pipeline.store.forecasts import ForecastStore

pytestmark = pytest.mark.slow  # the trained champions: `all` on AAPL and MSFT, once a session


def test_nights_forecast_then_scored_with_a_halt(sample_champions, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    prices = pd.read_csv(SAMPLE_DIR / "AAPL.csv", index_col="Date", parse_dates=True)
    csv = tmp_path / "AAPL.csv"
    opts = ["--source", "csv", "--data", str(csv), "--store-url", url]
    halted = prices.index[-4]  # AAPL halted: this session's Close never comes
    halting = prices.drop(index=halted)
    for k in (7, 6, 5, 3):  # nights as of the 7th, 6th, 5th and 3rd last sessions
        halting.loc[: prices.index[-k]].to_csv(csv)
        assert main(["forecast", "--scope", "ticker", *opts]) == 0
    halting.to_csv(csv)
    capsys.readouterr()
    assert main(["score", "--scope", "ticker", *opts]) == 0
    out = capsys.readouterr().out
    # Each horizon's forecasts are scored as their target sessions come: as of the nights
    # of the 7th, 6th, 5th and 3rd last sessions, horizon h's targets are h sessions on.
    for h, n in ((1, 3), (2, 3), (3, 2), (4, 3), (5, 2)):
        assert re.search(rf"^AAPL version 1, horizon {h}: {n} sessions ", out, re.M), out
    for h in (1, 2, 3):  # the halted session was the target of one forecast of each
        unscored = f"1 {h}-day forecast(s) left unscored: no Close on their session"
        assert f"{unscored} ({halted.date()};" in out
    assert "AAPL: 4 forecast(s) wait for their Close" in out  # 3 days on from the 3rd last, ...

    with ForecastStore(url) as store:
        outcomes = store.outcomes("AAPL", 0.9)
    scored = outcomes.dropna(subset=["close"])
    inside = (scored["close"] >= scored["lower"]) & (scored["close"] <= scored["upper"])
    coverage = float(inside.mean())
    assert f"since promotion 90% coverage {coverage:.3f}" in out

    client = MlflowClient()
    exp = client.get_experiment_by_name("stockcast")
    (run,) = client.search_runs([exp.experiment_id], "tags.kind = 'monitor'")
    assert run.data.tags["ticker"] == "AAPL"
    history = client.get_metric_history(run.info.run_id, "since_promotion_coverage_90")
    assert [m.step for m in history] == [0, 1, 2]
    sessions = [pd.Timestamp(m.timestamp, unit="ms") for m in history]
    assert sessions == list(scored["target"])
    assert history[-1].value == pytest.approx(coverage)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/live_90_h1.png", "plots/live_90_h5.png"} <= artifacts
    # Horizon 1's metrics keep their names; the others' end in _h<h>.
    later = client.get_metric_history(run.info.run_id, "since_promotion_coverage_90_h5")
    with ForecastStore(url) as store:
        fifth = store.outcomes("AAPL", 0.9, horizon=5).dropna(subset=["close"])
    assert [pd.Timestamp(m.timestamp, unit="ms") for m in later] == list(fifth["target"])
    assert "live_theil_u_h2" in run.data.metrics and "live_theil_u" in run.data.metrics
