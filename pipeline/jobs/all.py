"""The ``all`` job for one ticker: features, train, evaluate and register, in one MLflow run."""

from __future__ import annotations

import pandas as pd

from pipeline.config import Config
from pipeline.data.sources import source_uri
from pipeline.jobs import promotion, stages
from pipeline.jobs.common import StageClock, Summary
from pipeline.tracking import registry, runs


def run_all(cfg: Config, ticker: str, prices: pd.DataFrame, experiment_id: str) -> Summary:
    """Features, training, evaluation against the baselines, logging and registration."""
    clock = StageClock()
    stages.save_prices(cfg, ticker, prices)
    with clock.stage("features"):
        features = stages.features_stage(cfg, ticker, prices)
    with (
        clock.stage("mlflow"),
        runs.run(cfg, ticker, experiment_id=experiment_id, kind="train", command="all") as active,
    ):
        run_id = active.info.run_id
        runs.log_dataset(prices, ticker, source_uri(cfg.data, ticker))
        with clock.stage("train"):
            on_epoch = clock.timed("mlflow", runs.log_epoch)
            on_scale_epoch = clock.timed("mlflow", runs.log_scale_epoch)
            forecaster = stages.train_stage(cfg, ticker, features, run_id, on_epoch, on_scale_epoch)
        with clock.stage("evaluate"):
            evaluation = stages.evaluate_stage(cfg, features, forecaster, prices)
        model_uri = stages.log_stage(ticker, evaluation, forecaster, prices)
        decision = promotion.first_champion(ticker)
        version = promotion.register(model_uri, ticker, run_id, "all", decision)
    text = stages.evaluation_text(ticker, features, evaluation)
    text += "\n" + registered_text(ticker, version, decision.promote)
    return Summary(ticker, text, run_id, dict(clock.seconds), {"version": version})


def registered_text(ticker: str, version: str, promoted: bool) -> str:
    """Which version was registered and whether it is the champion."""
    role = "champion" if promoted else "not champion: the champion is kept until `make retrain`"
    return f"registered {registry.model_name(ticker)} version {version} ({role})"
