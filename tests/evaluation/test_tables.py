"""The band frame and the interval table: known answers."""

import numpy as np
import pandas as pd
import pytest

from pipeline.core.bands import (
    Bands,
)
from pipeline.evaluation.tables import band_frame, frame_models, interval_table
from pipeline.metrics.dm import diebold_mariano_losses


def _frame() -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    actual = np.array([10.0, 12.0, 9.0, 10.0])
    previous = np.array([10.0, 10.0, 10.0, 10.0])
    dates = pd.bdate_range("2020-01-01", periods=4)
    bands = {
        # Intervals [9, 11] each day: actual 12 is 1 above, 9 and 10 inside.
        "rnn": Bands((0.9,), np.full(4, 10.0), np.full((4, 1), 9.0), np.full((4, 1), 11.0)),
        # Intervals [9.5, 10.5]: 12 is 1.5 above, 9 is 0.5 below.
        "ewma": Bands((0.9,), np.full(4, 10.0), np.full((4, 1), 9.5), np.full((4, 1), 10.5)),
    }
    return actual, previous, band_frame(bands, dates)


def test_band_frame_columns():
    _, _, frame = _frame()
    assert list(frame.columns) == [
        "rnn_median", "rnn_lower_90", "rnn_upper_90", "ewma_median", "ewma_lower_90",
        "ewma_upper_90",
    ]  # fmt: skip
    assert frame_models(frame) == ["rnn", "ewma"]


def test_interval_table_known_answers():
    actual, previous, frame = _frame()
    table = interval_table(actual, previous, frame, (0.9,))
    assert list(table.index) == ["rnn", "ewma"]
    assert table.loc["rnn", "coverage_90"] == pytest.approx(0.75)
    assert table.loc["ewma", "coverage_90"] == pytest.approx(0.5)
    assert table.loc["rnn", "width_90"] == pytest.approx(2.0)
    assert table.loc["ewma", "width_pct_90"] == pytest.approx(10.0)  # 1 of a 10 Close
    # Winkler with 2 / 0.1 = 20 per unit missed: rnn 2 + 20 * 1 on day 2 only.
    rnn_daily = np.array([2.0, 22.0, 2.0, 2.0])
    ewma_daily = np.array([1.0, 1.0 + 20 * 1.5, 1.0 + 20 * 0.5, 1.0])
    assert table.loc["rnn", "interval_score_90"] == pytest.approx(rnn_daily.mean())
    assert table.loc["ewma", "interval_score_90"] == pytest.approx(ewma_daily.mean())
    # Pinball averaged over the median (tau 0.5), lower (0.05) and upper (0.95) bounds
    # 10, 9 and 11 of the rnn. y = 10: 0 + 0.05 * 1 + 0.05 * 1; y = 12: 0.5 * 2 + 0.05 * 3
    # + 0.95 * 1; y = 9: 0.5 * 1 + 0 + 0.05 * 2.
    day_10, day_12, day_9 = 0.1 / 3, 2.1 / 3, 0.6 / 3
    expected = day_10 + day_12 + day_9 + day_10
    assert table.loc["rnn", "pinball"] == pytest.approx(expected / 4)
    dm = diebold_mariano_losses(rnn_daily, ewma_daily)
    assert table.loc["ewma", "dm_stat_90"] == pytest.approx(dm.statistic)
    assert table.loc["ewma", "dm_pvalue_90"] == pytest.approx(dm.pvalue)
    assert np.isnan(table.loc["rnn", "dm_pvalue_90"])


def test_without_the_rnn_there_is_no_dm_test():
    actual, previous, frame = _frame()
    only = frame[[c for c in frame.columns if c.startswith("ewma")]]
    table = interval_table(actual, previous, only, (0.9,))
    assert np.isnan(table.loc["ewma", "dm_stat_90"])
