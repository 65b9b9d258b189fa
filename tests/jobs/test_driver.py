"""The driver's view of the tracking store and registry for each engine (no Ray started)."""

from __future__ import annotations

import pytest

from pipeline.config import ClusterConfig, Config
from pipeline.errors import ConfigError
from pipeline.jobs.driver import for_engine

ON_RAY = Config(cluster=ClusterConfig(engine="ray"))


def test_a_local_ray_gets_absolute_store_and_registry_uris(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///runs.db")
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "sqlite:///models.db")
    cfg, tracking, registry = for_engine(ON_RAY)
    assert tracking == f"sqlite:///{tmp_path / 'runs.db'}"
    assert registry == f"sqlite:///{tmp_path / 'models.db'}"
    assert cfg.paths.data_dir.is_absolute() and cfg.runtime.progress is False


@pytest.mark.parametrize(
    ("tracking", "registry", "message"),
    [
        ("sqlite:///mlflow.db", None, "needs a tracking server every node can reach"),
        ("http://127.0.0.1:5050", "sqlite:///models.db", "needs a model registry every node"),
    ],
)
def test_a_cluster_refuses_stores_on_this_machine(monkeypatch, tracking, registry, message):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    if registry:
        monkeypatch.setenv("MLFLOW_REGISTRY_URI", registry)
    else:
        monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    with pytest.raises(ConfigError, match=message):
        for_engine(ON_RAY)


def test_a_cluster_with_a_tracking_server_uses_it_for_the_registry_too(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5050")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    assert for_engine(ON_RAY)[1:] == ("http://127.0.0.1:5050", "http://127.0.0.1:5050")
