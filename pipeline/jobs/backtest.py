"""The ``backtest`` job: per ticker, a parent MLflow run with a nested run per fold.

With ``--scope global`` one job covers the universe: the folds are cut by
calendar date for every ticker, one network per fold is trained on all of
them (in a run of its own, ``kind=backtest-global``), and each ticker gets the
same parent and fold runs as with ``--scope ticker``.
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
    calendar_backtest,
    fold_errors,
    pooled_interval_table,
    pooled_table,
)
from pipeline.evaluation.evaluate import IDENTICAL, identical_to_persistence
from pipeline.evaluation.horizons import pooled_horizon_table
from pipeline.evaluation.report import markdown_table, text_table
from pipeline.evaluation.summary import Scores
from pipeline.jobs.common import Summary, tickers_label
from pipeline.models.adaptive_rnn import AdaptiveRNN
from pipeline.models.global_rnn import GlobalRNN, train_global
from pipeline.models.point import baselines
from pipeline.models.rnn import RNN, Hooks, RNNForecaster
from pipeline.models.volatility import interval_baselines
from pipeline.tracking import backtest_log, lifecycle, train_log


def run_backtest(
    cfg: Config,
    ticker: str,
    prices: pd.DataFrame,
    experiment_id: str,
    *,
    tags: Mapping[str, str] | None = None,
) -> Summary:
    """Walk-forward backtest of the RNN and every baseline; the pooled table comes back."""
    tags = dict(tags or {})

    def make_models(fold: int) -> list:
        rnn = RNNForecaster(
            cfg.model, cfg.train, cfg.intervals, cfg.runtime,
            label=f"{ticker} fold {fold}", hooks=_training_hooks(cfg),
        )  # fmt: skip
        return fold_models(cfg, rnn)

    def fold_scope(fold: int):
        return lifecycle.run(
            cfg, ticker, experiment_id=experiment_id, kind="backtest-fold", command="backtest",
            nested=True, run_name=f"{ticker}-fold-{fold}", tags={**tags, "fold": str(fold)},
        )  # fmt: skip

    with lifecycle.run(
        cfg, ticker, experiment_id=experiment_id, kind="backtest", command="backtest", tags=tags
    ) as active:
        train_log.log_dataset(prices, ticker, source_uri(cfg.data, ticker))
        results = backtest(
            prices,
            cfg.features,
            cfg.backtest,
            make_models,
            ticker,
            fold_scope,
            backtest_log.log_fold,
        )
        pooled = pooled_table(results)
        intervals = pooled_interval_table(results)
        horizons = pooled_horizons(results)
        backtest_log.log_backtest(
            ticker, pooled, fold_errors(results), results, intervals, horizons
        )
        run_id = active.info.run_id
    return backtest_summary(ticker, results, pooled, intervals, run_id, horizons)


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


def run_global_backtest(
    cfg: Config,
    prices: Mapping[str, pd.DataFrame],
    experiment_id: str,
    *,
    tags: Mapping[str, str] | None = None,
) -> list[Summary]:
    """Walk-forward backtest of one network for the universe, folds cut by calendar date.

    Each fold's network is trained on every ticker's training windows and
    calibrated per ticker on that ticker's validation days; the baselines are
    fitted per ticker on the same folds. Summaries come back in ticker order.
    """
    tags = {**(tags or {}), "scope": "global"}
    tickers = tuple(prices)

    def make_models(fold: int, features: Mapping) -> dict[str, list]:
        with lifecycle.run(
            cfg, tickers_label(tickers), experiment_id=experiment_id, kind="backtest-global",
            command="backtest", run_name=f"global-fold-{fold}", tags={**tags, "fold": str(fold)},
        ):  # fmt: skip
            trained = train_global(
                features, cfg.model, cfg.train, cfg.intervals, cfg.runtime,
                label=f"global fold {fold}", hooks=_training_hooks(cfg),
            )  # fmt: skip
        models = {}
        for ticker in tickers:
            rnn = GlobalRNN(cfg.model, cfg.train, cfg.intervals, cfg.runtime, trained=trained)
            models[ticker] = fold_models(cfg, rnn)
        return models

    results = calendar_backtest(prices, cfg.features, cfg.backtest, make_models)
    summaries = []
    for ticker in tickers:
        own = results[ticker]
        with lifecycle.run(
            cfg, ticker, experiment_id=experiment_id, kind="backtest", command="backtest",
            tags=tags,
        ) as active:  # fmt: skip
            train_log.log_dataset(prices[ticker], ticker, source_uri(cfg.data, ticker))
            for result in own:
                with lifecycle.run(
                    cfg, ticker, experiment_id=experiment_id, kind="backtest-fold",
                    command="backtest", nested=True, run_name=f"{ticker}-fold-{result.fold}",
                    tags={**tags, "fold": str(result.fold)},
                ):  # fmt: skip
                    backtest_log.log_fold(result)
                    # The global network's multipliers come from this ticker's own days.
                    days = len(result.features.split.val)
                    lifecycle.log_tags({"calibration_days": str(days)})
            pooled, intervals = pooled_table(own), pooled_interval_table(own)
            horizons = pooled_horizons(own)
            backtest_log.log_backtest(ticker, pooled, fold_errors(own), own, intervals, horizons)
            run_id = active.info.run_id
        summaries.append(backtest_summary(ticker, own, pooled, intervals, run_id, horizons))
    return summaries


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
