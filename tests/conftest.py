"""Shared fixtures: tiny deterministic prices and an MLflow store in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import helpers
import mlflow
import pandas as pd
import pytest
from helpers import SHRUNK, make_prices

# Fixtures that start real services (PostgreSQL, an MLflow server); see tests/helpers/.
pytest_plugins = ("helpers.services",)


@pytest.fixture
def prices() -> pd.DataFrame:
    return make_prices()


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run in tmp_path with MLflow's default layout there (mlflow.db + mlruns/)."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    # set_registry_uri(None) leaves MLFLOW_REGISTRY_URI in the environment: monkeypatch removes it.
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


@pytest.fixture(scope="module")
def local_ray(request, tmp_path_factory):
    """One local Ray with 2 CPUs for the test module, with a throwaway token (a new local
    Ray would write ~/.ray/auth_token); the jobs' executors join it and leave it running."""
    import logging

    import ray

    # Workers cannot import test modules: ship the module's job functions by value.
    ray.cloudpickle.register_pickle_by_value(request.module)
    token = tmp_path_factory.mktemp("ray-token") / "token"
    token.write_text(helpers.RAY_TOKEN)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_AUTH_TOKEN_PATH", str(token))
        env.delenv("RAY_ADDRESS", raising=False)
        quiet = {"include_dashboard": False, "logging_level": logging.WARNING}
        ray.init(address="local", num_cpus=2, **quiet)
        yield ray
        ray.shutdown()
    ray.cloudpickle.unregister_pickle_by_value(request.module)


@pytest.fixture(scope="module")
def sample_champions(tmp_path_factory) -> Iterator[Path]:
    """An MLflow store (in a folder of the module's own, the working folder while the module's
    tests run) where `all` trained AAPL and MSFT of the sample with the shrunk config once:
    each is its ticker's champion, version 1."""
    from pipeline.cli import main

    folder = tmp_path_factory.mktemp("champions")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as env:
        env.chdir(folder)
        env.setenv("MLFLOW_TRACKING_URI", uri)
        env.setenv("MLFLOW_REGISTRY_URI", uri)
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        assert main(["all", "--tickers", "AAPL,MSFT", "--data-dir", "data", *SHRUNK]) == 0
        yield folder
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
