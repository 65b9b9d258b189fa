"""The global model end to end: one network registered for a universe, served for any ticker."""

from __future__ import annotations

import re

import helpers
import numpy as np
import pytest
from helpers import make_prices
from mlflow.tracking import MlflowClient

from pipeline.cli import main
from pipeline.core.calibration import calibrate_conformal, normalised_residuals
from pipeline.jobs.global_model import recent_calibration
from pipeline.tracking import registry

SHRUNK = [*helpers.SHRUNK, "--epochs", "2"]


@pytest.mark.slow  # trains the global model, then serves it
def test_all_registers_one_global_model_that_answers_for_a_new_ticker(
    mlflow_store, tmp_path, capsys
):
    universe = tmp_path / "universe"
    universe.mkdir()
    make_prices(400, seed=1).to_csv(universe / "ACME.csv", index_label="Date")
    make_prices(330, seed=2, start="2020-04-01").to_csv(universe / "BOLT.csv", index_label="Date")
    stranger = tmp_path / "CODA.csv"
    make_prices(300, seed=3).to_csv(stranger, index_label="Date")
    code = main(["all", "--source", "csv", "--data", str(universe), "--scope", "global",
                 "--data-dir", str(tmp_path / "data"), *SHRUNK])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert out.count("registered stockcast-global version 1 (champion)") == 2
    assert "ACME: " in out and "BOLT: " in out and "summary, 2 tickers" in out

    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("stockcast").experiment_id])
    (network,) = [r for r in runs if r.info.run_name == "global-train"]
    assert network.data.tags["ticker"] == "ACME,BOLT" and "val_loss" in network.data.metrics
    scored = {r.data.tags["ticker"]: r for r in runs if r.info.run_name.endswith("-global")}
    assert sorted(scored) == ["ACME", "BOLT"]
    assert all(np.isfinite(r.data.metrics["test_interval_score_90"]) for r in scored.values())
    champion = registry.load_champion("global")
    meta = champion.forecaster.meta
    assert meta["scope"] == "global" and meta["tickers"] == ["ACME", "BOLT"]
    # Each ticker's own calibration, fitted on its own validation days, differs from the pool's.
    own = champion.forecaster.calibrations
    assert sorted(own) == ["ACME", "BOLT"] and own["ACME"] != own["BOLT"]
    assert own["ACME"] != champion.forecaster.calibration and "calibration" not in meta
    assert own["ACME"].adaptable == 5  # with every horizon's residuals, for online ACI

    assert main(["predict", "--source", "csv", "--data", str(universe / "ACME.csv"),
                 "--scope", "global"]) == 0  # fmt: skip
    assert "calibrated on its validation days" in capsys.readouterr().out
    assert main(["predict", "--source", "csv", "--data", str(stranger), "--scope", "global"]) == 0
    out = capsys.readouterr().out
    assert "CODA: " in out and "model stockcast-global version 1" in out
    for h in range(1, 6):  # a line per horizon, with its session
        ahead = "1 day ahead" if h == 1 else f"{h} days ahead"
        assert re.search(rf"^CODA: {ahead} \(\w{{3}} \d{{4}}-\d\d-\d\d\): \S+ \(90%: ", out, re.M)
    assert "never trained on CODA: interval calibrated on its last 250 sessions" in out
    # Calibrated on the new ticker's recent rows: its own residuals' order statistics.
    prices = make_prices(300, seed=3)
    forecaster, days = recent_calibration(champion.forecaster, prices, 100)
    log_close, centre, scale = champion.forecaster.spread(prices.iloc[-(100 + 10) :])
    residuals = normalised_residuals(np.diff(log_close), centre[:-1, 0], scale[:-1, 0])
    assert days == 100 and forecaster.multipliers == calibrate_conformal(residuals, (0.9,))
    # Each horizon its own: 5 days ahead, the Close against the forecast of 5 sessions before.
    fifth = log_close[5:] - log_close[:-5]
    residuals = normalised_residuals(fifth, centre[:-5, 4], scale[:-5, 4])
    assert forecaster.calibration.multipliers[4] == calibrate_conformal(residuals, (0.9,))
    assert forecaster.meta == champion.forecaster.meta


def test_commands_that_train_per_ticker_refuse_the_global_scope(mlflow_store, tmp_path, capsys):
    code = main(["evaluate", "--tickers", "AAPL", "--source", "sample", "--scope", "global"])
    assert code != 0
    assert "evaluate trains one model per ticker" in capsys.readouterr().err
