"""The thin wiring of the stages: read inputs, call the pure functions, save outputs.

Each stage can run alone (its inputs come from the previous stage's files under
``data/processed/<TICKER>/``) or in sequence through ``run_ticker``, which passes
them along in memory and still leaves the files behind for inspection.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import pandas as pd

from pipeline import registry, storage, tracking
from pipeline.backtest import FoldResult, backtest, fold_errors, pooled_table
from pipeline.config import Config
from pipeline.errors import DataError
from pipeline.evaluate import RNN, Evaluation, baselines, evaluate, forecast_baselines, score
from pipeline.features import (
    Features,
    Split,
    build_features,
    features_for_split,
    scaler_from_state,
    scaler_state,
)
from pipeline.fetch import csv_ticker, load_prices, read_price_csv
from pipeline.forecaster import Forecaster
from pipeline.report import markdown_table, text_table
from pipeline.retrain import Decision, decide, holdout_forecasts, holdout_split
from pipeline.train import Epoch, RNNForecaster, fit

PRICES = "prices.csv"
FEATURES = "features.npz"
MODEL_DIR = "model"
TRAINING = "training.json"
T = TypeVar("T")


class StageClock:
    """Seconds spent per stage, summed over tickers; a nested stage pauses its parent."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack: list[tuple[str, float]] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        now = time.perf_counter()
        if self._stack:
            parent, since = self._stack[-1]
            self.seconds[parent] += now - since
        self._stack.append((name, now))
        try:
            yield
        finally:
            _, since = self._stack.pop()
            now = time.perf_counter()
            self.seconds[name] += now - since
            if self._stack:
                self._stack[-1] = (self._stack[-1][0], now)

    def timed(self, name: str, func: Callable[[T], None]) -> Callable[[T], None]:
        """Wrap a callback so that its time counts towards stage ``name``."""

        def wrapper(arg: T) -> None:
            with self.stage(name):
                func(arg)

        return wrapper


def tickers_for(cfg: Config) -> tuple[str, ...]:
    """The tickers a run covers: the CSV's stem for source=csv, else cfg.tickers."""
    if cfg.data.source == "csv":
        return (csv_ticker(cfg.data.csv_path),)
    return cfg.tickers


def source_uri(cfg: Config, ticker: str) -> str:
    """Where the prices came from, as recorded with the MLflow dataset."""
    if cfg.data.source == "sample":
        return str(cfg.paths.sample_dir / f"{ticker}.csv")
    if cfg.data.source == "csv":
        return str(cfg.data.csv_path)
    return f"yfinance:{ticker}"


# --------------------------------------------------------------------------- fetch


def fetch_stage(cfg: Config, ticker: str) -> pd.DataFrame:
    """Load and validate prices from the configured source; save them for the next stage."""
    prices = load_prices(ticker, cfg.data, cfg.paths)
    path = cfg.paths.processed_dir(ticker) / PRICES
    storage.write_text(path, prices.to_csv(index_label="Date", date_format="%Y-%m-%d"))
    return prices


def saved_prices(cfg: Config, ticker: str) -> pd.DataFrame:
    """The prices the fetch stage saved, or DataError saying to run it."""
    path = cfg.paths.processed_dir(ticker) / PRICES
    if not path.exists():
        raise DataError(f"{ticker}: no fetched prices at {path}; run the fetch stage first")
    return read_price_csv(path)


# --------------------------------------------------------------------------- features


def features_stage(cfg: Config, ticker: str, prices: pd.DataFrame | None = None) -> Features:
    """Split, fit the scalers on training rows, and save everything the model needs."""
    prices = saved_prices(cfg, ticker) if prices is None else prices
    features = build_features(prices, cfg.features, ticker)
    with (
        storage.atomic_path(cfg.paths.processed_dir(ticker) / FEATURES) as tmp,
        open(tmp, "wb") as fh,
    ):
        np.savez(
            fh,
            log_prices=features.log_prices,
            dates=features.dates.to_numpy().astype("datetime64[ns]").astype(np.int64),
            train=features.split.train,
            val=features.split.val,
            test=features.split.test,
            window=features.window,
            scalers=json.dumps(
                {"x": scaler_state(features.x_scaler), "y": scaler_state(features.y_scaler)}
            ),
        )
    return features


def saved_features(cfg: Config, ticker: str) -> Features:
    """The features the features stage saved, or DataError saying to run it."""
    path = cfg.paths.processed_dir(ticker) / FEATURES
    if not path.exists():
        raise DataError(f"{ticker}: no features at {path}; run the features stage first")
    with np.load(path, allow_pickle=False) as z:
        scalers = json.loads(str(z["scalers"]))
        return Features(
            dates=pd.DatetimeIndex(z["dates"].astype("datetime64[ns]")),
            log_prices=z["log_prices"],
            window=int(z["window"]),
            split=Split(train=z["train"], val=z["val"], test=z["test"]),
            x_scaler=scaler_from_state(scalers["x"]),
            y_scaler=scaler_from_state(scalers["y"]),
        )


