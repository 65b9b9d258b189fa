"""The driver's view of the tracking store, the registry and torch's threads for each engine
(no Ray started)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from pipeline.config import ClusterConfig, Config, RuntimeConfig
from pipeline.errors import ConfigError
from pipeline.runtime.common import idle_cores
from pipeline.runtime.driver import for_engine

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


def test_in_process_threads_default_to_the_idle_cores_and_the_config_says_how_many(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        auto, _, _ = for_engine(Config(runtime=RuntimeConfig(threads=0)))
        assert 1 <= auto.runtime.threads <= (os.cpu_count() or 1)
        assert torch.get_num_threads() == auto.runtime.threads  # what the run logs as its param
        fixed, _, _ = for_engine(Config(runtime=RuntimeConfig(threads=3)))
        assert fixed.runtime.threads == 3 and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


def test_idle_cores_counts_one_when_every_core_is_busy():
    cores = len(os.sched_getaffinity(0))
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(1.0)  # the hogs are running
        assert idle_cores(sample_s=0.5) == 1
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert 1 <= idle_cores() <= cores
