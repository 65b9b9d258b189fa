"""The forecast store against real SQLite and real PostgreSQL: schema, upserts, concurrency."""

from __future__ import annotations

import dataclasses
import datetime as dt
import multiprocessing

import pandas as pd
import pytest
import sqlalchemy as sa

from pipeline.errors import ConfigError, StoreError
from pipeline.store.db import schema_revision
from pipeline.store.forecasts import Forecast, ForecastStore
from pipeline.store.schema import HEAD, VERSION_TABLE

DAY = dt.date(2024, 3, 1)


def forecast(ticker="AAPL", as_of=DAY, median=100.0, version="1", levels=(0.8, 0.9), width=5.0):
    bounds = {lv: (median - width * lv, median + width * lv) for lv in levels}
    target = as_of + dt.timedelta(days=1)
    return Forecast(
        ticker, as_of, target, f"stockcast-{ticker}", version, median, 99.0, bounds,
        aci_alphas={levels[-1]: 0.08},
    )  # fmt: skip


def test_new_store_is_created_at_head(store_url):
    with ForecastStore(store_url) as store:
        assert schema_revision(store.engine) == HEAD
        assert store.forecasts("AAPL") == []


def test_forecast_round_trips(store_url):
    issued = forecast()
    with ForecastStore(store_url) as store:
        store.save_forecasts([issued])
        (back,) = store.forecasts("AAPL")
    assert back.row() | {"issued_at": None} == issued.row() | {"issued_at": None}
    assert back.bounds == issued.bounds
    assert back.aci_alphas == {0.9: 0.08}
    assert abs(back.issued_at - issued.issued_at) < dt.timedelta(seconds=1)


def test_same_night_twice_replaces(store_url):
    with ForecastStore(store_url) as store:
        store.save_forecasts([forecast(median=100.0, levels=(0.8, 0.9))])
        store.save_forecasts([forecast(median=101.0, version="2", levels=(0.9,))])
        (back,) = store.forecasts("AAPL")
    assert (back.median, back.model_version) == (101.0, "2")
    assert list(back.bounds) == [0.9]  # the first night's 80% bounds went with it


def test_outcomes_join_realised_closes_and_leave_missing_ones_nan(store_url):
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    with ForecastStore(store_url) as store:
        store.save_forecasts([forecast(as_of=d, median=100.0 + i) for i, d in enumerate(days)])
        # Each forecast's target is the next day; the second one's Close never comes (a halt).
        targets = pd.to_datetime([d + dt.timedelta(days=1) for d in days])
        closes = pd.Series([50.0, 70.0], index=targets[[0, 2]])
        store.save_closes("AAPL", closes)
        out = store.outcomes("AAPL", 0.9)
    assert list(out["median"]) == [100.0, 101.0, 102.0]
    assert out["close"].iloc[0] == 50.0
    assert pd.isna(out["close"].iloc[1])
    assert out["close"].iloc[2] == 70.0
    assert list(out["lower"]) == [100.0 + i - 4.5 for i in range(3)]


def test_a_night_of_several_horizons_is_a_row_each(store_url):
    night = [
        dataclasses.replace(forecast(median=100.0 + h), horizon=h, target=DAY + dt.timedelta(h))
        for h in (1, 2, 3)
    ]
    with ForecastStore(store_url) as store:
        assert store.horizons("AAPL") == []
        store.save_forecasts(night)
        store.save_forecasts(night[1:2])  # the same horizon again: replaced
        assert store.horizons("AAPL") == [1, 2, 3]
        assert [f.horizon for f in store.forecasts("AAPL")] == [1, 2, 3]
        store.save_closes("AAPL", pd.Series([60.0], index=pd.to_datetime([DAY + dt.timedelta(2)])))
        second = store.outcomes("AAPL", 0.9, horizon=2)
        assert store.outcomes("AAPL", 0.9, horizon=3)["close"].isna().all()
    assert list(second["median"]) == [102.0] and list(second["close"]) == [60.0]


def test_two_models_forecasts_of_a_ticker_lie_side_by_side(store_url):
    own = forecast(median=100.0)
    shared = dataclasses.replace(
        forecast(median=90.0, levels=(0.9,)), model_name="stockcast-global"
    )
    with ForecastStore(store_url) as store:
        store.save_forecasts([own])
        # The global model's night of the same session and horizon: kept beside AAPL's own.
        store.save_forecasts([shared])
        store.save_forecasts([dataclasses.replace(shared, median=91.0)])  # its rerun replaces it
        assert sorted(f.median for f in store.forecasts("AAPL")) == [91.0, 100.0]
        mine = store.forecasts("AAPL", model_name="stockcast-global")
        theirs = store.outcomes("AAPL", 0.9, model_name="stockcast-AAPL")
        assert store.levels("AAPL", "stockcast-global") == [0.9]
        assert store.levels("AAPL", "stockcast-AAPL") == [0.8, 0.9]
        assert store.horizons("AAPL", "stockcast-TSLA") == []
        # Each model's bounds are its own.
        store.save_closes("AAPL", pd.Series([60.0], index=pd.to_datetime([own.target])))
        both = {
            m: store.outcomes("AAPL", 0.9, model_name=m)
            for m in ("stockcast-AAPL", "stockcast-global")
        }
    assert [f.median for f in mine] == [91.0] and list(theirs["median"]) == [100.0]
    assert mine[0].bounds == {0.9: shared.bounds[0.9]} and list(mine[0].aci_alphas) == [0.9]
    assert [list(o["close"]) for o in both.values()] == [[60.0], [60.0]]
    assert list(both["stockcast-global"]["lower"]) == [90.0 - 4.5]  # the rerun's own bounds