# --------------------------------------------------------------------------- train


def train_stage(
    cfg: Config,
    ticker: str,
    features: Features,
    run_id: str,
    on_epoch: Callable[[Epoch], None] = tracking.log_epoch,
) -> Forecaster:
    """Train in the active MLflow run; save the forecaster and the training record."""
    result = fit(features, cfg.model, cfg.train, name=ticker, on_epoch=on_epoch)
    tracking.log_training(result)
    forecaster = Forecaster(
        result.model,
        features.x_scaler,
        features.y_scaler,
        features.window,
        meta={
            "ticker": ticker,
            "run_id": run_id,
            "first_day": str(features.dates[0].date()),
            "last_training_day": str(features.dates[features.split.train[-1] + 1].date()),
        },
    )
    folder = cfg.paths.processed_dir(ticker)
    forecaster.save(folder / MODEL_DIR)
    record = {
        "run_id": run_id,
        "best_epoch": result.best_epoch,
        "shrink_factor": result.shrink,
        "device": result.device,
        "history": [vars(e) for e in result.history],
    }
    storage.write_text(folder / TRAINING, json.dumps(record, indent=2))
    return forecaster


def saved_run_id(cfg: Config, ticker: str) -> str:
    """The MLflow run the train stage opened for ``ticker``."""
    path = cfg.paths.processed_dir(ticker) / TRAINING
    if not path.exists():
        raise DataError(f"{ticker}: no trained model at {path}; run the train stage first")
    return json.loads(path.read_text())["run_id"]


# --------------------------------------------------------------------------- evaluate


def evaluate_stage(
    cfg: Config, features: Features, forecaster: Forecaster, prices: pd.DataFrame
) -> Evaluation:
    """Forecast the test days with the RNN and every baseline, and score them alike."""
    ends = features.split.test
    rows = prices[["Open", "High", "Low", "Close"]]
    # The forecaster reads raw rows, exactly as the logged model does in production.
    first = ends[0] - (features.window - 1)
    rnn = forecaster.forecast(rows.iloc[first : ends[-1] + 1])
    models = {RNN: rnn, **forecast_baselines(features, ends, baselines(cfg.train.seed))}
    return evaluate(features, models, ends)


def log_stage(
    ticker: str, evaluation: Evaluation, forecaster: Forecaster, prices: pd.DataFrame
) -> str:
    """Log the test metrics, the forecast plot and the pyfunc model to the active run."""
    tracking.log_evaluation(evaluation, prefix="test")
    fig = tracking.forecast_figure(
        evaluation.forecasts,
        f"{ticker}: next-day Close on the test days",
        [RNN, "persistence", "ridge"],
    )
    tracking.log_figure(fig, "plots/test_forecast.png")
    return tracking.log_model(forecaster, prices.iloc[-forecaster.window :])


# --------------------------------------------------------------------------- all


def run_ticker(cfg: Config, ticker: str, clock: StageClock) -> Evaluation:
    """fetch, features, train, evaluate and log one ticker, in one MLflow run."""
    with clock.stage("fetch"):
        prices = fetch_stage(cfg, ticker)
    with clock.stage("features"):
        features = features_stage(cfg, ticker, prices)
    with clock.stage("mlflow"), tracking.run(cfg, ticker, kind="train") as active:
        tracking.log_dataset(prices, ticker, source_uri(cfg, ticker))
        with clock.stage("train"):
            on_epoch = clock.timed("mlflow", tracking.log_epoch)
            forecaster = train_stage(cfg, ticker, features, active.info.run_id, on_epoch)
        with clock.stage("evaluate"):
            evaluation = evaluate_stage(cfg, features, forecaster, prices)
        model_uri = log_stage(ticker, evaluation, forecaster, prices)
        version, promoted = register_stage(ticker, model_uri, active.info.run_id)
    print_evaluation(ticker, features, evaluation)
    print_registered(ticker, version, promoted)
    return evaluation


def print_registered(ticker: str, version: str, promoted: bool) -> None:
    """Say which version was registered and whether it is the champion."""
    role = "champion" if promoted else "not champion: the champion is kept until `make retrain`"
    print(f"registered {registry.model_name(ticker)} version {version} ({role})")


def register_stage(ticker: str, model_uri: str, run_id: str) -> tuple[str, bool]:
    """Register the model; make it the champion only if there is none yet."""
    version = registry.register(model_uri, ticker, tags={"run_id": run_id, "job": "all"})
    promoted = registry.champion_version(ticker) is None
    if promoted:
        registry.promote(ticker, version)
    return version, promoted


def print_evaluation(ticker: str, features: Features, evaluation: Evaluation) -> None:
    """Print the test table of one ticker."""
    test = features.split.test
    print(
        f"\n{ticker}: {len(test)} test days, "
        f"{features.dates[test[0] + 1].date()} to {features.dates[test[-1] + 1].date()}, "
        "price units"
    )
    print(text_table(evaluation.table))


# --------------------------------------------------------------------------- backtest


