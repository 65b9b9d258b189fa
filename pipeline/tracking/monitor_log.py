"""What the scoring job logs: one monitoring run per ticker and model, its metric steps sessions.

``score`` and ``backfill`` extend that run (``monitor_run_id`` finds it) rather
than open a copy per invocation; a session already logged is not logged again.
"""

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


MONITORED_MODEL_TAG = "monitored_model"  # the registered model whose forecasts a run scores


def monitor_run_id(experiment_id: str, ticker: str, model_name: str) -> str | None:
    """The monitoring run of ``ticker``'s forecasts by ``model_name`` (the oldest, should a
    race have made two), or None if there is none yet."""
    where = (
        f"tags.kind = 'monitor' and tags.ticker = '{ticker}' "
        f"and tags.{MONITORED_MODEL_TAG} = '{model_name}'"
    )
    found = mlflow.MlflowClient().search_runs(
        [experiment_id], where, order_by=["attributes.start_time ASC"], max_results=1
    )
    return found[0].info.run_id if found else None


def _last_logged_ms(client: mlflow.MlflowClient, run_id: str, key: str) -> int:
    """The timestamp of the last session the run holds for ``key`` (-1 if none)."""
    return max((m.timestamp for m in client.get_metric_history(run_id, key)), default=-1)


def log_monitoring(
    live: pd.DataFrame, ticker: str, level: float, window: int, horizon: int = 1
) -> None:
    """Log ``live_scores``'s frame: one step per scored session (step 0 the first, the
    metric's timestamp the session itself), the table as CSV and the plot.

    Sessions the run already holds (an earlier ``score`` of the same run) are left as they
    are: only those after its last logged one are added, so rescoring adds no copies.
    """
    run_id = mlflow.active_run().info.run_id
    names = live_metric_names(level, horizon)
    client = mlflow.MlflowClient()
    since = {key: _last_logged_ms(client, run_id, key) for key in names}
    metrics = [
        Metric(key, float(row[column]), ms, step)
        for step, (session, row) in enumerate(live.iterrows())
        for key, column in names.items()
        if pd.notna(row[column]) and (ms := int(session.timestamp() * 1000)) > since[key]
    ]
    for start in range(0, len(metrics), _BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + _BATCH])
    p = level_name(level)
    mlflow.log_text(live.to_csv(float_format="%.6f"), f"live_{p}_h{horizon}.csv")
    log_figure(live_figure(live, level, ticker, window), f"plots/live_{p}_h{horizon}.png")
