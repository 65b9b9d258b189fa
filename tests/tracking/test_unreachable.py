"""A tracking server that does not answer: one line naming it, exit 10, once for the job."""

from __future__ import annotations

import socket

import pytest

from pipeline.cli import main
from pipeline.errors import TrackingUnavailable
from pipeline.store.forecasts import ForecastStore


@pytest.fixture
def server_down(monkeypatch: pytest.MonkeyPatch, tmp_path) -> str:
    """A tracking URI on a loopback port nobody listens on; MLflow's retries kept short."""
    with socket.socket() as probe:  # a port that was free a moment ago, now closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "0")
    return uri


def test_forecast_fails_once_naming_the_server(server_down, tmp_path, capsys):
    """Not "no champion" per ticker: the registry that does not answer, once, and nothing
    half-written in the forecast store."""
    url = f"sqlite:///{tmp_path / 'f.db'}"
    argv = ["forecast", "--scope", "ticker", "--tickers", "AAPL,MSFT", "--source", "sample",
        "--store-url", url]  # fmt: skip
    assert main(argv) == TrackingUnavailable.exit_code == 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"error: the tracking server {server_down} does not answer")
    assert "no champion" not in err[0]
    with ForecastStore(url) as store:
        assert store.forecasts("AAPL") == [] and store.forecasts("MSFT") == []


def test_all_fails_before_any_work(server_down, capsys):
    assert (
        main(
            ["all", "--scope", "ticker", "--tickers", "AAPL", "--source", "sample", "--epochs", "1"]
        )
        == 10
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not answer" in err[0], err
