"""Shared fixtures: tiny deterministic prices, a shrunk config, an MLflow store in tmp_path."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from pipeline.config import Config, DataConfig, FeatureConfig, ModelConfig, Paths, TrainConfig

# Fixtures that start real services (PostgreSQL, an MLflow server); see tests/helpers/.
pytest_plugins = ("helpers.services",)

REPO = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO / "data" / "sample"


def make_prices(days: int = 260, seed: int = 0, start: str = "2020-01-01") -> pd.DataFrame:
    """A positive random-walk OHLCV frame on business days, valid by construction."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0005, 0.015, days)))
    open_ = close * np.exp(rng.normal(0, 0.005, days))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.005, days)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.005, days)))
    index = pd.bdate_range(start, periods=days, name="Date")
    return pd.DataFrame(
        {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": 1e6},
        index=index,
    )


@pytest.fixture
def prices() -> pd.DataFrame:
    return make_prices()


@pytest.fixture
def tiny_cfg(tmp_path: Path) -> Config:
    """A config shrunk to run the real pipeline in seconds, writing under tmp_path."""
    return Config(
        tickers=("AAPL",),
        data=DataConfig(source="sample", retries=2, backoff_s=0.0),
        features=FeatureConfig(window=10),
        model=ModelConfig(hidden_size=8, num_layers=2),
        train=TrainConfig(epochs=2, batch_size=256, patience=2, device="cpu", progress=False),
        paths=Paths(
            data_dir=tmp_path / "data", sample_dir=SAMPLE_DIR, reports_dir=tmp_path / "reports"
        ),
        experiment="stockcast-test",
    )


def shrink(cfg: Config, **train) -> Config:
    return dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, **train))


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
