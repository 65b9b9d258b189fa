"""Shared fixtures: tiny deterministic prices and an MLflow store in tmp_path."""

from __future__ import annotations

from pathlib import Path

import helpers
import mlflow
import pandas as pd
import pytest
from helpers import SHRUNK, make_prices
from helpers.stores import copy_store, train_store

# Fixtures that start real services (PostgreSQL, an MLflow server); see tests/helpers/.
pytest_plugins = ("helpers.services",)

# Fixtures that start a server or Ray, or train: a test using one belongs to the slow tier.
SLOW_FIXTURES = {
    "local_ray", "ray_env", "two_node_cluster", "tracking_server", "trained_champions",
    "trained_global",
}  # fmt: skip


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse to run a test that uses a slow fixture without the ``slow`` mark, so that the fast
    tier (``make test-fast``: ``-m "not slow"``) never starts a server nor trains at length."""
    unmarked = [
        item.nodeid
        for item in items
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError(f"mark slow (they use a slow fixture): {', '.join(unmarked)}")


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


@pytest.fixture(scope="session")
def trained_champions(tmp_path_factory) -> Path:
    """A folder where `all` trained AAPL and MSFT of the sample with the shrunk config, once a
    session: its MLflow store (each ticker's champion, version 1) and ``data/``. Every test
    that asks for it shares it, so none may write there: tests use ``sample_champions``."""
    argv = ["all", "--scope", "ticker", "--tickers", "AAPL,MSFT", "--data-dir", "data", *SHRUNK]
    return train_store(tmp_path_factory.mktemp("champions"), argv)


@pytest.fixture
def sample_champions(trained_champions: Path, tmp_path: Path, mlflow_store: str) -> Path:
    """The trained champions in the test's own MLflow store (``mlflow_store``: tmp_path, the
    working folder, with a copy of their database), so that what a test logs stays its own.
    Returns the trained folder, to read its ``data/`` from, never to write in."""
    copy_store(trained_champions, tmp_path)
    return trained_champions
