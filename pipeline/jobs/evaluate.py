"""The ``evaluate`` job for one group: the model the train stage saved, scored on each ticker's
test days and registered, in the train stage's run (each ticker's scores in its run)."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.config import Config
from pipeline.jobs import stages
from pipeline.jobs.all import group_runs, register_evaluation, registered_text
from pipeline.runtime.common import Group, Summary
from pipeline.serving.forecaster import Forecaster


def run_evaluate(
    cfg: Config, group: Group, experiment_id: str, *, tags: Mapping[str, str] | None = None
) -> list[Summary]:
    """Evaluate and register the model the train stage saved for the group."""
    run_id = stages.saved_run_id(cfg, group.name)
    saved = {ticker: stages.saved_features(cfg, ticker) for ticker in group.tickers}
    forecaster = Forecaster.load(cfg.paths.processed_dir(group.name) / stages.MODEL_DIR)
    runs = group_runs(cfg, group, experiment_id, "evaluate", tags or {})
    with runs.group(run_id=run_id):
        evaluations, version, decision = register_evaluation(
            cfg, group, saved, forecaster, run_id, runs
        )
    return [
        Summary(
            ticker,
            f"{stages.evaluation_text(ticker, saved[ticker], evaluation)}\n"
            f"{registered_text(group.name, version, decision.promote)}",
        )
        for ticker, evaluation in evaluations.items()
    ]
