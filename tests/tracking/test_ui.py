"""The URL that opens MLflow's UI on the runs, and `ui` serving it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import ClassVar

import mlflow
import pytest

from pipeline.cli import main
from pipeline.tracking import ui
from pipeline.tracking.ui import runs_url

REPO = Path(__file__).resolve().parents[2]
RUNS = "/#/experiments/7/runs?workflowType=machine_learning"  # the runs, not the GenAI overview


def test_the_runs_url_is_the_local_ui_s_or_the_tracking_server_s(mlflow_store):
    assert runs_url("7") == f"http://127.0.0.1:5000{RUNS}"
    assert runs_url("7", port=5055) == f"http://127.0.0.1:5055{RUNS}"
    mlflow.set_tracking_uri("http://tracking.example:5050/")
    assert runs_url("7") == f"http://tracking.example:5050{RUNS}"


class _Server:
    """Stands in for the `mlflow ui` process: records its command, ends at once."""

    commands: ClassVar[list[list[str]]] = []

    def __init__(self, command: list[str], **options: object) -> None:
        self.commands.append(command)

    def wait(self) -> int:
        return 0

    def poll(self) -> int:
        return 0


@pytest.mark.slow  # starts MLflow's real UI server (a minute on a busy 2-core box)
def test_ui_prints_the_runs_url_once_the_page_answers(mlflow_store, tmp_path):
    """The real `ui`: its URL is printed only once the UI answers there, on 127.0.0.1, with
    one worker, no job consumers and no library warnings on the terminal."""
    experiment_id = mlflow.MlflowClient().create_experiment("stockcast")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "pipeline", "ui", "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip
    try:
        line = server.stdout.readline()  # blocks until `ui` prints: after the page answered
        assert f"http://127.0.0.1:{port}/#/experiments/{experiment_id}/runs?" in line, line
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
            assert answer.status == 200
        workers = subprocess.run(
            ["pgrep", "-f", "-s", str(os.getpgid(server.pid)), "huey|uvicorn"],
            capture_output=True, text=True, check=False,
        ).stdout.split()  # fmt: skip
        assert len(workers) <= 2, workers  # uvicorn's parent and one worker; no consumers
    finally:
        os.killpg(os.getpgid(server.pid), signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    assert "Warning" not in err, err


def test_ui_before_any_run_says_what_makes_them(mlflow_store, monkeypatch, capsys):
    monkeypatch.setattr(ui, "Popen", _Server)
    assert main(["ui", "--experiment", "none-yet"]) == 0
    assert "no experiment 'none-yet' yet: `make all` makes its runs" in capsys.readouterr().out
