"""The ``retrain`` job for one ticker: a challenger against the champion on recent days.

A challenger is trained on every day but the most recent ``holdout`` trading
days (its own validation part is the end of that history). The challenger and
the current champion forecast the same holdout days; the promotion policy
(``promotion.decide``) says whether the challenger takes the alias.

First the champion is judged for drift on its stored forecasts (``drift.py``);
the verdict and its reason are tagged on the run and printed. With
``--retrain-when drift`` a champion that did not drift is kept without training.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pipeline.config import Config
from pipeline.core.features import features_for_split
from pipeline.core.splits import check_sizes, holdout_split
from pipeline.data.sources import source_uri
from pipeline.jobs import promotion, stages
from pipeline.jobs.common import Summary
from pipeline.jobs.drift import check_drift
from pipeline.metrics.point import score
from pipeline.serving.forecaster import Forecaster
from pipeline.store.forecasts import ForecastStore
from pipeline.tracking import lifecycle, registry, retrain_log, train_log
from pipeline.tracking.models import log_model


def holdout_forecasts(forecaster: Forecaster, prices: pd.DataFrame, holdout: int) -> np.ndarray:
    """A model's forecasts of the last ``holdout`` Closes, each from the days before it."""
    n, window = len(prices), forecaster.window
    rows = prices.iloc[n - holdout - window : n - 1]
    return forecaster.forecast(rows)


def run_retrain(
    cfg: Config,
    ticker: str,
    prices: pd.DataFrame,
    experiment_id: str,
    *,
    tags: Mapping[str, str] | None = None,
) -> Summary:
    """Train, score challenger and champion on the holdout, register, promote if better."""
    tags = dict(tags or {})
    holdout, window = cfg.retrain.holdout, cfg.features.window
    split = holdout_split(len(prices), window, holdout, cfg.features.val_frac)
    check_sizes(
        split,
        f"{ticker}: {len(prices)} days of prices is too little history to train on all but "
        f"the last {holdout} days with a {window}-day window",
    )
    old = registry.champion_version(ticker)
    drift = None
    if old is not None:
        with ForecastStore(cfg.store.url) as store:
            drift = check_drift(cfg, ticker, old, store)
    drift_tags = (
        {} if drift is None else {"drift": str(drift.fired).lower(), "drift_reason": drift.reason}
    )
    if drift is not None and not drift.fired and cfg.retrain.when == "drift":
        with lifecycle.run(
            cfg, ticker, experiment_id=experiment_id, kind="retrain", command="retrain",
            tags={**tags, **drift_tags, "decision": "skip", "champion_before": old},
        ) as active:  # fmt: skip
            text = f"{ticker}: kept the champion (version {old}) without retraining: {drift.reason}"
        return Summary(ticker, text, active.info.run_id, facts={"promoted": False, "drift": drift})
    features = features_for_split(prices, split, window, cfg.features.horizon)
    close = prices["Close"].to_numpy()
    actual, previous = close[-holdout:], close[-holdout - 1 : -1]
    dates = features.dates
    with lifecycle.run(
        cfg, ticker, experiment_id=experiment_id, kind="retrain", command="retrain",
        tags={**tags, **drift_tags},
    ) as active:  # fmt: skip
        run_id = active.info.run_id
        train_log.log_dataset(prices, ticker, source_uri(cfg.data, ticker))
        lifecycle.log_tags(
            {
                "data_from": str(dates[0].date()),
                "data_to": str(dates[-1].date()),
                "holdout_from": str(dates[-holdout].date()),
                "holdout_to": str(dates[-1].date()),
            }
        )
        meta = {"ticker": ticker, "run_id": run_id, "trained_to": str(dates[-holdout - 1].date())}
        challenger = stages.train_model(cfg, ticker, features, meta).forecaster
        scores = {
            "challenger": score(actual, holdout_forecasts(challenger, prices, holdout), previous)
        }
        if old is not None:
            champion = registry.load_champion(ticker)
            scores["champion"] = score(
                actual, holdout_forecasts(champion.forecaster, prices, holdout), previous
            )
        scores["persistence"] = score(actual, previous, previous)
        decision = promotion.decide(
            scores["challenger"]["rmse"], scores.get("champion", {}).get("rmse")
        )
        retrain_log.log_retrain(scores, decision, old)
        model_uri = log_model(challenger, prices.iloc[-window:]).model_uri
        version = promotion.register(
            model_uri, ticker, run_id, "retrain", decision, task_id=tags.get("task_id"),
            holdout_rmse=f"{scores['challenger']['rmse']:.6f}",
        )  # fmt: skip
    verb = "promoted" if decision.promote else "kept the champion"
    now = version if decision.promote else old
    text = (
        f"{ticker}: {verb} ({decision.reason}); challenger is version {version}, "
        f"champion is version {now}; holdout {dates[-holdout].date()} to {dates[-1].date()}"
    )
    if drift is not None:
        text += f"\n{ticker}: drift {'fired' if drift.fired else 'not fired'}: {drift.reason}"
    facts = {"promoted": decision.promote, "version": version, "drift": drift}
    return Summary(ticker, text, run_id, facts=facts)
