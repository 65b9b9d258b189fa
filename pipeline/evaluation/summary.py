"""The answer across tickers: one row per ticker, the RNN against the best baseline.

Each ticker's job hands back its tables (``Scores``); the driver puts them
together here, prints the result after the tickers' own tables and logs it as
the job's summary run (``tracking/summary_log.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from pipeline.models.rnn import RNN

SAME = "identical to persistence"  # the note of a ticker whose RNN fell back to persistence


@dataclass(frozen=True)
class Scores:
    """One ticker's scores, as its job printed them."""

    point: pd.DataFrame  # models x METRICS (a backtest's also has dm_stat, dm_pvalue)
    intervals: pd.DataFrame | None = None  # interval models x interval scores (tables.py)
    identical: bool = False  # the RNN's forecasts are persistence's on every day


def summary_table(scores: Mapping[str, Scores]) -> pd.DataFrame:
    """One row per ticker: the RNN's Theil's U against the best point baseline's (lowest
    RMSE), and its interval's coverage and score against the best interval baseline's
    (lowest score) with the DM test's p-value; a ``note`` column if a ticker's RNN is
    persistence."""
    table = pd.DataFrame.from_dict(
        {ticker: _row(one) for ticker, one in scores.items()}, orient="index"
    )
    if any(one.identical for one in scores.values()):
        table["note"] = [SAME if one.identical else "" for one in scores.values()]
    return table


def summary_heading(table: pd.DataFrame, days: str) -> str:
    """What ``summary_table`` holds, in one line; ``days`` says which days were scored."""
    n = len(table)
    text = (
        f"summary, {n} ticker{'s' if n != 1 else ''} on {days}: the RNN against the point "
        "baseline of lowest RMSE (Theil's U: RMSE over persistence's, below 1 beats it"
    )
    text += "; dm_pvalue: DM test of their squared errors, HLN)" if "dm_pvalue" in table else ")"
    level = interval_level(table)
    if level is not None:
        text += (
            f", and its {level}% interval against the interval baseline of lowest interval score "
            f"(price units, lower is better; dm_pvalue_{level}: DM test of the two, HLN)"
        )
    return text


def interval_level(table: pd.DataFrame) -> str | None:
    """The interval level the summary table shows (``"90"``), or None without intervals."""
    found = [c.removeprefix("rnn_coverage_") for c in table if c.startswith("rnn_coverage_")]
    return found[0] if found else None


def _row(scores: Scores) -> dict[str, object]:
    point = scores.point
    rivals = point.drop(index=RNN)
    best = str(rivals["rmse"].idxmin())
    row: dict[str, object] = {
        "rnn_theil_u": float(point.at[RNN, "theil_u"]),
        "baseline": best,
        "baseline_theil_u": float(rivals.at[best, "theil_u"]),
    }
    if "dm_pvalue" in point:
        row["dm_pvalue"] = float(rivals.at[best, "dm_pvalue"])
    if scores.intervals is not None:
        row |= _interval_row(scores.intervals)
    return row


def _interval_row(intervals: pd.DataFrame) -> dict[str, object]:
    levels = [c.removeprefix("coverage_") for c in intervals if c.startswith("coverage_")]
    p = "90" if "90" in levels else levels[0]
    score = f"interval_score_{p}"
    # The RNN's own variants (rnn_aci in a backtest) are not baselines.
    rivals = intervals.loc[[m for m in intervals.index if not str(m).startswith(RNN)]]
    best = str(rivals[score].idxmin())
    return {
        f"rnn_coverage_{p}": float(intervals.at[RNN, f"coverage_{p}"]),
        f"rnn_{score}": float(intervals.at[RNN, score]),
        "interval_baseline": best,
        f"baseline_{score}": float(rivals.at[best, score]),
        f"dm_pvalue_{p}": float(rivals.at[best, f"dm_pvalue_{p}"]),
    }
