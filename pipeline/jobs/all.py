"""The ``all`` job for one group: features, train, evaluate and register.

The group's network trains in the group's run (a ticker's own model: the
ticker's run), is logged once, and each ticker is scored on its own test days
with its own calibration (in its run: the group's for a ticker's own model, a
nested one under the group's for the global model); the model is registered
last, as ``stockcast-<GROUP>``, champion if it is the first.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.config import Config
from pipeline.core.features import Features
from pipeline.data.sources import source_uri
from pipeline.evaluation.evaluate import Evaluation, identical_to_persistence
from pipeline.evaluation.promotion import Decision
from pipeline.evaluation.summary import Scores
from pipeline.jobs import stages
from pipeline.jobs.calibrate import own_calibration
from pipeline.models.rnn import RNN
from pipeline.runtime.common import Group, StageClock, Summary
from pipeline.serving.forecaster import Forecaster
from pipeline.tracking import promotion, registry, train_log
from pipeline.tracking.group_runs import GroupRuns
from pipeline.tracking.models import log_model


def group_runs(
    cfg: Config, group: Group, experiment_id: str, command: str, tags: Mapping[str, str]
) -> GroupRuns:
    """The runs of a group's training job: ``<GROUP>-train`` and ``<TICKER>-<GROUP>`` under
    it (a ticker's own model: its one run)."""
    return GroupRuns(
        cfg, group.name, group.tickers, group.label, experiment_id, "train", command,
        dict(tags), nested_name="{ticker}-{group}",
    )  # fmt: skip


def run_all(
    cfg: Config,
    group: Group,
    experiment_id: str,
    *,
    tags: Mapping[str, str] | None = None,
) -> list[Summary]:
    """Features, training, evaluation against the baselines, logging and registration.

    ``tags`` go on the runs (the driver's job and task ids, a sweep's parent run).
    """
    tags = dict(tags or {})
    clock = StageClock()
    for ticker, prices in group.prices.items():
        stages.save_prices(cfg, ticker, prices)
    with clock.stage("features"):
        features = stages.features_stage(cfg, group.prices)
    runs = group_runs(cfg, group, experiment_id, "all", tags)
    with clock.stage("mlflow"), runs.group() as active:
        run_id = active.info.run_id
        with clock.stage("train"):
            log_epoch, log_scale_epoch = train_log.epoch_loggers(cfg.runtime.async_logging)
            on_epoch = clock.timed("mlflow", log_epoch)
            on_scale_epoch = clock.timed("mlflow", log_scale_epoch)
            forecaster = stages.train_stage(
                cfg, group.name, features, run_id, on_epoch, on_scale_epoch
            )
        evaluations, version, decision = register_evaluation(
            cfg, group, features, forecaster, run_id, runs, tags.get("task_id"), clock
        )
    summaries = []
    for ticker, evaluation in evaluations.items():
        text = stages.evaluation_text(ticker, features[ticker], evaluation)
        text += "\n" + registered_text(group.name, version, decision.promote)
        same = identical_to_persistence(evaluation.forecasts, RNN)
        scores = Scores(evaluation.table, evaluation.intervals, same)
        facts = {"version": version, "scores": scores}
        summaries.append(Summary(ticker, text, run_id, facts=facts))
    summaries[0].seconds = dict(clock.seconds)
    return summaries


def register_evaluation(
    cfg: Config,
    group: Group,
    features: Mapping[str, Features],
    forecaster: Forecaster,
    run_id: str,
    runs: GroupRuns,
    task_id: str | None = None,
    clock: StageClock | None = None,
) -> tuple[dict[str, Evaluation], str, Decision]:
    """Log the model, evaluate each ticker on its test days (its scores and plots in its
    run), then register the model (champion if first).

    The second half of ``all``, and the whole ``evaluate`` stage command; in the group's
    run. A ticker's scores are linked to the logged model when they are the model's own
    (a group of one).
    """
    clock = clock or StageClock()
    prices = group.prices or {t: stages.saved_prices(cfg, t) for t in group.tickers}
    # The model first: logging it fetches the history of every metric already logged.
    # It is logged with the example rows of the group's first ticker.
    logged = log_model(forecaster, prices[group.tickers[0]].iloc[-forecaster.window :])
    linked = logged.model_id if len(group.tickers) == 1 else None
    evaluations = {}
    for ticker in group.tickers:
        with runs.ticker(ticker):
            train_log.log_dataset(prices[ticker], ticker, source_uri(cfg.data, ticker))
            own = own_calibration(forecaster, ticker)
            with clock.stage("evaluate"):
                evaluation = stages.evaluate_stage(cfg, features[ticker], own, prices[ticker])
            stages.log_evaluation(ticker, evaluation, own, linked)
        evaluations[ticker] = evaluation
    decision = promotion.first_champion(group.name)
    version = promotion.register(
        logged.model_uri, group.name, run_id, "all", decision, task_id=task_id
    )
    return evaluations, version, decision


def registered_text(name: str, version: str, promoted: bool) -> str:
    """Which version was registered and whether it is the champion."""
    role = "champion" if promoted else "not champion: the champion is kept until `make retrain`"
    return f"registered {registry.model_name(name)} version {version} ({role})"
