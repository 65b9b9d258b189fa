import pandas as pd
import pytest

from pipeline.data.calendar import next_session
from pipeline.errors import ConfigError


@pytest.mark.parametrize(
    ("day", "calendar", "expected"),
    [
        ("2013-03-01", "XNYS", "2013-03-04"),  # Friday -> Monday
        ("2012-12-24", "XNYS", "2012-12-26"),  # Christmas Day skipped
        ("2013-03-28", "XNYS", "2013-04-01"),  # Good Friday skipped
        ("2001-09-10", "XNYS", "2001-09-17"),  # closed after 11 September 2001
        ("2013-03-02", "NYSE", "2013-03-04"),  # a Saturday, and an alias of XNYS
        ("2013-03-28", "XLON", "2013-04-02"),  # London: Good Friday and Easter Monday
    ],
)
def test_next_session_skips_weekends_and_holidays(day, calendar, expected):
    assert next_session(pd.Timestamp(day), calendar) == pd.Timestamp(expected)


def test_unknown_calendar_is_an_option_error():
    with pytest.raises(ConfigError, match="--calendar XNOPE: no such exchange calendar"):
        next_session(pd.Timestamp("2013-03-01"), "XNOPE")
