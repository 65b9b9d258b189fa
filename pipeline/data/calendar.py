"""Trading days from an exchange calendar (exchange_calendars): holidays are skipped too."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import pandas as pd

from pipeline.errors import ConfigError


def next_session(day: pd.Timestamp, calendar: str = "XNYS") -> pd.Timestamp:
    """The first trading day of ``calendar`` after ``day`` (weekends and holidays skipped).

    ``calendar`` is an exchange_calendars code or alias (``XNYS`` or ``NYSE``,
    ``XLON``, ...). ``day`` need not be a trading day itself.
    """
    return next_sessions([day], calendar)[0]


def next_sessions(days: Sequence[pd.Timestamp], calendar: str = "XNYS") -> list[pd.Timestamp]:
    """``next_session`` of each of ``days``, from one calendar built over their span."""
    import exchange_calendars as xcals  # slow to import; only forecasting needs it

    days = [pd.Timestamp(day).tz_localize(None).normalize() for day in days]
    with warnings.catch_warnings():
        # exchange_calendars 4.13 trips a pandas deprecation warning of its own; not ours.
        warnings.filterwarnings("ignore", message="Series.values returning an ndarray")
        try:
            # A short span around the days: the calendar's default span starts 20 years ago.
            cal = xcals.get_calendar(
                calendar,
                start=min(days) - pd.Timedelta(days=30),
                end=max(days) + pd.Timedelta(days=60),
            )
        except xcals.errors.InvalidCalendarName:
            raise ConfigError(
                f"--calendar {calendar}: no such exchange calendar; use a code such as XNYS "
                "(New York), XLON (London) or XTKS (Tokyo)"
            ) from None
        return [cal.next_session(cal.date_to_session(day, direction="previous")) for day in days]
