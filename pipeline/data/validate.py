"""Price validation and CSV reading: every source ends in ``validate_prices``.

A valid frame is indexed by ``Date`` (sorted, unique, tz-naive) with float
columns Open, High, Low, Close (and Volume when known), all prices positive
and finite, with no hole of more than ``MAX_GAP_DAYS`` calendar days.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import DataError

log = logging.getLogger("stockcast")

PRICE_COLUMNS = ("Open", "High", "Low", "Close")
OPTIONAL_COLUMNS = ("Volume",)
MAX_GAP_DAYS = 10  # calendar days between rows beyond which a series has a hole


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
    return frame_from_strings(raw, origin)


def frame_from_strings(raw: pd.DataFrame, origin: str) -> pd.DataFrame:
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
