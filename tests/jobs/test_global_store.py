"""``forecast``, ``score``, ``backfill`` and ``retrain --retrain-when drift`` with the global
champion, against a real forecast store and a real MLflow store."""

from __future__ import annotations

import re
from pathlib import Path

import helpers
import pytest
from helpers import make_prices
from helpers.stores import copy_store, train_store
from mlflow.tracking import MlflowClient

from pipeline.cli import main
from pipeline.store.forecasts import Forecast, ForecastStore

pytestmark = pytest.mark.slow  # trains the global champion (once a session)

SHRUNK = [*helpers.SHRUNK, "--scale-epochs", "2"]
UNIVERSE = {"ACME": (400, 1, "2020-01-01"), "BOLT": (330, 2, "2020-04-01")}


def _write(folder: Path, cut: int = 0, stranger: bool = True) -> Path:
    """The universe's CSVs (and CODA's, a ticker the model never saw), less their last
    ``cut`` sessions."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {**UNIVERSE, **({"CODA": (300, 3, "2020-03-02")} if stranger else {})}
    for ticker, (days, seed, start) in wanted.items():
        prices = make_prices(days, seed=seed, start=start)
        prices.iloc[: days - cut].to_csv(folder / f"{ticker}.csv", index_label="Date")
    return folder


@pytest.fixture(scope="session")
def trained_global(tmp_path_factory) -> Path:
    """A folder whose MLflow store holds a global champion, version 1, trained on ACME and
    BOLT by `all --scope global` once a session; shared, so no test writes there."""
    folder = tmp_path_factory.mktemp("global")
    universe = _write(folder / "universe", stranger=False)
    argv = ["all", "--source", "csv", "--data", str(universe), "--scope", "global"]
    return train_store(folder, [*argv, "--data-dir", "data", *SHRUNK])


@pytest.fixture
def global_champion(trained_global: Path, tmp_path: Path, mlflow_store: str) -> Path:
    """The global champion in the test's own MLflow store (tmp_path, the working folder)."""
    copy_store(trained_global, tmp_path)
    return trained_global


def test_a_global_night_stores_every_horizon_of_every_ticker_and_score_scores_them(
    global_champion, tmp_path, capsys
):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    data = ["--source", "csv", "--data", str(_write(tmp_path / "csv", cut=5))]
    assert main(["forecast", *data, "--store-url", url, "--scope", "global"]) == 0
    out = capsys.readouterr().out
    assert "ACME: 5 days ahead" in out and "calibrated on its validation days" in out
    assert "never trained on CODA: interval calibrated on its last 250 sessions" in out
    with ForecastStore(url) as store:
        stored = {t: store.forecasts(t) for t in ("ACME", "BOLT", "CODA")}
    for ticker, issued in stored.items():
        assert [f.horizon for f in issued] == [1, 2, 3, 4, 5], ticker
        assert {(f.model_name, f.model_version) for f in issued} == {("stockcast-global", "1")}
        assert all(f.aci_alphas == {0.9: pytest.approx(0.1)} for f in issued)
    # Each ticker's interval is its own: the same network, different multipliers.
    assert stored["ACME"][0].bounds != stored["BOLT"][0].bounds

    # The five sessions come: every horizon of every ticker is scored, in a run of its own.
    data = ["--source", "csv", "--data", str(_write(tmp_path / "csv"))]
    assert main(["score", *data, "--store-url", url, "--scope", "global"]) == 0
    out = capsys.readouterr().out
    for ticker in ("ACME", "BOLT", "CODA"):
        for h in range(1, 6):
            if (ticker, h) == ("BOLT", 5):  # BOLT's 5th session lies past 07-05, a holiday
                continue
            assert re.search(rf"^{ticker} version 1, horizon {h}: 1 sessions ", out, re.M), out
    assert "BOLT: 1 forecast(s) wait for their Close" in out
    client = MlflowClient()
    experiment = client.get_experiment_by_name("stockcast").experiment_id
    runs = client.search_runs([experiment], "tags.kind = 'monitor' and tags.scope = 'global'")
    assert sorted(r.data.tags["ticker"] for r in runs) == ["ACME", "BOLT", "CODA"]
    assert all("live_coverage_90_h4" in r.data.metrics for r in runs)

    # The per-ticker score of the same store sees no forecast of a ticker's own model.
    assert main(["score", "--scope", "ticker", *data, "--store-url", url, "--tickers", "ACME"]) == 0
    assert "ACME: no stored forecasts with intervals to score yet" in capsys.readouterr().out


