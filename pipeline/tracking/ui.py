"""MLflow's UI: the URL that opens on the runs, and serving it for a store on this machine.

MLflow 3 opens a new browser on an experiment's GenAI overview (traces, latency,
a "Detect issues" pop-up) whatever the experiment's ``mlflow.experimentKind``
tag says: the view is the browser's own setting. ``workflowType=machine_learning``
in the URL sets it, so the URLs printed here land on the runs table.
"""

from __future__ import annotations

import sys
from subprocess import Popen

import mlflow

from pipeline.errors import Interrupted
from pipeline.tracking.store import is_local

PORT = 5000  # where `make ui` serves by default


def runs_url(experiment_id: str, port: int = PORT) -> str:
    """The UI's page of the experiment's runs, in the model-training view.

    On a tracking server, the server's own page; otherwise the UI that ``ui``
    (``make ui``) serves on 127.0.0.1:``port``.
    """
    uri = mlflow.get_tracking_uri()
    base = (
        uri.rstrip("/") if uri.startswith(("http://", "https://")) else f"http://127.0.0.1:{port}"
    )
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def find_experiment(name: str) -> str | None:
    """The id of the experiment called ``name``, or None if no job has made it yet."""
    found = mlflow.MlflowClient().get_experiment_by_name(name)
    return None if found is None else found.experiment_id


def serves_its_own_ui() -> bool:
    """Whether the tracking store is a server (which serves its UI) rather than local files."""
    return not is_local(mlflow.get_tracking_uri())


def serve_ui(port: int = PORT) -> int:
    """Serve MLflow's UI for the local tracking store on 127.0.0.1:``port`` until Ctrl-C.

    Bound to 127.0.0.1 only: the UI has no authentication and can delete runs
    (docs/operations.md, "Security").
    """
    command = [
        sys.executable, "-m", "mlflow", "ui", "--host", "127.0.0.1", "--port", str(port),
        "--backend-store-uri", mlflow.get_tracking_uri(),
    ]  # fmt: skip
    server = Popen(command)
    try:
        return server.wait()
    except (KeyboardInterrupt, Interrupted):  # Ctrl-C or SIGTERM: how a UI is stopped
        return 0
    finally:
        if server.poll() is None:  # never leave the UI behind
            server.terminate()
        server.wait()
