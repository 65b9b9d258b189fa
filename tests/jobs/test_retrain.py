"""Registry, champion/challenger retrain, the lock, predict and serving."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from helpers import SAMPLE_DIR, SHRUNK
from mlflow.tracking import MlflowClient

import pipeline
from pipeline.cli import main
from pipeline.errors import LockedError
from pipeline.evaluation.promotion import decide
from pipeline.runtime.lock import exclusive_lock
from pipeline.tracking import registry


def test_decide():
    assert decide(1.0, None).promote
    assert decide(0.9, 1.0).promote
    assert not decide(1.0, 1.0).promote  # a tie keeps the champion
    assert not decide(1.1, 1.0).promote
    assert not decide(float("nan"), 1.0).promote


def test_lock_refuses_a_second_holder(tmp_path):
    lock = tmp_path / "retrain.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path\n"
         "from pipeline.runtime.lock import exclusive_lock\n"
         "with exclusive_lock(Path(sys.argv[1])):\n"
         "    print('held', flush=True); time.sleep(60)", str(lock)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(LockedError, match=rf"another retrain job is running \(pid {holder.pid}"),
            exclusive_lock(lock),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    with exclusive_lock(lock):  # the dead holder's lock is gone
        assert lock.with_name("retrain.lock.pid").read_text() == str(os.getpid())


def _forecaster_spec(ticker: str, version: str) -> dict:
    """The ``forecaster.json`` of a registered version."""
    folder = Path(mlflow.artifacts.download_artifacts(f"models:/stockcast-{ticker}/{version}"))
    return json.loads(next(folder.rglob("forecaster.json")).read_text())


def _versions(ticker: str) -> list[str]:
    found = MlflowClient().search_model_versions(f"name='stockcast-{ticker}'")
    return sorted(str(v.version) for v in found)


@pytest.mark.slow  # trains `all`, then retrains
def test_all_then_retrain_keeps_a_champion_and_predict_answers(mlflow_store, tmp_path, capsys):
    data = ["--data-dir", str(tmp_path / "data")]
    assert (
        main(["predict", "--scope", "ticker", "--ticker", "MSFT", "--source", "sample", *data]) == 8
    )
    assert "no champion model" in capsys.readouterr().err

    assert main(["all", "--scope", "ticker", "--tickers", "MSFT", *data, *SHRUNK]) == 0
    assert registry.champion_version("MSFT") == "1"
    assert (
        main(
            [
                "retrain",
                "--scope",
                "ticker",
                "--tickers",
                "MSFT",
                "--source",
                "sample",
                *data,
                *SHRUNK,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "challenger is version 2" in out
    assert _versions("MSFT") == ["1", "2"]
    # One training path: the challenger carries the whole config, as the model from `all` does.
    from_all, from_retrain = (_forecaster_spec("MSFT", v)["meta"] for v in ("1", "2"))
    assert from_retrain["config"] == from_all["config"]
    assert from_retrain["config"]["train.epochs"] == "1" and "retrain.holdout" in from_all["config"]

    client = MlflowClient()
    exp = client.get_experiment_by_name("stockcast")
    (run,) = client.search_runs([exp.experiment_id], "tags.kind = 'retrain'")
    assert run.info.status == "FINISHED"
    tags, metrics = run.data.tags, run.data.metrics
    assert tags["champion_before"] == "1"
    assert tags["data_from"] == "2000-03-01" and tags["data_to"] == "2013-03-01"
    assert tags["holdout_to"] == "2013-03-01"
    assert np.isfinite(metrics["challenger_holdout_rmse"])
    assert np.isfinite(metrics["champion_holdout_rmse"])
    # Whichever way the seeded run goes, the champion is the version with the lower RMSE
    # (the rule's Theil's U over the same days' persistence orders them alike).
    promoted = metrics["challenger_holdout_rmse"] < metrics["champion_holdout_rmse"]
    assert promoted == (metrics["challenger_holdout_theil_u"] < metrics["champion_holdout_theil_u"])
    assert tags["decision"] == ("promote" if promoted else "keep")
    assert registry.champion_version("MSFT") == ("2" if promoted else "1")

    assert (
        main(["predict", "--scope", "ticker", "--ticker", "MSFT", "--source", "sample", *data]) == 0
    )
    out = capsys.readouterr().out
    for h, day in enumerate(["Mon 2013-03-04", "Tue 2013-03-05", "Fri 2013-03-08"]):
        ahead = {0: "1 day", 1: "2 days", 2: "5 days"}[h]
        line = rf"^MSFT: {ahead} ahead \({day}\): (\S+) \(90%: (\S+) to (\S+)\)$"
        found = re.search(line, out, re.M)
        assert found, out
        low, forecast, high = (float(found[i]) for i in (2, 1, 3))
        assert low < forecast < high and 0.8 * 24.68 < forecast < 1.2 * 24.68
    assert "MSFT: last Close 24.68 on Fri 2013-03-01" in out
    assert f"version {registry.champion_version('MSFT')}, champion" in out
    # Another exchange's calendar, and one that does not exist.
    assert (
        main(["predict", "--scope", "ticker", "--ticker", "MSFT", "--calendar", "XTKS", *data]) == 0
    )
    assert "1 day ahead (Mon 2013-03-04)" in capsys.readouterr().out
    assert (
        main(["predict", "--scope", "ticker", "--ticker", "MSFT", "--calendar", "XNOPE", *data])
        == 2
    )
    assert "no such exchange calendar" in capsys.readouterr().err


def _worse(real_fit):
    """A fit whose model forecasts +5% every day: a challenger that must lose."""

    def fit(*args, **kwargs):
        result = real_fit(*args, **kwargs)
        with torch.no_grad():
            result.model.head.bias.fill_(5.0)
        return result

    return fit


@pytest.mark.slow  # trains `all`, then retrains
def test_worse_challenger_is_registered_but_not_promoted(mlflow_store, tmp_path, monkeypatch):
    data = ["--data-dir", str(tmp_path / "data")]
    assert main(["all", "--scope", "ticker", "--tickers", "AAPL", *data, *SHRUNK]) == 0
    from pipeline.models import rnn

    monkeypatch.setattr(rnn, "fit", _worse(rnn.fit))
    assert (
        main(
            [
                "retrain",
                "--scope",
                "ticker",
                "--tickers",
                "AAPL",
                "--source",
                "sample",
                *data,
                *SHRUNK,
            ]
        )
        == 0
    )
    assert _versions("AAPL") == ["1", "2"]
    assert registry.champion_version("AAPL") == "1"
    # ... and a better one then is: the bad version 2 is not the champion, version 1 is.
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    client = MlflowClient()
    v2 = client.get_model_version("stockcast-AAPL", "2")
    # The rule compares the mean holdout Theil's U, which orders one ticker's models as RMSE.
    assert "challenger mean Theil's U" in v2.tags["decision"] and ">=" in v2.tags["decision"]


@pytest.mark.slow  # retrain trains
def test_no_champion_means_the_challenger_is_promoted(mlflow_store, tmp_path, capsys):
    data = ["--data-dir", str(tmp_path / "data")]
    assert (
        main(
            [
                "retrain",
                "--scope",
                "ticker",
                "--tickers",
                "AAPL",
                "--source",
                "sample",
                *data,
                *SHRUNK,
            ]
        )
        == 0
    )
    assert registry.champion_version("AAPL") == "1"
    assert "promoted (no champion yet)" in capsys.readouterr().out


@pytest.mark.slow  # trains `all`, then retrains
def test_failure_mid_retrain_leaves_the_champion(mlflow_store, tmp_path, monkeypatch):
    data = ["--data-dir", str(tmp_path / "data")]
    assert main(["all", "--scope", "ticker", "--tickers", "AAPL", *data, *SHRUNK]) == 0
    from pipeline.tracking import registry as reg

    def broken(*args, **kwargs):
        raise RuntimeError("registry went away")

    monkeypatch.setattr(reg, "register", broken)
    with pytest.raises(RuntimeError, match="registry went away"):
        main(
            [
                "retrain",
                "--scope",
                "ticker",
                "--tickers",
                "AAPL",
                "--source",
                "sample",
                *data,
                *SHRUNK,
            ]
        )
    assert registry.champion_version("AAPL") == "1" and _versions("AAPL") == ["1"]
    client = MlflowClient()
    exp = client.get_experiment_by_name("stockcast")
    (run,) = client.search_runs([exp.experiment_id], "tags.kind = 'retrain'")
    assert run.info.status == "FAILED"


@pytest.mark.slow  # several seconds: retrain reads the sample and opens its store first
def test_second_retrain_exits_at_once_while_one_runs(mlflow_store, tmp_path, capsys):
    lock = tmp_path / "data" / "retrain.lock"
    with exclusive_lock(lock):
        code = main(["retrain", "--scope", "ticker", "--tickers", "AAPL", "--source", "sample",
                     "--data-dir", str(tmp_path / "data"), *SHRUNK])  # fmt: skip
    assert code == 7
    err = capsys.readouterr().err
    assert "another retrain job is running" in err and "Traceback" not in err
    assert not _registered("AAPL")


def _registered(ticker: str) -> bool:
    return bool(MlflowClient().search_registered_models(f"name='stockcast-{ticker}'"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # trains, then `mlflow models serve` in a process
def test_served_champion_answers_a_real_request(mlflow_store, tmp_path):
    assert (
        main(
            [
                "all",
                "--scope",
                "ticker",
                "--tickers",
                "MSFT",
                "--data-dir",
                str(tmp_path / "data"),
                *SHRUNK,
            ]
        )
        == 0
    )
    port = _free_port()
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    server = subprocess.Popen(
        [str(mlflow_bin), "models", "serve", "-m", registry.champion_uri("MSFT"),
         "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
        # MLflow starts uvicorn by name: the venv's bin must be on PATH, as `make serve` sets it.
        env={
            **os.environ,
            "MLFLOW_TRACKING_URI": mlflow_store,
            "PATH": f"{mlflow_bin.parent}{os.pathsep}{os.environ['PATH']}",
            # The server imports the package under test, not whichever one is installed.
            "PYTHONPATH": str(Path(pipeline.__file__).resolve().parents[1]),
        },
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(f"http://127.0.0.1:{port}/ping", server)
        # Dated rows (a Date column, as text in JSON) up to Friday 2013-03-01.
        columns = ["Date", "Open", "High", "Low", "Close"]
        rows = pd.read_csv(SAMPLE_DIR / "MSFT.csv").tail(30)[columns]
        body = json.dumps({"dataframe_split": rows.to_dict(orient="split", index=False)})
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        predictions = answer["predictions"]  # one per horizon 1..5
        assert [p["horizon"] for p in predictions] == [1, 2, 3, 4, 5]
        assert [p["target_date"][:10] for p in predictions] == [
            "2013-03-04", "2013-03-05", "2013-03-06", "2013-03-07", "2013-03-08"
        ]  # fmt: skip
        for prediction in predictions:
            assert list(prediction) == [
                "horizon", "target_date", "predicted_close", "lower_90", "upper_90"
            ]  # fmt: skip
            forecast = prediction["predicted_close"]
            assert 0.8 * rows.Close.iloc[-1] < forecast < 1.2 * rows.Close.iloc[-1]
            assert prediction["lower_90"] < forecast < prediction["upper_90"]
        # The same numbers as the registered model answers in-process.
        ohlc = rows.set_index(pd.DatetimeIndex(rows.pop("Date")))
        local = registry.load_champion("MSFT").forecaster.answer(ohlc)
        assert [pd.Timestamp(p["target_date"]) for p in predictions] == list(local["target_date"])
        numbers = local.drop(columns="target_date").to_dict(orient="records")
        shown = [{k: v for k, v in p.items() if k != "target_date"} for p in predictions]
        for got, expected in zip(shown, numbers, strict=True):
            assert got == pytest.approx(expected)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def _wait_for(url: str, server: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"server exited: {server.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("server did not answer /ping in time")
