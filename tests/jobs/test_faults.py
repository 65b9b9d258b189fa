"""Bad input and faults, fed for real: each ends in one clear line, a non-zero exit,
and nothing already saved lost. Exit codes: 2 option, 3 data, 4 fetch, 5 training,
6 storage, 7 locked, 8 no champion, 143 SIGTERM (docs/cli.md)."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from helpers import SHRUNK, make_prices
from mlflow.tracking import MlflowClient
from yfinance.base import TickerBase
from yfinance.exceptions import YFPricesMissingError, YFRateLimitError

from pipeline import storage
from pipeline.cli import main
from pipeline.data.yahoo import read_cache, write_cache
from pipeline.errors import StorageError


def runs(status: str | None = None) -> list:
    """The tickers' runs (not the job's summary run), with ``status`` if given."""
    client = MlflowClient()
    exp = client.get_experiment_by_name("stockcast")
    if exp is None:
        return []
    found = client.search_runs([exp.experiment_id], "tags.kind != 'summary'")
    return [r for r in found if status is None or r.info.status == status]


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert lines, err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------- 1, 2: yfinance


@pytest.fixture
def yahoo(monkeypatch):
    """Route the real yf.download through a replaced TickerBase.history."""
    behaviour = {"fn": lambda ticker: make_prices(300).tz_localize("America/New_York")}

    def history(self, *args, **kwargs):
        return behaviour["fn"](self.ticker)

    monkeypatch.setattr(TickerBase, "history", history)
    monkeypatch.setattr(time, "sleep", lambda s: None)  # the retry backoff
    return behaviour


def test_unknown_ticker_names_it_and_leaves_no_run(mlflow_store, tmp_path, yahoo, capsys):
    def missing(ticker):
        raise YFPricesMissingError(ticker, "(1d 2000-01-01 -> 2026-11-24)")

    yahoo["fn"] = missing
    code = main(["all", "--scope", "ticker", "--tickers", "ZZZZQ", "--source", "yfinance",
                 "--data-dir", str(tmp_path / "data"), *SHRUNK])  # fmt: skip
    assert code == 3
    line = one_error_line(capsys.readouterr().err)
    assert "ZZZZQ: Yahoo Finance has no prices for this symbol" in line
    assert runs("RUNNING") == []


def test_rate_limited_uses_the_cache_with_its_age(mlflow_store, tmp_path, yahoo, capsys):
    raw = tmp_path / "data" / "raw"
    cached = make_prices(300)
    write_cache(raw / "ACME.csv", cached, datetime(2026, 11, 20, tzinfo=timezone.utc))
    before = (raw / "ACME.csv").read_bytes()

    def limited(ticker):
        raise YFRateLimitError()

    yahoo["fn"] = limited
    code = main(["fetch", "--tickers", "ACME", "--source", "yfinance",
                 "--data-dir", str(tmp_path / "data")])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert "retrying" in err and "using cached prices fetched" in err and "days ago" in err
    assert (raw / "ACME.csv").read_bytes() == before


def test_rate_limited_without_cache_is_exit_4(mlflow_store, tmp_path, yahoo, capsys):
    def limited(ticker):
        raise YFRateLimitError()

    yahoo["fn"] = limited
    code = main(["fetch", "--tickers", "ACME", "--source", "yfinance",
                 "--data-dir", str(tmp_path / "data")])  # fmt: skip
    assert code == 4
    assert "could not be reached after 3 attempt" in one_error_line(capsys.readouterr().err)


# --------------------------------------------------------------------------- 3: atomic writes


def test_a_write_that_dies_midway_leaves_the_old_file(tmp_path):
    path = tmp_path / "prices.csv"
    storage.write_text(path, "old contents\n")

    class Killed(BaseException):
        pass

    with pytest.raises(Killed), storage.atomic_path(path) as tmp:
        tmp.write_text("half of the new")
        raise Killed  # as a kill between write and rename would
    assert path.read_text() == "old contents\n"
    assert [p.name for p in tmp_path.iterdir()] == ["prices.csv"]  # no temp file left


def test_cache_killed_mid_write_in_a_real_process_keeps_the_old_cache(tmp_path):
    path = tmp_path / "ACME.csv"
    old = make_prices(200)
    write_cache(path, old, datetime(2026, 1, 1, tzinfo=timezone.utc))
    script = (
        "import sys, os, signal; from datetime import datetime, timezone\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from helpers import make_prices\n"
        "import pipeline.storage as s\n"
        "real = s.os.replace\n"
        "def die(*a): os.kill(os.getpid(), signal.SIGKILL)\n"
        "s.os.replace = die\n"
        "from pipeline.data.yahoo import write_cache\n"
        "write_cache(__import__('pathlib').Path(sys.argv[1]), make_prices(400), "
        "datetime.now(timezone.utc))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(path), str(Path(__file__).parents[1])])
    assert proc.returncode == -signal.SIGKILL
    frame, _ = read_cache(path)  # still the old, complete, checksummed file
    assert len(frame) == 200


# --------------------------------------------------------------------------- 4, 5: data


def test_bad_csv_via_cli_names_column_and_line(mlflow_store, tmp_path, capsys):
    frame = make_prices(300)
    frame.iloc[5, 1] = frame.iloc[5, 2] * 0.5  # High below Low on the 6th data row
    frame.to_csv(tmp_path / "ACME.csv")
    code = main(["all", "--scope", "ticker", "--data", str(tmp_path / "ACME.csv"), *SHRUNK,
                 "--data-dir", str(tmp_path / "data")])  # fmt: skip
    assert code == 3
    line = one_error_line(capsys.readouterr().err)
    assert "column High is below Low at line 7" in line
    assert runs() == []


def test_too_little_history_states_the_minimum(mlflow_store, tmp_path, capsys):
    make_prices(40).to_csv(tmp_path / "TINY.csv")
    code = main(["all", "--scope", "ticker", "--data", str(tmp_path / "TINY.csv"), "--window", "30",
                 "--data-dir", str(tmp_path / "data")])  # fmt: skip
    assert code == 3
    line = one_error_line(capsys.readouterr().err)
    assert "TINY: 40 days of prices is too little history" in line
    assert "at least 46 days are needed" in line


# --------------------------------------------------------------------------- 6: options


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--tickers", "AAPL;MSFT"], "is not a ticker symbol"),
        (["--tickers", ",,"], "--tickers is empty"),
        (["--window", "1"], "--window must be at least 2"),
        (["--hidden-size", "0"], "--hidden-size must be at least 1"),
        (["--val-frac", "0"], "early stopping needs validation days"),
        (["--train-frac", "0.9", "--val-frac", "0.1"], "must stay below 1 to leave test days"),
        (["--source", "yfinance", "--data", "x.csv"], "--data is a CSV file for --source csv"),
        (["--levels", "0.9,1.5"], "--levels must each lie strictly between 0 and 1"),
        (["--levels", "0.9,0.9"], "--levels lists a level twice"),
    ],
)
def test_bad_options_fail_before_any_work(tmp_path, monkeypatch, capsys, options, message):
    monkeypatch.chdir(tmp_path)
    code = main(["all", "--scope", "ticker", *options, "--data-dir", str(tmp_path / "data")])
    assert code == 2
    assert message in one_error_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []  # no data folder, no mlflow.db


def test_a_bad_list_option_is_a_usage_error_not_a_traceback(capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["all", "--scope", "ticker", "--levels", "0.8,ninety"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "error: argument --levels: '0.8,ninety' is not a comma-separated list of float" in err
    assert "Traceback" not in err


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="this machine has a GPU"
)  # fmt: skip
def test_cuda_without_a_gpu_is_an_option_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert (
        main(["all", "--scope", "ticker", "--device", "cuda", "--data-dir", str(tmp_path / "data")])
        == 2
    )
    assert "no CUDA GPU" in one_error_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- 7: divergence


@pytest.mark.slow  # trains until it diverges
def test_divergence_fails_the_run_and_registers_nothing(mlflow_store, tmp_path, capsys):
    code = main(["all", "--scope", "ticker", "--tickers", "AAPL", "--lr", "1e30", *SHRUNK,
                 "--data-dir", str(tmp_path / "data")])  # fmt: skip
    assert code == 5
    assert "training diverged" in one_error_line(capsys.readouterr().err)
    (run,) = runs()
    assert run.info.status == "FAILED"
    assert MlflowClient().search_registered_models() == []


# --------------------------------------------------------------------------- 8: SIGTERM


@pytest.mark.slow  # trains in a process of its own, twice
def test_sigterm_mid_training_kills_the_run_and_the_next_run_works(mlflow_store, tmp_path):
    data = tmp_path / "data"
    args = [sys.executable, "-m", "pipeline", "all", "--tickers", "AAPL", "--window", "10",
            "--hidden-size", "8", "--batch-size", "64", "--no-progress", "--device", "cpu",
            "--data-dir", str(data)]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_store}
    job = subprocess.Popen(
        [*args, "--epochs", "500", "--patience", "500"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and job.poll() is None:
            live = runs("RUNNING")
            if live and MlflowClient().get_metric_history(live[0].info.run_id, "val_loss")[1:]:
                break  # at least one trained epoch logged: we are mid-training
            time.sleep(0.5)
        prices_file = data / "processed" / "AAPL" / "prices.csv"
        saved = prices_file.read_bytes()
        job.send_signal(signal.SIGTERM)
        _, err = job.communicate(timeout=60)
    finally:
        job.kill()
    assert job.returncode == 143
    assert "terminated:" in err and "Traceback" not in err
    (run,) = runs()
    assert run.info.status == "KILLED"
    assert MlflowClient().search_registered_models() == []
    assert prices_file.read_bytes() == saved
    again = subprocess.run([*args, "--epochs", "1"], cwd=tmp_path, env=env, capture_output=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert {r.info.status for r in runs()} == {"KILLED", "FINISHED"}


# --------------------------------------------------------------------------- 9: storage


def test_data_folder_not_writable_names_the_path(mlflow_store, tmp_path, capsys):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    code = main(["fetch", "--tickers", "AAPL", "--data-dir", str(blocker)])
    assert code == 6
    line = one_error_line(capsys.readouterr().err)
    assert f"cannot write {blocker}" in line
    assert blocker.read_text() == "a file where the data folder should be"


@pytest.mark.slow  # trains `all` twice
def test_mlruns_not_writable_names_the_path_and_keeps_earlier_runs(mlflow_store, tmp_path, capsys):
    data = ["--data-dir", str(tmp_path / "data")]
    assert main(["all", "--scope", "ticker", "--tickers", "MSFT", *data, *SHRUNK]) == 0
    (first,) = runs()
    artifacts = Path(first.info.artifact_uri.removeprefix("file://"))
    experiment_dir = artifacts.parents[1]  # mlruns/<experiment id>
    saved = sorted(p.name for p in experiment_dir.iterdir())
    hidden = experiment_dir.with_name(experiment_dir.name + ".real")
    experiment_dir.rename(hidden)
    experiment_dir.write_text("not a folder")  # new artifacts cannot be written
    try:
        code = main(["all", "--scope", "ticker", "--tickers", "MSFT", *data, *SHRUNK])
    finally:
        experiment_dir.unlink()
        hidden.rename(experiment_dir)
    assert code == 6
    assert "cannot write" in one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in experiment_dir.iterdir()) == saved
    assert runs("RUNNING") == []
    assert MlflowClient().get_run(first.info.run_id).info.status == "FINISHED"


def test_disk_full_is_a_storage_error(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    target = tmp_path / "x"
    storage.write_text(target, "kept")
    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(StorageError, match=r"cannot write .*x: the disk is full"):
        storage.write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_text() == "kept"


# --------------------------------------------------------------------------- 10, 11, 12


@pytest.mark.slow  # trains `all` twice
def test_same_data_config_and_seed_give_identical_metrics(mlflow_store, tmp_path):
    data = ["--data-dir", str(tmp_path / "data")]
    args = ["all", "--scope", "ticker", "--tickers", "MSFT", *data, *SHRUNK, "--epochs", "2",
        "--seed", "3"]  # fmt: skip
    assert main(args) == 0
    assert main(args) == 0
    a, b = runs()
    keys = [k for k in a.data.metrics if k.startswith("test_") or k.endswith("_loss")]
    assert keys and all(a.data.metrics[k] == b.data.metrics[k] for k in keys)
    client = MlflowClient()
    curves = [client.get_metric_history(r.info.run_id, "train_loss") for r in (a, b)]
    assert [m.value for m in curves[0]] == [m.value for m in curves[1]]


def test_debug_shows_the_traceback_of_an_expected_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["all", "--scope", "ticker", "--window", "1", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "error: --window must be at least 2" in err


def test_unexpected_errors_keep_their_traceback(tmp_path, monkeypatch):
    from pipeline.jobs import stages

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(stages, "save_prices", bug)
    with pytest.raises(ZeroDivisionError):
        main(["fetch", "--tickers", "AAPL", "--data-dir", str(tmp_path / "data")])


@pytest.mark.slow  # trains `all`
def test_no_credentials_reach_mlflow(mlflow_store, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "s3cret-token")
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "s3cret-token")
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
    (run,) = runs()
    logged = [*run.data.params.values(), *run.data.tags.values()]
    assert not any("s3cret" in value for value in logged)
