import math

import numpy as np
import pytest
from scipy import stats

from pipeline.metrics.dm import diebold_mariano, diebold_mariano_losses


def t4_two_sided_p(t: float) -> float:
    """Student's t with 4 degrees of freedom in closed form, independent of scipy."""
    x = t / math.sqrt(4 + t * t)
    cdf = 0.5 + 0.75 * x * (1 - x * x / 3)
    return 2 * (1 - cdf)


def test_known_answer_one_step():
    # Loss differential d = e_a^2 - e_b^2 = 1, 2, 3, 4, 5: mean 3, gamma_0 = 2.
    e_a, e_b = np.sqrt([1.0, 2, 3, 4, 5]), np.zeros(5)
    dm = 3 / math.sqrt(2 / 5)  # 4.7434
    hln = dm * math.sqrt((5 + 1 - 2) / 5)  # = 3 * sqrt(2)
    result = diebold_mariano(e_a, e_b)
    assert result.statistic == pytest.approx(hln)
    assert result.statistic == pytest.approx(3 * math.sqrt(2))
    assert result.pvalue == pytest.approx(t4_two_sided_p(3 * math.sqrt(2)))
    assert result.pvalue == pytest.approx(0.0132356, abs=1e-6)
    assert result.n == 5


def test_known_answer_two_step_uses_the_lag_one_autocovariance():
    d = np.array([3.0, 1.0, 0.0, 2.0, 4.0])  # mean 2; centred 1, -1, -2, 0, 2
    e_a, e_b = np.sqrt(d), np.zeros(5)
    g0 = (1 + 1 + 4 + 0 + 4) / 5  # 2
    g1 = (1 * -1 + -1 * -2 + -2 * 0 + 0 * 2) / 5  # 0.2
    dm = 2 / math.sqrt((g0 + 2 * g1) / 5)
    hln = dm * math.sqrt((5 + 1 - 4 + 2 * 1 / 5) / 5)
    result = diebold_mariano(e_a, e_b, horizon=2)
    assert result.statistic == pytest.approx(hln)
    assert result.pvalue == pytest.approx(t4_two_sided_p(hln))


def test_swapping_the_forecasts_flips_the_sign_only():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=200), 1.2 * rng.normal(size=200)
    ab, ba = diebold_mariano(a, b), diebold_mariano(b, a)
    assert ab.statistic == pytest.approx(-ba.statistic)
    assert ab.pvalue == pytest.approx(ba.pvalue)
    assert ab.statistic < 0  # a has the smaller errors


def test_identical_forecasts_cannot_be_told_apart():
    e = np.array([0.5, -1.0, 2.0])
    result = diebold_mariano(e, e)
    assert (result.statistic, result.pvalue) == (0.0, 1.0)


def test_clearly_better_forecast_is_significant():
    rng = np.random.default_rng(1)
    noise = rng.normal(size=500)
    assert diebold_mariano(0.5 * noise, noise).pvalue < 1e-6


def test_bad_input():
    with pytest.raises(ValueError, match="same length"):
        diebold_mariano(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="horizon"):
        diebold_mariano(np.zeros(3), np.zeros(3), horizon=3)


def test_losses_version_on_squared_errors_is_the_squared_error_test():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=300), 1.1 * rng.normal(size=300)
    assert diebold_mariano_losses(a**2, b**2) == diebold_mariano(a, b)


def test_losses_known_answer_on_absolute_losses():
    # d = 1, 2, 3, 4, 5 from absolute losses: the same numbers as the first known answer.
    result = diebold_mariano_losses(np.array([1.0, 2, 3, 4, 5]), np.zeros(5))
    assert result.statistic == pytest.approx(3 * math.sqrt(2))
    assert result.pvalue == pytest.approx(0.0132356, abs=1e-6)
    with pytest.raises(ValueError, match="loss_a and loss_b"):
        diebold_mariano_losses(np.zeros(3), np.zeros(2))


def test_known_answer_three_step_uses_autocovariances_up_to_lag_two():
    d = np.array([1.0, 2, 3, 3, 2, 1, 1, 3])  # mean 2; centred -1, 0, 1, 1, 0, -1, -1, 1
    g0, g1, g2 = 6 / 8, 1 / 8, -3 / 8
    long_run = g0 + 2 * (g1 + g2)  # 2 / 8
    hln = (2 / math.sqrt(long_run / 8)) * math.sqrt((8 + 1 - 2 * 3 + 3 * 2 / 8) / 8)
    result = diebold_mariano_losses(d, np.zeros(8), horizon=3)
    assert result.statistic == pytest.approx(hln)
    assert result.statistic == pytest.approx(math.sqrt(60))  # 8 sqrt(2) * sqrt(3.75 / 8)
    assert result.pvalue == pytest.approx(2 * stats.t.sf(hln, df=7))
    two_step = (2 / math.sqrt((g0 + 2 * g1) / 8)) * math.sqrt((8 + 1 - 4 + 2 / 8) / 8)
    assert diebold_mariano_losses(d, np.zeros(8), horizon=2).statistic == pytest.approx(two_step)


def test_a_negative_long_run_variance_falls_back_to_the_plain_variance():
    d = np.array([4.0, 1, 0, 2, 3, 2])  # mean 2; centred 2, -1, -2, 0, 1, 0
    g0 = 10 / 6  # g1 = 0 and g2 = -1: g0 + 2 (g1 + g2) = -1/3 < 0
    hln = (2 / math.sqrt(g0 / 6)) * math.sqrt((6 + 1 - 2 * 3 + 3 * 2 / 6) / 6)
    assert diebold_mariano_losses(d, np.zeros(6), horizon=3).statistic == pytest.approx(hln)
