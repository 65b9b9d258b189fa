"""Interval scores: known answers."""

import numpy as np
import pytest
from scipy import stats

from pipeline.metrics.intervals import (
    coverage,
    interval_score,
    mean_pinball_loss,
    mean_width,
    mean_width_pct,
    pinball_loss,
)

Z95 = stats.norm.ppf(0.95)  # 1.6449: the 90% normal interval is +-Z95 sigma


def test_coverage_counts_the_closed_interval():
    actual = np.array([0.0, 0.5, 1.0, 2.0, 2.5])
    assert coverage(actual, np.full(5, 0.5), np.full(5, 2.0)) == pytest.approx(3 / 5)


def test_widths_known_answer():
    lower, upper = np.array([98.0, 190.0]), np.array([102.0, 210.0])
    assert mean_width(lower, upper) == pytest.approx(12.0)  # widths 4 and 20
    assert mean_width_pct(lower, upper, np.array([100.0, 200.0])) == pytest.approx(7.0)  # 4%, 10%


def test_interval_score_known_answer():
    # level 0.8: alpha = 0.2, so a miss costs 2 / 0.2 = 10 per unit outside; width 2.
    actual = np.array([0.0, -2.0, 1.5, 1.0])
    scores = interval_score(actual, np.full(4, -1.0), np.full(4, 1.0), level=0.8)
    np.testing.assert_allclose(scores, [2.0, 12.0, 7.0, 2.0])


def test_interval_score_rejects_a_bad_level():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        interval_score(np.zeros(1), np.zeros(1), np.ones(1), level=90)


def test_pinball_loss_known_answer():
    actual = np.array([1.0, -1.0, 0.0])
    np.testing.assert_allclose(pinball_loss(actual, np.zeros(3), 0.9), [0.9, 0.1, 0.0])
    quantiles = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    # tau 0.9: mean (0.9 + 0.1 + 0) / 3; tau 0.5: mean (0.5 + 0.5 + 0) / 3.
    assert mean_pinball_loss(actual, quantiles, [0.9, 0.5]) == pytest.approx((1.0 + 1.0) / 6)


def test_pinball_loss_rejects_bad_tau_and_shape():
    with pytest.raises(ValueError, match="tau must be strictly between 0 and 1"):
        pinball_loss(np.zeros(2), np.zeros(2), 1.0)
    with pytest.raises(ValueError, match=r"shape \(days, 2\)"):
        mean_pinball_loss(np.zeros(2), np.zeros((2, 3)), [0.1, 0.9])
