"""The ``backtest`` job for one ticker: a parent MLflow run with a nested run per fold."""

from __future__ import annotations

import pandas as pd

from pipeline import storage
from pipeline.config import Config
from pipeline.data.sources import source_uri
from pipeline.evaluation.backtest import FoldResult, backtest, fold_errors, pooled_table
from pipeline.evaluation.baselines import RNNForecaster, baselines
from pipeline.evaluation.report import markdown_table, text_table
from pipeline.jobs.common import Summary
from pipeline.tracking import runs


def run_backtest(cfg: Config, ticker: str, prices: pd.DataFrame, experiment_id: str) -> Summary:
    """Walk-forward backtest of the RNN and every baseline; the pooled table comes back."""

    def make_models(fold: int) -> list:
        rnn = RNNForecaster(
            cfg.model,
            cfg.train,
            label=f"{ticker} fold {fold}",
            on_epoch=runs.log_epoch,
            on_trained=runs.log_training,
        )
        return [rnn, *baselines(cfg.baselines, cfg.train.seed)]

    def fold_scope(fold: int):
        return runs.run(
            cfg, ticker, experiment_id=experiment_id, kind="backtest-fold", command="backtest",
            nested=True, run_name=f"{ticker}-fold-{fold}", tags={"fold": str(fold)},
        )  # fmt: skip

    with runs.run(
        cfg, ticker, experiment_id=experiment_id, kind="backtest", command="backtest"
    ) as active:
        runs.log_dataset(prices, ticker, source_uri(cfg.data, ticker))
        results = backtest(
            prices, cfg.features, cfg.backtest, make_models, ticker, fold_scope, runs.log_fold
        )
        pooled = pooled_table(results)
        runs.log_backtest(pooled, fold_errors(results), results[-1])
        run_id = active.info.run_id
    heading = backtest_heading(ticker, results)
    return Summary(
        ticker,
        f"\n{heading}\n{text_table(pooled)}",
        run_id,
        facts={"heading": heading, "pooled": pooled},
    )


def backtest_heading(ticker: str, results: list[FoldResult]) -> str:
    """One line: folds, test days and what the DM columns test."""
    days = sum(len(r.forecasts) for r in results)
    first, last = results[0].forecasts.index[0].date(), results[-1].forecasts.index[-1].date()
    return (
        f"{ticker}: walk-forward backtest, {len(results)} folds, {days} test days "
        f"{first} to {last}; DM test of the RNN against each model (squared error, HLN)"
    )


def save_report(cfg: Config, summary: Summary) -> None:
    """Save the pooled table as CSV and Markdown under reports/backtest/ (by the driver)."""
    pooled, heading = summary.facts["pooled"], summary.facts["heading"]
    folder = cfg.paths.reports_dir / "backtest"
    storage.write_text(
        folder / f"{summary.ticker}.csv", pooled.to_csv(float_format="%.6f", index_label="model")
    )
    storage.write_text(
        folder / f"{summary.ticker}.md",
        f"{heading}. MLflow run {summary.run_id}.\n\n{markdown_table(pooled)}",
    )
