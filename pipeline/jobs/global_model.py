"""The global model's ``all`` and ``predict``: one network for the universe, registered once.

``all --scope global`` cuts every ticker's days by the same calendar dates
(so no ticker's training target lies on a day another ticker is tested on),
trains one network on all the training windows in a run of its own, fits each
ticker's conformal multipliers on its own validation days, scores each ticker
on its test days (a nested run each, as ``all`` does per ticker), and
registers the network once as ``stockcast-global``. The served model carries
the calibration of the pooled validation days, used for a ticker it has no
calibration for, and every ticker's own (``Forecaster.calibrations``).

``predict --scope global`` answers for any ticker from its recent rows: with
the ticker's own calibration when it was in the universe, else calibrated on
the ticker's last ``RECENT_DAYS`` sessions, and it says which. ``predict``
does not store them; ``forecast --scope global`` does (``global_store.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pandas as pd

from pipeline.config import Config, flatten
from pipeline.core.features import Features, features_for_split
from pipeline.core.splits import calendar_default_split, check_sizes
from pipeline.data.calendar import sessions_after
from pipeline.evaluation.evaluate import identical_to_persistence
from pipeline.evaluation.summary import Scores
from pipeline.jobs import promotion, stages
from pipeline.jobs.all import registered_text
from pipeline.jobs.common import Summary, tickers_label
from pipeline.jobs.forecast import horizon_text, row_bounds
from pipeline.models.global_rnn import GlobalRNN, train_global
from pipeline.models.rnn import RNN, Hooks
from pipeline.serving.forecaster import HORIZON_COLUMN, OUTPUT_COLUMN, RECENT_DAYS, Forecaster
from pipeline.tracking import eval_log, lifecycle, registry, train_log
from pipeline.tracking.models import log_model

GLOBAL = "global"  # the registered model is stockcast-global


def run_global_all(
    cfg: Config,
    prices: Mapping[str, pd.DataFrame],
    experiment_id: str,
    *,
    tags: Mapping[str, str] | None = None,
) -> list[Summary]:
    """Train, calibrate per ticker, evaluate per ticker and register one global model."""
    tags = {**(tags or {}), "scope": GLOBAL}
    tickers = tuple(prices)
    splits = calendar_default_split({t: p.index for t, p in prices.items()}, cfg.features)
    for ticker, split in splits.items():
        check_sizes(
            split,
            f"{ticker}: too little history before the universe's calendar cut for a global "
            f"model with a {cfg.features.window}-day window; leave it out or use --scope ticker",
        )
    features = {
        t: features_for_split(prices[t], splits[t], cfg.features.window, cfg.features.horizon)
        for t in tickers
    }
    label = tickers_label(tickers)
    summaries = []
    with lifecycle.run(
        cfg, label, experiment_id=experiment_id, kind="train", command="all",
        run_name="global-train", tags=tags,
    ) as active:  # fmt: skip
        run_id = active.info.run_id
        forecaster = fit_universe(cfg, features, {"run_id": run_id})
        own: dict[str, Forecaster] = {}
        for ticker in tickers:
            own[ticker] = ticker_forecaster(forecaster, ticker)
        # The model is logged with the example rows of the universe's first ticker.
        logged = log_model(forecaster, prices[tickers[0]].iloc[-forecaster.window :])
        decision = promotion.first_champion(GLOBAL)
        version = promotion.register(
            logged.model_uri, GLOBAL, run_id, "all", decision, task_id=tags.get("task_id")
        )
        for ticker in tickers:
            with lifecycle.run(
                cfg, ticker, experiment_id=experiment_id, kind="train", command="all",
                nested=True, run_name=f"{ticker}-global", tags=tags,
            ):  # fmt: skip
                evaluation = stages.evaluate_stage(
                    cfg, features[ticker], own[ticker], prices[ticker]
                )
                eval_log.log_evaluation(evaluation, prefix="test")
            text = stages.evaluation_text(ticker, features[ticker], evaluation)
            text += "\n" + registered_text(GLOBAL, version, decision.promote)
            same = identical_to_persistence(evaluation.forecasts, RNN)
            scores = Scores(evaluation.table, evaluation.intervals, same)
            summaries.append(
                Summary(ticker, text, run_id, facts={"version": version, "scores": scores})
            )
    return summaries


def fit_universe(
    cfg: Config, features: Mapping[str, Features], meta: Mapping[str, object]
) -> Forecaster:
    """One network trained on every ticker's training windows (its epochs logged to the active
    run), with each ticker's own calibration fitted on its own validation days.

    ``meta`` adds to the model's meta (its run id, how far it was trained).
    """
    tickers = tuple(features)
    log_epoch, log_scale_epoch = train_log.epoch_loggers(cfg.runtime.async_logging)
    hooks = Hooks(log_epoch, train_log.log_training, log_scale_epoch, train_log.log_calibration)
    trained = train_global(features, cfg.model, cfg.train, cfg.intervals, cfg.runtime, hooks=hooks)
    meta = {
        "ticker": GLOBAL, "scope": GLOBAL, "tickers": list(tickers), **meta,
        "config": flatten(cfg, runtime=False),
    }  # fmt: skip
    calibrations = {}
    for ticker in tickers:
        rnn = GlobalRNN(cfg.model, cfg.train, cfg.intervals, cfg.runtime, trained=trained)
        # With the residuals, so that online ACI can re-cut the ticker's own intervals.
        calibrations[ticker] = rnn.fit(features[ticker]).intervals.calibration
    return dataclasses.replace(trained, meta=meta).forecaster.with_calibrations(calibrations)


def ticker_forecaster(forecaster: Forecaster, ticker: str) -> Forecaster:
    """The global model with ``ticker``'s own calibration (KeyError if it has none)."""
    return forecaster.for_ticker(ticker)


