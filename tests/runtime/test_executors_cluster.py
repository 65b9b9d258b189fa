"""RayExecutor joins a started cluster: two nodes on this machine, each in its own folder.

The driver is a separate process, as the CLI would be: it finds the cluster
through RAY_ADDRESS, runs in a third folder, and imports ``pipeline`` from
PYTHONPATH, which the nodes do not have (the executor ships the package).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # starts a two-node Ray cluster

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")

DRIVER = """
import json, os, sys, time
import ray
from pipeline.errors import StockcastError
from pipeline.runtime.executors import make_executor

def where(i):
    time.sleep(0.5)  # hold this node's one CPU, so that the next task goes to the other node
    return ray.get_runtime_context().get_node_id(), os.getcwd()

try:
    with make_executor("ray") as executor:
        print(json.dumps([(o.value, repr(o.error)) for o in executor.map(where, range(6))]))
except StockcastError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)
"""


@dataclass(frozen=True)
class Cluster:
    address: str
    env: dict[str, str]  # what every node and driver of this cluster needs to find its token
    head_dir: Path
    node_dir: Path


@pytest.fixture(scope="module")
def two_node_cluster(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cluster")
    # Ray's socket paths must fit in 107 bytes, and pytest's tmp_path is too deep.
    ray_temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
    token = tmp_path / "token"
    token.write_text("fedcba9876543210" * 4)
    # Every process needs both: a node or driver without RAY_AUTH_MODE=token sends no
    # token (even when one is on disk), and the head's InvalidAuthToken turns it away.
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "PYTHONPATH")}
    env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    address = f"127.0.0.1:{_free_port()}"
    head_dir, node_dir = tmp_path / "head", tmp_path / "node"
    head_dir.mkdir()
    node_dir.mkdir()
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    started = []  # `ray start --block` stops its node's processes when it gets SIGTERM
    try:
        head = [RAY, "start", "--block", "--head", "--port", address.split(":")[1], *common]
        head += ["--include-dashboard=false", "--temp-dir", str(ray_temp)]
        _start_node(head, head_dir, env, started)
        node = [RAY, "start", "--block", "--address", address, *common]
        _start_node(node, node_dir, env, started)
        yield Cluster(address, env, head_dir, node_dir)
    finally:
        for process in reversed(started):
            process.send_signal(signal.SIGTERM)
        for process in reversed(started):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(ray_temp, ignore_errors=True)


def test_tasks_run_on_both_nodes_in_their_own_folders(two_node_cluster, tmp_path):
    driver_dir = tmp_path / "driver"
    driver_dir.mkdir()
    env = two_node_cluster.env | {
        "RAY_ADDRESS": two_node_cluster.address,
        "PYTHONPATH": str(REPO),
    }
    run = subprocess.run(
        [sys.executable, "-c", DRIVER],
        cwd=driver_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]

    results = json.loads(run.stdout.splitlines()[-1])
    assert [error for _, error in results] == ["None"] * 6
    folder_of = dict(value for value, _ in results)  # node id -> the folder its tasks ran in
    assert len(folder_of) == 2
    assert sorted(folder_of.values()) == sorted(
        [str(two_node_cluster.head_dir), str(two_node_cluster.node_dir)]
    )


def test_a_driver_with_the_wrong_token_gets_one_clear_error(two_node_cluster, tmp_path):
    wrong = tmp_path / "wrong-token"
    wrong.write_text("0" * 64)
    env = two_node_cluster.env | {
        "RAY_ADDRESS": two_node_cluster.address,
        "RAY_AUTH_TOKEN_PATH": str(wrong),
        "PYTHONPATH": str(REPO),
        "RAY_gcs_server_port_wait_time_s": "1",  # give up after one try, not twenty
    }
    run = subprocess.run(
        [sys.executable, "-c", DRIVER],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2  # ConfigError
    last_line = run.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"error: cannot join the Ray cluster at {two_node_cluster.address}")


def test_all_on_the_cluster_logs_every_ticker_to_the_tracking_server(
    two_node_cluster, tracking_server, tmp_path, monkeypatch
):
    """ENGINE=ray with no shared folder: the driver sends prices as values, the workers
    write their stage files in their own folders and their models to the server."""
    import mlflow
    from mlflow.tracking import MlflowClient

    sys.path.insert(0, str(REPO / "tests"))
    from helpers import SHRUNK, make_prices

    csvs, driver_dir = tmp_path / "csvs", tmp_path / "driver"
    csvs.mkdir()
    driver_dir.mkdir()
    tickers = ("ONE", "TWO", "SIX")
    for seed, ticker in enumerate(tickers):
        make_prices(300, seed=seed).to_csv(csvs / f"{ticker}.csv", index_label="Date")
    env = two_node_cluster.env | {
        "RAY_ADDRESS": two_node_cluster.address,
        "PYTHONPATH": str(REPO),
        "MLFLOW_TRACKING_URI": tracking_server.uri,
    }
    run = subprocess.run(
        [sys.executable, "-m", "pipeline", "all", "--scope", "ticker", "--engine", "ray",
         "--source", "csv",
         "--data", str(csvs), "--experiment", "on-the-cluster", *SHRUNK],
        cwd=driver_dir, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]

    client = MlflowClient(tracking_server.uri)
    exp = client.get_experiment_by_name("on-the-cluster")
    found = client.search_runs([exp.experiment_id], "tags.kind = 'train'")
    assert sorted(r.data.tags["ticker"] for r in found) == sorted(tickers)
    assert {r.info.status for r in found} == {"FINISHED"}
    for r in found:
        assert r.info.artifact_uri.startswith("mlflow-artifacts:")
        assert "test_metrics.md" in {a.path for a in client.list_artifacts(r.info.run_id)}
    mlflow.set_tracking_uri(tracking_server.uri)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", tracking_server.uri)  # removed after the test
    mlflow.set_registry_uri(tracking_server.uri)
    try:  # each registered model's files came from a worker to the server
        for ticker in tickers:
            model = mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/stockcast-{ticker}/1", dst_path=str(tmp_path / ticker)
            )
            assert (Path(model) / "MLmodel").exists()
    finally:
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    # Each worker wrote its stage files where it runs; the driver's folder got none.
    written = {p.name for node in (two_node_cluster.head_dir, two_node_cluster.node_dir)
               for p in node.glob("data/processed/*")}  # fmt: skip
    assert written == set(tickers)
    assert not (driver_dir / "data" / "processed").exists()


def _start_node(command: list, folder: Path, env: dict[str, str], started: list) -> None:
    """Run `ray start --block` in folder and wait until its node is up."""
    log = folder / "ray-start.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(part) for part in command], cwd=folder, env=env, stdout=out, stderr=out
        )
    started.append(process)
    end = time.monotonic() + 60
    while "Ray runtime started" not in log.read_text():
        if process.poll() is not None or time.monotonic() > end:
            pytest.fail(f"ray start failed in {folder}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
