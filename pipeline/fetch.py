"""Stage 1: daily OHLC prices from the shipped sample, a user's CSV, or yfinance.

Every source ends in ``validate_prices``: a frame indexed by ``Date`` (sorted,
unique, tz-naive) with float columns Open, High, Low, Close (and Volume when
known), all prices positive and finite.

The yfinance cache (``data/raw/<TICKER>.csv``) carries a header line with the
SHA-256 of its body, so a truncated or edited file is detected, never used
silently; it is always written atomically.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import storage
from pipeline.config import DataConfig, Paths
from pipeline.errors import DataError, FetchError

log = logging.getLogger("stockcast")

PRICE_COLUMNS = ("Open", "High", "Low", "Close")
OPTIONAL_COLUMNS = ("Volume",)
MAX_GAP_DAYS = 10  # calendar days between rows beyond which a series has a hole
_CACHE_MAGIC = "# stockcast-cache v1"
_OVERLAP_DAYS = 10  # calendar days re-fetched before the cache's last day, to detect re-adjustment
_ADJUST_TOLERANCE = (
    1e-4  # relative Close change on an overlapping day that means re-adjusted history
)


# --------------------------------------------------------------------------- validation


def validate_prices(
    frame: pd.DataFrame, origin: str, lines: np.ndarray | None = None
) -> pd.DataFrame:
    """Check and tidy a price frame indexed by date; return a new, clean frame.

    Safe fixes (sorting, dropping rows that are exact duplicates) are applied
    and reported as warnings. Anything else raises DataError naming the column
    and the first offending row (its line in the file when ``lines`` is given).
    """
    frame = frame.copy()
    frame["_line"] = np.arange(len(frame)) if lines is None else np.asarray(lines)
    frame.attrs["line_word"] = "row" if lines is None else "line"

    if not frame.index.is_monotonic_increasing:
        log.warning("%s: dates were out of order; sorted them", origin)
        frame = frame.sort_index(kind="stable")
    values = frame.drop(columns="_line")
    exact = values.reset_index().duplicated().to_numpy()
    if exact.any():
        log.warning("%s: dropped %d exact duplicate row(s)", origin, int(exact.sum()))
        frame = frame[~exact]
    clash = frame.index.duplicated()
    if clash.any():
        i = int(np.argmax(clash))
        raise DataError(
            f"{origin}: column Date has {frame.index[i].date()} twice with different prices, "
            f"second at {_at(frame, i)}"
        )
    for column in PRICE_COLUMNS:
        col = frame[column].to_numpy(dtype=float)
        for bad, what in (
            (~np.isfinite(col), "is empty or not a finite number"),
            (col <= 0, "is zero or negative"),
        ):
            if bad.any():
                i = int(np.argmax(bad))
                raise DataError(f"{origin}: column {column} {what} at {_at(frame, i)}")
    low_above = frame["High"].to_numpy() < frame["Low"].to_numpy()
    if low_above.any():
        i = int(np.argmax(low_above))
        raise DataError(f"{origin}: column High is below Low at {_at(frame, i)}")
    gaps = np.diff(frame.index.to_numpy()).astype("timedelta64[D]").astype(int)
    if (gaps > MAX_GAP_DAYS).any():
        i = int(np.argmax(gaps > MAX_GAP_DAYS)) + 1
        raise DataError(
            f"{origin}: column Date jumps {gaps[i - 1]} days at {_at(frame, i)}; "
            f"a daily series may skip at most {MAX_GAP_DAYS} calendar days"
        )
    return frame.drop(columns="_line")


def _at(frame: pd.DataFrame, i: int) -> str:
    word = frame.attrs.get("line_word", "row")
    return f"{word} {frame['_line'].iloc[i]} ({frame.index[i].date()})"


def read_price_csv(path: Path) -> pd.DataFrame:
    """Read a CSV with Date, Open, High, Low, Close [, Volume] (any case); validate it."""
    origin = str(path)
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except FileNotFoundError:
        raise DataError(f"{origin}: no such file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{origin}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    return _frame_from_strings(raw, origin)


def _frame_from_strings(raw: pd.DataFrame, origin: str) -> pd.DataFrame:
    by_lower = {str(c).strip().lower(): c for c in raw.columns}
    wanted = ("Date", *PRICE_COLUMNS)
    missing = [name for name in wanted if name.lower() not in by_lower]
    if missing:
        raise DataError(
            f"{origin}: missing column(s) {', '.join(missing)}; "
            f"expected Date, Open, High, Low, Close and optionally Volume"
        )
    lines = np.arange(len(raw)) + 2  # line 1 is the header
    dates = pd.to_datetime(raw[by_lower["date"]].str.strip(), errors="coerce", format="mixed")
    if dates.isna().any():
        i = int(np.argmax(dates.isna().to_numpy()))
        raise DataError(
            f"{origin}: column Date has {raw[by_lower['date']].iloc[i]!r}, "
            f"not a date, at line {lines[i]}"
        )
    out = pd.DataFrame(
        index=pd.DatetimeIndex(dates.dt.tz_localize(None).dt.normalize(), name="Date")
    )
    for name in (*PRICE_COLUMNS, *OPTIONAL_COLUMNS):
        if name.lower() not in by_lower:
            continue
        text = raw[by_lower[name.lower()]].str.strip()
        numbers = pd.to_numeric(text, errors="coerce")
        bad = numbers.isna() & (text != "") & (text.str.lower() != "nan")
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            raise DataError(
                f"{origin}: column {name} has {text.iloc[i]!r}, not a number, at line {lines[i]}"
            )
        out[name] = numbers.to_numpy(dtype=float)
    return validate_prices(out, origin, lines)


# --------------------------------------------------------------------------- sources


def load_prices(ticker: str, data: DataConfig, paths: Paths, **yf_options) -> pd.DataFrame:
    """Return validated daily prices for ``ticker`` from the configured source."""
    if data.source == "sample":
        path = paths.sample_dir / f"{ticker}.csv"
        if not path.exists():
            have = sorted(p.stem for p in paths.sample_dir.glob("*.csv"))
            raise DataError(
                f"no sample prices for {ticker}: the sample has {', '.join(have) or 'nothing'}; "
                "use --source yfinance or --source csv --data PATH"
            )
        return read_price_csv(path)
    if data.source == "csv":
        return read_price_csv(Path(data.csv_path))
    return load_yfinance(ticker, data, paths.raw_dir, **yf_options)


def csv_ticker(path: Path) -> str:
    """The ticker a user's CSV stands for: its file name without extension."""
    return Path(path).stem.upper()


