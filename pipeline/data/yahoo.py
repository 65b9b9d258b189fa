"""yfinance prices with a self-checking cache, refreshed with only the missing days.

The cache (``data/raw/<TICKER>.csv``) carries a header line with the SHA-256
of its body, so a truncated or edited file is detected, never used silently;
it is always written atomically.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import storage
from pipeline.config import DataConfig
from pipeline.data.validate import PRICE_COLUMNS, frame_from_strings, validate_prices
from pipeline.errors import DataError, FetchError

log = logging.getLogger("stockcast")

_CACHE_MAGIC = "# stockcast-cache v1"
_OVERLAP_DAYS = 10  # calendar days re-fetched before the cache's last day, to detect re-adjustment
_ADJUST_TOLERANCE = (
    1e-4  # relative Close change on an overlapping day that means re-adjusted history
)


# --------------------------------------------------------------------------- yfinance


@dataclass(frozen=True)
class Download:
    """What one history request gave for one ticker."""

    prices: pd.DataFrame  # OHLCV rows that hold prices; empty on failure
    error: str | None = None  # yfinance's exception, as text, when the request failed
    transient: bool = False  # True when the failure is worth retrying (rate limit, network)


def download_yfinance(ticker: str, start: str) -> Download:
    """Ask yfinance for one ticker's daily history from ``start``.

    yfinance's own exceptions are turned on for the call (``hide_exceptions``
    off), so a failure arrives typed: a rate limit or a network error
    (``YFRateLimitError``, curl's ``OSError`` subclasses) is transient, an
    unknown symbol (``YFTickerMissingError`` and its kin) is not.
    """
    import yfinance as yf
    from yfinance.exceptions import YFException, YFRateLimitError

    hidden = yf.config.debug.hide_exceptions
    yf.config.debug.hide_exceptions = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # yfinance's own pandas deprecation notices
            raw = yf.Ticker(ticker).history(
                start=start, interval="1d", auto_adjust=True, actions=False
            )
    except (YFRateLimitError, OSError) as exc:
        return Download(_EMPTY, _describe(exc), transient=True)
    except YFException as exc:
        return Download(_EMPTY, _describe(exc), transient=False)
    finally:
        yf.config.debug.hide_exceptions = hidden
    return Download(select_ticker(raw, ticker))


def _describe(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


_EMPTY = pd.DataFrame(columns=[*PRICE_COLUMNS, "Volume"], index=pd.DatetimeIndex([], name="Date"))


def select_ticker(raw: pd.DataFrame | None, ticker: str) -> pd.DataFrame:
    """One ticker's OHLCV rows with a tz-naive Date index; empty rows dropped.

    Takes ``Ticker.history``'s flat frame or ``yf.download``'s (Price, Ticker) one.
    """
    if raw is None or raw.empty:
        return _EMPTY
    frame = raw
    if isinstance(raw.columns, pd.MultiIndex):
        level = "Ticker" if "Ticker" in raw.columns.names else 1
        if ticker not in raw.columns.get_level_values(level):
            return _EMPTY
        frame = raw.xs(ticker, axis=1, level=level)
    columns = [c for c in (*PRICE_COLUMNS, "Volume") if c in frame.columns]
    if not set(PRICE_COLUMNS) <= set(columns):
        return _EMPTY
    frame = frame[columns].astype(float).dropna(how="all", subset=list(PRICE_COLUMNS))
    index = pd.DatetimeIndex(frame.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    frame.index = index.normalize().rename("Date")
    frame.columns.name = None
    return frame


def load_yfinance(
    ticker: str,
    data: DataConfig,
    raw_dir: Path,
    *,
    download: Callable[[str, str], Download] = download_yfinance,
    sleep: Callable[[float], None] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> pd.DataFrame:
    """Prices for ``ticker`` from the cache, refreshed with only the missing days.

    A cold or corrupt cache fetches the whole history from ``data.start``. If
    the re-fetched overlap shows the history was re-adjusted (a split or a
    dividend since), the whole history is fetched again. When Yahoo cannot be
    reached after ``data.retries`` attempts, the cache is used with a warning
    that says how old it is; without one, FetchError.
    """
    sleep = sleep or time.sleep  # looked up at call time, so tests can replace it
    path = raw_dir / f"{ticker}.csv"
    cached, fetched_at = None, None
    if path.exists():
        try:
            cached, fetched_at = read_cache(path)
        except DataError as exc:
            log.warning("%s; fetching the whole history again", exc)

    start = data.start
    if cached is not None:
        start = (cached.index[-1] - pd.Timedelta(days=_OVERLAP_DAYS)).date().isoformat()
    got = _download_with_retries(ticker, start, data, download, sleep)

    if got is None or got.prices.empty:
        if cached is not None:
            age = now() - fetched_at
            why = "could not be reached" if got is None else "returned no rows"
            log.warning(
                "%s: Yahoo Finance %s; using cached prices fetched %s ago (last day %s)",
                ticker,
                why,
                _human_age(age.total_seconds()),
                cached.index[-1].date(),
            )
            return cached
        if got is None:
            raise FetchError(
                f"{ticker}: Yahoo Finance could not be reached after {data.retries} attempt(s) "
                f"and there is no cached copy in {raw_dir}; try again later"
            )
        detail = f" ({got.error})" if got.error else ""
        raise DataError(
            f"{ticker}: Yahoo Finance has no prices for this symbol{detail}; check the ticker"
        )

    fresh = validate_prices(got.prices, f"yfinance {ticker}")
    if cached is not None and _readjusted(cached, fresh):
        log.warning("%s: history was re-adjusted since the cache; fetching it all again", ticker)
        again = _download_with_retries(ticker, data.start, data, download, sleep)
        if again is None or again.prices.empty:
            log.warning("%s: full re-fetch failed; using the cached prices", ticker)
            return cached
        merged = validate_prices(again.prices, f"yfinance {ticker}")
    else:
        merged = merge_prices(cached, fresh)
    write_cache(path, merged, now())
    return merged


def _download_with_retries(
    ticker: str,
    start: str,
    data: DataConfig,
    download: Callable[[str, str], Download],
    sleep: Callable[[float], None],
) -> Download | None:
    """Return the download, or None if every attempt failed for a transient reason."""
    for attempt in range(data.retries):
        got = download(ticker, start)
        if not got.prices.empty or not got.transient:
            return got
        if attempt + 1 < data.retries:
            wait = data.backoff_s * 2**attempt
            log.warning(
                "%s: Yahoo Finance failed (%s); retrying in %.0f s",
                ticker,
                got.error or "no detail",
                wait,
            )
            sleep(wait)
    return None


def merge_prices(cached: pd.DataFrame | None, fresh: pd.DataFrame) -> pd.DataFrame:
    """Cached rows before the fresh ones' first day, then the fresh rows."""
    if cached is None:
        return fresh
    older = cached[cached.index < fresh.index[0]]
    return pd.concat([older, fresh])


def _readjusted(cached: pd.DataFrame, fresh: pd.DataFrame) -> bool:
    common = cached.index.intersection(fresh.index)
    if common.empty:
        return True  # nothing to compare against: do not stitch blindly
    old = cached.loc[common, "Close"].to_numpy()
    new = fresh.loc[common, "Close"].to_numpy()
    return bool(np.max(np.abs(new / old - 1.0)) > _ADJUST_TOLERANCE)


def _human_age(seconds: float) -> str:
    hours = seconds / 3600
    if hours < 1:
        return f"{max(seconds / 60, 0):.0f} min"
    if hours < 48:
        return f"{hours:.1f} h"
    return f"{hours / 24:.1f} days"


# --------------------------------------------------------------------------- cache file


def write_cache(path: Path, prices: pd.DataFrame, fetched_at: datetime) -> None:
    """Write prices with a header line holding the fetch time and the body's SHA-256."""
    body = prices.to_csv(index_label="Date", date_format="%Y-%m-%d").encode("utf-8")
    digest = hashlib.sha256(body).hexdigest()
    header = f"{_CACHE_MAGIC} fetched_at={fetched_at.isoformat()} sha256={digest}\n"
    storage.write_bytes(path, header.encode("utf-8") + body)


def read_cache(path: Path) -> tuple[pd.DataFrame, datetime]:
    """Read a cache file; raise DataError if it is truncated, edited or unreadable."""
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cache {path} cannot be read ({exc.strerror})") from None
    head, _, body = blob.partition(b"\n")
    try:
        magic, fetched, digest = head.decode("utf-8").rsplit(" ", 2)
        assert magic == _CACHE_MAGIC
        fetched_at = datetime.fromisoformat(fetched.removeprefix("fetched_at="))
        expected = digest.removeprefix("sha256=")
    except (UnicodeDecodeError, ValueError, AssertionError):
        raise DataError(f"cache {path} is corrupt (bad header)") from None
    if hashlib.sha256(body).hexdigest() != expected:
        raise DataError(f"cache {path} is corrupt (truncated or changed: checksum mismatch)")
    raw = pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False)
    return frame_from_strings(raw, str(path)), fetched_at
