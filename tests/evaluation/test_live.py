"""Live scores of stored forecasts: known answers on a few hand-made sessions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipeline.evaluation.live import live_scores, sort_outcomes


def outcomes(close, version=("1",) * 4):
    days = pd.bdate_range("2024-01-01", periods=len(close))
    return pd.DataFrame(
        {
            "as_of": days - pd.offsets.BDay(1),
            "target": days,
            "model_version": list(version),
            "median": 100.0,
            "last_close": 99.0,
            "aci_alpha": np.nan,
            "lower": 95.0,
            "upper": 105.0,
            "close": close,
        }
    )


def test_rolling_and_since_promotion_scores_by_hand():
    # Sessions: inside, above by 5, inside, below by 1; version 2 takes over on the third.
    live = live_scores(outcomes([100.0, 110.0, 104.0, 94.0], ("1", "1", "2", "2")), 0.9, 2)
    assert list(live["covered"]) == [1, 0, 1, 0]
    # Width 10, plus 2 / 0.1 times the miss.
    assert list(live["interval_score"]) == pytest.approx([10, 110, 10, 30])
    assert list(live["live_coverage"]) == [1, 0.5, 0.5, 0.5]
    assert list(live["live_interval_score"]) == pytest.approx([10, 60, 60, 20])
    assert list(live["since_promotion_coverage"]) == [1, 0.5, 1, 0.5]
    assert list(live["since_promotion_interval_score"]) == pytest.approx([10, 60, 10, 20])
    assert list(live["sessions_since_promotion"]) == [1, 2, 1, 2]
    # Theil's U: RMSE of the median 100 over persistence's 99, on the second version's days.
    u = np.sqrt((4**2 + 6**2) / 2) / np.sqrt((5**2 + 5**2) / 2)
    assert live["since_promotion_theil_u"].iloc[-1] == pytest.approx(u)


def test_sort_outcomes_tells_missing_from_pending():
    frame = outcomes([100.0, np.nan, 101.0, np.nan])
    sorted_ = sort_outcomes(frame, last_session=frame["target"].iloc[2])
    assert len(sorted_.scored) == 2
    assert list(sorted_.missing["target"]) == [frame["target"].iloc[1]]  # a halt: never comes
    assert list(sorted_.pending["target"]) == [frame["target"].iloc[3]]  # not yet
