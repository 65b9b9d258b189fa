"""The ``predict`` job for one group: each asked ticker's forecasts of the next sessions by
its group's champion, with their intervals, stored and then printed.

It is the nightly ``forecast`` job run now for the tickers asked (``--ticker``):
a forecast printed is always one stored, beside the other models' forecasts of the
ticker (``forecast.py``).
"""

from __future__ import annotations

from pipeline.jobs.forecast import run_forecast as run_predict

__all__ = ["run_predict"]
