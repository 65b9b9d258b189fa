"""The nightly ``forecast`` job (and ``predict``) against a real store and real champions."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import sqlalchemy as sa

from pipeline.cli import main
from pipeline.store.forecasts import ForecastStore
from pipeline.store.schema import VERSION_TABLE
from pipeline.tracking import registry

pytestmark = pytest.mark.slow  # the trained champions: `all` on AAPL and MSFT, once a session


def test_forecast_stores_a_row_per_horizon_a_night_and_prints_them(
    sample_champions, tmp_path, capsys
):
    url = f"sqlite:///{tmp_path / 'nightly.db'}"
    argv = ["forecast", "--scope", "ticker", "--tickers", "AAPL,MSFT", "--source", "sample",
        "--store-url", url]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    # As of Friday 2013-03-01: the next five NYSE sessions, over the weekend.
    days = ["Mon 2013-03-04", "Tue 2013-03-05", "Wed 2013-03-06", "Thu 2013-03-07",
            "Fri 2013-03-08"]  # fmt: skip
    printed = []
    for h, day in enumerate(days, start=1):
        ahead = "1 day ahead" if h == 1 else f"{h} days ahead"
        line = rf"^AAPL: {ahead} \({day}\): (\S+) \(90%: (\S+) to (\S+)\)$"
        found = re.search(line, out, re.M)
        assert found, out
        printed.append([float(found[i]) for i in (1, 2, 3)])
    last = re.search(r"^AAPL: last Close (\S+) on Fri 2013-03-01; model stockcast-AAPL ", out, re.M)
    assert last, out
    with ForecastStore(url) as store:
        aapl = store.forecasts("AAPL")
        assert len(store.forecasts("MSFT")) == 5
    assert [f.horizon for f in aapl] == [1, 2, 3, 4, 5]
    assert [f"{f.target:%a %Y-%m-%d}" for f in aapl] == days
    assert {str(f.as_of) for f in aapl} == {"2013-03-01"}
    for f, shown in zip(aapl, printed, strict=True):
        assert (f.median, *f.bounds[0.9]) == pytest.approx(shown, abs=0.006)
        assert f.last_close == pytest.approx(float(last[1]), abs=0.006)
        assert (f.model_name, f.model_version) == ("stockcast-AAPL", "1")
        assert f.aci_alphas == {0.9: pytest.approx(0.1)}  # no outcomes yet: calibrated

    # The same night again (a rerun after a crash, a second cron line): replaced, not doubled.
    assert (
        main(
            [
                "predict",
                "--scope",
                "ticker",
                "--ticker",
                "AAPL",
                "--source",
                "sample",
                "--store-url",
                url,
            ]
        )
        == 0
    )
    with ForecastStore(url) as store:
        again = store.forecasts("AAPL")
    assert len(again) == 5
    for a, f in zip(again, aapl, strict=True):
        assert a.issued_at > f.issued_at and a.median == f.median


def test_a_ticker_without_champion_fails_alone(sample_champions, capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    data = ["--source", "csv", "--data", str(tmp_path / "csv"), "--store-url", url]
    (tmp_path / "csv").mkdir()
    for ticker in ("AAPL", "NOPE"):  # NOPE has prices but no model
        (tmp_path / "csv" / f"{ticker}.csv").write_text(
            (sample_champions / "data" / "processed" / "AAPL" / "prices.csv").read_text()
        )
    assert main(["forecast", "--scope", "ticker", *data]) == 8
    captured = capsys.readouterr()
    assert "error: NOPE: no champion model in the registry" in captured.err
    assert "error: 1 of 2 tickers failed" in captured.err
    assert captured.out.startswith("AAPL: ")
    with ForecastStore(url) as store:
        assert len(store.forecasts("AAPL")) == 5 and store.forecasts("NOPE") == []


def test_a_store_from_a_newer_stockcast_is_refused_untouched(sample_champions, capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'f.db'}"
    argv = ["forecast", "--scope", "ticker", "--tickers", "AAPL", "--source", "sample",
        "--store-url", url]  # fmt: skip
    assert main(argv) == 0
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = 'ffff'"))
    capsys.readouterr()
    assert main(argv) == 9
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "schema revision ffff, newer than this stockcast's" in err
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM forecasts")).scalar() == 5
    engine.dispose()


def test_the_served_model_takes_aci_rates_as_parameters(sample_champions):
    import mlflow

    from pipeline.data.sources import load_sample

    model = mlflow.pyfunc.load_model(registry.champion_uri("AAPL"))
    params = model.metadata.get_params_schema().to_dict()
    assert [(p["name"], p["default"]) for p in params] == [
        ("aci_alpha_90", 0.1),
        *((f"aci_alpha_90_h{h}", 0.1) for h in range(2, 6)),
    ]
    rows = load_sample("AAPL").tail(40)[["Open", "High", "Low", "Close"]]
    calibrated = model.predict(rows)
    assert len(calibrated) == 5  # dated rows (a DatetimeIndex) up to Friday 2013-03-01:
    assert calibrated["target_date"].iloc[0] == pd.Timestamp("2013-03-04")
    assert model.predict(rows, params={"aci_alpha_90": 0.1}).equals(calibrated)
    after_misses = model.predict(rows, params={"aci_alpha_90": 0.03})
    assert after_misses["lower_90"].iloc[0] < calibrated["lower_90"].iloc[0]
    assert after_misses["upper_90"].iloc[0] > calibrated["upper_90"].iloc[0]
    assert after_misses["predicted_close"].equals(calibrated["predicted_close"])
    assert after_misses.iloc[1:].equals(calibrated.iloc[1:])  # horizons 2..5: calibrated
    third = model.predict(rows, params={"aci_alpha_90_h3": 0.03})
    assert third["upper_90"].iloc[2] > calibrated["upper_90"].iloc[2]
    assert third.drop(index=2).equals(calibrated.drop(index=2))
