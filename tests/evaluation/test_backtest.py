"""Walk-forward folds, pooled scoring and the MLflow report; leakage as properties."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from helpers import make_prices
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.tracking import MlflowClient

from pipeline.cli import main
from pipeline.config import BacktestConfig
from pipeline.config import FeatureConfig as FC
from pipeline.core.features import CLOSE, features_for_split, make_batch, window_view
from pipeline.core.splits import calendar_splits, walk_forward_splits
from pipeline.errors import DataError
from pipeline.evaluation.backtest import (
    backtest,
    fold_errors,
    forecast_rows,
    pooled_interval_table,
    pooled_table,
)
from pipeline.metrics.dm import diebold_mariano, diebold_mariano_losses
from pipeline.metrics.intervals import interval_score
from pipeline.models.point import Drift, Persistence, RidgeWindows
from pipeline.models.volatility import BaselineBands, EWMAVolatility

folds_cfg = st.builds(
    BacktestConfig,
    folds=st.integers(1, 6),
    test_share=st.floats(0.1, 0.5),
    val_frac=st.floats(0.05, 0.4),
)


@given(n_days=st.integers(150, 1500), window=st.integers(2, 40), cfg=folds_cfg)
def test_folds_never_let_a_test_target_precede_a_training_target(n_days, window, cfg):
    splits = walk_forward_splits(n_days, window, cfg)
    assert len(splits) == cfg.folds
    for s in splits:
        if len(s.test) == 0:
            continue
        # Targets are end + 1; training and validation targets precede every test target.
        history = np.concatenate([s.train, s.val]) + 1
        if len(history):
            assert history.max() < (s.test + 1).min()
        if len(s.train) and len(s.val):
            assert s.train.max() < s.val.min()
        # No window reaches past its own end day.
        assert (s.test - window + 1).min() >= 0
    tests = [s.test for s in splits]
    joined = np.concatenate(tests)
    assert len(joined) == len(np.unique(joined))  # test blocks do not overlap
    assert all(a.max() < b.min() for a, b in itertools.pairwise(tests) if len(a) and len(b))


@given(
    n_days=st.integers(60, 400),
    window=st.integers(2, 30),
    seed=st.integers(0, 10_000),
    end_frac=st.floats(0, 1),
)
@settings(max_examples=60)
def test_no_window_input_includes_its_target_day(n_days, window, seed, end_frac):
    log_prices = np.log(make_prices(n_days, seed=seed)[["Open", "High", "Low", "Close"]].to_numpy())
    end = window - 1 + int(end_frac * (n_days - window - 1))
    poisoned = log_prices.copy()
    poisoned[end + 1 :] = np.nan  # the target day and everything after it
    x = make_batch(window_view(poisoned, window), poisoned[:, CLOSE], np.array([end]), window, 0, 1)
    assert np.isfinite(x).all()


@given(seed=st.integers(0, 10_000), factor=st.floats(0.2, 5.0), fold=st.integers(0, 4))
@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_scalers_depend_only_on_training_rows(seed, factor, fold):
    prices = make_prices(400, seed=seed)
    split = walk_forward_splits(len(prices), 10, BacktestConfig())[fold]
    base = features_for_split(prices, split, 10)
    changed = prices.copy()
    last_training_day = split.train.max() + 1  # the last training target
    changed.iloc[last_training_day + 1 :, :4] *= factor  # validation, test and later rows
    other = features_for_split(changed, split, 10)
    np.testing.assert_array_equal(base.x_scaler.mean_, other.x_scaler.mean_)
    np.testing.assert_array_equal(base.x_scaler.scale_, other.x_scaler.scale_)
    np.testing.assert_array_equal(base.y_scaler.scale_, other.y_scaler.scale_)
    assert Drift().fit(base).mu == Drift().fit(other).mu


@given(seed=st.integers(0, 10_000), factor=st.floats(0.2, 5.0), fold=st.integers(0, 4))
@settings(max_examples=10, suppress_health_check=[HealthCheck.too_slow], deadline=None)
def test_models_never_see_the_test_rows(seed, factor, fold):
    # Validation may steer choices (Ridge's alpha, early stopping); test rows may not.
    prices = make_prices(400, seed=seed)
    split = walk_forward_splits(len(prices), 10, BacktestConfig())[fold]
    changed = prices.copy()
    changed.iloc[split.val.max() + 2 :, :4] *= factor  # every day after the last val target
    a = RidgeWindows().fit(features_for_split(prices, split, 10)).model
    b = RidgeWindows().fit(features_for_split(changed, split, 10)).model
    assert a.alpha == b.alpha
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_default_folds_cover_the_last_30_percent():
    splits = walk_forward_splits(1000, 30, BacktestConfig())
    tests = np.concatenate([s.test for s in splits]) + 1
    assert tests.min() == 700 and tests.max() == 999
    assert [len(s.test) for s in splits] == [60, 60, 60, 60, 60]
    # validation is the last 15% of each fold's history
    assert splits[0].val.min() + 1 == 700 - int((700 - 30) * 0.15)


def test_too_short_for_a_backtest():
    days = {"ACME": pd.bdate_range("2020-01-01", periods=50)}
    with pytest.raises(DataError, match=r"ACME: 50 days .* at least \d+ days are needed"):
        calendar_splits(days, 30, BacktestConfig())


def one_series(prices, features_cfg, cfg, models):
    """The backtest of one series (a group of one), ``models(fold)`` its fresh models."""
    return backtest({"ACME": prices}, features_cfg, cfg, lambda k, f: {"ACME": models(k)})["ACME"]


def test_pooled_table_scores_all_folds_together_with_dm_against_the_rnn():
    prices = make_prices(300)

    @dataclass
    class Noisy(Persistence):
        name: str = "rnn"

        def predict(self, features, ends):
            return super().predict(features, ends) * 1.01

    results = one_series(
        prices, FC(window=10), BacktestConfig(folds=3), lambda f: [Noisy(), Persistence()]
    )
    table = pooled_table(results)
    pooled = pd.concat([r.forecasts for r in results])
    assert len(pooled) == sum(len(r.features.split.test) for r in results)
    rnn_err = pooled["rnn"] - pooled["actual"]
    per_err = pooled["persistence"] - pooled["actual"]
    assert table.loc["rnn", "rmse"] == pytest.approx(np.sqrt(np.mean(rnn_err**2)))
    dm = diebold_mariano(rnn_err.to_numpy(), per_err.to_numpy())
    assert table.loc["persistence", "dm_pvalue"] == pytest.approx(dm.pvalue)
    assert np.isnan(table.loc["rnn", "dm_pvalue"])
    assert list(fold_errors(results).index) == [1, 2, 3]


COLS = ("close", "lower_90", "upper_90")


def test_forecast_rows_hold_every_model_and_day_and_recompute_the_scores():
    def models(fold: int) -> list:
        return [Persistence(), BaselineBands("ewma", EWMAVolatility(lam=0.94), (0.8, 0.9))]

    results = one_series(make_prices(300), FC(window=10), BacktestConfig(folds=3), models)
    everything = forecast_rows("ACME", results)
    assert list(everything.columns) == [
        "ticker", "fold", "horizon", "date", "as_of", "model", "close", "previous", "median",
        "lower_80", "upper_80", "lower_90", "upper_90",
    ]  # fmt: skip
    # Every horizon: the test days whose h-day target is a test day too, for both models.
    for h in range(1, 6):
        own = everything[everything["horizon"] == h]
        assert len(own) == 2 * sum(len(r.features.split.test) - (h - 1) for r in results)
        ahead = [
            len(pd.bdate_range(a, d)) - 1 for a, d in zip(own["as_of"], own["date"], strict=True)
        ]
        assert set(ahead) == {h}  # make_prices trades every weekday
    rows = everything[everything["horizon"] == 1]
    days = sum(len(r.forecasts) for r in results)
    assert len(rows) == 2 * days and set(rows["ticker"]) == {"ACME"}
    assert sorted(rows["fold"].unique()) == [1, 2, 3]
    assert rows[rows["model"] == "persistence"]["lower_90"].isna().all()
    first = rows[(rows["model"] == "persistence") & (rows["fold"] == 1)]
    np.testing.assert_array_equal(first["median"], results[0].forecasts["persistence"])
    np.testing.assert_array_equal(first["date"], results[0].forecasts.index)
    ewma_rows = rows[rows["model"] == "ewma"]
    table = pooled_interval_table(results)
    for level in ("80", "90"):
        daily = interval_score(
            ewma_rows["close"], ewma_rows[f"lower_{level}"], ewma_rows[f"upper_{level}"],
            int(level) / 100,
        )  # fmt: skip
        assert daily.mean() == pytest.approx(table.loc["ewma", f"interval_score_{level}"])


@pytest.mark.slow  # a backtest trains a network per fold
def test_backtest_command_logs_parent_and_fold_runs(mlflow_store, tmp_path, capsys):
    make_prices(500).to_csv(tmp_path / "ACME.csv")
    code = main(
        ["backtest", "--scope", "ticker", "--source", "csv", "--data", str(tmp_path / "ACME.csv"),
         "--folds", "2",
         "--window", "10", "--hidden-size", "8", "--epochs", "1", "--batch-size", "256",
         "--scale-epochs", "3", "--no-progress", "--device", "cpu",
         "--data-dir", str(tmp_path / "data")]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "walk-forward backtest, 2 folds" in out and "dm_pvalue" in out
    # The interval table comes after the point table.
    assert out.index("forecast intervals on the same") > out.index("theil_u")
    assert "rnn_aci" in out and "interval_score_90" in out
    client = MlflowClient()
    exp = client.get_experiment_by_name("stockcast")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags["kind"] == "backtest"]
    folds = [r for r in runs if r.data.tags["kind"] == "backtest-fold"]
    assert len(parents) == 1 and len(folds) == 2
    parent = parents[0]
    assert all(f.data.tags["mlflow.parentRunId"] == parent.info.run_id for f in folds)
    m = parent.data.metrics
    keys = ["backtest_rmse", "backtest_theil_u", "backtest_direction_acc"]
    for name in ("persistence", "drift", "ma5", "ridge", "hgb"):
        keys += [f"backtest_{name}_rmse", f"backtest_dm_pvalue_{name}"]
    keys += ["backtest_coverage_90", "backtest_interval_score_90", "backtest_width_90",
             "backtest_width_pct_90", "backtest_pinball"]  # fmt: skip
    for name in ("hist", "ewma", "garch", "parkinson", "garman_klass", "har", "rnn_aci"):
        keys += [f"backtest_{name}_coverage_90", f"backtest_{name}_interval_score_90",
                 f"backtest_{name}_pinball", f"backtest_{name}_dm_pvalue_90"]  # fmt: skip
    for key in keys:
        assert np.isfinite(m[key]), key
    assert 0 <= m["backtest_dm_pvalue_ma5"] <= 1
    assert 0 <= m["backtest_garch_dm_pvalue_90"] <= 1
    assert 0 < m["backtest_coverage_90"] <= 1
    assert "backtest_dm_pvalue_90" not in m  # no test of the RNN against itself
    fold_metrics = folds[0].data.metrics
    assert "train_loss" in fold_metrics and "test_rmse" in fold_metrics
    assert {"test_coverage_90", "garch_test_interval_score_90", "scale_best_epoch"} <= set(
        fold_metrics
    )
    assert folds[0].data.tags["scale_trunk"] in {"frozen", "finetune"}
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"backtest.md", "backtest.csv", "backtest_intervals.md", "plots"} <= artifacts
    # Anyone can recompute the logged scores from the per-day forecasts and bands.
    everything = pd.read_csv(
        client.download_artifacts(parent.info.run_id, "backtest_forecasts.csv")
    )
    rows = everything[everything["horizon"] == 1]
    assert set(rows["model"]) >= {"rnn", "persistence", "ewma", "har", "rnn_aci"}
    # Every horizon's logged scores come back from the rows too, with its own HLN DM test.
    far = everything[(everything["horizon"] == 5) & everything["model"].isin(["rnn", "ewma"])]
    assert set(far["model"]) == {"rnn", "ewma"}
    for model, key in (("rnn", "backtest_h5"), ("ewma", "backtest_h5_ewma")):
        own = far[far["model"] == model]
        daily = interval_score(own["close"], own["lower_90"], own["upper_90"], 0.9)
        assert daily.mean() == pytest.approx(m[f"{key}_interval_score_90"], rel=1e-12)
        assert 0 < m[f"{key}_coverage_90"] <= 1
    ours = interval_score(*(far[far.model == "rnn"][c].to_numpy() for c in COLS), 0.9)
    theirs = interval_score(*(far[far.model == "ewma"][c].to_numpy() for c in COLS), 0.9)
    dm = diebold_mariano_losses(ours, theirs, horizon=5)
    assert m["backtest_h5_ewma_dm_pvalue_90"] == pytest.approx(dm.pvalue, rel=1e-9)
    assert "backtest_h5_drift_rmse" in m and "backtest_h5_drift_coverage_90" not in m
    assert len(rows[rows["model"] == "rnn"]) == len(rows[rows["model"] == "ridge"])
    for model, key in (("rnn", "backtest"), ("garch", "backtest_garch")):
        own = rows[rows["model"] == model]
        daily = interval_score(own["close"], own["lower_90"], own["upper_90"], 0.9)
        assert daily.mean() == pytest.approx(m[f"{key}_interval_score_90"], rel=1e-12)
    plots = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert plots == {
        "plots/fold_rmse.png", "plots/last_fold_forecasts.png", "plots/last_days_interval.png",
        "plots/rolling_coverage.png", "plots/cumulative_error.png",
    }  # fmt: skip
    # The job's summary run: the pooled RNN against its best baselines, with the DM tests.
    (summary,) = [r for r in runs if r.data.tags["kind"] == "summary"]
    assert summary.info.run_name == "backtest-summary"
    best = min(
        ("persistence", "drift", "ma5", "ridge", "hgb"), key=lambda n: m[f"backtest_{n}_rmse"]
    )
    assert summary.data.metrics["ACME_rnn_theil_u"] == m["backtest_theil_u"]
    assert summary.data.metrics["ACME_dm_pvalue"] == m[f"backtest_dm_pvalue_{best}"]
    assert "ACME_dm_pvalue_90" in summary.data.metrics
    report = tmp_path / "reports" / "backtest"
    table = pd.read_csv(report / "ACME.csv", index_col="model")
    assert list(table.index) == ["rnn", "persistence", "drift", "ma5", "ridge", "hgb"]
    intervals = pd.read_csv(report / "ACME_intervals.csv", index_col="model")
    assert list(intervals.index) == [
        "rnn", "hist", "ewma", "garch", "parkinson", "garman_klass", "har", "rnn_aci"
    ]  # fmt: skip
    assert intervals.loc["garch", "interval_score_90"] == pytest.approx(
        m["backtest_garch_interval_score_90"], rel=1e-5
    )
    text = (report / "ACME.md").read_text()
    assert "dm_pvalue" in text and "| rnn_aci |" in text
    assert text.index("interval_score_90") > text.index("theil_u")


@pytest.mark.slow  # a backtest trains a network per fold
def test_global_backtest_trains_one_network_per_fold_for_every_ticker(
    mlflow_store, tmp_path, capsys
):
    folder = tmp_path / "csvs"
    folder.mkdir()
    make_prices(400, seed=1).to_csv(folder / "ACME.csv")
    make_prices(330, seed=2, start="2020-04-01").to_csv(folder / "BOLT.csv")
    code = main(
        ["backtest", "--source", "csv", "--data", str(folder), "--scope", "global",
         "--folds", "2", "--window", "10", "--hidden-size", "8", "--epochs", "1",
         "--batch-size", "256", "--scale-epochs", "3", "--no-progress", "--device", "cpu",
         "--data-dir", str(tmp_path / "data")]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "ACME: walk-forward backtest, 2 folds" in out and "BOLT: forecast intervals" in out
    client = MlflowClient()
    runs = client.search_runs([client.get_experiment_by_name("stockcast").experiment_id])
    kinds = [r.data.tags["kind"] for r in runs]
    assert kinds.count("backtest-global") == 2 and kinds.count("backtest") == 2
    networks = [r for r in runs if r.data.tags["kind"] == "backtest-global"]
    assert {r.data.tags["ticker"] for r in networks} == {"ACME,BOLT"}
    assert all("train_loss" in r.data.metrics for r in networks)
    folds = [r for r in runs if r.data.tags["kind"] == "backtest-fold"]
    assert all(r.data.tags["scope"] == "global" for r in folds)
    # Both tickers' blocks start on the same calendar date in each fold.
    for k in ("1", "2"):
        starts = {r.data.tags["test_from"] for r in folds if r.data.tags["fold"] == k}
        assert len(starts) == 1, starts
    for parent in (r for r in runs if r.data.tags["kind"] == "backtest"):
        assert parent.data.params["cluster.scope"] == "global"
        assert np.isfinite(parent.data.metrics["backtest_interval_score_90"])
    assert (tmp_path / "reports" / "backtest" / "BOLT_intervals.csv").exists()