def backtest_ticker(cfg: Config, ticker: str) -> pd.DataFrame:
    """Walk-forward backtest of one ticker: a parent MLflow run, a nested run per fold.

    Returns the pooled table; it is also printed and saved under reports/backtest/.
    """
    prices = fetch_stage(cfg, ticker)

    def make_models(fold: int) -> list:
        rnn = RNNForecaster(
            cfg.model,
            cfg.train,
            label=f"{ticker} fold {fold}",
            on_epoch=tracking.log_epoch,
            on_trained=tracking.log_training,
        )
        return [rnn, *baselines(cfg.train.seed)]

    def fold_scope(fold: int):
        return tracking.run(
            cfg, ticker, kind="backtest-fold", nested=True, run_name=f"{ticker}-fold-{fold}",
            tags={"fold": str(fold)},
        )  # fmt: skip

    with tracking.run(cfg, ticker, kind="backtest") as active:
        tracking.log_dataset(prices, ticker, source_uri(cfg, ticker))
        results = backtest(
            prices, cfg.features, cfg.backtest, make_models, ticker, fold_scope, tracking.log_fold
        )
        pooled = pooled_table(results)
        per_fold = fold_errors(results)
        tracking.log_backtest(pooled, per_fold, results[-1])
        run_id = active.info.run_id
    save_backtest_report(cfg, ticker, pooled, results, run_id)
    return pooled


def save_backtest_report(
    cfg: Config, ticker: str, pooled: pd.DataFrame, results: list[FoldResult], run_id: str
) -> None:
    """Print the pooled table and save it as CSV and Markdown under reports/backtest/."""
    days = sum(len(r.forecasts) for r in results)
    first, last = results[0].forecasts.index[0].date(), results[-1].forecasts.index[-1].date()
    heading = (
        f"{ticker}: walk-forward backtest, {len(results)} folds, {days} test days "
        f"{first} to {last}; DM test of the RNN against each model (squared error, HLN)"
    )
    print(f"\n{heading}")
    print(text_table(pooled))
    folder = cfg.paths.reports_dir / "backtest"
    storage.write_text(
        folder / f"{ticker}.csv", pooled.to_csv(float_format="%.6f", index_label="model")
    )
    storage.write_text(
        folder / f"{ticker}.md", f"{heading}. MLflow run {run_id}.\n\n{markdown_table(pooled)}"
    )


# --------------------------------------------------------------------------- retrain


def retrain_ticker(cfg: Config, ticker: str, holdout: int) -> Decision:
    """Refresh the data, train a challenger, score it and the champion on the holdout,
    register the challenger and promote it only if it is better (or there is no champion).

    The alias moves last: any failure before leaves the champion where it was.
    """
    prices = fetch_stage(cfg, ticker)
    split = holdout_split(len(prices), cfg.features.window, holdout, cfg.features.val_frac, ticker)
    features = features_for_split(prices, split, cfg.features.window)
    close = prices["Close"].to_numpy()
    actual, previous = close[-holdout:], close[-holdout - 1 : -1]
    with tracking.run(cfg, ticker, kind="retrain") as active:
        run_id = active.info.run_id
        tracking.log_dataset(prices, ticker, source_uri(cfg, ticker))
        dates = features.dates
        tracking.log_tags(
            {
                "data_from": str(dates[0].date()),
                "data_to": str(dates[-1].date()),
                "holdout_from": str(dates[-holdout].date()),
                "holdout_to": str(dates[-1].date()),
            }
        )
        result = fit(features, cfg.model, cfg.train, name=ticker, on_epoch=tracking.log_epoch)
        tracking.log_training(result)
        meta = {"ticker": ticker, "run_id": run_id, "trained_to": str(dates[-holdout - 1].date())}
        challenger = Forecaster(
            result.model, features.x_scaler, features.y_scaler, features.window, meta
        )
        scores = {
            "challenger": score(actual, holdout_forecasts(challenger, prices, holdout), previous)
        }
        old = registry.champion_version(ticker)
        if old is not None:
            champion = registry.load_champion(ticker)
            scores["champion"] = score(
                actual, holdout_forecasts(champion.forecaster, prices, holdout), previous
            )
        scores["persistence"] = score(actual, previous, previous)
        decision = decide(scores["challenger"]["rmse"], scores.get("champion", {}).get("rmse"))
        tracking.log_retrain(scores, decision, old)
        model_uri = tracking.log_model(challenger, prices.iloc[-features.window :])
        version = registry.register(model_uri, ticker, tags={"run_id": run_id, "job": "retrain"})
        registry.tag_version(
            ticker,
            version,
            {"holdout_rmse": f"{scores['challenger']['rmse']:.6f}", "decision": decision.reason},
        )
        if decision.promote:
            registry.promote(ticker, version)
    verb = "promoted" if decision.promote else "kept the champion"
    now = version if decision.promote else old
    print(
        f"{ticker}: {verb} ({decision.reason}); challenger is version {version}, "
        f"champion is version {now}; holdout {dates[-holdout].date()} to {dates[-1].date()}"
    )
    return decision
