"""What an evaluation on test days logs: every model's scores, tables and plots."""

from __future__ import annotations

from typing import Any

import mlflow
import pandas as pd

from pipeline.evaluation.evaluate import Evaluation
from pipeline.evaluation.report import markdown_table
from pipeline.evaluation.tables import frame_models
from pipeline.models.rnn import RNN
from pipeline.tracking.names import table_metrics
from pipeline.tracking.plots import (
    band_figure,
    cumulative_error_figure,
    rolling_coverage_figure,
)


def log_evaluation(
    evaluation: Evaluation, prefix: str = "test", model_id: str | None = None
) -> dict[str, float]:
    """Log every model's point and interval scores (linked to the logged model
    ``model_id`` if given); return the logged metrics."""
    metrics = table_metrics(evaluation.table, prefix)
    mlflow.log_text(markdown_table(evaluation.table), f"{prefix}_metrics.md")
    mlflow.log_text(evaluation.forecasts.to_csv(float_format="%.6f"), f"{prefix}_forecasts.csv")
    if evaluation.intervals is not None:
        metrics |= table_metrics(evaluation.intervals, prefix, evaluation.intervals.columns)
        mlflow.log_text(markdown_table(evaluation.intervals), f"{prefix}_intervals.md")
        mlflow.log_text(evaluation.bands.to_csv(float_format="%.6f"), f"{prefix}_bands.csv")
    mlflow.log_metrics(metrics, model_id=model_id)
    return metrics


def log_interval_plots(
    forecasts: pd.DataFrame,
    bands: pd.DataFrame,
    levels: tuple[float, ...],
    ticker: str,
    title: str,
    breaks: list[pd.Timestamp] | None = None,
    band_file: str = "plots/test_forecast.png",
) -> None:
    """The interval band over the last days, rolling coverage and the gain over persistence."""
    level = 0.9 if 0.9 in levels else levels[0]
    interval_models = frame_models(bands)
    log_figure(band_figure(forecasts, bands, level, title), band_file)
    coverage = rolling_coverage_figure(
        forecasts["actual"], bands, level, interval_models, ticker, breaks=breaks
    )
    log_figure(coverage, "plots/rolling_coverage.png")
    # The close contenders only: the 5-day mean's losses would squash every other line.
    point_models = [m for m in (RNN, "drift", "ridge") if m in forecasts.columns]
    log_figure(
        cumulative_error_figure(forecasts, point_models, ticker, breaks),
        "plots/cumulative_error.png",
    )


def log_figure(fig: Any, artifact_file: str) -> None:
    """Log a matplotlib ``Figure`` (from ``plots.py``) as a PNG artifact."""
    mlflow.log_figure(fig, artifact_file)
