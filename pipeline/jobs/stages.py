"""The stages of ``all`` and their files, so that each stage can also run alone.

Each stage reads the previous stage's files under ``data/processed/<TICKER>/``
(a group's model under ``data/processed/<GROUP>/``: a ticker's own under its
ticker's folder, the global one under ``global/``), or takes them in memory
from ``jobs/all.py``, calls the pure functions and writes its own output
atomically.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from pipeline import storage
from pipeline.config import Config, flatten
from pipeline.core.bands import Bands
from pipeline.core.features import Features, default_features, scaler_from_state, scaler_state
from pipeline.core.splits import Split
from pipeline.data.validate import read_price_csv
from pipeline.errors import DataError
from pipeline.evaluation.evaluate import (
    IDENTICAL,
    Evaluation,
    evaluate,
    forecast_baselines,
    forecast_interval_baselines,
    identical_to_persistence,
)
from pipeline.evaluation.report import text_table
from pipeline.models.group_rnn import GroupRNN, train_group
from pipeline.models.point import baselines
from pipeline.models.rnn import RNN, Hooks, Trained
from pipeline.models.scale_head import ScaleEpoch
from pipeline.models.training import Epoch
from pipeline.models.volatility import interval_baselines
from pipeline.serving.forecaster import Forecaster
from pipeline.tracking import eval_log, train_log
from pipeline.tracking.plots import forecast_figure

PRICES = "prices.csv"
FEATURES = "features.npz"
MODEL_DIR = "model"
TRAINING = "training.json"


# --------------------------------------------------------------------------- fetch


def save_prices(cfg: Config, ticker: str, prices: pd.DataFrame) -> None:
    """Write the validated prices where the features stage reads them."""
    path = cfg.paths.processed_dir(ticker) / PRICES
    storage.write_text(path, prices.to_csv(index_label="Date", date_format="%Y-%m-%d"))


def saved_prices(cfg: Config, ticker: str) -> pd.DataFrame:
    """The prices the fetch stage saved, or DataError saying to run it."""
    path = cfg.paths.processed_dir(ticker) / PRICES
    if not path.exists():
        raise DataError(f"{ticker}: no fetched prices at {path}; run the fetch stage first")
    return read_price_csv(path)


# --------------------------------------------------------------------------- features


def features_stage(
    cfg: Config, prices: Mapping[str, pd.DataFrame] | None = None, tickers: tuple[str, ...] = ()
) -> dict[str, Features]:
    """Split a group's prices by calendar date, fit each ticker's scalers on its training rows,
    and save everything the model needs (``prices``: the fetch stage's files of ``tickers``)."""
    prices = {t: saved_prices(cfg, t) for t in tickers} if prices is None else prices
    features = default_features(prices, cfg.features)
    for ticker, own in features.items():
        save_features(cfg, ticker, own)
    return features


def save_features(cfg: Config, ticker: str, features: Features) -> None:
    """Write one ticker's features where the train stage reads them."""
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
            horizon=features.horizon,
            scalers=json.dumps(
                {"x": scaler_state(features.x_scaler), "y": scaler_state(features.y_scaler)}
            ),
        )


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
            horizon=int(z["horizon"]) if "horizon" in z else 1,
        )


# --------------------------------------------------------------------------- train


def train_model(
    cfg: Config,
    label: str,
    features: Mapping[str, Features],
    meta: dict,
    on_epoch: Callable[[Epoch], None] | None = None,
    on_scale_epoch: Callable[[ScaleEpoch], None] | None = None,
) -> Trained:
    """One network for a group's tickers (``train_group``) in the active MLflow run, logging
    as it goes, calibrated on each ticker's own validation days.

    The Forecaster's meta gets the whole model config (how the job ran left out), so
    that any saved or promoted model can be rebuilt from it, and each ticker's calibration
    (``Trained.calibrations``). The epochs are logged in the background unless
    ``--no-async-logging``.
    """
    log_epoch, log_scale_epoch = train_log.epoch_loggers(cfg.runtime.async_logging)
    on_epoch, on_scale_epoch = on_epoch or log_epoch, on_scale_epoch or log_scale_epoch
    hooks = Hooks(on_epoch, train_log.log_training, on_scale_epoch, train_log.log_calibration)
    meta = {**meta, "tickers": list(features), "config": flatten(cfg, runtime=False)}
    trained = train_group(
        features, cfg.model, cfg.train, cfg.intervals, cfg.runtime,
        label=label, meta=meta, hooks=hooks,
    )  # fmt: skip
    if trained.intervals is None:
        return trained
    own = {t: ticker_fit(cfg, trained, f).intervals.calibration for t, f in features.items()}
    return dataclasses.replace(trained, calibrations=own)


