"""The URL that opens MLflow's UI on the runs, and `ui` serving it (its server stood in for)."""

from __future__ import annotations

from typing import ClassVar

import mlflow

from pipeline.cli import main
from pipeline.tracking import ui
from pipeline.tracking.ui import runs_url

RUNS = "/#/experiments/7/runs?workflowType=machine_learning"  # the runs, not the GenAI overview


def test_the_runs_url_is_the_local_ui_s_or_the_tracking_server_s(mlflow_store):
    assert runs_url("7") == f"http://127.0.0.1:5000{RUNS}"
    assert runs_url("7", port=5055) == f"http://127.0.0.1:5055{RUNS}"
    mlflow.set_tracking_uri("http://tracking.example:5050/")
    assert runs_url("7") == f"http://tracking.example:5050{RUNS}"


class _Server:
    """Stands in for the `mlflow ui` process: records its command, ends at once."""

    commands: ClassVar[list[list[str]]] = []

    def __init__(self, command: list[str]) -> None:
        self.commands.append(command)

    def wait(self) -> int:
        return 0

    def poll(self) -> int:
        return 0


def test_ui_prints_the_runs_url_and_serves_the_store_on_localhost(
    mlflow_store, monkeypatch, capsys
):
    experiment_id = mlflow.MlflowClient().create_experiment("stockcast")
    monkeypatch.setattr(ui, "Popen", _Server)
    monkeypatch.setattr(_Server, "commands", [])
    assert main(["ui", "--port", "5055"]) == 0
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:5055/#/experiments/{experiment_id}/runs?workflowType=" in out
    (command,) = _Server.commands
    assert command[1:4] == ["-m", "mlflow", "ui"]
    assert command[command.index("--host") + 1] == "127.0.0.1"  # never the network
    assert command[command.index("--port") + 1] == "5055"
    assert command[command.index("--backend-store-uri") + 1] == mlflow_store


def test_ui_before_any_run_says_what_makes_them(mlflow_store, monkeypatch, capsys):
    monkeypatch.setattr(ui, "Popen", _Server)
    assert main(["ui", "--experiment", "none-yet"]) == 0
    assert "no experiment 'none-yet' yet: `make all` makes its runs" in capsys.readouterr().out
