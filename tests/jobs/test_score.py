"""The ``score`` job: nights forecast from a price file that grows, then scored for real."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from helpers import SAMPLE_DIR
from mlflow.tracking import MlflowClient

from pipeline.cli import main
from pipeline.store.forecasts import ForecastStore

pytestmark = pytest.mark.slow


def test_nights_forecast_then_scored_with_a_halt(sample_champions, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    prices = pd.read_csv(SAMPLE_DIR / "AAPL.csv", index_col="Date", parse_dates=True)
    csv = tmp_path / "AAPL.csv"
    opts = ["--source", "csv", "--data", str(csv), "--store-url", url]
    halted = prices.index[-4]  # AAPL halted: this session's Close never comes
    halting = prices.drop(index=halted)
    for k in (7, 6, 5, 3):  # nights as of the 7th, 6th, 5th and 3rd last sessions
        halting.loc[: prices.index[-k]].to_csv(csv)
        assert main(["forecast", *opts]) == 0
    halting.to_csv(csv)
    capsys.readouterr()
    assert main(["score", *opts]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^AAPL version 1, horizon 1: 3 sessions ", out, re.M), out
    assert f"1 forecast(s) left unscored: no Close on their session ({halted.date()};" in out

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
    assert "plots/live_90_h1.png" in artifacts
