"""Runs and what is logged into them: params, metrics per epoch, scores, tables, figures.

Every function here works on the active run; ``run`` opens one in an
experiment given by id (created by the driver, see ``store.py``) and always
ends it FINISHED, FAILED or KILLED.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import RunStatus

from pipeline.config import Config, flatten
from pipeline.core.bands import level_name
from pipeline.errors import Interrupted
from pipeline.evaluation.backtest import FoldResult
from pipeline.evaluation.evaluate import Evaluation
from pipeline.evaluation.report import markdown_table
from pipeline.evaluation.tables import frame_models
from pipeline.metrics.point import METRICS
from pipeline.models.calibration import IntervalFit
from pipeline.models.rnn import RNN
from pipeline.models.scale_head import ScaleEpoch
from pipeline.models.training import Epoch, TrainResult
from pipeline.tracking.plots import (
    band_figure,
    cumulative_error_figure,
    fold_error_figure,
    forecast_figure,
    rolling_coverage_figure,
)

log = logging.getLogger("stockcast")

# Tags of the task this process works on (``task_tags``): every run it opens
# carries them, so that the driver can find the runs of its own job.
_task_tags: dict[str, str] = {}


@contextlib.contextmanager
def task_tags(tags: dict[str, str]) -> Iterator[None]:
    """Tag every run opened inside the block (a job's id and its task's id)."""
    before = dict(_task_tags)
    _task_tags.update(tags)
    try:
        yield
    finally:
        _task_tags.clear()
        _task_tags.update(before)


def current_task_id() -> str | None:
    """The id of the task this process works on, if any (see ``task_tags``)."""
    return _task_tags.get("task_id")


def end_runs(experiment_id: str, status: str, **tags: str) -> int:
    """End every RUNNING run with these tags as ``status``; return how many.

    A worker killed mid-task cannot end its own run: the retried task marks it
    FAILED, and the driver marks its job's runs KILLED when it is interrupted.
    """
    client = mlflow.MlflowClient()
    where = " and ".join(f"tags.{key} = '{value}'" for key, value in tags.items())
    found = client.search_runs([experiment_id], f"{where} and attributes.status = 'RUNNING'")
    for found_run in found:
        client.set_terminated(found_run.info.run_id, status)
    return len(found)


@contextlib.contextmanager
def run(
    cfg: Config,
    ticker: str,
    *,
    experiment_id: str,
    kind: str,
    command: str = "all",
    run_id: str | None = None,
    nested: bool = False,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
    log_config: bool = True,
) -> Iterator[mlflow.ActiveRun]:
    """Open (or resume) a run tagged with the ticker; end it FINISHED, FAILED or KILLED.

    A new run logs the whole config as params once, and names its source after
    the command (``stockcast all``) rather than Python's ``__main__`` (a sweep's
    parent passes ``log_config=False`` and logs the best config at the end). Whatever
    escapes the block (an error, Ctrl-C, SIGTERM) ends the run with the
    matching status, so no run is left RUNNING.
    """
    new_tags = {
        "ticker": ticker,
        "kind": kind,
        "source": cfg.data.source,
        "mlflow.source.name": f"stockcast {command}",
        "mlflow.source.type": "LOCAL",
        **_task_tags,
        **(tags or {}),
    }
    active = mlflow.start_run(
        run_id=run_id,
        experiment_id=None if run_id else experiment_id,
        run_name=None if run_id else (run_name or f"{ticker}-{kind}"),
        nested=nested,
        tags=None if run_id else new_tags,
    )
    try:
        if run_id is None and log_config:
            mlflow.log_params({"ticker": ticker, **flatten(cfg)})
        yield active
    except (KeyboardInterrupt, Interrupted):
        _end_run(RunStatus.KILLED)
        raise
    except BaseException:
        _end_run(RunStatus.FAILED)
        raise
    else:
        mlflow.end_run(RunStatus.to_string(RunStatus.FINISHED))


def _end_run(status: int) -> None:
    """End the active run with ``status`` without hiding the error that got us here."""
    try:
        mlflow.end_run(RunStatus.to_string(status))
    except Exception as exc:  # the store itself may be what failed
        log.warning("could not mark the MLflow run %s: %s", RunStatus.to_string(status), exc)


def log_epoch(record: Epoch) -> None:
    """Log one epoch's losses with its step, so the UI draws the loss curves."""
    mlflow.log_metrics(
        {"train_loss": record.train_loss, "val_loss": record.val_loss}, step=record.epoch
    )


