"""Per-epoch metrics logged in the background lose nothing against the tracking server.

The same `all` job twice on the PostgreSQL-backed server (scripts/tracking-server), once
with MLflow's asynchronous logging (the default) and once with ``--no-async-logging``:
same runs, params, tags, every metric's full history, the same artifacts and the same
registered versions.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import mlflow
import pytest
from helpers import SHRUNK
from helpers.services import TrackingServer
from mlflow.tracking import MlflowClient

from pipeline.cli import main
from pipeline.tracking.server_http import set_nodelay

# What the two jobs differ in by design: the switch itself, their folders and experiments,
# and how long training took.
APART = {"runtime.async_logging", "experiment", "paths.data_dir", "paths.reports_dir"}
TIMINGS = {"train_seconds"}


def _artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> list[str]:
    found = []
    for item in client.list_artifacts(run_id, path):
        found += _artifacts(client, run_id, item.path) if item.is_dir else [item.path]
    return sorted(found)


def _record(client: MlflowClient, experiment: str) -> dict:
    """What a user sees of an experiment's runs, without ids and times."""
    exp = client.get_experiment_by_name(experiment)
    record = {}
    for run in client.search_runs([exp.experiment_id]):
        key = (run.data.tags["ticker"], run.data.tags["kind"])
        record[key] = {
            "status": run.info.status,
            "params": {k: v for k, v in run.data.params.items() if k not in APART},
            "tags": sorted(k for k in run.data.tags if not k.endswith("_id")),
            "metrics": {
                name: [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, name)]
                for name in run.data.metrics
                if name not in TIMINGS
            },
            "artifacts": _artifacts(client, run.info.run_id),
            "model_metrics": sorted(  # what the logged model's page shows
                (m.key, m.step, m.value)
                for output in (run.outputs.model_outputs if run.outputs else [])
                for m in client.get_logged_model(output.model_id).metrics or []
                if m.key not in TIMINGS
            ),
        }
    return record


@pytest.mark.slow  # the tracking server (PostgreSQL); trains `all` twice
def test_background_logging_keeps_what_synchronous_logging_keeps(
    tracking_server: TrackingServer, tmp_path: Path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(tracking_server.uri)
    # The server is shared with other tests: count only what these two jobs register.
    registered = len(client.search_model_versions("name='stockcast-AAPL'"))
    records = {}
    for mode in ("--async-logging", "--no-async-logging"):
        experiment = f"logging{mode}"
        folders = ["--data-dir", str(tmp_path / mode), "--reports-dir", str(tmp_path / "r" / mode)]
        args = ["all", "--scope", "ticker", "--tickers", "AAPL", *SHRUNK, "--epochs", "4",
                "--tracking-uri", tracking_server.uri, "--experiment", experiment, *folders,
                mode]  # fmt: skip
        try:
            assert main(args) == 0
        finally:
            mlflow.set_tracking_uri(None)
            mlflow.set_registry_uri(None)
        records[mode] = _record(client, experiment)
    background, synchronous = records["--async-logging"], records["--no-async-logging"]
    assert background == synchronous
    train = background[("AAPL", "train")]
    assert train["status"] == "FINISHED"
    assert len(train["metrics"]["val_loss"]) == 5  # the untrained network's step 0, 4 epochs
    best = int(train["metrics"]["best_epoch"][0][1])
    assert ("val_loss", best, train["metrics"]["val_loss"][best][1]) in train["model_metrics"]
    versions = client.search_model_versions("name='stockcast-AAPL'")
    assert len(versions) == registered + 2  # one registered by each job


@pytest.mark.slow  # starts the tracking server
def test_the_server_runs_the_protocol_that_turns_nagle_off(tracking_server: TrackingServer):
    """Without TCP_NODELAY each request past the first on a kept-alive connection waits
    ~40 ms for the client's delayed ACK (pipeline/tracking/server_http.py)."""
    ps = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True, check=True)
    assert "--http pipeline.tracking.server_http:NoDelayH11Protocol" in ps.stdout


def test_set_nodelay_turns_nagle_off_on_an_accepted_socket():
    # A listener bound with proto 0, as uvicorn's --workers binds it: asyncio would leave
    # its accepted sockets with Nagle on.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
                set_nodelay(accepted)
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
                assert client is not None