def ticker_fit(cfg: Config, trained: Trained, features: Features) -> GroupRNN:
    """The group's network calibrated on one ticker's own validation days."""
    rnn = GroupRNN(cfg.model, cfg.train, cfg.intervals, cfg.runtime, trained=trained)
    return rnn.fit(features)


def train_stage(
    cfg: Config,
    name: str,
    features: Mapping[str, Features],
    run_id: str,
    on_epoch: Callable[[Epoch], None] | None = None,
    on_scale_epoch: Callable[[ScaleEpoch], None] | None = None,
) -> Forecaster:
    """Train group ``name``'s network in the active MLflow run; save the forecaster and the
    training record.

    The point model is trained first and left as it is; the scale head and its
    calibration on the validation days follow (``models.rnn.train_forecaster``).
    """
    first = min(f.dates[0] for f in features.values())
    last = max(f.dates[f.split.train[-1] + 1] for f in features.values())
    meta = {
        "ticker": name,
        "run_id": run_id,
        "first_day": str(first.date()),
        "last_training_day": str(last.date()),
    }
    trained = train_model(cfg, name, features, meta, on_epoch, on_scale_epoch)
    result, intervals, forecaster = trained.result, trained.intervals, trained.forecaster
    folder = cfg.paths.processed_dir(name)
    forecaster.save(folder / MODEL_DIR)
    record = {
        "run_id": run_id,
        "best_epoch": result.best_epoch,
        "shrink_factor": result.shrink,
        "device": result.device,
        "history": [vars(e) for e in result.history],
        "scale_trunk": intervals.trunk,
        "scale_best_epoch": intervals.scale.best_epoch,
        "val_interval_scores": intervals.val_scores,
        "scale_history": [vars(e) for e in intervals.scale.history],
    }
    storage.write_text(folder / TRAINING, json.dumps(record, indent=2))
    return forecaster


def saved_run_id(cfg: Config, name: str) -> str:
    """The MLflow run the train stage opened for group ``name``."""
    path = cfg.paths.processed_dir(name) / TRAINING
    if not path.exists():
        raise DataError(f"{name}: no trained model at {path}; run the train stage first")
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
    suite = baselines(cfg.baselines, cfg.train.seed)
    models = {RNN: rnn, **forecast_baselines(features, ends, suite)}
    bands: dict[str, Bands] = {}
    if forecaster.multipliers is not None:  # a model saved before intervals has none
        bands[RNN] = forecaster.forecast_bands(rows.iloc[first : ends[-1] + 1])
        levels = forecaster.multipliers.levels
        bands |= forecast_interval_baselines(features, ends, interval_baselines(levels))
    return evaluate(features, models, ends, bands)


def log_evaluation(
    ticker: str,
    evaluation: Evaluation,
    forecaster: Forecaster,
    model_id: str | None = None,
) -> None:
    """Log a ticker's test metrics (linked to the logged model ``model_id``, if given) and
    plots to the active run."""
    eval_log.log_evaluation(evaluation, prefix="test", model_id=model_id)
    title = f"{ticker}: next-day Close on the last test days (price units)"
    if evaluation.bands is not None:
        levels = forecaster.multipliers.levels
        eval_log.log_interval_plots(evaluation.forecasts, evaluation.bands, levels, ticker, title)
    else:  # a model saved before intervals: no band to draw
        fig = forecast_figure(evaluation.forecasts.iloc[-120:], title, [RNN, "persistence"])
        eval_log.log_figure(fig, "plots/test_forecast.png")


def evaluation_text(ticker: str, features: Features, evaluation: Evaluation) -> str:
    """The test table of one ticker, with its days; an RNN that is persistence is said so."""
    test = features.split.test
    same = identical_to_persistence(evaluation.forecasts, RNN)
    text = (
        f"\n{ticker}: {len(test)} test days, "
        f"{features.dates[test[0] + 1].date()} to {features.dates[test[-1] + 1].date()}, "
        f"price units\n{text_table(evaluation.table, notes={RNN: IDENTICAL} if same else None)}"
    )
    if evaluation.intervals is not None:
        text += f"\n{intervals_heading(ticker, len(test))}\n{text_table(evaluation.intervals)}"
    return text


def intervals_heading(ticker: str, days: int) -> str:
    """What the interval table holds, in one line."""
    return (
        f"{ticker}: forecast intervals on the same {days} days: coverage, mean width (price "
        "and % of Close), interval score and pinball loss in price units (lower is better); "
        "DM test of the RNN's interval score against each model (HLN; negative: RNN better)"
    )
