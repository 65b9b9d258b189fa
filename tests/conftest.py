"""Shared fixtures: tiny deterministic prices and an MLflow store in tmp_path."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from helpers import make_prices

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
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)
