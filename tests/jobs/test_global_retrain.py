"""``retrain --scope global``: one challenger for the universe against the global champion."""

from __future__ import annotations

import helpers
import numpy as np
import pytest
from helpers import make_prices
from mlflow.tracking import MlflowClient

from pipeline.cli import main
from pipeline.evaluation.promotion import pool
from pipeline.runtime.lock import exclusive_lock
from pipeline.tracking import registry

SHRUNK = [*helpers.SHRUNK, "--scale-epochs", "2"]


def test_pool_averages_scale_free_scores_over_tickers():
    scores = {
        "A": {"rmse": 100.0, "theil_u": 0.9, "mape": 1.0, "direction_acc": 0.5},
        "B": {"rmse": 1.0, "theil_u": 1.3, "mape": 3.0, "direction_acc": 0.7},
    }
    assert pool(scores) == pytest.approx({"theil_u": 1.1, "mape": 2.0, "direction_acc": 0.6})


def _universe(tmp_path):
    universe = tmp_path / "universe"
    universe.mkdir()
    make_prices(260, seed=1).to_csv(universe / "ACME.csv", index_label="Date")
    make_prices(220, seed=2, start="2020-03-02").to_csv(universe / "BOLT.csv", index_label="Date")
    return universe


def _retrain(universe, tmp_path, *extra):
    data = ["--source", "csv", "--data", str(universe), "--data-dir", str(tmp_path / "data")]
    return main(["retrain", *data, "--scope", "global", "--holdout", "30", *SHRUNK, *extra])


@pytest.mark.slow  # trains the global model twice
def test_global_retrain_registers_then_compares_with_the_champion(mlflow_store, tmp_path, capsys):
    universe = _universe(tmp_path)
    assert _retrain(universe, tmp_path) == 0
    out = capsys.readouterr().out
    assert "global: promoted (no champion yet); challenger is version 1" in out
    assert registry.champion_version("global") == "1"
    champion = registry.load_champion("global").forecaster
    meta = champion.meta
    assert meta["tickers"] == ["ACME", "BOLT"] and sorted(champion.calibrations) == ["ACME", "BOLT"]
    # Trained to the session before the holdout: the universe's last 30 sessions are held out.
    last = make_prices(260, seed=1).index.union(make_prices(220, start="2020-03-02").index)
    assert meta["trained_to"] == str(last[-31].date())

    assert _retrain(universe, tmp_path) == 0
    out = capsys.readouterr().out
    assert "challenger is version 2" in out and "ACME: holdout challenger RMSE" in out
    client = MlflowClient()
    experiment = client.get_experiment_by_name("stockcast").experiment_id
    runs = client.search_runs([experiment], "tags.kind = 'retrain'")
    parents = [r for r in runs if r.info.run_name == "global-retrain"]
    assert len(parents) == 2
    second = next(r for r in parents if r.data.tags["champion_before"] == "1")
    tags, metrics = second.data.tags, second.data.metrics
    assert tags["scope"] == "global" and tags["holdout_to"] == str(last[-1].date())
    assert tags["holdout_from"] == str(last[-30].date())
    challenger_u, champion_u = (
        metrics["challenger_holdout_theil_u"],
        metrics["champion_holdout_theil_u"],
    )
    assert np.isfinite(challenger_u) and np.isfinite(champion_u)
    promoted = challenger_u < champion_u
    assert tags["decision"] == ("promote" if promoted else "keep")
    assert "mean Theil's U" in tags["decision_reason"]
    assert registry.champion_version("global") == ("2" if promoted else "1")
    version = client.get_model_version("stockcast-global", "2")
    assert version.tags["decision"] == tags["decision_reason"]
    # A nested run per ticker, on the same holdout days for both models, its own calibration.
    nested = [
        r for r in runs
        if r.data.tags.get("mlflow.parentRunId") == second.info.run_id
    ]  # fmt: skip
    by_ticker = {r.data.tags["ticker"]: r.data.metrics for r in nested}
    assert sorted(by_ticker) == ["ACME", "BOLT"]
    for scores in by_ticker.values():
        for who in ("challenger", "champion"):
            assert np.isfinite(scores[f"{who}_holdout_rmse"])
            assert 0 <= scores[f"{who}_holdout_coverage_90"] <= 1
        assert scores["persistence_holdout_theil_u"] == 1.0
    # The decision is the per-ticker rule on the tickers' mean Theil's U.
    mean_u = np.mean([s["challenger_holdout_theil_u"] for s in by_ticker.values()])
    assert challenger_u == pytest.approx(mean_u)


@pytest.mark.slow  # trains the global model
def test_a_bad_ticker_file_stops_the_global_retrain_and_keeps_the_champion(
    mlflow_store, tmp_path, capsys
):
    universe = _universe(tmp_path)
    assert _retrain(universe, tmp_path) == 0
    capsys.readouterr()
    (universe / "CRUD.csv").write_text("Date,Close\nnot a date,oops\n")
    code = _retrain(universe, tmp_path)
    assert code != 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert "CRUD" in lines[0] and "Traceback" not in err
    assert lines[1:] == ["error: 3 of 3 tickers failed"]  # the group is not run without CRUD
    assert registry.champion_version("global") == "1"
    found = MlflowClient().search_model_versions("name='stockcast-global'")
    assert [str(v.version) for v in found] == ["1"]


def test_an_unknown_sample_ticker_stops_the_global_retrain(mlflow_store, tmp_path, capsys):
    code = main(["retrain", "--tickers", "AAPL,NOPE", "--source", "sample", "--scope", "global",
                 "--data-dir", str(tmp_path / "data"), *SHRUNK])  # fmt: skip
    assert code != 0
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if line.startswith("error:"))
    assert "no sample prices for NOPE" in line and "Traceback" not in err
    assert registry.champion_version("global") is None


def test_a_global_retrain_waits_for_no_other_retrain(mlflow_store, tmp_path, capsys):
    universe = _universe(tmp_path)
    with exclusive_lock(tmp_path / "data" / "retrain.lock"):
        assert _retrain(universe, tmp_path) == 7
    err = capsys.readouterr().err
    assert "another retrain job is running" in err and "Traceback" not in err
    assert not MlflowClient().search_registered_models("name='stockcast-global'")
