"""What a job's summary run logs: the table across tickers, its numbers, one figure.

One summary run per ``all`` or ``backtest`` (kind ``summary``), opened by the
driver once the tickers' jobs are done, so that the runs table opens on the
answer: its metrics are ``<TICKER>_<column>`` (``AAPL_rnn_theil_u``), its
``summary.md`` the table to four decimals (MLflow's charts round to two), its
``plots/summary.png`` the RNN against the best baseline, one row per ticker.
"""

from __future__ import annotations

from collections.abc import Mapping

import mlflow
import pandas as pd

from pipeline.config import Config
from pipeline.evaluation.report import markdown_table
from pipeline.tracking import lifecycle
from pipeline.tracking.eval_log import log_figure
from pipeline.tracking.names import summary_key
from pipeline.tracking.plots import summary_figure

SUMMARY = "summary"  # the summary run's kind


def log_summary(
    cfg: Config,
    table: pd.DataFrame,
    heading: str,
    *,
    days: str,
    label: str,
    experiment_id: str,
    command: str,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Log ``table`` (one row per ticker) as the job's summary run; its run id.

    ``heading`` says what the table holds and ``days`` which days were scored;
    ``label`` names the tickers (the run's ``ticker`` tag); ``tags`` are the job's.
    """
    metrics = {
        summary_key(str(ticker), str(column)): float(value)
        for ticker, row in table.iterrows()
        for column, value in row.items()
        if isinstance(value, int | float) and not pd.isna(value)
    }
    with lifecycle.run(
        cfg, label, experiment_id=experiment_id, kind=SUMMARY, command=command,
        run_name=f"{command}-summary", tags=tags,
    ) as active:  # fmt: skip
        mlflow.log_metrics(metrics)
        mlflow.log_text(f"{heading}\n\n{markdown_table(table, index_name='ticker')}", "summary.md")
        title = f"{label}: the RNN against the best baseline on {days} (ratios: 1 is a baseline)"
        log_figure(summary_figure(table, title), "plots/summary.png")
    return active.info.run_id
