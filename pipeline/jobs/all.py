"""The ``all`` job for one ticker: features, train, evaluate and register, in one MLflow run."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pipeline.config import Config
from pipeline.core.features import Features
from pipeline.data.sources import source_uri
from pipeline.evaluation.evaluate import Evaluation, identical_to_persistence
from pipeline.evaluation.summary import Scores
from pipeline.jobs import promotion, stages
from pipeline.jobs.common import StageClock, Summary
from pipeline.models.rnn import RNN
from pipeline.serving.forecaster import Forecaster
from pipeline.tracking import lifecycle, registry, train_log


def run_all(
    cfg: Config,
    ticker: str,
    prices: pd.DataFrame,
    experiment_id: str,
    *,
    tags: Mapping[str, str] | None = None,
) -> Summary:
    """Features, training, evaluation against the baselines, logging and registration.

    ``tags`` go on the run (the driver's job and task ids, a sweep's parent run).
    """
    tags = dict(tags or {})
    clock = StageClock()
    stages.save_prices(cfg, ticker, prices)
    with clock.stage("features"):
        features = stages.features_stage(cfg, ticker, prices)
    with (
        clock.stage("mlflow"),
        lifecycle.run(
            cfg, ticker, experiment_id=experiment_id, kind="train", command="all", tags=tags
        ) as active,
    ):
        run_id = active.info.run_id
        train_log.log_dataset(prices, ticker, source_uri(cfg.data, ticker))
        with clock.stage("train"):
            log_epoch, log_scale_epoch = train_log.epoch_loggers(cfg.runtime.async_logging)
            on_epoch = clock.timed("mlflow", log_epoch)
            on_scale_epoch = clock.timed("mlflow", log_scale_epoch)
            forecaster = stages.train_stage(cfg, ticker, features, run_id, on_epoch, on_scale_epoch)
        evaluation, version, decision = register_evaluation(
            cfg, ticker, features, forecaster, prices, run_id, tags.get("task_id"), clock
        )
    text = stages.evaluation_text(ticker, features, evaluation)
    text += "\n" + registered_text(ticker, version, decision.promote)
    same = identical_to_persistence(evaluation.forecasts, RNN)
    scores = Scores(evaluation.table, evaluation.intervals, same)
    facts = {"version": version, "scores": scores}
    return Summary(ticker, text, run_id, dict(clock.seconds), facts)


def register_evaluation(
    cfg: Config,
    ticker: str,
    features: Features,
    forecaster: Forecaster,
    prices: pd.DataFrame,
    run_id: str,
    task_id: str | None = None,
    clock: StageClock | None = None,
) -> tuple[Evaluation, str, promotion.Decision]:
    """Evaluate on the test days, log the model and scores, register it (champion if first).

    The second half of ``all``, and the whole ``evaluate`` stage command; in the active run.
    """
    clock = clock or StageClock()
    with clock.stage("evaluate"):
        evaluation = stages.evaluate_stage(cfg, features, forecaster, prices)
    model_uri = stages.log_stage(ticker, evaluation, forecaster, prices)
    decision = promotion.first_champion(ticker)
    version = promotion.register(model_uri, ticker, run_id, "all", decision, task_id=task_id)
    return evaluation, version, decision


def registered_text(ticker: str, version: str, promoted: bool) -> str:
    """Which version was registered and whether it is the champion."""
    role = "champion" if promoted else "not champion: the champion is kept until `make retrain`"
    return f"registered {registry.model_name(ticker)} version {version} ({role})"
