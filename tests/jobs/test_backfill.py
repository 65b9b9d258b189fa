"""The ``backfill`` job: nights replayed as of past sessions, never looking ahead."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import SAMPLE_DIR
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.tracking import MlflowClient

from pipeline.cli import main
from pipeline.config import Config
from pipeline.data.validate import read_price_csv
from pipeline.jobs.backfill import replay
from pipeline.store.forecasts import ForecastStore
from pipeline.tracking import registry

pytestmark = pytest.mark.slow  # the trained champions: `all` on AAPL and MSFT, once a session

NIGHTS = 12


def _replayed(cfg: Config, prices: pd.DataFrame, sessions: pd.DatetimeIndex) -> pd.DataFrame:
    """The forecasts a replay over ``sessions`` stores, one row per as-of session and horizon."""
    with (
        tempfile.TemporaryDirectory() as folder,
        ForecastStore(f"sqlite:///{Path(folder) / 'f.db'}") as store,
    ):
        replay(cfg, "AAPL", prices, store, registry.load_champion("AAPL"), sessions)
        rows = [
            {"as_of": f.as_of, "horizon": f.horizon, "median": f.median,
             **{f"b{k}": v for k, v in f.bounds.items()}, "alpha": f.aci_alphas[0.9]}
            for f in store.forecasts("AAPL")
        ]  # fmt: skip
    return pd.DataFrame(rows).set_index("as_of")


# Replays write only to a store of their own: every example may share the test's champions.
@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(0, NIGHTS - 2), seed=st.integers(0, 2**16))
def test_no_look_ahead(sample_champions, cut, seed):
    """Prices after a session changed at random leave every night up to it as it was."""
    cfg = Config().with_values({"monitor.aci_gamma": 0.2})  # ACI moves at every miss
    prices = read_price_csv(SAMPLE_DIR / "AAPL.csv").iloc[-200:]
    sessions = prices.index[-NIGHTS - 1 : -1]
    later = prices.index > sessions[cut]
    changed = prices.copy()
    noise = np.exp(np.random.default_rng(seed).normal(0, 0.05, later.sum()))
    changed.loc[later, ["Open", "High", "Low", "Close"]] *= noise[:, None]
    original, altered = _replayed(cfg, prices, sessions), _replayed(cfg, changed, sessions)
    assert len(original) == NIGHTS * 5
    kept = original.index <= sessions[cut].date()
    pd.testing.assert_frame_equal(original[kept], altered[kept])
    assert not original.loc[~kept, "median"].equals(altered.loc[~kept, "median"])


def test_backfill_replays_and_scores(sample_champions, tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    argv = ["backfill", "--scope", "ticker", "--tickers", "MSFT", "--source", "sample",
        "--store-url", url]  # fmt: skip
    assert main([*argv, "--from", "2013-01-15", "--to", "2013-02-28"]) == 0
    out = capsys.readouterr().out
    assert (
        "MSFT: replayed 31 nights (155 forecasts) as of 2013-01-15 to 2013-02-28 with "
        "stockcast-MSFT version 1" in out
    )
    assert re.search(
        r"^MSFT version 1, horizon 1: 31 sessions 2013-01-16 to 2013-03-01;", out, re.M
    )
    # 5 sessions on: the last four nights' targets are still to come.
    assert re.search(
        r"^MSFT version 1, horizon 5: 27 sessions 2013-01-23 to 2013-03-01;", out, re.M
    ), out
    with ForecastStore(url) as store:
        stored = store.forecasts("MSFT")
        fifth = store.outcomes("MSFT", 0.9, horizon=5)
    assert len(stored) == 155 and all(0.9 in f.aci_alphas for f in stored)
    # Online ACI of each horizon sees only the outcomes known by its night: a 5-day forecast's
    # miss is known 5 sessions on, so the first five nights keep the calibrated rate.
    assert fifth["aci_alpha"].iloc[:5].tolist() == pytest.approx([0.1] * 5)
    assert fifth["aci_alpha"].iloc[5] != pytest.approx(0.1)
    client = MlflowClient()
    exp = client.get_experiment_by_name("stockcast")
    runs = client.search_runs([exp.experiment_id], "tags.kind = 'monitor' and tags.ticker = 'MSFT'")
    assert any(r.data.metrics.get("since_promotion_coverage_90") is not None for r in runs)


@pytest.mark.parametrize(
    ("dates", "message"),
    [
        (["--from", "2013-02-01", "--to", "2013-01-01"], "--from 2013-02-01 is after --to"),
        (["--from", "soon"], "--from 'soon' is not a date"),
    ],
)
def test_bad_dates_are_one_line(sample_champions, tmp_path, capsys, dates, message):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    argv = ["backfill", "--scope", "ticker", "--tickers", "MSFT", "--source", "sample",
        "--store-url", url, *dates]  # fmt: skip
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(f"error: {message}")


def test_backfill_twice_then_score_extends_one_monitor_run(sample_champions, tmp_path, capsys):
    """The monitor run of a ticker and model is made once and extended: no copy per call,
    and each session's metric is logged once."""
    url = f"sqlite:///{tmp_path / 'f.db'}"
    data = ["--tickers", "MSFT", "--source", "sample", "--store-url", url]
    client = MlflowClient()
    exp = client.get_experiment_by_name("stockcast")
    where = "tags.kind = 'monitor' and tags.ticker = 'MSFT' and tags.monitored_model = "
    where += "'stockcast-MSFT'"
    before = client.search_runs([exp.experiment_id], where)
    dates = ["--from", "2013-02-01", "--to", "2013-02-28"]
    assert main(["backfill", "--scope", "ticker", *data, *dates]) == 0
    assert main(["backfill", "--scope", "ticker", *data, *dates]) == 0
    assert main(["score", "--scope", "ticker", *data]) == 0
    runs = client.search_runs([exp.experiment_id], where)
    assert len(runs) == max(len(before), 1)
    history = client.get_metric_history(runs[0].info.run_id, "live_coverage_90")
    sessions = [m.timestamp for m in history]
    assert len(sessions) == len(set(sessions)) >= 19
