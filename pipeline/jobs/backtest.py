"""The ``backtest`` job for one group: per ticker, a parent MLflow run with a nested run per fold.

The folds are cut by calendar date for every ticker of the group at once; each
fold's network is trained on all of them (in the ticker's fold run for a
ticker's own model, in a run of the group, ``kind=backtest-global``, for the
global one) and calibrated per ticker on that ticker's validation days; the
baselines are fitted per ticker on the same folds.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pipeline import storage
from pipeline.config import Config
from pipeline.data.sources import source_uri
from pipeline.evaluation.backtest import (
    FoldResult,
    backtest,
    fold_errors,
    pooled_interval_table,
    pooled_table,
)
from pipeline.evaluation.evaluate import IDENTICAL, identical_to_persistence
from pipeline.evaluation.horizons import pooled_horizon_table
from pipeline.evaluation.report import markdown_table, text_table
from pipeline.evaluation.summary import Scores
from pipeline.models.adaptive_rnn import AdaptiveRNN
from pipeline.models.group_rnn import GroupRNN, train_group
from pipeline.models.point import baselines
from pipeline.models.rnn import RNN, Hooks, RNNForecaster
from pipeline.models.volatility import interval_baselines
from pipeline.runtime.common import Group, Summary
from pipeline.tracking import backtest_log, train_log
from pipeline.tracking.group_runs import BacktestRuns, GroupRuns


def run_backtest(
    cfg: Config,
    group: Group,
    experiment_id: str,
    *,
    tags: Mapping[str, str] | None = None,
) -> list[Summary]:
    """Walk-forward backtest of the group's RNN and every baseline; each ticker's pooled
    tables come back, in the group's ticker order."""
    runs = BacktestRuns(
        GroupRuns(
            cfg, group.name, group.tickers, group.label, experiment_id, "backtest", "backtest",
            dict(tags or {}),
        )
    )  # fmt: skip

    def make_models(fold: int, features: Mapping) -> dict[str, list]:
        trained = train_group(
            features, cfg.model, cfg.train, cfg.intervals, cfg.runtime,
            label=f"{group.name} fold {fold}", hooks=_training_hooks(cfg),
        )  # fmt: skip
        return {
            ticker: fold_models(
                cfg, GroupRNN(cfg.model, cfg.train, cfg.intervals, cfg.runtime, trained=trained)
            )
            for ticker in features
        }

    def on_fold(ticker: str, result: FoldResult) -> None:
        runs.fold_done(lambda: backtest_log.log_fold(result))

    with runs.job():
        results = backtest(
            group.prices, cfg.features, cfg.backtest, make_models, runs.fold, on_fold
        )
        summaries = []
        for ticker in group.tickers:
            own = results[ticker]
            with runs.ticker(ticker, own, backtest_log.log_fold) as run_id:
                prices = group.prices[ticker]
                train_log.log_dataset(prices, ticker, source_uri(cfg.data, ticker))
                pooled, intervals = pooled_table(own), pooled_interval_table(own)
                horizons = pooled_horizons(own)
                backtest_log.log_backtest(
                    ticker, pooled, fold_errors(own), own, intervals, horizons
                )
            summaries.append(backtest_summary(ticker, own, pooled, intervals, run_id, horizons))
    return summaries


def pooled_horizons(results: list[FoldResult]) -> pd.DataFrame | None:
    """The pooled scores at every horizon 1..H (None with a single horizon: the tables above)."""
    if len(results[0].horizons) < 2:
        return None
    return pooled_horizon_table([r.horizons for r in results], results[0].levels)


def _training_hooks(cfg: Config) -> Hooks:
    log_epoch, log_scale_epoch = train_log.epoch_loggers(cfg.runtime.async_logging)
    return Hooks(
        on_epoch=log_epoch,
        on_trained=train_log.log_training,
        on_scale_epoch=log_scale_epoch,
        on_calibrated=train_log.log_calibration,
    )


def fold_models(cfg: Config, rnn: RNNForecaster) -> list:
    """The models of one fold: the RNN first, every baseline, ACI on the RNN last."""
    return [
        rnn,
        *baselines(cfg.baselines, cfg.train.seed),
        *interval_baselines(cfg.intervals.levels),
        AdaptiveRNN(rnn, cfg.intervals.aci_gamma),  # after the RNN: it reads its fit
    ]


