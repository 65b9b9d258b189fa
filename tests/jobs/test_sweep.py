"""`stockcast sweep`: its options, how the best trial is chosen, and the whole sweep end to
end with real Ray Tune, Optuna and ASHA on a 2-CPU local Ray, an MLflow store in tmp_path
and tiny trials on two synthetic tickers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import SHRUNK, write_csvs
from mlflow.tracking import MlflowClient

from pipeline.cli import build_parser, config_from_args, main
from pipeline.config import flatten
from pipeline.errors import ConfigError, TrainingError
from pipeline.jobs.sweep import best_outcome, trials_table
from pipeline.jobs.tune import TrialOutcome, search_space, searched_values

TICKERS = ("AAA", "BBB")
SEARCHED = ("model.cell", "model.num_layers", "model.hidden_size", "model.dropout", "train.lr",
            "train.batch_size")  # fmt: skip


def _cfg(*argv: str):
    return config_from_args(build_parser().parse_args(["sweep", "--scope", "ticker", *argv]))


def test_sweep_options_reach_the_config_and_bad_ones_are_refused(tmp_path, monkeypatch):
    cfg = _cfg("--trials", "8", "--concurrency", "3", "--sweep-folds", "2",
               "--sweep-hidden-sizes", "8,16", "--sweep-lr-range", "0.001,0.1",
               "--storage", "s3://bucket/tune")  # fmt: skip
    s = cfg.sweep
    assert (s.trials, s.concurrency, s.folds) == (8, 3, 2)
    assert s.hidden_sizes == (8, 16) and s.lr_range == (0.001, 0.1)
    assert s.storage == "s3://bucket/tune" and cfg.backtest.folds == 5  # not the backtest's
    assert set(search_space(s)) == set(SEARCHED)
    with pytest.raises(ConfigError, match="--sweep-lr-range needs two rates, lowest first"):
        _cfg("--sweep-lr-range", "0.1,0.001")
    with pytest.raises(ConfigError, match="--concurrency must be at least 1, not 0"):
        _cfg("--concurrency", "0")
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", "--scope", "ticker", "--epochs", "0"]) == 2
    assert list(tmp_path.iterdir()) == []  # refused before any MLflow store, data or Ray


def test_the_best_trial_is_the_lowest_complete_one_and_leads_the_table():
    values = searched_values({"model.hidden_size": 8, "train.lr": 0.01})
    assert values == {"model.hidden_size": 8, "train.lr": 0.01}
    outcomes = [
        TrialOutcome("a", values, 0.99, 8, "complete"),
        TrialOutcome("b", values, 0.90, 4, "stopped early"),  # partial: not comparable
        TrialOutcome("c", values, 0.97, 8, "complete"),
        TrialOutcome("d", error="TrainingError: diverged"),
    ]
    assert best_outcome(outcomes).trial_id == "c"
    table = trials_table(outcomes, {"a": "run-a", "c": "run-c"})
    assert list(table.index) == ["c", "a", "b", "d"]
    assert list(table["run"]) == ["run-c", "run-a", "", ""]
    assert list(table.columns[:3]) == ["status", "epochs", "objective"]
    with pytest.raises(
        TrainingError, match=r"no trial completed \(errors: TrainingError: diverged"
    ):
        best_outcome(outcomes[1:2] + outcomes[3:])


@pytest.fixture
def csv_folder(tmp_path) -> Path:
    return write_csvs(tmp_path / "csvs", TICKERS)


@pytest.mark.slow  # a Ray Tune sweep on a local Ray
def test_a_sweep_nests_every_trial_saves_the_best_and_scores_it_once(
    local_ray, mlflow_store, tmp_path, csv_folder, capsys
):
    best_json = tmp_path / "best.json"
    argv = [
        "sweep", "--scope", "ticker", "--source", "csv", "--data", str(csv_folder), *SHRUNK,
        "--epochs", "2",
        "--trials", "4", "--concurrency", "2", "--sweep-folds", "2",
        "--sweep-hidden-sizes", "4,8", "--sweep-max-layers", "2", "--sweep-batch-sizes", "64,128",
        "--data-dir", str(tmp_path / "data"), "--reports-dir", str(tmp_path / "reports"),
        "--out", str(best_json), "--experiment", "sweep-test",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out

    client = MlflowClient()
    experiment = client.get_experiment_by_name("sweep-test").experiment_id
    every = client.search_runs([experiment])
    assert not [r for r in every if r.info.status == "RUNNING"]
    (parent,) = [r for r in every if r.data.tags["kind"] == "sweep"]
    assert parent.info.status == "FINISHED"
    sweep_id = parent.info.run_id

    trials = [r for r in every if r.data.tags["kind"] == "sweep-trial"]
    assert len(trials) == 4
    for trial in trials:
        assert trial.data.tags["mlflow.parentRunId"] == sweep_id
        assert trial.data.tags["sweep_id"] == sweep_id
        status = trial.data.tags["trial_status"]
        assert (status, trial.info.status) in {
            ("complete", "FINISHED"), ("stopped early", "FINISHED"), ("failed", "FAILED")
        }  # fmt: skip
        assert trial.data.tags["stopped_early"] == str(status == "stopped early").lower()
        assert trial.data.params["model.hidden_size"] in ("4", "8")
        assert trial.data.params["features.window"] == "10"
    # 2 folds x 2 tickers x 2 epochs: a complete trial reported 8 iterations.
    complete = [t for t in trials if t.data.tags["trial_status"] == "complete"]
    assert complete
    for trial in complete:
        history = client.get_metric_history(trial.info.run_id, "objective")
        assert [m.step for m in history] == list(range(1, 9))
        folds = [k for k in trial.data.metrics if k.startswith("fold_loss_")]
        assert sorted(folds) == [f"fold_loss_{t}_{n}" for t in TICKERS for n in (1, 2)]
        mean = sum(trial.data.metrics[k] for k in folds) / 4
        assert trial.data.metrics["objective"] == pytest.approx(mean)

    # The parent's params are the best complete trial's config; its objective is the best.
    best = min(complete, key=lambda t: t.data.metrics["objective"])
    assert parent.data.tags["best_trial"] == best.data.tags["trial_id"]
    assert parent.data.metrics["best_objective"] == pytest.approx(best.data.metrics["objective"])
    for key in SEARCHED:
        assert parent.data.params[key] == best.data.params[key], key
    artifacts = {a.path for a in client.list_artifacts(sweep_id)}
    assert {"sweep_trials.csv", "sweep_trials.md"} <= artifacts

    # best.json is a --config file that gives the best trial's settings.
    cfg = config_from_args(
        build_parser().parse_args(["all", "--scope", "ticker", "--config", str(best_json)])
    )
    assert flatten(cfg) == {k: v for k, v in parent.data.params.items() if k != "ticker"}
    for key in SEARCHED:
        assert flatten(cfg)[key] == best.data.params[key], key
    assert set(json.loads(best_json.read_text())) == set(flatten(cfg))

    # The test days were scored once per ticker, with the best config, under the sweep.
    scored = [r for r in every if "test_rmse" in r.data.metrics]
    assert sorted(r.data.tags["ticker"] for r in scored) == sorted(TICKERS)
    for run in scored:
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == sweep_id
        for key in SEARCHED:
            assert run.data.params[key] == best.data.params[key], key
    assert not any("test_rmse" in t.data.metrics for t in trials)
    for ticker in TICKERS:
        assert f"{ticker}: " in out and "test days" in out
    assert "best config saved to" in out


@pytest.mark.slow
def test_a_global_sweep_pools_each_fold_and_scores_the_global_model(
    local_ray, mlflow_store, tmp_path, csv_folder, capsys
):
    argv = [
        "sweep", "--source", "csv", "--data", str(csv_folder), *SHRUNK, "--scope", "global",
        "--trials", "2", "--concurrency", "2", "--sweep-folds", "2",
        "--sweep-hidden-sizes", "4", "--sweep-max-layers", "1", "--sweep-batch-sizes", "128",
        "--data-dir", str(tmp_path / "data"), "--reports-dir", str(tmp_path / "reports"),
        "--experiment", "global-sweep",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "2 folds x 1 groups of 2 tickers" in out
    assert out.count("registered stockcast-global version 1 (champion)") == 2
    client = MlflowClient()
    every = client.search_runs([client.get_experiment_by_name("global-sweep").experiment_id])
    (parent,) = [r for r in every if r.data.tags["kind"] == "sweep"]
    assert parent.data.params["cluster.scope"] == "global"
    # One network per fold for the universe: a fold loss per fold of the one group.
    complete = [r for r in every if r.data.tags.get("trial_status") == "complete"]
    assert complete
    for trial in complete:
        folds = sorted(k for k in trial.data.metrics if k.startswith("fold_loss_"))
        assert folds == ["fold_loss_global_1", "fold_loss_global_2"]
    # The best config scored once: the global model's run under the sweep, a run per ticker
    # under it.
    (network,) = [r for r in every if r.info.run_name == "global-train"]
    assert network.data.tags["mlflow.parentRunId"] == parent.info.run_id
    scored = [r for r in every if r.data.tags.get("mlflow.parentRunId") == network.info.run_id]
    assert sorted(r.data.tags["ticker"] for r in scored) == sorted(TICKERS)