def test_a_store_of_the_first_schema_is_migrated_keeping_its_rows(tmp_path):
    """A store written before the model's name joined the key: opened, it is migrated and
    every forecast and bound is kept, each bound under its forecast's model."""
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from pipeline.store.db import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        day, target = DAY.isoformat(), (DAY + dt.timedelta(days=1)).isoformat()
        for ticker, model, median in (
            ("AAPL", "stockcast-AAPL", 100.0),
            ("MSFT", "stockcast-global", 30.0),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO forecasts (ticker, as_of, horizon, target, model_name, "
                    "model_version, median, last_close, issued_at) VALUES (:t, :d, 1, :g, :m, "
                    "'3', :x, 99.0, '2024-03-01 22:00:00')"
                ),
                {"t": ticker, "d": day, "g": target, "m": model, "x": median},
            )
            for level in (0.8, 0.9):
                conn.execute(
                    sa.text(
                        "INSERT INTO forecast_bounds (ticker, as_of, horizon, level, lower, "
                        "upper, aci_alpha) VALUES (:t, :d, 1, :l, :lo, :hi, 0.1)"
                    ),
                    {"t": ticker, "d": day, "l": level, "lo": median - 1, "hi": median + level},
                )
    engine.dispose()
    with ForecastStore(url) as store:
        assert schema_revision(store.engine) == HEAD
        (aapl,) = store.forecasts("AAPL", model_name="stockcast-AAPL")
        (msft,) = store.forecasts("MSFT", model_name="stockcast-global")
        assert (aapl.median, aapl.model_version, aapl.horizon) == (100.0, "3", 1)
        assert aapl.bounds == {0.8: (99.0, 100.8), 0.9: (99.0, 100.9)}
        assert msft.bounds == {0.8: (29.0, 30.8), 0.9: (29.0, 30.9)}
        assert msft.aci_alphas == {0.8: 0.1, 0.9: 0.1}
        # The new key holds: the global model's AAPL night goes beside the stored one.
        store.save_forecasts([dataclasses.replace(aapl, model_name="stockcast-global")])
        assert len(store.forecasts("AAPL")) == 2


def test_failed_write_leaves_the_stored_night_whole(store_url):
    with ForecastStore(store_url) as store:
        store.save_forecasts([forecast(median=100.0)])
        broken = forecast(median=105.0, as_of=DAY + dt.timedelta(days=1))
        bad = Forecast(**{**broken.__dict__, "bounds": {0.9: (None, 1.0)}})
        with pytest.raises(TypeError):  # after the batch's first forecast was written
            store.save_forecasts([forecast(median=200.0), bad])
        (kept,) = store.forecasts("AAPL")
    assert kept.median == 100.0  # the failed transaction replaced nothing


def test_newer_schema_is_refused_and_left_alone(store_url):
    with ForecastStore(store_url) as store:
        store.save_forecasts([forecast()])
        with store.engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    with pytest.raises(StoreError, match="schema revision 9999, newer than this stockcast's"):
        ForecastStore(store_url)
    engine = sa.create_engine(store_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM forecasts")).scalar() == 1
    engine.dispose()


def test_bad_url_is_a_config_error():
    with pytest.raises(ConfigError, match="is not a database URL"):
        ForecastStore("not a url")


def test_unreachable_store_is_one_line(tmp_path):
    (tmp_path / "in-the-way").write_text("a file, not a folder")
    with pytest.raises(StoreError, match=r"cannot open the forecast store .*in-the-way"):
        ForecastStore(f"sqlite:///{tmp_path / 'in-the-way' / 'forecasts.db'}")


# ---------------------------------------------------------------- concurrent writers

WRITERS = 4
NIGHTS = 15


def write_nights(url: str, writer: int, start) -> None:
    """One writer (a Ray task, a cron job): its own ticker every night, plus a shared one."""
    store = ForecastStore(url)
    start.wait(timeout=120)
    for night in range(NIGHTS):
        as_of = DAY + dt.timedelta(days=night)
        store.save_forecasts(
            [
                forecast(ticker=f"T{writer}", as_of=as_of, median=100.0 + night),
                forecast(ticker="SHARED", as_of=as_of, median=1000.0 + writer),
            ]
        )
    store.close()


def test_concurrent_writers_lose_nothing(store_url):
    ForecastStore(store_url).close()  # not needed for correctness: each writer migrates too
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(WRITERS)
    workers = [
        spawn.Process(target=write_nights, args=(store_url, w, start)) for w in range(WRITERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [w.exitcode for w in workers] == [0] * WRITERS
    with ForecastStore(store_url) as store:
        for w in range(WRITERS):
            stored = store.forecasts(f"T{w}")
            assert [f.median for f in stored] == [100.0 + n for n in range(NIGHTS)]
            assert all(len(f.bounds) == 2 for f in stored)
        shared = store.forecasts("SHARED")
    assert len(shared) == NIGHTS  # one row a night, whoever wrote last
    assert all(f.median in {1000.0 + w for w in range(WRITERS)} for f in shared)
    assert all(len(f.bounds) == 2 for f in shared)


def open_store_revision(url: str) -> str | None:
    with ForecastStore(url) as store:
        return schema_revision(store.engine)


def test_concurrent_first_opens_create_the_schema_once(store_url):
    spawn = multiprocessing.get_context("spawn")
    with spawn.Pool(WRITERS) as pool:
        revisions = pool.map(open_store_revision, [store_url] * WRITERS)
    assert revisions == [HEAD] * WRITERS
    with ForecastStore(store_url) as store:
        assert schema_revision(store.engine) == HEAD
