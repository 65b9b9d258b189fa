"""ENGINE=ray end to end on a real local Ray with 2 CPUs: same numbers, no lost runs, faults."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from helpers import SHRUNK, write_csvs
from mlflow.tracking import MlflowClient

from pipeline.cli import main
from pipeline.config import (
    ClusterConfig,
    Config,
    DataConfig,
    FeatureConfig,
    ModelConfig,
    Paths,
    RuntimeConfig,
    TrainConfig,
)
from pipeline.jobs.all import run_all
from pipeline.runtime.driver import run_groups
from pipeline.tracking import lifecycle
from pipeline.tracking.store import prepare_experiment

pytestmark = pytest.mark.slow  # starts a local Ray whose tasks train

TICKERS = ("AAA", "BBB", "CCC")
METRICS = ("test_rmse", "test_mae", "test_theil_u", "best_epoch", "shrink_factor")


@pytest.fixture(scope="module")
def token(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ray-token") / "token"
    path.write_text("fedcba9876543210" * 4)
    return path


@pytest.fixture
def csv_folder(tmp_path) -> Path:
    return write_csvs(tmp_path / "csvs", TICKERS)


def _runs(experiment: str) -> list:
    client = MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], "tags.kind = 'train'") if exp else []


def test_ray_tasks_give_exactly_the_in_process_metrics_and_lose_no_run(
    local_ray, mlflow_store, tmp_path, csv_folder, capsys
):
    common = ["all", "--scope", "ticker", "--source", "csv", "--data", str(csv_folder), *SHRUNK,
        "--epochs", "3"]  # fmt: skip
    data = ["--data-dir", str(tmp_path / "data")]
    assert main([*common, *data, "--engine", "ray", "--experiment", "on-ray"]) == 0
    assert main([*common, *data, "--engine", "local", "--experiment", "in-process"]) == 0
    out = capsys.readouterr().out
    assert all(f"registered stockcast-{t} version 1 (champion)" in out for t in TICKERS)

    on_ray = {r.data.tags["ticker"]: r for r in _runs("on-ray")}
    here = {r.data.tags["ticker"]: r for r in _runs("in-process")}
    assert sorted(on_ray) == sorted(here) == sorted(TICKERS)  # SQLite lost no run
    for ticker in TICKERS:
        assert on_ray[ticker].info.status == here[ticker].info.status == "FINISHED"
        assert on_ray[ticker].data.tags["job_id"] != here[ticker].data.tags["job_id"]
        for metric in METRICS:
            assert on_ray[ticker].data.metrics[metric] == here[ticker].data.metrics[metric]


def test_a_registry_apart_from_the_runs_is_the_one_the_tasks_register_in(
    local_ray, mlflow_store, tmp_path, csv_folder, monkeypatch
):
    """MLFLOW_REGISTRY_URI naming a new SQLite file: the driver creates its tables first
    (the tasks creating them at once raced in MLflow's migration) and every task uses it."""
    models = f"sqlite:///{tmp_path / 'models.db'}"
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", models)
    mlflow.set_registry_uri(models)
    common = ["all", "--scope", "ticker", "--source", "csv", "--data", str(csv_folder), *SHRUNK,
        "--epochs", "1"]  # fmt: skip
    assert main([*common, "--data-dir", str(tmp_path / "data"), "--engine", "ray"]) == 0
    names = {m.name for m in MlflowClient(registry_uri=models).search_registered_models()}
    assert names == {f"stockcast-{t}" for t in TICKERS}
    assert MlflowClient(registry_uri=mlflow_store).search_registered_models() == []
    assert {r.info.status for r in _runs("stockcast")} == {"FINISHED"}


# --- faults: jobs that kill their own worker once ---------------------------------------------


def _first_attempt(cfg: Config, ticker: str) -> bool:
    marker = cfg.paths.data_dir / f"{ticker}.attempts"
    marker.parent.mkdir(parents=True, exist_ok=True)
    with marker.open("a") as f:
        f.write("x")
    return marker.read_text() == "x"


def die_inside_a_run_once(cfg, group, experiment_id, tags):
    """Open a run and kill the worker in it (first attempt); then do the real job."""
    if _first_attempt(cfg, group.name):
        with lifecycle.run(cfg, group.name, experiment_id=experiment_id, kind="train", tags=tags):
            os._exit(1)
    return run_all(cfg, group, experiment_id, tags=tags)


def die_after_registering_once(cfg, group, experiment_id, tags):
    """Do the whole job, then kill the worker before it reports back (first attempt)."""
    summaries = run_all(cfg, group, experiment_id, tags=tags)
    if _first_attempt(cfg, group.name):
        os._exit(1)
    return summaries


def _ray_config(tmp_path: Path, folder: Path) -> Config:
    return Config(
        data=DataConfig(source="csv", csv_path=folder),
        features=FeatureConfig(window=10),
        model=ModelConfig(hidden_size=8),
        train=TrainConfig(epochs=1, batch_size=256),
        runtime=RuntimeConfig(device="cpu", progress=False),
        cluster=ClusterConfig(scope="ticker", engine="ray"),
        paths=Paths(data_dir=tmp_path / "data", reports_dir=tmp_path / "reports"),
    )


@pytest.mark.parametrize("job", [die_inside_a_run_once, die_after_registering_once])
def test_a_killed_worker_is_retried_and_leaves_a_consistent_end(
    local_ray, mlflow_store, tmp_path, csv_folder, job, capsys
):
    cfg = _ray_config(tmp_path, csv_folder)
    experiment_id = prepare_experiment(cfg.experiment)
    assert run_groups(cfg, job, experiment_id) == 0
    for ticker in TICKERS:
        assert (cfg.paths.data_dir / f"{ticker}.attempts").read_text() == "xx"  # retried once
        found = MlflowClient().search_model_versions(f"name='stockcast-{ticker}'")
        assert [str(v.version) for v in found] == ["1"]  # no duplicate version for one ticker
    statuses = sorted(r.info.status for r in _runs(cfg.experiment))
    assert "RUNNING" not in statuses
    if job is die_inside_a_run_once:
        assert statuses == ["FAILED"] * 3 + ["FINISHED"] * 3  # the dead attempts' runs
    else:
        assert statuses == ["FINISHED"] * 6


@pytest.mark.parametrize("to", ["driver", "process group"])
def test_sigterm_on_the_driver_cancels_the_tasks_and_marks_their_runs_killed(
    mlflow_store, tmp_path, csv_folder, token, to
):
    """A separate driver process with its own local Ray, stopped as a scheduler would: the
    driver alone, or its whole process group (`timeout`, systemd), Ray's own processes too."""
    env = {
        **os.environ,
        "RAY_AUTH_TOKEN_PATH": str(token),
        "MLFLOW_TRACKING_URI": mlflow_store,
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("RAY_ADDRESS", None)
    driver = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "all", "--engine", "ray", "--source", "csv",
         "--data", str(csv_folder), "--data-dir", str(tmp_path / "data"), *SHRUNK,
         "--epochs", "500", "--patience", "500", "--min-delta", "0"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while not any(r.info.status == "RUNNING" for r in _runs("stockcast")):
            assert driver.poll() is None, driver.stderr.read()
            assert time.monotonic() < deadline, "no run started"
            time.sleep(0.5)
        if to == "driver":
            driver.send_signal(signal.SIGTERM)
        else:  # Ray's GCS and raylet, started by the driver, are in its group
            os.killpg(driver.pid, signal.SIGTERM)
        assert driver.wait(timeout=120) == 143
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    statuses = [r.info.status for r in _runs("stockcast")]
    assert "RUNNING" not in statuses and "KILLED" in statuses
    assert "terminated:" in driver.stderr.read()
