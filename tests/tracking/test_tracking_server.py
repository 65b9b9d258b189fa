"""The PostgreSQL-backed tracking server (scripts/tracking-server) under concurrent writers."""

from __future__ import annotations

import multiprocessing
import subprocess
from pathlib import Path

import mlflow
import pytest
from helpers.services import TrackingServer
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow  # starts PostgreSQL and an MLflow server

WORKERS = 4
RUNS_PER_WORKER = 3
STEPS = 5


def log_runs(uri: str, experiment_id: str, worker: int, start: multiprocessing.Barrier) -> None:
    """One writer: a few runs with params, stepped metrics and an artifact, in the given
    experiment (the driver created it; a worker never calls set_experiment)."""
    mlflow.set_tracking_uri(uri)
    start.wait(timeout=120)  # every writer at once, not one after another as they import
    for i in range(RUNS_PER_WORKER):
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"w{worker}-r{i}"):
            mlflow.log_params({"worker": worker, "run": i})
            for step in range(STEPS):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
            mlflow.log_metric("score", worker * 100 + i)
            mlflow.log_text(f"worker {worker} run {i}", "note.txt")


def _args_of_every_process() -> str:
    # -ww: whole command lines (under pytest's capture, plain `ps` cuts them at 80 columns).
    ps = ["ps", "-ww", "-eo", "args"]
    return subprocess.run(ps, capture_output=True, text=True, check=True).stdout


def test_concurrent_writers_lose_nothing(tracking_server: TrackingServer, tmp_path: Path):
    client = MlflowClient(tracking_server.uri)
    experiment_id = client.create_experiment("concurrent-writers")
    spawn = multiprocessing.get_context("spawn")  # no forked copy of this process's MLflow state
    start = spawn.Barrier(WORKERS)
    workers = [
        spawn.Process(target=log_runs, args=(tracking_server.uri, experiment_id, w, start))
        for w in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [w.exitcode for w in workers] == [0] * WORKERS

    runs = client.search_runs([experiment_id], max_results=1000)
    assert sorted(r.info.run_name for r in runs) == sorted(
        f"w{w}-r{i}" for w in range(WORKERS) for i in range(RUNS_PER_WORKER)
    )
    for run in runs:
        worker, i = int(run.data.params["worker"]), int(run.data.params["run"])
        assert run.info.status == "FINISHED"
        assert run.data.metrics["score"] == worker * 100 + i
        history = client.get_metric_history(run.info.run_id, "loss")
        assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(STEPS))
        # Served by the tracking server, not read from a shared folder.
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
        note = mlflow.artifacts.download_artifacts(
            run_id=run.info.run_id,
            artifact_path="note.txt",
            dst_path=str(tmp_path / run.info.run_id),
            tracking_uri=tracking_server.uri,
        )
        assert Path(note).read_text() == f"worker {worker} run {i}"


def test_password_stays_out_of_process_args_and_logs(tracking_server: TrackingServer):
    password = tracking_server.password()
    assert len(password) >= 32
    assert (tracking_server.folder / "pgpass").stat().st_mode & 0o777 == 0o600
    # The server is in use (its workers hold PostgreSQL connections) while `ps` looks.
    MlflowClient(tracking_server.uri).search_experiments()
    args = _args_of_every_process()
    assert "mlflow server" in args and "postgres" in args  # `ps` does see both servers
    # Booleans, so that a failure does not print the password either.
    in_args = password in args
    assert not in_args, "the password is on a command line"
    logs = tracking_server.logs
    assert {p.name for p in logs} >= {"mlflow-server.log", "postgresql.log"}
    for log in logs:
        in_log = password in log.read_text(errors="replace")
        assert not in_log, f"the password is in {log}"
