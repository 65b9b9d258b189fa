"""The whole pipeline on a shrunk config, in a temporary folder, through the CLI."""

from __future__ import annotations

import json

import helpers
import mlflow
import numpy as np
import pandas as pd
import pytest
from helpers import SAMPLE_DIR, make_prices
from mlflow.tracking import MlflowClient

from pipeline.cli import main
from pipeline.models.volatility import interval_baselines

SHRUNK = [*helpers.SHRUNK, "--epochs", "2"]


@pytest.mark.slow  # trains `all`
def test_all_logs_a_complete_run_and_a_model_that_forecasts(mlflow_store, tmp_path, capsys):
    code = main(
        [
            "all",
            "--scope",
            "ticker",
            "--tickers",
            "AAPL",
            "--data-dir",
            str(tmp_path / "data"),
            *SHRUNK,
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "AAPL:" in out and "persistence" in out and "time by stage" in out
    assert out.index("interval_score_90") > out.index("theil_u")  # after the point table

    client = MlflowClient()
    exp = client.get_experiment_by_name("stockcast")
    # The UI opens a model-training experiment on its runs, not on the GenAI overview: the
    # tag says so to MLflow, the printed URL to a new browser (whose own setting wins).
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = f"http://127.0.0.1:5000/#/experiments/{exp.experiment_id}/runs?workflowType="
    assert f"the runs: {runs}machine_learning" in out
    (run,) = client.search_runs([exp.experiment_id], "tags.kind = 'train'")
    assert run.info.status == "FINISHED"
    assert run.data.tags["ticker"] == "AAPL"
    assert run.data.tags["mlflow.source.name"] == "stockcast all"
    assert run.data.params["model.cell"] == "RNN" and run.data.params["features.window"] == "10"
    assert run.data.params["model.hidden_size"] == "8"

    steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")]
    assert steps == [0, 1, 2]
    metrics = run.data.metrics
    for head in ("test", "persistence_test", "ridge_test"):
        for name in ("rmse", "mae", "mape", "direction_acc", "theil_u"):
            assert np.isfinite(metrics[f"{head}_{name}"]), f"{head}_{name}"
    assert metrics["persistence_test_theil_u"] == pytest.approx(1.0)
    assert metrics["test_theil_u"] == pytest.approx(
        metrics["test_rmse"] / metrics["persistence_test_rmse"]
    )
    # The forecast intervals: ours, each interval baseline's, and the DM tests.
    for name in ("coverage_90", "interval_score_90", "width_90", "width_pct_90", "pinball"):
        for head in ("test", "hist_test", "ewma_test", "garch_test"):
            assert np.isfinite(metrics[f"{head}_{name}"]), f"{head}_{name}"
    for head in ("hist_test", "ewma_test", "garch_test"):
        assert 0 <= metrics[f"{head}_dm_pvalue_90"] <= 1
    assert 0 < metrics["test_coverage_90"] <= 1
    assert metrics["test_width_90"] > 0 and metrics["scale_best_epoch"] >= 0
    assert {"val_interval_score_ewma", "conformal_upper_90"} <= set(metrics)
    assert run.data.tags["scale_trunk"] in {"frozen", "finetune"}
    # The logged model (MLflow's Models tab) carries the run's test scores too.
    (model,) = client.search_logged_models(experiment_ids=[exp.experiment_id])
    linked = {m.key: m.value for m in model.metrics}
    assert linked["test_rmse"] == metrics["test_rmse"] and "garch_test_pinball" in linked
    # ... and the losses of the epoch whose weights it carries, not the untrained network's
    # (AAPL: on MSFT this shrunk config keeps the untrained network, best epoch 0).
    best = int(metrics["best_epoch"])
    assert best > 0  # else step 0's losses would be the right ones and this would test nothing
    for key in ("train_loss", "val_loss"):
        points = client.get_metric_history(run.info.run_id, key)
        assert [m.step for m in points] == steps  # linking added no point to the run's curve
        history = {m.step: m.value for m in points}
        assert [m.value for m in model.metrics if m.key == key] == [history[best]], key
        assert history[best] != history[0]
    assert linked["shrink_factor"] == metrics["shrink_factor"] and "conformal_upper_90" in linked

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"plots", "test_metrics.md", "test_forecasts.csv", "test_intervals.md"} <= artifacts
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {
        "plots/test_forecast.png", "plots/rolling_coverage.png", "plots/cumulative_error.png"
    }  # fmt: skip
    assert run.inputs.dataset_inputs[0].dataset.name == "AAPL-daily-prices"

    model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    assert model.metadata.signature is not None
    sample = pd.read_csv(SAMPLE_DIR / "AAPL.csv", parse_dates=["Date"]).tail(30)
    answer = model.predict(sample[["Date", "Open", "High", "Low", "Close"]])
    assert list(answer.columns) == [
        "horizon", "target_date", "predicted_close", "lower_90", "upper_90"
    ]  # fmt: skip
    assert answer["horizon"].tolist() == [1, 2, 3, 4, 5]
    assert answer["target_date"].iloc[0] == pd.Timestamp("2013-03-04")  # Friday, then Monday
    last = sample["Close"].iloc[-1]
    assert (0.8 * last < answer["predicted_close"]).all()
    assert (answer["predicted_close"] < 1.2 * last).all()
    assert (answer["lower_90"] < answer["predicted_close"]).all()
    assert (answer["predicted_close"] < answer["upper_90"]).all()
    assert [c.name for c in model.metadata.signature.outputs] == list(answer.columns)
    # The Date column is optional: without it the forecasts are the same, undated.
    undated = model.predict(sample[["Open", "High", "Low", "Close"]])
    assert undated["target_date"].isna().all()
    assert undated["predicted_close"].equals(answer["predicted_close"])

    assert (tmp_path / "mlflow.db").exists() and (tmp_path / "mlruns").is_dir()

    # The model carries the whole config it was trained with: the run can be rebuilt from it.
    spec = json.loads((tmp_path / "data/processed/AAPL/model/forecaster.json").read_text())
    logged = {k: v for k, v in run.data.params.items() if k != "ticker"}
    # How the job ran (device, threads, engine, scope) is logged with the run, not saved as
    # the model's.
    assert logged["runtime.device"] == "cpu" and logged["runtime.threads"] == "1"
    assert logged["cluster.scope"] == "ticker"
    assert spec["meta"]["config"] == {
        k: v for k, v in logged.items() if not k.startswith(("runtime.", "cluster."))
    }


@pytest.mark.slow  # trains `all` on two CSVs
def test_a_folder_of_csvs_runs_one_ticker_per_file(mlflow_store, tmp_path, capsys):
    folder = tmp_path / "csvs"
    folder.mkdir()
    for i, name in enumerate(("acme", "bolt")):
        make_prices(300, seed=i).to_csv(folder / f"{name}.csv", index_label="Date")
    code = main(["all", "--scope", "ticker", "--source", "csv", "--data", str(folder),
                 "--data-dir", str(tmp_path / "data"), *SHRUNK, "--progress"])  # fmt: skip
    assert code == 0
    out, err = capsys.readouterr()
    # Bars are allowed, but stderr is not a terminal here: a log gets no redrawn bars.
    assert "epoch/s" not in err and "train ACME" not in err
    assert "registered stockcast-ACME version 1" in out
    assert "registered stockcast-BOLT version 1" in out

    # One summary run for the job: the table across tickers, after theirs.
    client = MlflowClient()
    exp = client.get_experiment_by_name("stockcast")
    runs = client.search_runs([exp.experiment_id])
    (summary,) = [r for r in runs if r.data.tags["kind"] == "summary"]
    trained = {r.data.tags["ticker"]: r for r in runs if r.data.tags["kind"] == "train"}
    assert sorted(trained) == ["ACME", "BOLT"]
    assert out.index("summary, 2 tickers on the test days") > out.index("stockcast-BOLT")
    assert summary.info.status == "FINISHED" and summary.info.run_name == "all-summary"
    assert summary.data.tags["ticker"] == "ACME,BOLT"
    assert {r.data.tags["job_id"] for r in runs} == {summary.data.tags["job_id"]}
    for ticker, run in trained.items():
        theirs, ours = run.data.metrics, summary.data.metrics
        assert ours[f"{ticker}_rnn_theil_u"] == theirs["test_theil_u"]
        assert ours[f"{ticker}_rnn_coverage_90"] == theirs["test_coverage_90"]
        interval_baseline = min(
            (b.name for b in interval_baselines((0.9,))),
            key=lambda m: theirs[f"{m}_test_interval_score_90"],
        )
        pvalue = theirs[f"{interval_baseline}_test_dm_pvalue_90"]
        assert ours[f"{ticker}_dm_pvalue_90"] == pvalue
    text = mlflow.artifacts.load_text(f"runs:/{summary.info.run_id}/summary.md")
    assert text.startswith("summary, 2 tickers") and "| ticker | rnn_theil_u |" in text
    assert f"| ACME | {summary.data.metrics['ACME_rnn_theil_u']:.4f} |" in text
    plots = {a.path for a in client.list_artifacts(summary.info.run_id, "plots")}
    assert plots == {"plots/summary.png"}


@pytest.mark.slow  # trains through the stage commands
def test_stages_run_one_at_a_time(mlflow_store, tmp_path, capsys):
    data = ["--tickers", "AAPL", "--data-dir", str(tmp_path / "data")]
    # Each stage takes the options it uses: the data stages not the model's.
    assert main(["fetch", *data]) == 0
    assert main(["features", "--scope", "ticker", *data, "--window", "10"]) == 0
    for stage in ("train", "evaluate"):
        assert main([stage, "--scope", "ticker", *data, *SHRUNK]) == 0, stage
    processed = tmp_path / "data" / "processed" / "AAPL"
    assert {p.name for p in processed.iterdir()} >= {
        "prices.csv", "features.npz", "model", "training.json"
    }  # fmt: skip
    (run,) = MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("stockcast").experiment_id]
    )
    # evaluate resumed the run that train opened: one run carries both.
    assert "train_loss" in run.data.metrics and "test_rmse" in run.data.metrics
    assert run.info.status == "FINISHED"


def test_stage_without_its_input_says_what_to_run(mlflow_store, tmp_path, capsys):
    code = main(
        [
            "train",
            "--scope",
            "ticker",
            "--tickers",
            "AAPL",
            "--data-dir",
            str(tmp_path / "data"),
            *SHRUNK,
        ]
    )
    assert code == 3
    err = capsys.readouterr().err
    assert "run the features stage first" in err and "Traceback" not in err