def backtest_summary(
    ticker: str,
    results: list[FoldResult],
    pooled: pd.DataFrame,
    intervals: pd.DataFrame | None,
    run_id: str,
    horizons: pd.DataFrame | None = None,
) -> Summary:
    """The printed tables and the facts the driver's summary and reports read."""
    heading = backtest_heading(ticker, results)
    forecasts = pd.concat([r.forecasts for r in results])
    same = identical_to_persistence(forecasts, RNN)
    text = f"\n{heading}\n{text_table(pooled, notes={RNN: IDENTICAL} if same else None)}"
    facts = {"heading": heading, "pooled": pooled, "intervals": intervals}
    facts["scores"] = Scores(pooled, intervals, same)
    if intervals is not None:
        facts["intervals_heading"] = intervals_heading(ticker, results)
        text += f"\n{facts['intervals_heading']}\n{text_table(intervals)}"
    if horizons is not None:
        facts["horizons"] = horizons
        facts["horizons_heading"] = horizons_heading(ticker, horizons)
        text += f"\n{facts['horizons_heading']}\n{text_table(_printable(horizons))}"
    return Summary(ticker, text, run_id, facts=facts)


def backtest_heading(ticker: str, results: list[FoldResult]) -> str:
    """One line: folds, test days and what the DM columns test."""
    days = sum(len(r.forecasts) for r in results)
    first, last = results[0].forecasts.index[0].date(), results[-1].forecasts.index[-1].date()
    return (
        f"{ticker}: walk-forward backtest, {len(results)} folds, {days} test days "
        f"{first} to {last}; DM test of the RNN against each model (squared error, HLN)"
    )


def intervals_heading(ticker: str, results: list[FoldResult]) -> str:
    """One line: what the pooled interval table holds and what its DM columns test."""
    days = sum(len(r.forecasts) for r in results)
    return (
        f"{ticker}: forecast intervals on the same {days} days, pooled over folds; rnn_aci is "
        "the RNN's interval under adaptive conformal inference (updated after each test day); "
        "scores in price units, lower is better; DM test of the RNN's interval score against "
        "each model (HLN; negative: RNN better)"
    )


def _printable(horizons: pd.DataFrame) -> pd.DataFrame:
    """The horizon as text, so that a table prints it as 5, not 5.0000."""
    return horizons.astype({"horizon": str})


def horizons_heading(ticker: str, table: pd.DataFrame) -> str:
    """One line: what the table of horizons holds."""
    last = int(table["horizon"].max())
    return (
        f"{ticker}: forecasts 1 to {last} trading days ahead, pooled over folds; at each horizon "
        "every model on the same target days (the test days whose h-day target is a test day "
        "too); RMSE of the median and interval scores in price units; DM p-values of the RNN "
        "against each model (HLN with the horizon's overlap)"
    )


def save_report(cfg: Config, summary: Summary) -> None:
    """Save the pooled tables as CSV and Markdown under reports/backtest/ (by the driver)."""
    pooled, heading = summary.facts["pooled"], summary.facts["heading"]
    intervals = summary.facts.get("intervals")
    folder = cfg.paths.reports_dir / "backtest"
    storage.write_text(
        folder / f"{summary.ticker}.csv", pooled.to_csv(float_format="%.6f", index_label="model")
    )
    text = f"{heading}. MLflow run {summary.run_id}.\n\n{markdown_table(pooled)}"
    if intervals is not None:
        text += f"\n{summary.facts['intervals_heading']}.\n\n{markdown_table(intervals)}"
        storage.write_text(
            folder / f"{summary.ticker}_intervals.csv",
            intervals.to_csv(float_format="%.6f", index_label="model"),
        )
    horizons = summary.facts.get("horizons")
    if horizons is not None:
        text += f"\n{summary.facts['horizons_heading']}.\n\n{markdown_table(_printable(horizons))}"
        storage.write_text(
            folder / f"{summary.ticker}_horizons.csv",
            horizons.to_csv(float_format="%.6f", index_label="model"),
        )
    storage.write_text(folder / f"{summary.ticker}.md", text)
