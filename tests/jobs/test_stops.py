"""SIGTERM on every long job, local and on Ray: each run it opened ends KILLED, none FAILED.

Each job runs as a scheduler runs it (a process of its own, stopped by SIGTERM), in
the middle of training. The module must pass with a CPU-bound process beside it: the
tests wait on events (a trained epoch logged, the process's exit), never on a fixed time.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import RAY_TOKEN, SHRUNK
from mlflow.tracking import MlflowClient

from pipeline.runtime.lock import exclusive_lock
from pipeline.tracking.sweeps import TRIAL

pytestmark = pytest.mark.slow  # each job trains in a process of its own (some on Ray)

LONG = ["--epochs", "500", "--patience", "500", "--min-delta", "0"]
JOBS = {
    "backtest": ["backtest", "--tickers", "AAPL", *SHRUNK, *LONG],
    "retrain": ["retrain", "--tickers", "AAPL", "--source", "sample", *SHRUNK, *LONG],
    "backtest ray": ["backtest", "--tickers", "AAPL,MSFT", "--engine", "ray", *SHRUNK, *LONG],
    "sweep": ["sweep", "--tickers", "AAPL", "--trials", "2", "--concurrency", "2",
              "--sweep-folds", "1", *SHRUNK, *LONG],
}  # fmt: skip


def _all_runs() -> list:
    client = MlflowClient()
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids) if ids else []


def _training(runs: list) -> bool:
    """An open run has logged a trained epoch, or is a sweep's trial (which logs per fold)."""
    client = MlflowClient()
    open_runs = [r for r in runs if r.info.status == "RUNNING"]
    return any(
        r.data.tags.get("kind") == TRIAL or client.get_metric_history(r.info.run_id, "val_loss")[1:]
        for r in open_runs
    )


@pytest.mark.parametrize("job", list(JOBS))
def test_sigterm_mid_training_ends_every_run_killed(mlflow_store, tmp_path, job):
    token = tmp_path / "ray-token"
    token.write_text(RAY_TOKEN)
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": mlflow_store,
        "RAY_AUTH_TOKEN_PATH": str(token),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("RAY_ADDRESS", None)
    _all_runs()  # creates MLflow's tables now: two processes creating them at once collide
    folders = ["--data-dir", str(tmp_path / "data"), "--reports-dir", str(tmp_path / "reports")]
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *JOBS[job], *folders],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while not _training(_all_runs()):
            assert process.poll() is None, process.stderr.read()[-3000:]
            assert time.monotonic() < deadline, f"no run started training: {_all_runs()}"
            time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=180) == 143
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    err = process.stderr.read()
    statuses = sorted(r.info.status for r in _all_runs())
    assert "KILLED" in statuses, (statuses, err[-3000:])
    assert not {"RUNNING", "FAILED"} & set(statuses), (statuses, err[-3000:])
    assert "terminated:" in err and "Traceback" not in err
    if job == "retrain":  # the lock went with the process: the next retrain may start
        with exclusive_lock(tmp_path / "data" / "retrain.lock"):
            pass