def test_a_global_backfill_replays_the_champion_and_a_drift_retrain_then_skips(
    global_champion, tmp_path, capsys
):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    folder = _write(tmp_path / "csv", stranger=False)
    data = ["--source", "csv", "--data", str(folder), "--store-url", url, "--scope", "global"]
    last = make_prices(*UNIVERSE["ACME"][:2]).index
    first = str(last[-8].date())
    assert main(["backfill", *data, "--from", first, "--to", str(last[-2].date())]) == 0
    out = capsys.readouterr().out
    assert f"ACME: replayed 7 nights (35 forecasts) as of {first} to " in out
    assert "with stockcast-global version 1" in out
    assert re.search(r"^ACME version 1, horizon 1: 7 sessions ", out, re.M), out
    bolt = int(re.search(r"^BOLT: replayed (\d+) nights", out, re.M)[1])  # its days end sooner
    assert 0 < bolt < 7
    with ForecastStore(url) as store:
        acme = store.outcomes("ACME", 0.9, horizon=1, model_name="stockcast-global")
        assert len(store.forecasts("BOLT", model_name="stockcast-global")) == 5 * bolt
    # Online ACI of the global champion's own ACME outcomes: the first night is calibrated,
    # the last has moved with the outcomes known by then.
    assert acme["aci_alpha"].iloc[0] == pytest.approx(0.1)
    assert acme["aci_alpha"].iloc[-1] != pytest.approx(0.1)

    # Seven scored sessions are too few to judge drift on: the drift-only retrain skips.
    retrain = ["retrain", *data, "--retrain-when", "drift", "--holdout", "30", *SHRUNK]
    assert main(retrain) == 0
    out = capsys.readouterr().out
    assert "global: kept the champion (version 1) without retraining: no ticker drifted" in out
    assert re.search(r"^ACME: drift not fired: 7 scored sessions, too few", out, re.M), out
    found = MlflowClient().search_model_versions("name='stockcast-global'")
    assert [str(v.version) for v in found] == ["1"]
    client = MlflowClient()
    experiment = client.get_experiment_by_name("stockcast").experiment_id
    (skip,) = client.search_runs([experiment], "tags.decision = 'skip'")
    assert skip.data.tags["drift"] == "false" and skip.data.tags["scope"] == "global"


def test_a_tickers_own_and_the_global_forecasts_lie_side_by_side_each_scored_alone(
    global_champion, tmp_path, capsys
):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    prices = make_prices(*UNIVERSE["ACME"][:2])
    last, target = prices.index[-2].date(), prices.index[-1].date()
    close = float(prices["Close"].iloc[-2])
    # ACME's own model's forecast of the same night, its interval missing the coming Close.
    own = Forecast(
        "ACME", last, target, "stockcast-ACME", "3", close, close, {0.9: (2 * close, 3 * close)}
    )
    with ForecastStore(url) as store:
        store.save_forecasts([own])
    argv = ["--source", "csv", "--data", str(_write(tmp_path / "cut", cut=1, stranger=False))]
    assert main(["forecast", *argv, "--store-url", url, "--scope", "global"]) == 0
    with ForecastStore(url) as store:
        kept = store.forecasts("ACME", model_name="stockcast-ACME")
        assert [(f.median, f.model_version) for f in kept] == [(close, "3")]
        assert len(store.forecasts("ACME", model_name="stockcast-global")) == 5
    # The Close comes: each model's rows are scored on their own, in runs of their own.
    argv = ["--source", "csv", "--data", str(_write(tmp_path / "csv", stranger=False)),
            "--store-url", url, "--tickers", "ACME"]  # fmt: skip
    capsys.readouterr()
    assert main(["score", *argv, "--scope", "global"]) == 0
    shared = capsys.readouterr().out
    assert main(["score", *argv, "--scope", "ticker"]) == 0
    mine = capsys.readouterr().out
    assert re.search(r"^ACME version 1, horizon 1: 1 sessions ", shared, re.M), shared
    assert re.search(r"^ACME version 3, horizon 1: 1 sessions .* coverage 0\.000", mine, re.M)
    assert "version 3" not in shared and "version 1," not in mine


def test_a_drift_retrain_trains_when_one_ticker_drifted(global_champion, tmp_path, capsys):
    # It registers a second global version, in the test's own copy of the store.
    url = f"sqlite:///{tmp_path / 'f.db'}"
    folder = _write(tmp_path / "csv", stranger=False)
    acme = make_prices(*UNIVERSE["ACME"][:2])["Close"].iloc[-31:]
    days = zip(acme.index[:-1], acme.index[1:], acme.iloc[:-1], strict=True)
    missed = [  # every interval of the global champion's ACME forecasts missed its Close
        Forecast("ACME", d.date(), t.date(), "stockcast-global", "1", c, c, {0.9: (2 * c, 3 * c)})
        for d, t, c in days
    ]
    with ForecastStore(url) as store:
        store.save_forecasts(missed)
        store.save_closes("ACME", acme.iloc[1:])
    data = ["--source", "csv", "--data", str(folder), "--store-url", url, "--scope", "global"]
    assert main(["retrain", *data, "--retrain-when", "drift", "--holdout", "30", *SHRUNK]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^ACME: drift fired: ", out, re.M), out
    assert re.search(r"^BOLT: drift not fired: no stored forecasts", out, re.M), out
    assert "challenger is version 2" in out
    client = MlflowClient()
    experiment = client.get_experiment_by_name("stockcast").experiment_id
    runs = client.search_runs([experiment], "tags.drift = 'true'")
    assert [r.info.run_name for r in runs] == ["global-retrain"]
    assert runs[0].data.tags["drift_reason"].startswith("ACME: ")
