"""The global scope end to end: one network registered for a universe, served for any ticker;
the stage commands take it too."""

from __future__ import annotations

import re

import helpers
import numpy as np
import pytest
from helpers import make_prices
from mlflow.tracking import MlflowClient

from pipeline.cli import main
from pipeline.core.calibration import calibrate_conformal, normalised_residuals
from pipeline.tracking import registry

pytestmark = pytest.mark.slow

SHRUNK = [*helpers.SHRUNK, "--epochs", "2"]


def _universe(tmp_path):
    """A folder of two tickers' CSVs, BOLT's starting three months after ACME's."""
    universe = tmp_path / "universe"
    universe.mkdir()
    make_prices(400, seed=1).to_csv(universe / "ACME.csv", index_label="Date")
    make_prices(330, seed=2, start="2020-04-01").to_csv(universe / "BOLT.csv", index_label="Date")
    return universe


def test_all_registers_one_global_model_that_answers_for_a_new_ticker(
    mlflow_store, tmp_path, capsys
):
    universe = _universe(tmp_path)
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
    assert meta["ticker"] == "global" and meta["tickers"] == ["ACME", "BOLT"]
    assert "cluster.scope" not in meta["config"]  # how the job ran is not the model's config
    # Each ticker's own calibration, fitted on its own validation days, differs from the pool's.
    own = champion.forecaster.calibrations
    assert sorted(own) == ["ACME", "BOLT"] and own["ACME"] != own["BOLT"]
    assert own["ACME"] != champion.forecaster.calibration and "calibration" not in meta
    assert own["ACME"].adaptable == 5  # with every horizon's residuals, for online ACI

    assert main(["predict", "--source", "csv", "--data", str(universe / "ACME.csv"),
                 "--scope", "global"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "calibrated on its validation days" in out and "; stored" in out  # as for a ticker's
    assert main(["predict", "--source", "csv", "--data", str(stranger), "--scope", "global"]) == 0
    out = capsys.readouterr().out
    assert "CODA: " in out and "model stockcast-global version 1" in out
    for h in range(1, 6):  # a line per horizon, with its session
        ahead = "1 day ahead" if h == 1 else f"{h} days ahead"
        assert re.search(rf"^CODA: {ahead} \(\w{{3}} \d{{4}}-\d\d-\d\d\): \S+ \(90%: ", out, re.M)
    assert "never trained on CODA: interval calibrated on its last 250 sessions" in out
    # Calibrated on the new ticker's recent rows: its own residuals' order statistics.
    prices = make_prices(300, seed=3)
    forecaster, days = champion.forecaster.recalibrated(prices, 100)
    log_close, centre, scale = champion.forecaster.spread(prices.iloc[-(100 + 10) :])
    residuals = normalised_residuals(np.diff(log_close), centre[:-1, 0], scale[:-1, 0])
    assert days == 100 and forecaster.multipliers == calibrate_conformal(residuals, (0.9,))
    # Each horizon its own: 5 days ahead, the Close against the forecast of 5 sessions before.
    fifth = log_close[5:] - log_close[:-5]
    residuals = normalised_residuals(fifth, centre[:-5, 4], scale[:-5, 4])
    assert forecaster.calibration.multipliers[4] == calibrate_conformal(residuals, (0.9,))
    assert forecaster.meta == champion.forecaster.meta


def test_the_stage_commands_run_the_global_scope_one_stage_at_a_time(
    mlflow_store, tmp_path, capsys
):
    universe = _universe(tmp_path)
    data = ["--source", "csv", "--data", str(universe), "--data-dir", str(tmp_path / "data")]
    assert main(["fetch", *data]) == 0
    assert main(["features", *data, "--window", "10", "--scope", "global"]) == 0
    out = capsys.readouterr().out
    assert "ACME: windows train" in out and "BOLT: windows train" in out
    for stage in ("train", "evaluate"):
        assert main([stage, *data, *SHRUNK, "--scope", "global"]) == 0, stage
    out = capsys.readouterr().out
    assert out.count("registered stockcast-global version 1 (champion)") == 2
    processed = tmp_path / "data" / "processed"
    assert {p.name for p in (processed / "global").iterdir()} == {"model", "training.json"}
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("stockcast").experiment_id])
    # evaluate resumed the run train opened, and scored each ticker in a run nested under it.
    (network,) = [r for r in runs if r.info.run_name == "global-train"]
    assert "train_loss" in network.data.metrics and network.info.status == "FINISHED"
    nested = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == network.info.run_id]
    assert sorted(r.data.tags["ticker"] for r in nested) == ["ACME", "BOLT"]
    assert all(np.isfinite(r.data.metrics["test_rmse"]) for r in nested)
    assert registry.champion_version("global") == "1"