def log_scale_epoch(record: ScaleEpoch) -> None:
    """Log one scale-head epoch's NLL, per trunk (``scale_frozen_val_nll``, ...)."""
    head = f"scale_{record.trunk}"
    mlflow.log_metrics(
        {f"{head}_train_nll": record.train_nll, f"{head}_val_nll": record.val_nll},
        step=record.epoch,
    )


def log_calibration(fit: IntervalFit) -> None:
    """Log the chosen scale head, the validation scores that chose it, and the multipliers."""
    metrics = {
        "scale_best_epoch": fit.scale.best_epoch,
        **{f"val_interval_score_{name}": value for name, value in fit.val_scores.items()},
    }
    m = fit.multipliers
    for level, lower, upper in zip(m.levels, m.lower, m.upper, strict=True):
        metrics[f"conformal_lower_{level_name(level)}"] = lower
        metrics[f"conformal_upper_{level_name(level)}"] = upper
    mlflow.log_metrics(metrics)
    mlflow.set_tag("scale_trunk", fit.trunk)


def log_training(result: TrainResult) -> None:
    """Log what training ended with."""
    mlflow.log_metrics(
        {
            "best_epoch": result.best_epoch,
            "epochs_run": len(result.history) - 1,
            "shrink_factor": result.shrink,
            "train_seconds": result.seconds,
        }
    )
    mlflow.set_tag("device", result.device)


def log_dataset(prices: pd.DataFrame, ticker: str, source: str) -> None:
    """Record the price table the run used, through ``mlflow.log_input``."""
    frame = prices.reset_index()
    with warnings.catch_warnings():
        # A local path matches two equivalent source types; MLflow picks one and says so.
        warnings.filterwarnings("ignore", message="The specified dataset source")
        dataset = mlflow.data.from_pandas(frame, source=source, name=f"{ticker}-daily-prices")
    mlflow.log_input(dataset, context="training")


def metric_names(model: str, prefix: str, columns: Iterable[str] = METRICS) -> dict[str, str]:
    """Metric keys: ours are ``<prefix>_rmse`` etc., a baseline's ``<name>_<prefix>_rmse``."""
    head = prefix if model == RNN else f"{model}_{prefix}"
    return {metric: f"{head}_{metric}" for metric in columns}


def table_metrics(
    table: pd.DataFrame, prefix: str, columns: Iterable[str] = METRICS
) -> dict[str, float]:
    """Every model's scores in ``table`` under its metric keys (see ``metric_names``).

    Empty cells (the RNN's DM test against itself) are left out.
    """
    return {
        key: float(row[metric])
        for model, row in table.iterrows()
        for metric, key in metric_names(str(model), prefix, columns).items()
        if not pd.isna(row[metric])
    }


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
    title: str,
    breaks: list[pd.Timestamp] | None = None,
    band_file: str = "plots/test_forecast.png",
) -> None:
    """The interval band over the last days, rolling coverage and the gain over persistence."""
    level = 0.9 if 0.9 in levels else levels[0]
    interval_models = frame_models(bands)
    log_figure(band_figure(forecasts, bands, level, title), band_file)
    log_figure(
        rolling_coverage_figure(forecasts["actual"], bands, level, interval_models, breaks=breaks),
        "plots/rolling_coverage.png",
    )
    # The close contenders only: the 5-day mean's losses would squash every other line.
    point_models = [m for m in (RNN, "drift", "ridge") if m in forecasts.columns]
    log_figure(
        cumulative_error_figure(forecasts, point_models, breaks), "plots/cumulative_error.png"
    )


