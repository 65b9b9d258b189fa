"""The driver: what a command does around its per-ticker job.

It owns everything shared: the tracking store and the experiment (created
once, their id handed to every job), the prices (fetched here and passed to
the job as values), the order of the output and the exit code. One ticker's
expected failure is reported and the others go on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

import pandas as pd

from pipeline.config import Config
from pipeline.data.sources import csv_tickers, load_prices
from pipeline.errors import DataError, FetchError, RegistryError, StockcastError, TrainingError
from pipeline.jobs.common import StageClock, Summary

# Failures of one ticker that leave the others worth running.
TICKER_FAILURES = (DataError, FetchError, TrainingError, RegistryError)


def tickers_for(cfg: Config) -> tuple[str, ...]:
    """The tickers a run covers: the CSVs' stems for source=csv, else cfg.tickers."""
    if cfg.data.source == "csv":
        return csv_tickers(cfg.data.csv_path)
    return cfg.tickers


def each_ticker(
    cfg: Config, work: Callable[[str], Summary | None], tickers: Iterable[str] | None = None
) -> int:
    """Run ``work`` per ticker, printing each summary; return the first failure's exit code."""
    tickers = tuple(tickers_for(cfg) if tickers is None else tickers)
    failed: list[StockcastError] = []
    for ticker in tickers:
        try:
            summary = work(ticker)
        except TICKER_FAILURES as exc:
            report_failure(exc)
            failed.append(exc)
        else:
            if summary is not None:
                print(summary.text)
    return exit_code(failed, len(tickers))


def priced_job(
    cfg: Config,
    job: Callable[[Config, str, pd.DataFrame, str], Summary],
    experiment_id: str,
    clock: StageClock | None = None,
    on_summary: Callable[[Summary], None] | None = None,
) -> int:
    """Fetch each ticker's prices here, then run ``job`` on them; print what comes back."""
    clock = clock or StageClock()

    def one(ticker: str) -> Summary:
        with clock.stage("fetch"):
            prices = load_prices(ticker, cfg.data, cfg.paths)
        summary = job(cfg, ticker, prices, experiment_id)
        clock.add(summary.seconds)
        if on_summary:
            on_summary(summary)
        return summary

    return each_ticker(cfg, one)


def report_failure(exc: StockcastError) -> None:
    """One ``error:`` line on stderr."""
    print(f"error: {exc}", file=sys.stderr)


def exit_code(failed: list[StockcastError], n_tickers: int) -> int:
    """0, or the first failure's code (saying how many failed when there were several)."""
    if not failed:
        return 0
    if n_tickers > 1:
        print(f"error: {len(failed)} of {n_tickers} tickers failed", file=sys.stderr)
    return failed[0].exit_code