# --------------------------------------------------------------------------- yfinance

_TRANSIENT = (
    "ratelimit",
    "too many requests",
    "connection",
    "timeout",
    "timed out",
    "resolve host",
    "failed to perform",
    "curl",
    "max retries",
    "temporarily",
    "network",
)


@dataclass(frozen=True)
class Download:
    """What one yf.download call gave for one ticker."""

    prices: pd.DataFrame  # OHLCV rows that hold prices; empty on failure
    errors: tuple[str, ...]  # the error lines yfinance logged for this call

    @property
    def transient(self) -> bool:
        """True when yfinance failed for a reason worth retrying (rate limit, network)."""
        text = " ".join(self.errors).lower()
        return any(key in text for key in _TRANSIENT)


def download_yfinance(ticker: str, start: str) -> Download:
    """Call ``yf.download`` for one ticker from ``start`` and pick its OHLCV columns.

    yf.download never raises: a failed ticker comes back as an empty or all-NaN
    frame and the reason goes to the 'yfinance' logger, which is captured here.
    """
    import yfinance as yf

    with _captured_yf_errors() as errors, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # yfinance's own pandas deprecation notices
        raw = yf.download(
            ticker,
            start=start,
            interval="1d",
            auto_adjust=True,
            actions=False,
            progress=False,
            threads=False,
            multi_level_index=True,
        )
    return Download(select_ticker(raw, ticker), tuple(errors))


def select_ticker(raw: pd.DataFrame | None, ticker: str) -> pd.DataFrame:
    """Pick one ticker's OHLCV from yf.download's (Price, Ticker) frame; drop empty rows."""
    empty = pd.DataFrame(
        columns=[*PRICE_COLUMNS, "Volume"], index=pd.DatetimeIndex([], name="Date")
    )
    if raw is None or raw.empty:
        return empty
    frame = raw
    if isinstance(raw.columns, pd.MultiIndex):
        level = "Ticker" if "Ticker" in raw.columns.names else 1
        if ticker not in raw.columns.get_level_values(level):
            return empty
        frame = raw.xs(ticker, axis=1, level=level)
    columns = [c for c in (*PRICE_COLUMNS, "Volume") if c in frame.columns]
    if not set(PRICE_COLUMNS) <= set(columns):
        return empty
    frame = frame[columns].astype(float).dropna(how="all", subset=list(PRICE_COLUMNS))
    index = pd.DatetimeIndex(frame.index)
    if index.tz is not None:
        index = index.tz_localize(None)
    frame.index = index.normalize().rename("Date")
    frame.columns.name = None
    return frame


@contextmanager
def _captured_yf_errors() -> Iterator[list[str]]:
    """Collect what yfinance logs at ERROR level (and keep it off the terminal)."""
    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    logger = logging.getLogger("yfinance")
    handler = _Collect(level=logging.ERROR)
    old_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = old_propagate


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
        detail = f" ({got.errors[-1]})" if got.errors else ""
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
                got.errors[-1] if got.errors else "no detail",
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
    return _frame_from_strings(raw, str(path)), fetched_at
