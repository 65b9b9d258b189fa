"""Interval levels, conformal bounds and price bands: known answers."""

import numpy as np
import pytest
from scipy import stats

from pipeline.core.bands import (
    ConformalMultipliers,
    conformal_bands,
    conformal_intervals,
    level_name,
    parse_levels,
    price_bands,
    quantile_levels,
)

Z95 = stats.norm.ppf(0.95)  # 1.6449: the 90% normal interval is +-Z95 sigma


def test_parse_levels_sorts_and_removes_duplicates():
    assert parse_levels([0.9, 0.8, 0.9]) == (0.8, 0.9)


@pytest.mark.parametrize("levels", [[0.0], [1.0], [0.9, 1.5], [-0.1]])
def test_parse_levels_rejects_levels_outside_the_open_unit_interval(levels):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        parse_levels(levels)


def test_parse_levels_rejects_no_levels():
    with pytest.raises(ValueError, match="no interval levels"):
        parse_levels([])


def test_quantile_levels_known_answer():
    assert quantile_levels([0.9]) == (0.05, 0.5, 0.95)
    assert quantile_levels([0.9, 0.8]) == (0.05, 0.1, 0.5, 0.9, 0.95)


def test_conformal_intervals_known_answer():
    m = ConformalMultipliers(levels=(0.8, 0.9), lower=(-1.0, -2.0), upper=(2.0, 3.0))
    lower, upper = conformal_intervals(np.array([0.0, 1.0]), np.array([1.0, 2.0]), m)
    np.testing.assert_allclose(lower, [[-1.0, -2.0], [-1.0, -3.0]])
    np.testing.assert_allclose(upper, [[2.0, 3.0], [5.0, 7.0]])


def test_level_names():
    assert [level_name(x) for x in (0.9, 0.8, 0.975, 0.5)] == ["90", "80", "97.5", "50"]


def test_price_bands_are_close_times_exp_of_the_log_return_quantiles():
    log_close = np.log([100.0, 50.0])
    b = price_bands(log_close, np.array([0.0, 0.01]), np.array([[-0.1], [-0.2]]),
                    np.array([[0.1], [0.2]]), (0.9,))  # fmt: skip
    np.testing.assert_allclose(b.median, [100.0, 50.0 * np.exp(0.01)])
    np.testing.assert_allclose(b.lower[:, 0], [100 * np.exp(-0.1), 50 * np.exp(-0.2)])
    np.testing.assert_allclose(b.upper[:, 0], [100 * np.exp(0.1), 50 * np.exp(0.2)])
    given = price_bands(log_close, np.zeros(2), -np.ones((2, 1)), np.ones((2, 1)), (0.9,),
                        median=np.array([1.0, 2.0]))  # fmt: skip
    np.testing.assert_array_equal(given.median, [1.0, 2.0])


def test_conformal_bands_scale_the_multipliers():
    m = ConformalMultipliers(levels=(0.8, 0.9), lower=(-1.0, -2.0), upper=(1.5, 3.0))
    b = conformal_bands(np.log([10.0]), np.array([0.0]), np.array([0.1]), m)
    np.testing.assert_allclose(b.lower, 10 * np.exp([[-0.1, -0.2]]))
    np.testing.assert_allclose(b.upper, 10 * np.exp([[0.15, 0.3]]))
