"""Trading days from an exchange calendar (exchange_calendars): holidays are skipped too.

The served model runs this module too (``serving.forecaster``'s target dates), so it
imports nothing of the project but ``errors``; exchange_calendars is one of the served
model's requirements.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import pandas as pd

from pipeline.errors import ConfigError

DEFAULT_CALENDAR = "XNYS"  # New York: the calendar of a model saved without one


def next_session(day: pd.Timestamp, calendar: str = DEFAULT_CALENDAR) -> pd.Timestamp:
    """The first trading day of ``calendar`` after ``day`` (weekends and holidays skipped).

    ``calendar`` is an exchange_calendars code or alias (``XNYS`` or ``NYSE``,
    ``XLON``, ...). ``day`` need not be a trading day itself.
    """
    return next_sessions([day], calendar)[0]


def next_sessions(
    days: Sequence[pd.Timestamp], calendar: str = DEFAULT_CALENDAR
) -> list[pd.Timestamp]:
    """``next_session`` of each of ``days``."""
    return [sessions_after(day, 1, calendar)[0] for day in days]


def sessions_after(
    day: pd.Timestamp, n: int, calendar: str = DEFAULT_CALENDAR
) -> list[pd.Timestamp]:
    """The first ``n`` trading days of ``calendar`` after ``day``: the targets of forecasts
    1..n sessions ahead as of ``day`` (which need not be a trading day itself)."""
    day = pd.Timestamp(day).tz_localize(None).normalize()
    # Calendars are built a few years at a time and kept: a backfill asks for hundreds of days.
    cal = _calendar(calendar, day.year - 1, day.year + 1 + n // 200)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        last = cal.date_to_session(day, direction="previous")
        return list(cal.sessions_window(last, n + 1)[1:])


@functools.lru_cache(maxsize=8)
def _calendar(code: str, first_year: int, last_year: int):
    """The exchange calendar ``code`` over the years ``first_year``..``last_year``."""
    import exchange_calendars as xcals  # slow to import; only forecasting needs it

    with warnings.catch_warnings():
        # exchange_calendars 4.13 trips a pandas deprecation warning of its own; not ours.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        try:
            # A short span: the calendar's default span starts 20 years ago.
            return xcals.get_calendar(code, start=f"{first_year}-01-01", end=f"{last_year}-12-31")
        except xcals.errors.InvalidCalendarName:
            raise ConfigError(
                f"--calendar {code}: no such exchange calendar; use a code such as XNYS "
                "(New York), XLON (London) or XTKS (Tokyo)"
            ) from None
