"""What the scoring job logs: a monitoring run per ticker whose metric steps are sessions."""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.entities import Metric

from pipeline.core.bands import level_name
from pipeline.models.rnn import RNN
from pipeline.tracking.eval_log import log_figure
from pipeline.tracking.names import metric_key
from pipeline.tracking.plots import live_figure

_BATCH = 1000  # MLflow's limit of metrics per log_batch call
LIVE_SCOPES = ("live", "since_promotion")  # the rolling window, and since the version's promotion


def live_metric_names(level: float, horizon: int = 1) -> dict[str, str]:
    """The ``live_scores`` column behind each logged metric (``live_coverage_90``, ...)."""
    p, h = level_name(level), "" if horizon == 1 else f"_h{horizon}"
    names = {}
    for scope in LIVE_SCOPES:
        names[metric_key(RNN, scope, f"coverage_{p}{h}")] = f"{scope}_coverage"
        names[metric_key(RNN, scope, f"interval_score_{p}{h}")] = f"{scope}_interval_score"
        names[metric_key(RNN, scope, f"theil_u{h}")] = f"{scope}_theil_u"
    return names


def log_monitoring(
    live: pd.DataFrame, ticker: str, level: float, window: int, horizon: int = 1
) -> None:
    """Log ``live_scores``'s frame: one step per scored session (step 0 the first, the
    metric's timestamp the session itself), the table as CSV and the plot."""
    run_id = mlflow.active_run().info.run_id
    names = live_metric_names(level, horizon)
    metrics = [
        Metric(key, float(row[column]), int(session.timestamp() * 1000), step)
        for step, (session, row) in enumerate(live.iterrows())
        for key, column in names.items()
        if pd.notna(row[column])
    ]
    client = mlflow.MlflowClient()
    for start in range(0, len(metrics), _BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + _BATCH])
    p = level_name(level)
    mlflow.log_text(live.to_csv(float_format="%.6f"), f"live_{p}_h{horizon}.csv")
    log_figure(live_figure(live, level, ticker, window), f"plots/live_{p}_h{horizon}.png")
