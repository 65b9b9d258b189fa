"""Sources and validation. yfinance is exercised through the real ``yf.Ticker``
with ``TickerBase.history`` replaced by frames shaped as 1.7 returns them, raising
yfinance's own exceptions; nothing touches the network."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from curl_cffi.requests.exceptions import ConnectionError as CurlConnectionError
from helpers import make_prices
from yfinance.base import TickerBase
from yfinance.exceptions import YFPricesMissingError, YFRateLimitError, YFTzMissingError

from pipeline.config import DataConfig, Paths
from pipeline.data.sources import load_prices
from pipeline.data.validate import read_price_csv
from pipeline.data.yahoo import (
    download_yfinance,
    load_yfinance,
    read_cache,
    select_ticker,
    write_cache,
)
from pipeline.errors import DataError, FetchError

NOW = datetime(2026, 11, 24, 22, 0, tzinfo=timezone.utc)
DATA = DataConfig(source="yfinance", start="2020-01-01", retries=3, backoff_s=1.0)


# --------------------------------------------------------------------------- sample and CSV


def test_sample_prices_are_split_adjusted_and_valid():
    frame = load_prices("AAPL", DataConfig(source="sample"), Paths())
    assert len(frame) == 3270
    assert frame.index[0] == pd.Timestamp("2000-03-01")
    assert frame.index[-1] == pd.Timestamp("2013-03-01")
    # AAPL split 2:1 on 2005-02-28; adjusted prices show no overnight halving around it.
    around = frame.loc["2005-02-20":"2005-03-10", "Close"].to_numpy()
    assert np.abs(np.diff(np.log(around))).max() < 0.1


def test_unknown_sample_ticker_lists_what_there_is():
    with pytest.raises(DataError, match=r"no sample prices for NVDA: the sample has AAPL, MSFT"):
        load_prices("NVDA", DataConfig(source="sample"), Paths())


def write(tmp_path: Path, text: str, name: str = "ACME.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = "date,OPEN,High,low,Close,Volume\n" + "".join(
    f"2024-01-{d:02d},{10 + d},{11 + d},{9 + d},{10.5 + d},100\n" for d in range(2, 12)
)


def test_csv_columns_are_case_insensitive(tmp_path):
    frame = read_price_csv(write(tmp_path, GOOD))
    assert list(frame.columns) == ["Open", "High", "Low", "Close", "Volume"]
    assert frame.Close.iloc[0] == 12.5


def test_csv_without_volume_is_fine(tmp_path):
    text = "\n".join(",".join(line.split(",")[:5]) for line in GOOD.splitlines())
    assert "Volume" not in read_price_csv(write(tmp_path, text)).columns


def test_csv_unsorted_rows_and_exact_duplicates_are_fixed_and_reported(tmp_path, caplog):
    lines = GOOD.splitlines()
    text = "\n".join([lines[0], lines[3], lines[1], lines[2], lines[2], *lines[4:]])
    frame = read_price_csv(write(tmp_path, text))
    assert frame.index.is_monotonic_increasing and frame.index.is_unique
    assert len(frame) == 10
    assert "sorted" in caplog.text and "1 exact duplicate" in caplog.text


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("low,", ""), r"missing column\(s\) Low"),
        (
            lambda t: t.replace("2024-01-05,15,", "2024-01-05,abc,"),
            r"column Open has 'abc'.*line 5",
        ),
        (
            lambda t: t.replace("2024-01-06,16,17,", "2024-01-06,16,,"),
            r"column High is empty.*line 6",
        ),
        (
            lambda t: t.replace(",17.5,100\n", ",0,100\n"),
            r"column Close is zero or negative.*line 7",
        ),
        (
            lambda t: t.replace("2024-01-04,14,15,13", "2024-01-04,14,12,13"),
            r"High is below Low.*line 4",
        ),
        (lambda t: t.replace("2024-01-07", "2024-01-03"), r"Date has 2024-01-03 twice"),
        (lambda t: t.replace("2024-01-11", "2024-03-11"), r"Date jumps 61 days"),
        (lambda t: t.replace("2024-01-08", "yesterday"), r"column Date has 'yesterday'.*line 8"),
        (
            lambda t: t.replace("2024-01-09,19,20,18,19.5", "2024-01-09,NaN,20,18,19.5"),
            r"Open is empty",
        ),
    ],
)
def test_bad_csv_is_rejected_naming_column_and_row(tmp_path, edit, message):
    with pytest.raises(DataError, match=message):
        read_price_csv(write(tmp_path, edit(GOOD)))


def test_missing_csv_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_price_csv(tmp_path / "nope.csv")


# --------------------------------------------------------------------------- yfinance frames


def history_frame(days: int = 60, start: str = "2020-01-02", scale: float = 1.0) -> pd.DataFrame:
    """What ``Ticker.history(auto_adjust=True)`` returns: tz-aware index named Date."""
    p = make_prices(days, start=start)
    p.iloc[:, :4] *= scale
    p.index = p.index.tz_localize("America/New_York")
    return p


@pytest.fixture
def yahoo(monkeypatch):
    """Replace TickerBase.history; record calls. Set ``yahoo.behaviour`` per test."""

    state = SimpleNamespace(calls=[], behaviour=lambda ticker, start: history_frame())

    def history(self, *args, **kwargs):
        state.calls.append({"ticker": self.ticker, **kwargs})
        return state.behaviour(self.ticker, kwargs.get("start"))

    monkeypatch.setattr(TickerBase, "history", history)
    return state


def test_download_returns_tz_naive_ohlcv(yahoo):
    got = download_yfinance("AAPL", "2020-01-01")
    assert list(got.prices.columns) == ["Open", "High", "Low", "Close", "Volume"]
    assert got.prices.index.tz is None and got.prices.index.name == "Date"
    assert len(got.prices) == 60 and got.error is None
    assert yahoo.calls[0]["auto_adjust"] is True and yahoo.calls[0]["interval"] == "1d"


def test_select_ticker_from_a_multi_ticker_frame_with_an_all_nan_column():
    idx = pd.bdate_range("2024-01-01", periods=3, name="Date")
    cols = pd.MultiIndex.from_product(
        [["Close", "High", "Low", "Open", "Volume"], ["AAPL", "XXXX"]], names=["Price", "Ticker"]
    )
    raw = pd.DataFrame(np.ones((3, 10)), index=idx, columns=cols)
    raw.loc[:, (slice(None), "XXXX")] = np.nan
    assert len(select_ticker(raw, "AAPL")) == 3
    assert select_ticker(raw, "XXXX").empty
    assert select_ticker(raw, "MSFT").empty
    assert select_ticker(None, "AAPL").empty


@pytest.mark.parametrize(
    "failure",
    [
        lambda t: (_ for _ in ()).throw(YFPricesMissingError(t, "(1d 2020-01-01 -> 2026-11-24)")),
        lambda t: (_ for _ in ()).throw(YFTzMissingError(t)),
        lambda t: history_frame() * np.nan,  # all-NaN rows
    ],
)
def test_unknown_ticker_is_a_clear_error_naming_it(yahoo, tmp_path, failure):
    yahoo.behaviour = lambda ticker, start: failure(ticker)
    with pytest.raises(DataError, match=r"XXXX: Yahoo Finance has no prices for this symbol"):
        load_yfinance("XXXX", DATA, tmp_path, sleep=lambda s: None, now=lambda: NOW)
    assert len(yahoo.calls) == 1  # not a transient failure: no retries
    assert not (tmp_path / "XXXX.csv").exists()


def test_cold_cache_fetches_everything_and_writes_a_checked_cache(yahoo, tmp_path):
    frame = load_yfinance("AAPL", DATA, tmp_path, now=lambda: NOW)
    assert yahoo.calls[0]["start"] == "2020-01-01"
    cached, fetched_at = read_cache(tmp_path / "AAPL.csv")
    pd.testing.assert_frame_equal(cached, frame, check_freq=False)
    assert fetched_at == NOW


def test_warm_cache_fetches_only_the_missing_days(yahoo, tmp_path):
    write_cache(tmp_path / "AAPL.csv", select_ticker_frame(history_frame(40)), NOW)
    yahoo.behaviour = lambda ticker, start: history_frame(60).loc[start:]
    frame = load_yfinance("AAPL", DATA, tmp_path, now=lambda: NOW)
    last_cached = history_frame(40).index[-1].tz_localize(None)
    asked = pd.Timestamp(yahoo.calls[0]["start"])
    assert last_cached - pd.Timedelta(days=10) == asked  # a short overlap, not the history
    assert len(frame) == 60 and frame.index.is_unique


def select_ticker_frame(history: pd.DataFrame) -> pd.DataFrame:
    out = history.copy()
    out.index = out.index.tz_localize(None)
    return out


def test_readjusted_history_is_fetched_again_in_full(yahoo, tmp_path, caplog):
    write_cache(tmp_path / "AAPL.csv", select_ticker_frame(history_frame(40)), NOW)
    # A dividend since: Yahoo's adjusted history is now 2% lower everywhere.
    yahoo.behaviour = lambda ticker, start: history_frame(60, scale=0.98).loc[start:]
    frame = load_yfinance("AAPL", DATA, tmp_path, now=lambda: NOW)
    assert [c["start"] for c in yahoo.calls][-1] == "2020-01-01"
    assert "re-adjusted" in caplog.text
    np.testing.assert_allclose(frame.Close.to_numpy(), history_frame(60, scale=0.98).Close)


def test_rate_limit_retries_with_backoff_then_uses_the_cache_saying_how_old(
    yahoo, tmp_path, caplog
):
    write_cache(
        tmp_path / "AAPL.csv", select_ticker_frame(history_frame(40)), NOW - timedelta(days=3)
    )
    before = (tmp_path / "AAPL.csv").read_bytes()

    def limited(ticker, start):
        raise YFRateLimitError()

    yahoo.behaviour = limited
    waits: list[float] = []
    frame = load_yfinance("AAPL", DATA, tmp_path, sleep=waits.append, now=lambda: NOW)
    assert len(yahoo.calls) == 3 and waits == [1.0, 2.0]
    assert len(frame) == 40
    assert "using cached prices fetched 3.0 days ago" in caplog.text
    assert (tmp_path / "AAPL.csv").read_bytes() == before


def test_network_down_without_cache_is_a_fetch_error(yahoo, tmp_path):
    def down(ticker, start):
        raise CurlConnectionError("Failed to perform, curl: (6) Could not resolve host")

    yahoo.behaviour = down
    with pytest.raises(
        FetchError, match=r"AAPL: Yahoo Finance could not be reached after 3 attempt"
    ):
        load_yfinance("AAPL", DATA, tmp_path, sleep=lambda s: None, now=lambda: NOW)


def test_transient_failure_then_success(yahoo, tmp_path):
    outcomes = [YFRateLimitError(), None]

    def flaky(ticker, start):
        err = outcomes.pop(0)
        if err:
            raise err
        return history_frame()

    yahoo.behaviour = flaky
    frame = load_yfinance("AAPL", DATA, tmp_path, sleep=lambda s: None, now=lambda: NOW)
    assert len(frame) == 60 and len(yahoo.calls) == 2


# --------------------------------------------------------------------------- cache integrity


def test_truncated_cache_is_detected_and_fetched_again(yahoo, tmp_path, caplog):
    path = tmp_path / "AAPL.csv"
    write_cache(path, select_ticker_frame(history_frame(40)), NOW)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])  # cut mid-row, as a kill mid-write would
    with pytest.raises(DataError, match="corrupt"):
        read_cache(path)
    frame = load_yfinance("AAPL", DATA, tmp_path, now=lambda: NOW)
    assert "corrupt" in caplog.text and yahoo.calls[0]["start"] == "2020-01-01"
    assert len(frame) == 60 and read_cache(path)[0].shape == frame.shape


def test_corrupt_cache_and_no_network_is_a_clear_error_and_keeps_the_file(yahoo, tmp_path):
    path = tmp_path / "AAPL.csv"
    write_cache(path, select_ticker_frame(history_frame(40)), NOW)
    path.write_bytes(path.read_bytes().replace(b",", b";", 5))
    damaged = path.read_bytes()

    def down(ticker, start):
        raise CurlConnectionError("Connection timed out")

    yahoo.behaviour = down
    with pytest.raises(FetchError, match="could not be reached"):
        load_yfinance("AAPL", DATA, tmp_path, sleep=lambda s: None, now=lambda: NOW)
    assert path.read_bytes() == damaged  # nothing deleted on the way out


def test_cache_header_is_checked(tmp_path):
    path = tmp_path / "AAPL.csv"
    path.write_text("Date,Open,High,Low,Close\n2024-01-02,1,2,0.5,1.5\n")
    with pytest.raises(DataError, match="bad header"):
        read_cache(path)
