"""MLflow for sweeps: one parent run, a nested run per trial, the best config and the table.

Trials run in Ray processes of their own, where the parent is not the active
run, so a trial's run names its parent by the tag ``mlflow.parentRunId`` (what
``nested=True`` would set), which the MLflow UI reads to nest it. Every trial
run carries ``sweep_id`` (the parent's run id) and ``trial_id`` (Tune's), so
the driver finds them all and can settle any that a stopped or dead worker left
RUNNING.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping

import mlflow
import pandas as pd

from pipeline.config import Config, flatten
from pipeline.evaluation.objective import Progress
from pipeline.evaluation.report import markdown_table
from pipeline.tracking import lifecycle

SWEEP = "sweep"  # the parent's kind
TRIAL = "sweep-trial"  # each trial's kind
# How Tune ended a trial -> the status its run ends with.
END_STATUS = {"complete": "FINISHED", "stopped early": "FINISHED", "failed": "FAILED"}


def sweep_run(cfg: Config, label: str, *, experiment_id: str) -> contextlib.AbstractContextManager:
    """The parent run (kind ``sweep``); its params are the best config, logged by ``log_sweep``."""
    return lifecycle.run(
        cfg, label, experiment_id=experiment_id, kind=SWEEP, command="sweep",
        run_name=f"sweep-{label}", log_config=False,
    )  # fmt: skip


@contextlib.contextmanager
def trial_run(
    cfg: Config, label: str, *, experiment_id: str, sweep_id: str, trial_id: str
) -> Iterator[str]:
    """One trial's run, nested under the sweep's, with the trial's config as params."""
    tags = {"mlflow.parentRunId": sweep_id, "sweep_id": sweep_id, "trial_id": trial_id}
    with lifecycle.run(
        cfg, label, experiment_id=experiment_id, kind=TRIAL, command="sweep",
        run_name=f"trial-{trial_id}", tags=tags,
    ) as active:  # fmt: skip
        yield active.info.run_id


def log_progress(progress: Progress) -> None:
    """Log the running objective at its iteration, and a fold's loss once it is final."""
    mlflow.log_metric("objective", progress.objective, step=progress.iteration)
    if progress.fold_done:
        key = f"fold_loss_{_key(progress.ticker)}_{progress.fold}"
        mlflow.log_metric(key, progress.fold_loss)


def mark_stopped_early() -> None:
    """Tag the active trial run as stopped by the scheduler (it still ends FINISHED)."""
    mlflow.set_tags({"stopped_early": "true", "trial_status": "stopped early"})


def settle_trials(experiment_id: str, sweep_id: str, ended: Mapping[str, str]) -> dict[str, str]:
    """Tag every trial run of the sweep with how it ended; end those still RUNNING.

    ``ended`` maps Tune's trial id to "complete", "stopped early" or "failed". A
    trial stopped by the scheduler usually ends its own run; one whose process
    went first, or that Tune never reported, is ended here (FINISHED, or FAILED
    when it failed or is unknown). Returns trial id -> run id.
    """
    client = mlflow.MlflowClient()
    where = f"tags.sweep_id = '{sweep_id}' and tags.kind = '{TRIAL}'"
    found = client.search_runs([experiment_id], where, max_results=50_000)
    run_ids = {}
    for trial in found:
        trial_id = trial.data.tags.get("trial_id", "")
        run_ids[trial_id] = trial.info.run_id
        how = ended.get(trial_id, "failed")
        client.set_tag(trial.info.run_id, "trial_status", how)
        client.set_tag(trial.info.run_id, "stopped_early", str(how == "stopped early").lower())
        if trial.info.status == "RUNNING":
            client.set_terminated(trial.info.run_id, END_STATUS[how])
    return run_ids


def log_sweep(best: Config, label: str, objective: float, trials: pd.DataFrame) -> None:
    """On the parent run: the best config as params, its objective, and the trials' table."""
    mlflow.log_params({"ticker": label, **flatten(best)})
    mlflow.log_metrics({"best_objective": objective, "trials": float(len(trials))})
    mlflow.set_tag("best_trial", str(trials.index[0]))
    mlflow.log_text(trials.to_csv(float_format="%.6f", index_label="trial"), "sweep_trials.csv")
    mlflow.log_text(markdown_table(trials, 6, index_name="trial"), "sweep_trials.md")


def _key(text: str) -> str:
    """``text`` with the characters MLflow refuses in a metric name replaced by ``_``."""
    return re.sub(r"[^\w.\-/ ]", "_", text)