def log_figure(fig: Any, artifact_file: str) -> None:
    """Log a matplotlib ``Figure`` (from ``plots.py``) as a PNG artifact."""
    mlflow.log_figure(fig, artifact_file)


# --------------------------------------------------------------------------- backtest


def log_fold(result: FoldResult) -> None:
    """Log one fold's test metrics (in its nested run) with the fold's test dates."""
    metrics = table_metrics(result.table, "test")
    if result.intervals is not None:
        metrics |= table_metrics(result.intervals, "test", result.intervals.columns)
    mlflow.log_metrics(metrics)
    dates = result.forecasts.index
    mlflow.set_tags({"test_from": str(dates[0].date()), "test_to": str(dates[-1].date())})


def backtest_metric_names(model: str, columns: Iterable[str] = METRICS) -> dict[str, str]:
    """Pooled metric keys: ``backtest_rmse`` for ours, ``backtest_<model>_rmse`` for a baseline."""
    head = "backtest" if model == RNN else f"backtest_{model}"
    return {metric: f"{head}_{metric}" for metric in columns}


def log_backtest(
    pooled: pd.DataFrame,
    per_fold: pd.DataFrame,
    results: list[FoldResult],
    pooled_intervals: pd.DataFrame | None = None,
) -> None:
    """Log the pooled metrics, DM tests, the tables and the plots to the parent run."""
    metrics: dict[str, float] = {}
    for model, row in pooled.iterrows():
        for metric, key in backtest_metric_names(str(model)).items():
            metrics[key] = float(row[metric])
        if model != RNN:
            metrics[f"backtest_dm_stat_{model}"] = float(row["dm_stat"])
            metrics[f"backtest_dm_pvalue_{model}"] = float(row["dm_pvalue"])
    if pooled_intervals is not None:
        for model, row in pooled_intervals.iterrows():
            names = backtest_metric_names(str(model), pooled_intervals.columns)
            metrics |= {key: float(row[c]) for c, key in names.items() if not pd.isna(row[c])}
        mlflow.log_text(markdown_table(pooled_intervals), "backtest_intervals.md")
        mlflow.log_text(
            pooled_intervals.to_csv(float_format="%.6f", index_label="model"),
            "backtest_intervals.csv",
        )
    mlflow.log_metrics(metrics)
    mlflow.log_text(markdown_table(pooled), "backtest.md")
    mlflow.log_text(pooled.to_csv(float_format="%.6f", index_label="model"), "backtest.csv")
    mlflow.log_text(per_fold.to_csv(float_format="%.6f"), "backtest_fold_rmse.csv")
    log_figure(fold_error_figure(per_fold), "plots/fold_rmse.png")
    last = results[-1]
    models = [c for c in last.forecasts.columns if c not in ("actual", "previous")]
    fig = forecast_figure(
        last.forecasts, f"last fold ({last.fold}): forecasts against the actual Close", models
    )
    log_figure(fig, "plots/last_fold_forecasts.png")
    if pooled_intervals is not None:
        forecasts = pd.concat([r.forecasts for r in results])
        bands = pd.concat([r.bands for r in results])
        breaks = [r.forecasts.index[0] for r in results[1:]]
        title = "walk-forward: the last test days with the RNN's interval"
        log_interval_plots(
            forecasts, bands, results[0].levels, title, breaks, "plots/last_days_interval.png"
        )


# --------------------------------------------------------------------------- retrain


def log_tags(tags: dict[str, str]) -> None:
    """Set tags on the active run."""
    mlflow.set_tags(tags)


def log_retrain(scores: dict[str, dict[str, float]], decision, champion_before: str | None) -> None:
    """Record both models' holdout scores and the promotion decision."""
    metrics = {
        f"{who}_holdout_{metric}": value
        for who, row in scores.items()
        for metric, value in row.items()
    }
    mlflow.log_metrics(metrics)
    mlflow.set_tags(
        {
            "decision": "promote" if decision.promote else "keep",
            "decision_reason": decision.reason,
            "champion_before": champion_before or "none",
        }
    )
