"""Metric names: one function decides every key the project logs."""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from pipeline.metrics.point import METRICS
from pipeline.models.rnn import RNN

BACKTEST = "backtest"  # the pooled backtest's scope


def metric_key(model: str, scope: str, metric: str) -> str:
    """The one rule for metric names, for every job and table.

    The RNN's are ``<scope>_<metric>`` (``test_rmse``, ``holdout_rmse``,
    ``backtest_rmse``); a baseline's put its name in front for one split
    (``ewma_test_interval_score_90``) and after the scope for the pooled
    backtest (``backtest_ewma_interval_score_90``), as they have been named
    since the first release.
    """
    if model == RNN:
        return f"{scope}_{metric}"
    if scope == BACKTEST:
        return f"{scope}_{model}_{metric}"
    return f"{model}_{scope}_{metric}"


def horizon_key(model: str, horizon: int, metric: str) -> str:
    """A pooled backtest score at one horizon: ``backtest_h5_<metric>`` for the RNN,
    ``backtest_h5_<model>_<metric>`` for another model (``metric_key``'s backtest rule)."""
    return metric_key(model, BACKTEST, metric).replace(BACKTEST, f"{BACKTEST}_h{horizon}", 1)


def summary_key(ticker: str, column: str) -> str:
    """A summary run's metric: one ticker's value in one column (``AAPL_rnn_theil_u``).

    Characters MLflow refuses in a metric name (``^GSPC``, ``EURUSD=X``) become ``_``.
    """
    return re.sub(r"[^\w.\-/ ]", "_", f"{ticker}_{column}")


def table_metrics(
    table: pd.DataFrame, scope: str, columns: Iterable[str] = METRICS
) -> dict[str, float]:
    """Every model's scores in ``table`` under its metric keys (``metric_key``).

    Empty cells (the RNN's DM test against itself) are left out.
    """
    return {
        metric_key(str(model), scope, metric): float(row[metric])
        for model, row in table.iterrows()
        for metric in columns
        if not pd.isna(row[metric])
    }
