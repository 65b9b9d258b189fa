"""The sweep's MLflow runs: trials nested by tag, settled by the driver, the best on the parent."""

from __future__ import annotations

import threading

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from pipeline.config import Config, ModelConfig, flatten
from pipeline.evaluation.objective import Progress
from pipeline.tracking import sweeps
from pipeline.tracking.store import prepare_experiment


def test_trials_nest_under_the_parent_and_the_driver_settles_what_was_left_running(mlflow_store):
    experiment = prepare_experiment("sweeps")
    client = MlflowClient()
    cfg = Config()
    with sweeps.sweep_run(cfg, "AAA", experiment_id=experiment) as parent:
        sweep_id = parent.info.run_id
        trial_ids = []

        def trial() -> None:  # as in a Ray worker: not the process (thread) of the parent
            with sweeps.trial_run(
                cfg.replace(model=ModelConfig(hidden_size=8)), "AAA",
                experiment_id=experiment, sweep_id=sweep_id, trial_id="t1",
            ) as run_id:  # fmt: skip
                sweeps.log_progress(Progress(1, 0.99, "AAA", 1, 1, 0.99, True))
                trial_ids.append(run_id)

        worker = threading.Thread(target=trial)
        worker.start()
        worker.join()
        (t1,) = trial_ids
        # Trials whose process went before it could end their run.
        tags = {"kind": sweeps.TRIAL, "sweep_id": sweep_id}
        stopped = client.create_run(experiment, tags={**tags, "trial_id": "t2"}).info.run_id
        lost = client.create_run(experiment, tags={**tags, "trial_id": "t3"}).info.run_id
        other = client.create_run(experiment, tags={**tags, "sweep_id": "x", "trial_id": "t1"})

        ids = sweeps.settle_trials(experiment, sweep_id, {"t1": "complete", "t2": "stopped early"})

        table = pd.DataFrame({"objective": [0.99]}, index=pd.Index(["t1"], name="trial"))
        sweeps.log_sweep(cfg, "AAA", 0.99, table)
    assert ids == {"t1": t1, "t2": stopped, "t3": lost}

    def run(run_id):
        return client.get_run(run_id)

    assert run(t1).data.tags["mlflow.parentRunId"] == sweep_id
    assert run(t1).data.params["model.hidden_size"] == "8"
    assert run(t1).data.metrics == {"objective": 0.99, "fold_loss_AAA_1": 0.99}
    ends = [(run(i).info.status, run(i).data.tags["stopped_early"]) for i in (t1, stopped, lost)]
    assert ends == [("FINISHED", "false"), ("FINISHED", "true"), ("FAILED", "false")]
    assert run(lost).data.tags["trial_status"] == "failed"
    assert run(other.info.run_id).info.status == "RUNNING"  # another sweep's: untouched

    done = run(sweep_id)
    assert done.info.status == "FINISHED"
    assert done.data.params == {"ticker": "AAA", **flatten(cfg)}
    assert done.data.metrics["best_objective"] == pytest.approx(0.99)
    assert done.data.tags["best_trial"] == "t1"
