"""What the backtest logs: each fold's scores in its nested run, the pooled ones in the parent."""

from __future__ import annotations

import mlflow
import pandas as pd

from pipeline.evaluation.backtest import FoldResult, forecast_rows
from pipeline.evaluation.report import markdown_table
from pipeline.metrics.point import METRICS
from pipeline.models.rnn import RNN
from pipeline.tracking.eval_log import log_figure, log_interval_plots
from pipeline.tracking.names import BACKTEST, horizon_key, metric_key, table_metrics
from pipeline.tracking.plots import (
    fold_error_figure,
    forecast_figure,
)

FORECASTS_CSV = "backtest_forecasts.csv"  # every model's per-day forecast and bands


def log_fold(result: FoldResult) -> None:
    """Log one fold's test metrics (in its nested run) with the fold's test dates and the
    ticker's validation days that calibrated its intervals."""
    metrics = table_metrics(result.table, "test")
    if result.intervals is not None:
        metrics |= table_metrics(result.intervals, "test", result.intervals.columns)
    mlflow.log_metrics(metrics)
    dates = result.forecasts.index
    mlflow.set_tags(
        {
            "test_from": str(dates[0].date()),
            "test_to": str(dates[-1].date()),
            "calibration_days": str(len(result.features.split.val)),
        }
    )


def horizon_metrics(table: pd.DataFrame) -> dict[str, float]:
    """The pooled scores per horizon: ``backtest_h5_interval_score_90`` (the RNN),
    ``backtest_h5_ewma_interval_score_90``, ... (``names.horizon_key``); empty cells left out."""
    return {
        horizon_key(str(model), int(row["horizon"]), column): float(row[column])
        for model, row in table.iterrows()
        for column in table.columns
        if column != "horizon" and not pd.isna(row[column])
    }


def log_backtest(
    ticker: str,
    pooled: pd.DataFrame,
    per_fold: pd.DataFrame,
    results: list[FoldResult],
    pooled_intervals: pd.DataFrame | None = None,
    horizons: pd.DataFrame | None = None,
) -> None:
    """Log the pooled metrics, DM tests, the tables and the plots to the parent run."""
    metrics: dict[str, float] = {}
    if horizons is not None:
        metrics |= horizon_metrics(horizons)
        mlflow.log_text(markdown_table(horizons.astype({"horizon": str})), "backtest_horizons.md")
        mlflow.log_text(
            horizons.to_csv(float_format="%.6f", index_label="model"), "backtest_horizons.csv"
        )
    for model, row in pooled.iterrows():
        for metric in METRICS:
            metrics[metric_key(str(model), BACKTEST, metric)] = float(row[metric])
        if model != RNN:
            metrics[f"backtest_dm_stat_{model}"] = float(row["dm_stat"])
            metrics[f"backtest_dm_pvalue_{model}"] = float(row["dm_pvalue"])
    if pooled_intervals is not None:
        metrics |= table_metrics(pooled_intervals, BACKTEST, pooled_intervals.columns)
        mlflow.log_text(markdown_table(pooled_intervals), "backtest_intervals.md")
        mlflow.log_text(
            pooled_intervals.to_csv(float_format="%.6f", index_label="model"),
            "backtest_intervals.csv",
        )
    mlflow.log_metrics(metrics)
    mlflow.log_text(markdown_table(pooled), "backtest.md")
    mlflow.log_text(pooled.to_csv(float_format="%.6f", index_label="model"), "backtest.csv")
    mlflow.log_text(per_fold.to_csv(float_format="%.6f"), "backtest_fold_rmse.csv")
    # Full precision: every score of the run can be recomputed from these rows.
    mlflow.log_text(forecast_rows(ticker, results).to_csv(index=False), FORECASTS_CSV)
    log_figure(fold_error_figure(per_fold, ticker), "plots/fold_rmse.png")
    last = results[-1]
    models = [c for c in last.forecasts.columns if c not in ("actual", "previous")]
    title = f"{ticker}, last fold ({last.fold}): each model's next-day Close (price units)"
    fig = forecast_figure(last.forecasts, title, models)
    log_figure(fig, "plots/last_fold_forecasts.png")
    if pooled_intervals is not None:
        forecasts = pd.concat([r.forecasts for r in results])
        bands = pd.concat([r.bands for r in results])
        breaks = [r.forecasts.index[0] for r in results[1:]]
        title = f"{ticker}, walk-forward: next-day Close and the RNN's interval (price units)"
        log_interval_plots(
            forecasts, bands, results[0].levels, ticker, title, breaks,
            "plots/last_days_interval.png",
        )  # fmt: skip
