"""What training logs: losses per epoch, the training record, the calibration, the data."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import mlflow
import pandas as pd

from pipeline.core.bands import level_name
from pipeline.models.calibration import IntervalFit
from pipeline.models.scale_head import ScaleEpoch
from pipeline.models.training import Epoch, TrainResult
from pipeline.tracking import lifecycle


def log_epoch(record: Epoch, background: bool = True) -> None:
    """Log one epoch's losses with its step, so the UI draws the loss curves.

    In the background by default (``lifecycle.log_in_background``): against a tracking
    server a request costs milliseconds that training need not wait for.
    """
    metrics = {"train_loss": record.train_loss, "val_loss": record.val_loss}
    _log_step(metrics, record.epoch, background)


def log_scale_epoch(record: ScaleEpoch, background: bool = True) -> None:
    """Log one scale-head epoch's NLL, per trunk (``scale_frozen_val_nll``, ...)."""
    head = f"scale_{record.trunk}"
    metrics = {f"{head}_train_nll": record.train_nll, f"{head}_val_nll": record.val_nll}
    _log_step(metrics, record.epoch, background)


def epoch_loggers(background: bool) -> tuple[Callable[[Epoch], None], Callable[[ScaleEpoch], None]]:
    """``log_epoch`` and ``log_scale_epoch``, in the background or not (``--sync-logging``)."""
    return (
        functools.partial(log_epoch, background=background),
        functools.partial(log_scale_epoch, background=background),
    )


def _log_step(metrics: dict[str, float], step: int, background: bool) -> None:
    if background:
        lifecycle.log_in_background(metrics, step)
    else:
        mlflow.log_metrics(metrics, step=step)


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


def log_dataset(prices: pd.DataFrame, ticker: str, source: str) -> None:
    """Record the price table the run used, through ``mlflow.log_input``."""
    frame = prices.reset_index()
    with warnings.catch_warnings():
        # A local path matches two equivalent source types; MLflow picks one and says so.
        warnings.filterwarnings("ignore", message="The specified dataset source")
        dataset = mlflow.data.from_pandas(frame, source=source, name=f"{ticker}-daily-prices")
    mlflow.log_input(dataset, context="training")