def recent_calibration(
    forecaster: Forecaster, prices: pd.DataFrame, days: int = RECENT_DAYS
) -> tuple[Forecaster, int]:
    """The global model calibrated on a new ticker's last ``days`` sessions; how many it used."""
    return forecaster.recalibrated(prices, days)


def for_ticker(forecaster: Forecaster, ticker: str, prices: pd.DataFrame) -> tuple[Forecaster, str]:
    """The global model calibrated for ``ticker``, and how: with its own calibration when it
    was in the universe, else on its last ``RECENT_DAYS`` sessions of ``prices``."""
    forecaster, days = forecaster.calibrated_for(ticker, prices, RECENT_DAYS)
    if days is None:
        return forecaster, "calibrated on its validation days"
    return forecaster, f"never trained on {ticker}: interval calibrated on its last {days} sessions"


def run_global_predict(cfg: Config, ticker: str, prices: pd.DataFrame) -> Summary:
    """The global champion's forecasts of any ticker's next H Closes, with their intervals."""
    champion = registry.load_champion(GLOBAL)
    forecaster, how = for_ticker(champion.forecaster, ticker, prices)
    answer = forecaster.answer(prices.iloc[-forecaster.window :])
    last_day = prices.index[-1]
    targets = sessions_after(last_day, forecaster.horizon, cfg.data.calendar)
    lines, medians, bounds = [], [], []
    for (_, row), target in zip(answer.iterrows(), targets, strict=True):
        own = row_bounds(row, forecaster.multipliers.levels)
        median = float(row[OUTPUT_COLUMN])
        lines.append(horizon_text(ticker, int(row[HORIZON_COLUMN]), target, median, own))
        medians.append(median)
        bounds.append(own)
    lines.append(
        f"{ticker}: last Close {prices['Close'].iloc[-1]:.2f} on {last_day:%a %Y-%m-%d}; model "
        f"{registry.model_name(GLOBAL)} version {champion.version}, champion; {how}; not stored"
    )
    # facts: the next session's forecast and bounds (as before horizons), and every horizon's.
    facts = {"forecast": medians[0], "bounds": bounds[0], "forecasts": medians, "targets": targets}
    return Summary(ticker, "\n".join(lines), champion.run_id, facts=facts)
