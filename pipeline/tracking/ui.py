"""MLflow's UI: the URL that opens on the runs, and serving it for a store on this machine.

MLflow 3 opens a new browser on an experiment's GenAI overview (traces, latency,
a "Detect issues" pop-up) whatever the experiment's ``mlflow.experimentKind``
tag says: the view is the browser's own setting. ``workflowType=machine_learning``
in the URL sets it, so the URLs printed here land on the runs table.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from subprocess import Popen

import mlflow

from pipeline.errors import Interrupted
from pipeline.tracking.store import is_local

PORT = 5000  # where `make ui` serves by default
READY_WAIT_S = 300.0  # how long the UI may take to answer before `ui` gives up on it
# One person browsing needs one worker; MLflow's job consumers (Huey: server-side GenAI jobs)
# serve nothing the runs table shows. Four workers and seven consumers took about 90 s to
# answer on a busy 2-core box (issue 27); the libraries' deprecation warnings are theirs.
UI_ENV = {
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "PYTHONWARNINGS": "ignore::DeprecationWarning,ignore::FutureWarning",
}


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


def wait_until_answers(url: str, server: Popen, timeout_s: float = READY_WAIT_S) -> bool:
    """Poll ``url`` until it answers 200; False if ``server`` exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.25)
    return False


def serve_ui(port: int = PORT, experiment_id: str | None = None) -> int:
    """Serve MLflow's UI for the local tracking store on 127.0.0.1:``port`` until Ctrl-C;
    print the URL of the experiment's runs once the UI answers (not before).

    Bound to 127.0.0.1 only: the UI has no authentication and can delete runs
    (docs/operations.md, "Security"). One worker, no job consumers (``UI_ENV``); the
    server's own output goes to a log file in the temporary folder, named on the terminal.
    """
    command = [
        sys.executable, "-m", "mlflow", "ui", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--backend-store-uri", mlflow.get_tracking_uri(),
    ]  # fmt: skip
    log_path = Path(tempfile.gettempdir()) / f"stockcast-ui-{port}.log"
    with open(log_path, "w") as log:
        server = Popen(command, env={**os.environ, **UI_ENV}, stdout=log, stderr=log)
    try:
        if wait_until_answers(f"http://127.0.0.1:{port}/health", server):
            where = runs_url(experiment_id, port) if experiment_id else f"http://127.0.0.1:{port}"
            print(f"the runs: {where} (Ctrl-C stops the UI; its log: {log_path})", flush=True)
        else:
            print(f"error: the UI did not start; its log: {log_path}", file=sys.stderr)
        return server.wait()
    except (KeyboardInterrupt, Interrupted):  # Ctrl-C or SIGTERM: how a UI is stopped
        return 0
    finally:
        if server.poll() is None:  # never leave the UI behind
            server.terminate()
        server.wait()
